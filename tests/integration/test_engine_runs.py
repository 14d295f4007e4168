"""The engine on a real database (SQLite and PostgreSQL, real migrations) and the simulated account."""

from __future__ import annotations

import json

import pytest

from adapters.sim.account import DEMO_DIR, SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.errors import LeaseHeld, RunFinished, RunNotFound, TransitionError
from statemachine.models import OrderStatus, Side, Targets
from statemachine.orders import NEVER_SENT
from statemachine.planner_greedy import GreedyPlanner
from statemachine.settings import EngineSettings
from statemachine.states import RunState, RunStatus
from tests.contract.helpers import STORES, open_store
from tests.fakes import FakeClock, ScriptedPlanner

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))


@pytest.fixture(params=STORES)
def db(request, tmp_path):
    """The in-memory store (runs in seconds), SQLite and PostgreSQL."""
    yield from open_store(request, tmp_path)


@pytest.fixture
def account(tmp_path):
    return SimAccount.demo(tmp_path / "account.json")


def make_engine(db, account, planner=None, **settings):
    greedy = GreedyPlanner()
    es = EngineSettings(fill_timeout_s=2, fill_poll_s=0.5, **settings)
    clock = FakeClock()
    # The account must live on the engine's (fake) time: with the wall clock, its orders fall on
    # another broker day than the engine's intents whenever the tests run on another date.
    account.clock = clock.now
    return Engine(db.unit_of_work, SimulatedBroker(account), lambda name: planner or greedy, clock, es,
                  owner="test-owner")


def start(engine, **kw):
    return engine.start(account="demo", targets=TARGETS, **kw)


def test_full_run_succeeds_and_records_everything(db, account):
    eng = make_engine(db, account)
    run = eng.run(start(eng).id)
    assert run.status is RunStatus.SUCCEEDED and run.state is RunState.BOUGHT
    with db.unit_of_work() as uow:
        trans = uow.transitions(run.id)
        orders = uow.orders(run.id)
        hist = [h for h in uow.history() if h.run_id == run.id]
        outputs = uow.outputs(run.id)
    expected = ["CREATED", "FETCHED", "DRIFT_CHECKED", "SELL_PLANNED", "SELL_VALIDATED", "SOLD",
                "CASH_FETCHED", "BUY_PLANNED", "BUY_VALIDATED", "BOUGHT"]
    assert [t.dest for t in trans] == expected
    assert [t.seq for t in trans] == list(range(10))
    assert all(o.status is OrderStatus.FILLED for o in orders)
    assert {o.ticker for o in orders if o.side is Side.SELL} == {"411420", "360750", "069500"}
    assert len(account.orders()) == len(orders)  # the broker saw each order once
    assert len(hist) == 1 and hist[0].status is RunStatus.SUCCEEDED
    assert hist[0].total_cost == sum(o.fees for o in orders) > 0
    assert hist[0].drift_after["total_abs_drift"] < hist[0].drift_before["total_abs_drift"] / 10
    assert {"snapshot", "drift_before", "sell_fills", "cash", "buy_fills", "drift_after"} <= set(outputs)
    assert "069500" not in account.positions()  # the untargeted holding was sold in full


@pytest.mark.parametrize("phase,stop", [(1, RunState.FETCHED), (2, RunState.DRIFT_CHECKED),
                                        (3, RunState.BUY_PLANNED), (4, RunState.BUY_VALIDATED)])
def test_max_phase_stops_and_sends_nothing(db, account, phase, stop):
    before = account.positions()
    eng = make_engine(db, account)
    run = eng.run(start(eng, max_phase=phase).id)
    assert run.state is stop and run.status is RunStatus.STOPPED
    assert account.orders() == [] and account.positions() == before
    with db.unit_of_work() as uow:
        assert uow.orders(run.id) == []
        outputs = uow.outputs(run.id)
    if phase >= 3:
        assert outputs["sell_fills"]["projected"] is True and outputs["cash"]["projected"] is True


def test_not_needed_when_within_thresholds(db, account):
    eng = make_engine(db, account)
    run = eng.run(start(eng).id)
    assert run.status is RunStatus.SUCCEEDED
    again = eng.run(start(eng).id)
    assert again.status is RunStatus.NOT_NEEDED and again.state is RunState.DRIFT_CHECKED


def test_three_failed_checks_fail_the_sell_side_with_all_reasons(db, account):
    bad = ScriptedPlanner("bad", [[("411420", 1)], [("453850", 5)], [("999999", 3)]])
    eng = make_engine(db, account, planner=bad)
    run = eng.run(start(eng).id)
    assert run.status is RunStatus.FAILED and run.state is RunState.SELL_PLANNED
    assert "3 times" in run.error
    with db.unit_of_work() as uow:
        attempts = uow.plan_attempts(run.id)
        trans = uow.transitions(run.id)
    assert [a.attempt for a in attempts] == [1, 2, 3] and not any(a.passed for a in attempts)
    rules = [{c.rule for c in a.checks if not c.passed} for a in attempts]
    assert "R2" in rules[0]  # one share of an overweight ticker: not close to target
    assert "R1" in rules[1]  # selling an underweight ticker
    assert "R3" in rules[2]  # unknown ticker
    assert [t.trigger for t in trans].count("reject_sells") == 2
    assert account.orders() == []


