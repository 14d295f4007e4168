"""The market's session, on named instants: the guard for the KIS broker and for a simulator in its
``krx`` session, the simulator's own refusal (a clean, resumable stop), and the always-open
simulated market of the demo. Every instant here is named; none depends on when the suite runs."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from adapters.bootstrap import bootstrap
from adapters.config import Settings
from adapters.kis.broker import KisBroker
from adapters.kis.config import KisConfig
from adapters.kis_sim.simulator import TEST_ACCOUNT, TEST_APPKEY, TEST_APPSECRET, SimulatorConfig, SimulatorServer
from adapters.sim.account import DEMO_DIR, SimAccount
from statemachine.engine import Engine
from statemachine.errors import MarketClosed
from statemachine.models import OrderStatus, Side, Targets
from statemachine.planner_greedy import GreedyPlanner
from statemachine.settings import EngineSettings
from statemachine.states import RunState, RunStatus
from statemachine.units import KST
from tests.fakes import FakeClock

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
SUNDAY_NIGHT = datetime(2026, 12, 6, 22, 30, tzinfo=KST)
CHRISTMAS = datetime(2026, 12, 25, 10, 30, tzinfo=KST)  # a Friday, a KRX holiday
MONDAY_EVENING = datetime(2026, 11, 30, 22, 40, tzinfo=KST)
MONDAY_MORNING = datetime(2026, 12, 7, 10, 30, tzinfo=KST)
CLOSED = [SUNDAY_NIGHT, CHRISTMAS, MONDAY_EVENING]


@pytest.fixture
def simulator(tmp_path):
    """The KIS REST simulator keeping the KRX session on its own (fake) clock."""
    clock = FakeClock(SUNDAY_NIGHT)
    SimAccount.demo(tmp_path / "account.json")
    cfg = SimulatorConfig(rate_limit_per_s=0, token_issue_min_interval_s=0)
    with SimulatorServer(tmp_path / "account.json", cfg, clock=clock.now, session="krx") as srv:
        srv.test_clock = clock  # type: ignore[attr-defined]
        yield srv


def _kis_env(monkeypatch, url: str, tmp_path: Path) -> None:
    monkeypatch.setenv("REBALANCE_KIS_ENV", "paper")
    monkeypatch.setenv("REBALANCE_KIS_APPKEY", TEST_APPKEY)
    monkeypatch.setenv("REBALANCE_KIS_APPSECRET", TEST_APPSECRET)
    monkeypatch.setenv("REBALANCE_KIS_ACCOUNT", TEST_ACCOUNT)
    monkeypatch.setenv("REBALANCE_KIS_BASE_URL", url)
    monkeypatch.setenv("REBALANCE_KIS_TOKEN_CACHE_PATH", str(tmp_path / "token.json"))
    monkeypatch.setenv("REBALANCE_KIS_RPS", "50")


def _full_run(app) -> object:
    eng = app.engine()
    return eng.run(eng.start(account=app.broker().alias, targets=TARGETS, planner="greedy").id)


@pytest.mark.parametrize("at", CLOSED, ids=["sunday-night", "krx-holiday", "weekday-evening"])
def test_the_kis_broker_outside_the_session_sends_nothing_and_stops_with_the_guards_reason(
        db_url, tmp_path, monkeypatch, simulator, at):
    _kis_env(monkeypatch, simulator.url, tmp_path)
    settings = Settings(broker="kis", account_alias="paper", kill_switch_file=str(tmp_path / "KILL"))
    simulator.test_clock.set(at)
    app = bootstrap(settings, db_url=db_url, clock=FakeClock(at))  # the injected clock: outside the session
    run = _full_run(app)
    assert (run.status, run.state) == (RunStatus.ABORTED, RunState.SELL_VALIDATED)
    assert "market-hours guard" in run.error and "no orders sent" in run.error
    assert simulator.account.orders() == []
    app.db.dispose()


@pytest.mark.parametrize("broker", ["kis-sim", "sim"])
def test_a_simulator_in_its_krx_session_is_guarded_the_same_way(db_url, tmp_path, broker):
    settings = Settings(broker=broker, sim_session="krx", sim_account_path=str(tmp_path / "acct.json"),
                        kill_switch_file=str(tmp_path / "KILL"))
    SimAccount.demo(settings.sim_account_path)
    app = bootstrap(settings, db_url=db_url, clock=FakeClock(SUNDAY_NIGHT))
    run = _full_run(app)
    assert (run.status, run.state) == (RunStatus.ABORTED, RunState.SELL_VALIDATED)
    assert "market-hours guard: 2026-12-06 is not a KRX trading day" in run.error
    assert SimAccount(settings.sim_account_path).orders() == []
    app.db.dispose()


@pytest.mark.parametrize("at", CLOSED, ids=["sunday-night", "krx-holiday", "weekday-evening"])
def test_the_default_simulated_market_is_always_open(db_url, tmp_path, at):
    settings = Settings(broker="kis-sim", sim_account_path=str(tmp_path / "acct.json"),
                        kill_switch_file=str(tmp_path / "KILL"), fill_poll_s=0.05)
    SimAccount.demo(settings.sim_account_path)
    app = bootstrap(settings, db_url=db_url, clock=FakeClock(at))
    run = _full_run(app)
    assert run.status is RunStatus.SUCCEEDED, run.error
    orders = SimAccount(settings.sim_account_path).orders()
    assert orders and all(datetime.fromisoformat(o["placed_at"]) >= at for o in orders)  # the sim's own clock


def test_the_simulators_refusal_is_a_clean_resumable_stop(db, tmp_path, simulator):
    """The engine believes the market open (no guard), the broker says closed: nothing is lost, the
    run waits at its checkpoint, and a resume inside the session sends each order once."""
    clock = simulator.test_clock
    cfg = KisConfig(env="paper", appkey=TEST_APPKEY, appsecret=TEST_APPSECRET, account=TEST_ACCOUNT,
                    base_url=simulator.url, requests_per_second=50, token_cache_path=tmp_path / "token.json",
                    token_min_issue_interval_s=0)
    broker = KisBroker(cfg, httpx.Client(), alias="paper", now=clock.now)
    es = EngineSettings(fill_timeout_s=2, fill_poll_s=0.05)
    eng = Engine(db.unit_of_work, broker, lambda name: GreedyPlanner(), clock, es, owner="a")
    run = eng.start(account="paper", targets=TARGETS, planner="greedy")
    with pytest.raises(MarketClosed, match="outside its session"):
        eng.run(run.id)
    stopped = eng.get(run.id)
    assert (stopped.state, stopped.status, stopped.lease_owner) == (RunState.SELL_VALIDATED, RunStatus.RUNNING, None)
    assert "resume it inside the session" in stopped.error
    with db.unit_of_work() as uow:
        [refused] = uow.orders(run.id)
    assert (refused.status, refused.broker_code) == (OrderStatus.REJECTED, "40580000")
    assert simulator.account.orders() == []

    clock.set(MONDAY_MORNING)
    done = Engine(db.unit_of_work, broker, lambda name: GreedyPlanner(), clock, es, owner="b").resume(run.id)
    assert done.status is RunStatus.SUCCEEDED, done.error
    placed = simulator.account.orders()
    keys = [(o["side"], o["ticker"]) for o in placed]
    assert len(keys) == len(set(keys))  # each order once
    with db.unit_of_work() as uow:
        rows = uow.orders(run.id)
    filled = {(o.side.value, o.ticker) for o in rows if o.status is OrderStatus.FILLED}
    assert filled == set(keys)
    assert all(datetime.fromisoformat(o["placed_at"]) >= MONDAY_MORNING for o in placed)
    sells = [o for o in rows if o.side is Side.SELL and o.ticker == refused.ticker]
    assert [o.status for o in sells] == [OrderStatus.REJECTED, OrderStatus.FILLED]  # the refusal stays on record


def test_a_faked_clock_is_refused_for_the_kis_broker(tmp_path):
    from statemachine.errors import DomainError

    with pytest.raises(DomainError, match="simulated brokers only"):
        bootstrap(Settings(broker="kis", clock_at="2026-11-25T10:30:00+09:00"), db_url=f"sqlite:///{tmp_path}/x.db")


class SlowWire:
    """The in-process broker, with each order send taking two seconds of the shared clock."""

    def __init__(self, broker, clock: FakeClock) -> None:
        self.inner, self.clock = broker, clock

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def place_order(self, *args, **kwargs):
        self.clock.advance(2)
        return self.inner.place_order(*args, **kwargs)


def test_an_order_sent_across_midnight_kst_is_found_on_the_next_broker_day(db, tmp_path):
    """The always-open market trades at midnight: an intent of 23:59:59 KST whose order the broker
    stamps 00:00:01 is listed under the next day; polling and reconciliation read both days."""
    from adapters.sim.broker import SimulatedBroker

    clock = FakeClock(datetime(2026, 11, 25, 23, 59, 58, tzinfo=KST))
    account = SimAccount.demo(tmp_path / "account.json", clock=clock.now)
    broker = SlowWire(SimulatedBroker(account), clock)
    es = EngineSettings(fill_timeout_s=2, fill_poll_s=0.5)
    eng = Engine(db.unit_of_work, broker, lambda name: GreedyPlanner(), clock, es, owner="a")  # type: ignore[arg-type]
    run = eng.run(eng.start(account="demo", targets=TARGETS, planner="greedy").id)
    assert run.status is RunStatus.SUCCEEDED, run.error
    days = {datetime.fromisoformat(o["placed_at"]).astimezone(KST).date().isoformat() for o in account.orders()}
    assert days == {"2026-11-26"}
    keys = [(o["side"], o["ticker"]) for o in account.orders()]
    assert len(keys) == len(set(keys))
    with db.unit_of_work() as uow:
        intents = {o.created_at.astimezone(KST).date().isoformat() for o in uow.orders(run.id)}
    assert "2026-11-25" in intents  # the first intent was committed before midnight
