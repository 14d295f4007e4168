"""A wall-clock deadline around one blocking call, measured on the injected Clock.

Needs: the call, the time it may take (seconds) and a :class:`statemachine.ports.Clock`. Gives:
the call's result or exception, or :class:`CallDeadlineExceeded` once ``clock.monotonic()`` has
passed the deadline, whatever the call is doing.

Why: the SDK's ``HttpOptions(timeout=...)`` is httpx's per-read timeout; a reply that trickles in
small pieces never waits that long for one read and passes, however long the whole call takes.
The call therefore runs in a daemon worker thread, and the caller polls for its end with
``clock.sleep`` (short steps) and ``clock.monotonic``. A timed wait on a lock or an event
(``Event.wait(timeout)``) is NOT used: under libfaketime (CI runs the unit tests under
``faketime``) such a wait never returns, while ``time.sleep`` and ``time.monotonic`` behave.
A call left behind after its deadline finishes (or fails) on its own thread; its result is dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from statemachine.ports import Clock

T = TypeVar("T")
POLL_S = 0.02


class CallDeadlineExceeded(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"no complete reply within {seconds * 1000:.0f} ms")
        self.seconds = seconds


def call_with_deadline(fn: Callable[[], T], seconds: float, clock: Clock, *, poll_s: float = POLL_S,
                       name: str = "deadline-call") -> T:
    """``fn()``, or :class:`CallDeadlineExceeded` when it has not returned ``seconds`` after the start."""
    done = threading.Event()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller as it is
            box["error"] = exc
        finally:
            done.set()

    deadline = clock.monotonic() + seconds
    threading.Thread(target=work, name=name, daemon=True).start()
    while not done.is_set():
        left = deadline - clock.monotonic()
        if left <= 0:
            if done.is_set():
                break
            raise CallDeadlineExceeded(seconds)
        clock.sleep(min(poll_s, left))
    if "error" in box:
        raise box["error"]
    return box["value"]


__all__ = ["CallDeadlineExceeded", "call_with_deadline"]
