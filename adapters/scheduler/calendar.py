"""Is the Korea Exchange open? Trading days and session hours from ``exchange-calendars`` (XKRX).

Every answer fails closed: when the calendar cannot answer (an error, a date outside the range
the library knows), the market counts as closed and the reason says why. The scheduler and the
market-hours guard for real orders both ask :meth:`MarketCalendar.status`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from statemachine.errors import SafetyStop
from statemachine.records import RunRecord
from statemachine.states import RunState
from statemachine.units import KST

log = logging.getLogger("rebalance.calendar")


@dataclass(frozen=True)
class MarketStatus:
    trading_day: bool
    open: bool
    reason: str  # one sentence: why it is open or closed (or why the calendar could not say)
    session_open: datetime | None = None
    session_close: datetime | None = None


class MarketCalendar(Protocol):
    def status(self, at: datetime) -> MarketStatus: ...


class XkrxCalendar:
    """The XKRX calendar, built once per process on first use (building takes about a second)."""

    def __init__(self, factory: Callable[[], Any] | None = None) -> None:
        self._factory = factory or _xkrx
        self._cal: Any = None
        self._lock = threading.Lock()

    def _calendar(self) -> Any:
        with self._lock:
            if self._cal is None:
                self._cal = self._factory()
            return self._cal

    def status(self, at: datetime) -> MarketStatus:
        try:
            return self._status(at)
        except Exception as exc:  # noqa: BLE001 - fail closed, whatever went wrong
            reason = f"the XKRX calendar could not answer for {at.astimezone(KST):%Y-%m-%d %H:%M} KST: {exc}"
            log.error("%s; treating the market as closed", reason)
            return MarketStatus(trading_day=False, open=False, reason=reason)

    def _status(self, at: datetime) -> MarketStatus:
        if at.tzinfo is None:
            raise ValueError("naive datetime")
        cal = self._calendar()
        day = at.astimezone(KST).date().isoformat()
        first, last = cal.first_session.date(), cal.last_session.date()
        if not first.isoformat() <= day <= last.isoformat():
            raise ValueError(f"{day} is outside the calendar's range {first}..{last}")
        if not cal.is_session(day):
            return MarketStatus(False, False, f"{day} is not a KRX trading day (weekend or holiday)")
        opens = cal.session_open(day).to_pydatetime()
        closes = cal.session_close(day).to_pydatetime()
        hours = f"{opens.astimezone(KST):%H:%M}-{closes.astimezone(KST):%H:%M} KST"
        if opens <= at < closes:
            return MarketStatus(True, True, f"{day} session open ({hours})", opens, closes)
        return MarketStatus(True, False, f"outside the {day} session ({hours})", opens, closes)


class AlwaysOpen:
    """The simulated market's default session: open at every instant (the demo, the examples)."""

    def status(self, at: datetime) -> MarketStatus:
        return MarketStatus(True, True, "the simulated market is always open (REBALANCE_SIM_SESSION=always-open)")


def _xkrx() -> Any:
    import exchange_calendars as xcals

    return xcals.get_calendar("XKRX")


#: One calendar per process.
XKRX = XkrxCalendar()

ORDER_STATES = frozenset({RunState.SELL_VALIDATED, RunState.BUY_VALIDATED})


def market_hours_guard(calendar: MarketCalendar, now: Callable[[], datetime]):
    """An engine guard: orders of a full run (max_phase 5) only inside the KRX session.

    It acts before the order steps and before each order (the engine calls guards at both); a
    closed market, or a calendar that cannot answer, is a :class:`SafetyStop`."""

    def guard(run: RunRecord) -> None:
        if run.max_phase < 5 or run.state not in ORDER_STATES:
            return
        st = calendar.status(now())
        if not st.open:
            raise SafetyStop(f"market-hours guard: {st.reason}; no orders sent", run_id=run.id)

    return guard
