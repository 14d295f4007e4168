"""KIS errors: the broker's ``rt_cd``/``msg_cd``/``msg1`` envelope turned into typed exceptions.

Where each class sits is drawn once, with every other class of the project, in
:mod:`statemachine.errors`: reads that may be tried again are ``RetryableError`` (``retryable``
is True), the broker's refusals ``BrokerError``; an order send with no trustworthy answer is
``OrderOutcomeUnknown`` (reconcile against inquire-daily-ccld, never resend blindly) and the real
host without the live-trading opt-in a ``SafetyStop`` (adapters.kis.config).

No message built here ever holds the app key, secret, token or a full account number.
"""

from __future__ import annotations

from typing import Any

from statemachine.errors import BrokerError, OrderRejected, RetryableError

RATE_LIMIT_CODES = frozenset({"EGW00201", "EGW00215"})
TOKEN_CODES = frozenset({"EGW00123", "EGW00121"})
TOKEN_THROTTLE_CODE = "EGW00133"
# Gateway refusals that are definite (the request never reached the trading system) and permanent.
AUTH_CODES = frozenset({"EGW00103", "EGW00105", "EGW02004", "EGW02006", "OPSQ0002"})
NO_ROWS_CODE = "KIOK0560"


class KisRetryable(RetryableError):
    def __init__(self, message: str, code: str = "", **fields: Any) -> None:
        super().__init__(message, code=code, **fields)
        self.code = code


class KisRateLimited(KisRetryable):
    pass


class KisRetryExhausted(RetryableError):
    def __init__(self, message: str, attempts: list[Exception], **fields: Any) -> None:
        codes = [getattr(a, "code", "") or type(a).__name__ for a in attempts]
        super().__init__(message, attempts=codes, **fields)
        self.attempts = attempts
        self.code = getattr(attempts[-1], "code", "") if attempts else ""


class KisAuthError(BrokerError):
    pass


class KisTokenExpired(KisAuthError):
    pass


class KisTokenThrottled(KisAuthError):
    pass


class KisMalformedReply(BrokerError):
    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message, code="MALFORMED", **fields)


def envelope_error(code: str, msg: str, *, what: str, status: int) -> Exception:
    """The typed exception for a failed envelope of a *read* (orders map their own)."""
    text = f"{what}: KIS [{code}] {msg} (HTTP {status})"
    if code in RATE_LIMIT_CODES:
        return KisRateLimited(text, code=code, status=status)
    if code in TOKEN_CODES:
        return KisTokenExpired(text, code=code, status=status)
    if code == TOKEN_THROTTLE_CODE:
        return KisTokenThrottled(text, code=code, status=status)
    if code in AUTH_CODES:
        return KisAuthError(text, code=code, status=status)
    return BrokerError(text, code=code, status=status)


def order_rejected(code: str, msg: str, *, what: str, status: int, **fields: Any) -> OrderRejected:
    return OrderRejected(f"{what}: KIS [{code}] {msg}", code=code, status=status, **fields)


def mask_account(cano: str, product: str = "") -> str:
    """5000****-01: enough to tell accounts apart in a log, not enough to use one."""
    head = cano[:4] if len(cano) >= 8 else ""
    return f"{head}****" + (f"-{product}" if product else "")