def test_resume_and_lookup_errors(db, account):
    eng = make_engine(db, account)
    run = eng.run(start(eng, max_phase=2).id)
    with pytest.raises(RunFinished):
        eng.resume(run.id)
    with pytest.raises(RunNotFound):
        eng.resume("nope")


def test_one_active_run_per_account(db, account):
    eng = make_engine(db, account)
    first = start(eng)
    with pytest.raises(LeaseHeld):
        start(eng)
    other = make_engine(db, account)
    other.owner = "someone-else"
    with pytest.raises(LeaseHeld):
        other.resume(first.id)  # its lease is live
    assert eng.run(first.id).status is RunStatus.SUCCEEDED
    assert start(eng).status is RunStatus.RUNNING  # the slot is free again


def test_lost_reply_is_reconciled_not_resent(db, account):
    account.set_faults(lose_reply_rate=1.0)
    eng = make_engine(db, account)
    run = eng.run(start(eng).id)
    assert run.status is RunStatus.SUCCEEDED
    with db.unit_of_work() as uow:
        orders = uow.orders(run.id)
    assert all(o.message == "adopted by reconciliation" for o in orders)
    assert len(account.orders()) == len(orders)


def test_intent_without_order_number_is_resent_only_if_broker_has_none(db, account):
    eng = make_engine(db, account, planner=None)
    run = start(eng)
    # simulate a crash right after the first intent was committed: stop before sending
    class Crash(Exception):
        pass

    class Hooks:
        def point(self, name):
            if name == "order:before_send":
                raise Crash

    eng.hooks = Hooks()
    with pytest.raises(Crash):
        eng.run(run.id)
    assert account.orders() == []
    eng.hooks = type("H", (), {"point": lambda self, n: None})()
    done = eng.resume(run.id)
    assert done.status is RunStatus.SUCCEEDED
    with db.unit_of_work() as uow:
        first = uow.orders(run.id)[0]
    # its send counter (committed before every send) says it never left: sent at once, without
    # waiting out a settle window for an order that cannot exist
    assert first.message == NEVER_SENT and first.sends == 1
    tickers = [o["ticker"] + o["side"] for o in account.orders()]
    assert len(tickers) == len(set(tickers))


def test_ambiguous_reconciliation_blocks(db, account):
    account.set_faults(lose_reply_rate=1.0)
    eng = make_engine(db, account)
    run = start(eng)
    # a same-ticker order this engine did not place, placed after the run started
    account.place("sell", "411420", 1)
    done = eng.run(run.id)
    assert done.status is RunStatus.BLOCKED and done.state is RunState.SELL_VALIDATED
    assert "411420" in done.blocked_reason
    assert eng.resume(run.id).status is RunStatus.BLOCKED  # waits for an operator
    forced = eng.force(run.id, "CASH_FETCHED", reason="sells checked by hand", actor="alice")
    assert forced.state is RunState.CASH_FETCHED and forced.status is RunStatus.RUNNING
    with db.unit_of_work() as uow:
        last = uow.transitions(run.id)[-1]
    assert (last.actor, last.reason, last.source, last.dest) == ("alice", "sells checked by hand",
                                                                 "SELL_VALIDATED", "CASH_FETCHED")


def test_open_orders_at_start_fail_before_planning(db, account):
    eng = make_engine(db, account)
    account.set_faults(partial_fill={"411420": 0.5})
    account.place("sell", "411420", 10)  # half stays open
    account.set_faults(partial_fill={})
    run = eng.run(start(eng).id)
    assert run.status is RunStatus.FAILED and run.state is RunState.FETCHED
    assert "411420" in run.error and "open" in run.error


def test_partial_fill_retries_remainder_then_partial(db, account):
    account.set_faults(partial_fill={"411420": 0.5})
    eng = make_engine(db, account, partial_retries=1)
    run = eng.run(start(eng).id)
    assert run.status is RunStatus.PARTIAL
    with db.unit_of_work() as uow:
        chain = [o for o in uow.orders(run.id) if o.ticker == "411420"]
    assert [o.seq for o in chain] == [0, 1]
    assert chain[1].quantity == chain[0].quantity - chain[0].filled_quantity
    assert all(o.status is OrderStatus.PARTIAL for o in chain)
    open_left = [o for o in account.orders() if o["remaining"] > 0]
    assert open_left == []  # every remainder was cancelled and confirmed


def test_force_refuses_edges_not_in_the_table_and_abort(db, account):
    eng = make_engine(db, account)
    run = eng.run(start(eng, max_phase=5).id)
    with pytest.raises(RunFinished):
        eng.abort(run.id, reason="late", actor="bob")
    run2 = start(eng)
    with pytest.raises(TransitionError) as e:
        eng.force(run2.id, "BOUGHT", reason="skip", actor="bob")
    assert "allowed: ABORTED" in e.value.message
    with pytest.raises(TransitionError):
        eng.abort(run2.id, reason=" ", actor="bob")
    aborted = eng.abort(run2.id, reason="market news", actor="bob")
    assert aborted.status is RunStatus.ABORTED
    with db.unit_of_work() as uow:
        assert [h.status for h in uow.history() if h.run_id == run2.id] == [RunStatus.ABORTED]

