"""Hostile cases for the order protocol (DOMAIN.md section 6), in process, on SQLite and PostgreSQL.

Each test here failed before the fix it names (see the commit that added it):

* a kill switch turned on while a run was down must stop a resumed run before it sends anything,
  even an intent left over from the crash;
* a runner that lost its lease (it stalled and another process took the run over) sends nothing more;
* a remainder that fills while its cancel is on the way is recorded as filled, not as a crash;
* a broker whose order endpoint keeps failing without placing anything is not hammered forever.
"""

from __future__ import annotations

import json

import pytest

from adapters.sim.account import DEMO_DIR, SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.errors import LeaseHeld, OrderOutcomeUnknown, RetryableError, SafetyStop
from statemachine.models import OrderStatus, Side, Targets
from statemachine.planner_greedy import GreedyPlanner
from statemachine.settings import EngineSettings
from statemachine.states import RunState, RunStatus
from tests.contract.helpers import STORES, open_store
from tests.fakes import FakeClock

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))


class Crash(Exception):
    """Stands in for SIGKILL at a hook point (the in-process engine cannot be killed)."""


class CrashAt:
    def __init__(self, name: str, nth: int = 1, action=None) -> None:
        self.name, self.nth, self.seen, self.action = name, nth, 0, action

    def point(self, name: str) -> None:
        if name != self.name:
            return
        self.seen += 1
        if self.seen == self.nth:
            if self.action is None:
                raise Crash(name)
            self.action()


@pytest.fixture(params=STORES)
def db(request, tmp_path):
    """The in-memory store (runs in seconds), SQLite and PostgreSQL."""
    yield from open_store(request, tmp_path)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def account(tmp_path, clock):
    acc = SimAccount.demo(tmp_path / "account.json")
    acc.clock = clock.now  # the broker and the engine share one (fake) time
    return acc


def make_engine(db, broker, clock, owner="owner-a", hooks=None, guards=None, **settings):
    es = EngineSettings(**{"fill_timeout_s": 2, "fill_poll_s": 0.5, **settings})
    greedy = GreedyPlanner()
    return Engine(db.unit_of_work, broker, lambda name: greedy, clock, es, hooks=hooks, owner=owner,
                  guards=guards)


def orders_of(db, run_id):
    with db.unit_of_work() as uow:
        return uow.orders(run_id)


def test_kill_switch_set_while_down_stops_a_resumed_run_before_it_resends(db, account, clock):
    eng = make_engine(db, SimulatedBroker(account), clock, hooks=CrashAt("order:before_send"))
    run = eng.start(account="demo", targets=TARGETS)
    with pytest.raises(Crash):
        eng.run(run.id)
    assert [o.status for o in orders_of(db, run.id)] == [OrderStatus.INTENT]  # committed, never sent

    def kill_switch(r):
        raise SafetyStop("kill switch is on", run_id=r.id)

    again = make_engine(db, SimulatedBroker(account), clock, owner="owner-b", guards=[kill_switch])
    done = again.resume(run.id)
    assert done.status is RunStatus.ABORTED and done.state is RunState.SELL_VALIDATED
    assert account.orders() == []  # the intent was not (re)sent
    with db.unit_of_work() as uow:
        hist = [h for h in uow.history() if h.run_id == run.id]
    assert len(hist) == 1 and hist[0].status is RunStatus.ABORTED and hist[0].trades == []


def test_a_runner_that_lost_its_lease_sends_nothing_more(db, account, clock):
    """Runner A stalls after committing its second intent, past its lease; B takes the run over
    and finishes it. When A wakes up it must not send its intent: B already did."""
    broker = SimulatedBroker(account)
    b = make_engine(db, broker, clock, owner="owner-b")
    outcome: dict = {}

    def stall_and_be_overtaken():
        clock.advance(b.settings.lease_ttl_s + 1)  # A's lease expires while it stalls
        outcome["b"] = b.resume(run.id)

    a = make_engine(db, broker, clock, hooks=CrashAt("order:intent_committed", 2, stall_and_be_overtaken))
    run = a.start(account="demo", targets=TARGETS)
    with pytest.raises(LeaseHeld):
        a.run(run.id)
    assert outcome["b"].status is RunStatus.SUCCEEDED
    keys = [(o["side"], o["ticker"]) for o in account.orders()]
    assert len(keys) == len(set(keys)), keys  # every order accepted once
    assert len(keys) == len(orders_of(db, run.id))
    finished = a.get(run.id)
    assert finished.status is RunStatus.SUCCEEDED and finished.error is None  # A wrote nothing on it


