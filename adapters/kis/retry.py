"""The read retry loop of the KIS adapter, under a :class:`RetryPolicy`: try, and on a retryable
error wait ``policy.delay(attempt)`` and try again, up to ``policy.attempts`` tries in all; then
:class:`KisRetryExhausted` with every error seen. Used by the client's reads and by the broker's
balance re-read (a snapshot that does not add up)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from adapters.kis.errors import KisRetryable, KisRetryExhausted
from adapters.retry_policy import RetryPolicy

T = TypeVar("T")


def retrying(
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    op: Callable[[], T],
    *,
    retry_on: type[KisRetryable],
    gave_up: Callable[[int, KisRetryable], str],
    retrying_in: Callable[[KisRetryable, float, int], None],
) -> T:
    """``op()``'s result. ``gave_up(attempts, last error)`` words the final error;
    ``retrying_in(error, delay, attempt)`` is called (to log) before each wait."""
    errors: list[Exception] = []
    attempt = 0
    while True:
        attempt += 1
        try:
            return op()
        except retry_on as exc:
            errors.append(exc)
            if attempt >= policy.attempts:
                raise KisRetryExhausted(gave_up(attempt, exc), errors) from exc
            delay = policy.delay(attempt)
            retrying_in(exc, delay, attempt)
            sleep(delay)
