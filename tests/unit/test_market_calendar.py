"""The XKRX calendar adapter and the market-hours guard: KRX holidays, session edges, fail closed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.scheduler.calendar import XKRX, MarketStatus, XkrxCalendar, market_hours_guard
from statemachine.errors import SafetyStop
from statemachine.models import Targets
from statemachine.records import RunRecord
from statemachine.states import RunState, RunStatus
from statemachine.units import KST


def kst(*args: int) -> datetime:
    return datetime(*args, tzinfo=KST)


@pytest.mark.parametrize(
    "day", ["2026-09-24", "2026-09-25", "2026-09-26", "2026-10-09", "2026-11-28", "2026-11-29"]
)
def test_holidays_and_weekends_are_not_trading_days(day):
    y, m, d = map(int, day.split("-"))
    st = XKRX.status(kst(y, m, d, 10, 0))
    assert not st.trading_day and not st.open
    assert "not a KRX trading day" in st.reason


@pytest.mark.parametrize(
    "at,open_",
    [
        (kst(2026, 11, 25, 8, 59, 59), False),
        (kst(2026, 11, 25, 9, 0), True),
        (kst(2026, 11, 25, 15, 29, 59), True),
        (kst(2026, 11, 25, 15, 30), False),
        (kst(2026, 9, 23, 10, 0), True),  # the day before Chuseok trades
        (kst(2026, 9, 28, 10, 0), True),  # and the Monday after
    ],
)
def test_session_edges(at, open_):
    st = XKRX.status(at)
    assert st.trading_day and st.open is open_, st.reason


def test_the_first_session_of_the_year_opens_late():
    assert not XKRX.status(kst(2026, 1, 2, 9, 30)).open
    assert XKRX.status(kst(2026, 1, 2, 10, 0)).open


def test_a_calendar_that_cannot_answer_means_closed():
    def broken():
        raise RuntimeError("calendar data missing")

    st = XkrxCalendar(broken).status(kst(2026, 11, 25, 10, 0))
    assert (st.trading_day, st.open) == (False, False) and "calendar data missing" in st.reason
    far = XKRX.status(datetime(2099, 1, 5, 1, 0, tzinfo=UTC))  # beyond what the library knows
    assert not far.open and "could not answer" in far.reason
    naive = XKRX.status(datetime(2026, 11, 25, 10, 0))  # noqa: DTZ001 - a naive time is an error, so closed
    assert not naive.open


class Fixed:
    def __init__(self, st: MarketStatus) -> None:
        self.st = st
        self.calls = 0

    def status(self, at: datetime) -> MarketStatus:
        self.calls += 1
        return self.st


def _run(state: RunState, max_phase: int = 5) -> RunRecord:
    now = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    targets = Targets(mp={"Stocks": 100}, sub_mp={"Stocks": {"411420": 1.0}})
    return RunRecord(
        id="r1",
        account="demo",
        state=state,
        status=RunStatus.RUNNING,
        max_phase=max_phase,
        thresholds={"mp": 3, "sub_mp": 5},
        targets=targets,
        engine_version="x",
        checkpoint_format=1,
        created_at=now,
        updated_at=now,
    )


def test_market_hours_guard_stops_orders_only_when_closed():
    closed = Fixed(MarketStatus(False, False, "2026-09-24 is not a KRX trading day (weekend or holiday)"))
    guard = market_hours_guard(closed, lambda: datetime.now(UTC))
    for state in (RunState.CREATED, RunState.FETCHED, RunState.DRIFT_CHECKED, RunState.SOLD):
        guard(_run(state))  # no orders follow these states: reading the account is fine when closed
    guard(_run(RunState.SELL_VALIDATED, max_phase=4))  # a dry run sends nothing
    assert closed.calls == 0
    for state in (RunState.SELL_VALIDATED, RunState.BUY_VALIDATED):
        with pytest.raises(SafetyStop, match="not a KRX trading day"):
            guard(_run(state))
    opened = Fixed(MarketStatus(True, True, "open"))
    market_hours_guard(opened, lambda: datetime.now(UTC))(_run(RunState.BUY_VALIDATED))
    assert opened.calls == 1


def test_the_market_hours_guard_is_wired_where_the_market_keeps_the_krx_session():
    from adapters.bootstrap import live_guards
    from adapters.config import Settings
    from tests.fakes import FakeClock

    tuesday_night = FakeClock(datetime(2026, 12, 1, 13, 0, tzinfo=UTC))  # 22:00 KST, closed
    tuesday_morning = FakeClock(datetime(2026, 12, 1, 1, 30, tzinfo=UTC))  # 10:30 KST, open
    # the simulated market is always open by default: no guard, at any hour
    assert live_guards(Settings(broker="sim"), tuesday_night) == []
    assert live_guards(Settings(broker="kis-sim"), tuesday_night) == []
    for settings in (Settings(broker="kis"), Settings(broker="kis-sim", sim_session="krx"),
                     Settings(broker="sim", sim_session="krx")):
        [guard] = live_guards(settings, tuesday_night)
        guard(_run(RunState.FETCHED))  # reading is fine at any hour
        with pytest.raises(SafetyStop, match="market-hours guard: outside the 2026-12-01 session"):
            guard(_run(RunState.SELL_VALIDATED))
        [guard] = live_guards(settings, tuesday_morning)
        guard(_run(RunState.SELL_VALIDATED))  # open: no stop
