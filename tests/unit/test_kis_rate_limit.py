"""The limiter never lets more than N calls into any one-second window, across threads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from adapters.kis.rate_limit import FileRateLimiter, RateLimiter, shared_limiter
from adapters.retry_policy import RetryPolicy


def max_in_window(stamps: list[float], window: float = 1.0) -> int:
    stamps = sorted(stamps)
    best, j = 0, 0
    for i, t in enumerate(stamps):
        while stamps[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_never_more_than_n_per_second_across_threads() -> None:
    n = 50
    lim = RateLimiter(n)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            lim.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(6)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    assert len(stamps) == 60
    assert max_in_window(stamps) <= n
    assert elapsed < 60 / n * 1.2  # and it does not over-throttle


def test_spacing_with_a_fake_clock() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    lim = RateLimiter(2, margin=0.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        lim.acquire()
    assert slept == [0.5, 0.5, 0.5, 0.5]


def test_shared_limiter_is_per_environment_and_key() -> None:
    a = shared_limiter("paper", "k1", 2)
    assert shared_limiter("paper", "k1", 2) is a
    assert shared_limiter("real", "k1", 20) is not a


def test_retry_policy_backoff_is_capped() -> None:
    p = RetryPolicy(attempts=5, initial_s=0.5, multiplier=2, max_s=1.5)
    assert [p.delay(i) for i in range(1, 5)] == [0.5, 1.0, 1.5, 1.5]


def test_file_limiter_is_shared_by_separate_instances(tmp_path: Path) -> None:
    """Two limiters on one file (as two processes would hold) keep the joint rate under N."""
    n = 50
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        lim = FileRateLimiter(n, tmp_path / "kis.rate")
        for _ in range(20):
            lim.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stamps) == 60 and max_in_window(stamps) <= n