class FillsDuringCancel(SimulatedBroker):
    """The remainder fills at the exchange just as the cancel arrives: nothing left to cancel."""

    def __init__(self, account: SimAccount, clock: FakeClock) -> None:
        super().__init__(account)
        self.clock = clock

    def cancel_order(self, odno: str, org_no: str, quantity: int):
        self.clock.advance(3600)  # past fill_remainder_after_s: the remainder fills first
        return super().cancel_order(odno, org_no, quantity)


def test_remainder_filled_while_cancelling_is_recorded_filled(db, account, clock):
    account.set_faults(partial_fill={"411420": 0.5}, fill_remainder_after_s=600)
    eng = make_engine(db, FillsDuringCancel(account, clock), clock)
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    assert run.status is RunStatus.SUCCEEDED, run.error
    first = next(o for o in orders_of(db, run.id) if o.ticker == "411420")
    broker_row = next(o for o in account.orders() if o["ticker"] == "411420")
    assert first.status is OrderStatus.FILLED
    assert first.filled_quantity == first.quantity == broker_row["filled_qty"]
    assert first.amount == broker_row["amount"]
    assert [o.ticker for o in orders_of(db, run.id)].count("411420") == 1  # no remainder re-sent


class Runaway(BaseException):
    """Not an Exception, so the engine's own handlers cannot swallow it."""


class OrderEndpointDown(SimulatedBroker):
    """Every order POST times out and places nothing; reads work."""

    def __init__(self, account: SimAccount) -> None:
        super().__init__(account)
        self.sends = 0

    def place_order(self, side, ticker, quantity, order_type="01", price=0):
        self.sends += 1
        if self.sends > 50:
            raise Runaway("the engine keeps re-sending into a failing order endpoint")
        raise OrderOutcomeUnknown(f"timeout sending the {side.value} order for {ticker}", ticker=ticker)


def test_failing_order_endpoint_is_tried_a_bounded_number_of_times(db, account, clock):
    broker = OrderEndpointDown(account)
    eng = make_engine(db, broker, clock, send_attempts=3)
    run = eng.start(account="demo", targets=TARGETS)
    with pytest.raises(RetryableError) as e:
        eng.run(run.id)
    assert broker.sends == 3 and "3" in e.value.message
    stuck = eng.get(run.id)
    assert stuck.status is RunStatus.RUNNING and stuck.state is RunState.SELL_VALIDATED  # resumable
    (rec,) = orders_of(db, run.id)
    assert rec.side is Side.SELL and rec.status is OrderStatus.UNKNOWN and rec.odno is None
    assert account.orders() == []
    # the endpoint comes back: resume reconciles (the broker has none), sends once, and finishes
    done = make_engine(db, SimulatedBroker(account), clock, owner="owner-b").resume(run.id)
    assert done.status is RunStatus.SUCCEEDED
    keys = [(o["side"], o["ticker"]) for o in account.orders()]
    assert len(keys) == len(set(keys))


class FirstSendTimesOut(SimulatedBroker):
    """The first order POST times out without placing anything; meanwhile the kill switch goes on."""

    def __init__(self, account: SimAccount, switch: dict) -> None:
        super().__init__(account)
        self.switch = switch
        self.sends = 0

    def place_order(self, side, ticker, quantity, order_type="01", price=0):
        self.sends += 1
        if self.sends == 1:
            self.switch["on"] = True
            raise OrderOutcomeUnknown("timeout", ticker=ticker)
        return super().place_order(side, ticker, quantity, order_type, price)


def test_kill_switch_is_checked_before_a_resend_after_reconciliation(db, account, clock):
    switch = {"on": False}

    def kill_switch(r):
        if switch["on"]:
            raise SafetyStop("kill switch is on", run_id=r.id)

    eng = make_engine(db, FirstSendTimesOut(account, switch), clock, guards=[kill_switch])
    run = eng.start(account="demo", targets=TARGETS)
    with pytest.raises(SafetyStop):
        eng.run(run.id)
    assert account.orders() == []  # reconciliation found none, but the switch forbids the resend
    assert eng.get(run.id).status is RunStatus.ABORTED
