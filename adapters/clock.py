"""The clock adapter: the ONLY module that reads the system clock.

Everything else (the engine, the order protocol, the simulated account and the KIS simulator,
the scheduler, the guards, the CLI and the API) takes a :class:`statemachine.ports.Clock` from
the composition root, so a test or a drill names the instant it runs at, and a run behaves the
same on any day at any hour. ``tests/unit/test_clock_discipline.py`` fails when code outside
this module reads the wall clock.

* :class:`SystemClock` - the real time (UTC), ``time.sleep`` and ``time.monotonic``.
* :class:`OffsetClock` - the real clock shifted so that it read ``start`` when it was made; time
  then passes at the normal rate. ``REBALANCE_CLOCK_AT`` / ``--now`` build one for the simulated
  brokers (tests, drills, a demo "on a Tuesday morning"); the real broker refuses it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from statemachine.errors import DomainError
from statemachine.ports import Clock


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def monotonic(self) -> float:
        return time.monotonic()


class OffsetClock:
    """``base`` shifted so that it read ``start`` when this clock was made."""

    def __init__(self, base: Clock, start: datetime) -> None:
        self.base = base
        self.start = start
        self.offset = start - base.now()

    def now(self) -> datetime:
        return self.base.now() + self.offset

    def sleep(self, seconds: float) -> None:
        self.base.sleep(seconds)

    def monotonic(self) -> float:
        return self.base.monotonic()


def parse_instant(text: str, field: str = "clock_at") -> datetime:
    """An ISO instant with a UTC offset (``2026-11-25T10:30:00+09:00``); a clear error otherwise."""
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise DomainError(f"'{text}' is not an ISO time (e.g. 2026-11-25T10:30:00+09:00)", field=field) from None
    if t.tzinfo is None:
        raise DomainError(f"'{text}' needs a UTC offset (e.g. +09:00)", field=field)
    return t.astimezone(UTC)


def make_clock(start_at: str | datetime | None = None, base: Clock | None = None) -> Clock:
    """The process clock: the system clock, or one that starts at ``start_at`` and then ticks."""
    base = base or SystemClock()
    if start_at is None or start_at == "":
        return base
    start = parse_instant(start_at) if isinstance(start_at, str) else start_at
    return OffsetClock(base, start)


__all__ = ["OffsetClock", "SystemClock", "make_clock", "parse_instant"]
