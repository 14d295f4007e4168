"""A thread-safe request spacer: never more than ``rate`` calls in any one-second window.

Calls are spaced ``(1 + margin) / rate`` apart (measured at the moment each call is let through),
so N + 1 calls always span at least ``1 + margin`` seconds, whatever one-second window the broker
counts in. The margin (default 4%: 40 ms of slack per window at any rate) absorbs the jitter
between the moment we let a call go and the moment the broker counts it; without it, a few
milliseconds of jitter at 2/s was enough for the simulator to answer EGW00201.
One limiter per (environment, app key): :func:`shared_limiter` hands every client in the
process the same instance, since the broker's limit is per app key, not per connection.
:class:`FileRateLimiter` extends the same spacing to every process on the machine (the next free
slot lives in a small file under a lock), for several processes sharing one app key.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from adapters.clock import SystemClock


class RateLimiter:
    def __init__(
        self,
        rate: float,
        margin: float = 0.04,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.interval = (1.0 + margin) / rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0
        self.waited_s = 0.0
        self.calls = 0

    def acquire(self) -> float:
        """Block until this call may go; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
            self.calls += 1
        wait = start - now
        if wait > 0:
            self._sleep(wait)
            self.waited_s += wait
        return wait


class FileRateLimiter(RateLimiter):
    """The spacing of :class:`RateLimiter`, shared through ``path`` by every process (wall clock)."""

    def __init__(
        self, rate: float, path: str | Path, margin: float = 0.04, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        # real wall time on purpose: the broker's limit is in real seconds, shared across processes
        super().__init__(rate, margin, clock=lambda: SystemClock().now().timestamp(), sleep=sleep)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file_lock = FileLock(str(self.path) + ".lock", timeout=60)

    def acquire(self) -> float:
        with self._lock, self._file_lock:
            now = self._clock()
            try:
                nxt = float(self.path.read_text() or 0)
            except (FileNotFoundError, ValueError):
                nxt = 0.0
            start = max(now, min(nxt, now + 60 * self.interval))  # ignore a slot absurdly far ahead
            self.path.write_text(repr(start + self.interval))
            self.calls += 1
        wait = start - now
        if wait > 0:
            self._sleep(wait)
            self.waited_s += wait
        return wait


_shared: dict[tuple[str, str], RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(env: str, key_id: str, rate: float, margin: float = 0.04) -> RateLimiter:
    """The process-wide limiter of one environment and app key (created on first use)."""
    with _shared_lock:
        lim = _shared.get((env, key_id))
        if lim is None or lim.rate != rate:
            lim = _shared[(env, key_id)] = RateLimiter(rate, margin)
        return lim
