"""The buy-side recovery of a PARTIAL run (issue 22) on every store (memory, SQLite, PostgreSQL):
the sells fill, the buy side fails (three bad plans, or a broker reject), the run is PARTIAL with
the proceeds in cash; retrying the buy side re-reads the account and the orderable cash and buys
from what is there now, as recorded transitions of the same run; the simulator's order log shows
each sell once and the buys once. And the automatic recovery: its delay, the market session, the
kill switch, and giving up after N attempts."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from adapters.sim.account import DEMO_DIR, SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine import buy_recovery
from statemachine.application import commands
from statemachine.application.scheduled import recover_buy_sides
from statemachine.engine import Engine
from statemachine.errors import LeaseHeld, RunFinished, TransitionError
from statemachine.models import DriftReport, Side, Targets
from statemachine.planner_greedy import GreedyPlanner
from statemachine.settings import BuyRecoveryPolicy, EngineSettings
from statemachine.states import RunState, RunStatus
from statemachine.step_records import StepOutputs
from tests.contract.helpers import STORES, open_store
from tests.fakes import FakeClock, ScriptedPlanner

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
BAD_BUYS = [[("999999", 1)]]  # an unknown ticker: R3 fails, three times


@pytest.fixture(params=STORES)
def db(request, tmp_path):
    yield from open_store(request, tmp_path)


@pytest.fixture
def account(tmp_path):
    clock = FakeClock()  # 2026-11-25 10:00 KST, a session
    acc = SimAccount.demo(tmp_path / "account.json", clock=clock.now)
    acc.test_clock = clock  # type: ignore[attr-defined]
    return acc


class RejectBuysAfterSells:
    """Hooks: once the buy plan is validated, the broker refuses every order."""

    def __init__(self, account: SimAccount) -> None:
        self.account = account

    def point(self, name: str) -> None:
        if name == "checkpoint:BUY_VALIDATED":
            self.account.set_faults(reject={"*": "insufficient"})


def engine(db, account, *, planner=None, hooks=None, owner="recovery-test", guards=None) -> Engine:
    greedy = GreedyPlanner()
    return Engine(db.unit_of_work, SimulatedBroker(account), lambda name: planner or greedy, account.test_clock,
                  EngineSettings(fill_timeout_s=2, fill_poll_s=0.5), hooks=hooks, owner=owner, guards=guards)


def partial_run(db, account, how: str):
    """A run whose sells filled and whose buy side failed ``how``: PARTIAL, the proceeds in cash."""
    if how == "bad plans":
        eng = engine(db, account, planner=ScriptedPlanner("bad", BAD_BUYS, side=Side.BUY, fallback=GreedyPlanner()))
    else:
        eng = engine(db, account, hooks=RejectBuysAfterSells(account))
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    account.set_faults(reject={})
    assert run.status is RunStatus.PARTIAL, run.error
    assert run.state is (RunState.BUY_PLANNED if how == "bad plans" else RunState.BOUGHT)
    with db.unit_of_work() as uow:
        sells = StepOutputs(uow.outputs(run.id)).fills(Side.SELL)
        idle = buy_recovery.unspent_proceeds(sells, uow.orders(run.id))
    assert sells is not None and idle > 0 and idle == sum(f.amount - f.fees for f in sells.fills)
    assert account.cash() >= idle  # the proceeds sit in cash
    assert {o["side"] for o in account.orders()} == {"sell"}  # no buy reached the broker
    return run


def transitions(db, run_id):
    with db.unit_of_work() as uow:
        return uow.transitions(run_id)


def assert_each_order_once(account):
    sent = [(o["side"], o["ticker"]) for o in account.orders()]
    assert len(sent) == len(set(sent)), sent  # each sell once, each buy once
    assert {s for s, _ in sent} == {"sell", "buy"}


@pytest.mark.parametrize("how", ["bad plans", "broker reject"])
def test_retry_of_the_buy_side_buys_from_the_cash_there_now(db, account, how):
    run = partial_run(db, account, how)
    account.test_clock.advance(600)  # the operator acts ten minutes later
    account.update(lambda s: s.update(cash=s["cash"] - 1_000_000))  # and the cash moved meanwhile
    cash_now = account.orderable_cash()
    done = commands.retry_buy_side(engine(db, account), run.id, reason="ticket OPS-22", actor="alice")
    assert (done.status, done.state) == (RunStatus.SUCCEEDED, RunState.BOUGHT), done.error
    assert done.error is None and done.finished_at is not None
    with db.unit_of_work() as uow:
        outputs = StepOutputs(uow.outputs(run.id))
        buys = [o for o in uow.orders(run.id) if o.side is Side.BUY and o.filled_quantity > 0]
        [history] = [h for h in uow.history() if h.run_id == run.id]
    assert outputs.cash().orderable_cash == cash_now  # re-read, not the old cash
    assert sum(o.amount + o.fees for o in buys) <= cash_now
    assert_each_order_once(account)
    trail = transitions(db, run.id)
    retried = [t for t in trail if t.trigger == "retry_buys"]
    assert [(t.actor, t.reason, t.dest) for t in retried] == [("alice", "ticket OPS-22", "SOLD")]
    after = [t.trigger for t in trail[trail.index(retried[0]) + 1:]]
    assert after == ["fetch_cash", "plan_buys", "validate_buys", "buy"]
    # the history row: the first outcome, the recovery, the final drift
    assert history.status is RunStatus.SUCCEEDED and history.recovery is not None
    assert history.recovery.first_status is RunStatus.PARTIAL and history.recovery.first_error
    assert [(a.actor, a.outcome) for a in history.recovery.attempts] == [("alice", "SUCCEEDED")]
    assert history.drift_after["total_abs_drift"] < history.recovery.first_total_abs_drift_after


def test_three_bad_plans_then_a_broker_reject_then_success(db, account):
    run = partial_run(db, account, "bad plans")
    account.test_clock.advance(300)
    again = commands.retry_buy_side(engine(db, account, hooks=RejectBuysAfterSells(account)), run.id,
                                    reason="first try", actor="bob")
    account.set_faults(reject={})
    assert (again.status, again.state) == (RunStatus.PARTIAL, RunState.BOUGHT)
    assert [o["side"] for o in account.orders()].count("buy") == 0  # every buy was refused
    account.test_clock.advance(300)
    done = commands.retry_buy_side(engine(db, account), run.id, reason="second try", actor="bob")
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert_each_order_once(account)
    with db.unit_of_work() as uow:
        [history] = [h for h in uow.history() if h.run_id == run.id]
    assert [a.outcome for a in history.recovery.attempts] == ["PARTIAL", "SUCCEEDED"]
    assert history.recovery.first_status is RunStatus.PARTIAL and "rule checks 3 times" in history.recovery.first_error


def test_retry_of_the_buy_side_is_refused_with_a_reason(db, account):
    eng = engine(db, account)
    with pytest.raises(TransitionError, match="needs a reason"):
        eng.retry_buy_side("nope", reason=" ", actor="x")
    # a run still active: not PARTIAL
    active = eng.start(account="demo", targets=TARGETS)
    with pytest.raises(TransitionError, match="only a PARTIAL run"):
        eng.retry_buy_side(active.id, reason="x", actor="x")
    done = eng.run(active.id)
    assert done.status is RunStatus.SUCCEEDED
    with pytest.raises(RunFinished, match="only a PARTIAL run"):
        eng.retry_buy_side(done.id, reason="x", actor="x")


def test_refused_while_another_run_holds_the_account(db, account):
    run = partial_run(db, account, "bad plans")
    other = engine(db, account, owner="other").start(account="demo", targets=TARGETS)
    before = transitions(db, run.id)
    with pytest.raises(LeaseHeld, match=other.id):
        commands.retry_buy_side(engine(db, account), run.id, reason="x", actor="carol")
    assert transitions(db, run.id) == before
    assert engine(db, account).get(run.id).status is RunStatus.PARTIAL


def test_refused_when_the_sells_did_not_finish(db, account):
    account.set_faults(partial_fill={"411420": 0.5})
    eng = engine(db, account, planner=ScriptedPlanner("bad", BAD_BUYS, side=Side.BUY, fallback=GreedyPlanner()))
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    assert run.status is RunStatus.PARTIAL and run.state is RunState.BUY_PLANNED
    with pytest.raises(TransitionError, match="the sells did not finish .*411420"):
        eng.retry_buy_side(run.id, reason="x", actor="dave")
    assert eng.get(run.id).seq == run.seq


# ----------------------------------------------------------------------------- automatic recovery
def auto(db, account, *, policy, market=lambda now: (True, "open"), kill=lambda: None, told=None,
         planner=None, hooks=None):
    told = [] if told is None else told
    return recover_buy_sides(db.unit_of_work, lambda: engine(db, account, planner=planner, hooks=hooks),
                             account="demo", now=account.test_clock.now(), policy=policy, market_open=market,
                             kill_switch=kill, on_exhausted=lambda run, msg: told.append((run.id, msg)))


POLICY = BuyRecoveryPolicy(enabled=True, delay_s=300, max_attempts=2)


@pytest.mark.parametrize("how", ["bad plans", "broker reject"])
def test_automatic_recovery_waits_its_delay_then_succeeds(db, account, how):
    run = partial_run(db, account, how)
    assert auto(db, account, policy=POLICY.model_copy(update={"enabled": False})) == []  # off by default
    [waiting] = auto(db, account, policy=POLICY)
    assert waiting.outcome == "waiting" and len(account.orders()) == 3
    account.test_clock.advance(301)
    [ran] = auto(db, account, policy=POLICY)
    assert ran.outcome == "ran" and ran.run.status is RunStatus.SUCCEEDED
    assert_each_order_once(account)
    [t] = [t for t in transitions(db, run.id) if t.trigger == "retry_buys"]
    assert t.actor == buy_recovery.AUTO_ACTOR and "automatic buy-side recovery 1 of 2" in t.reason
    assert auto(db, account, policy=POLICY) == []  # nothing left to recover


def test_outside_the_session_it_waits_and_with_the_kill_switch_it_sends_nothing(db, account):
    run = partial_run(db, account, "bad plans")
    account.test_clock.advance(301)
    sent = len(account.orders())
    [closed] = auto(db, account, policy=POLICY, market=lambda now: (False, "the KRX session is closed"))
    [killed] = auto(db, account, policy=POLICY, kill=lambda: "setting")
    assert (closed.outcome, killed.outcome) == ("closed", "killed") and "kill switch" in killed.message
    assert len(account.orders()) == sent  # nothing sent
    assert [t for t in transitions(db, run.id) if t.trigger == "retry_buys"] == []  # no attempt counted
    assert engine(db, account).get(run.id).status is RunStatus.PARTIAL
    [ran] = auto(db, account, policy=POLICY)  # the session opens, the switch is off
    assert ran.run.status is RunStatus.SUCCEEDED
    assert_each_order_once(account)


def test_after_the_last_attempt_the_run_stays_partial_and_the_operator_is_told(db, account, caplog):
    bad = ScriptedPlanner("bad", BAD_BUYS, side=Side.BUY, fallback=GreedyPlanner())
    run = partial_run(db, account, "bad plans")
    told: list = []
    for n in (1, 2):
        account.test_clock.advance(301)
        [r] = auto(db, account, policy=POLICY, planner=bad, told=told)
        assert r.outcome == "ran" and r.run.status is RunStatus.PARTIAL, n
    account.test_clock.advance(301)
    with caplog.at_level(logging.ERROR, logger="rebalance.scheduler"):
        [gave_up] = auto(db, account, policy=POLICY, planner=bad, told=told)
    assert gave_up.outcome == "exhausted"
    assert told and told[0][0] == run.id and "gave up after 2" in told[0][1]
    assert any("gave up after 2" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    fresh = engine(db, account).get(run.id)
    assert fresh.status is RunStatus.PARTIAL and "gave up after 2" in fresh.error  # the status field
    assert transitions(db, run.id)[-1].trigger == buy_recovery.EXHAUSTED_AUDIT
    assert auto(db, account, policy=POLICY, planner=bad, told=told) == []  # told once, nothing more
    assert {o["side"] for o in account.orders()} == {"sell"}  # no buy ever sent
    with db.unit_of_work() as uow:
        [history] = [h for h in uow.history() if h.run_id == run.id]
    assert history.status is RunStatus.PARTIAL
    assert [(a.actor, a.outcome) for a in history.recovery.attempts] == [(buy_recovery.AUTO_ACTOR, "PARTIAL")] * 2
    # the operator can still retry by hand
    done = commands.retry_buy_side(engine(db, account), run.id, reason="fixed the planner", actor="erin")
    assert done.status is RunStatus.SUCCEEDED


def test_old_partial_runs_are_left_to_the_operator(db, account):
    partial_run(db, account, "bad plans")
    account.test_clock.set(datetime(2026, 11, 27, 1, 0, tzinfo=UTC))
    assert auto(db, account, policy=POLICY.model_copy(update={"window_h": 24})) == []
    assert account.test_clock.now() - timedelta(hours=24) > datetime(2026, 11, 25, 1, 0, tzinfo=UTC)



class RejectOneBuy:
    """Hooks: once the buy plan is validated, the broker refuses the buys of one ticker only, so the
    other buys fill and the run ends PARTIAL with part of its buy side done."""

    def __init__(self, account: SimAccount, ticker: str) -> None:
        self.account, self.ticker = account, ticker

    def point(self, name: str) -> None:
        if name == "checkpoint:BUY_VALIDATED":
            self.account.set_faults(reject={self.ticker: "insufficient"})



def test_retry_after_some_buys_filled_plans_from_the_account_as_it_is_now(db, account):
    """The buys that filled before the PARTIAL, and whatever moved in the account since, are in the
    account the recovery plans from: it is read from the broker again, not derived from the start's
    balance and the sells (which would show the bought tickers as still missing and buy them twice)."""
    eng = engine(db, account, hooks=RejectOneBuy(account, "357870"))  # the other three buys fill
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    account.set_faults(reject={})
    assert run.status is RunStatus.PARTIAL, run.error
    assert len([o for o in account.orders() if o["side"] == "buy"]) == 3
    account.update(lambda s: s.update(cash=s["cash"] + 40_000_000))  # a deposit meanwhile
    held_now, cash_now = account.positions(), account.orderable_cash()
    commands.retry_buy_side(engine(db, account), run.id, reason="one ticker refused", actor="alice")
    with db.unit_of_work() as uow:
        seen = StepOutputs(uow.outputs(run.id)).cash()
    assert {h.ticker: h.quantity for h in seen.snapshot.holdings} == held_now
    assert seen.orderable_cash == cash_now


def _buys(account) -> list[str]:
    return [o["ticker"] for o in account.orders() if o["side"] == "buy"]


@pytest.mark.parametrize("refused", ["132030", "261240"])
def test_recovery_buys_the_refused_ticker_once_and_never_the_filled_ones_again(db, account, refused):
    """The first pass's other buys filled (they are in the account the recovery reads); the recovery
    plans from that account: it buys the refused ticker, once, re-buys none of the filled ones, and
    its own plan filling in full ends the run SUCCEEDED (the first pass's REJECTED order is history).
    Before the fix the filled buys were applied a second time on top of the re-read account (an order
    stamped in the same instant as the read counted as "after" it): no cash left, 0 orders planned,
    PARTIAL again."""
    eng = engine(db, account, hooks=RejectOneBuy(account, refused))
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    account.set_faults(reject={})
    assert run.status is RunStatus.PARTIAL, run.error
    first = _buys(account)
    assert refused not in first and len(first) == 3
    done = commands.retry_buy_side(engine(db, account), run.id, reason=f"{refused} refused", actor="alice")
    assert done.status is RunStatus.SUCCEEDED, done.error
    buys = _buys(account)
    assert buys[:3] == first and buys[3:] == [refused]  # the refused ticker once; no filled ticker twice
    with db.unit_of_work() as uow:
        outputs = StepOutputs(uow.outputs(run.id))
        latest = [a for a in uow.plan_attempts(run.id) if a.side is Side.BUY][-1]
    assert latest.plan is not None and [o.ticker for o in latest.plan.orders] == [refused]
    assert outputs.cash().buy_attempts_included == 1
    after = DriftReport.model_validate(outputs.raw["drift_after"])
    assert not after.needed, after.exceeded()  # the account is balanced now


def test_recovery_that_no_longer_needs_the_refused_ticker_succeeds(db, account):
    """Status judged on the sells and the latest buy pass: the refused ticker was bought outside the
    run before the retry, so the recovery's plan leaves it out; its plan filled, the run SUCCEEDED,
    the first pass's REJECTED order notwithstanding."""
    eng = engine(db, account, hooks=RejectOneBuy(account, "132030"))
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    account.set_faults(reject={})
    assert run.status is RunStatus.PARTIAL, run.error
    with db.unit_of_work() as uow:
        refused = next(o for o in uow.orders(run.id) if o.ticker == "132030")
    price = account.price("132030")
    assert price is not None

    def bought_by_hand(s):
        s["holdings"]["132030"]["qty"] += refused.quantity
        s["cash"] -= refused.quantity * price
    account.update(bought_by_hand)
    n = len(account.orders())
    done = commands.retry_buy_side(engine(db, account), run.id, reason="bought by hand", actor="alice")
    assert "132030" not in [o["ticker"] for o in account.orders()[n:]]
    assert done.status is RunStatus.SUCCEEDED, done.error
    with db.unit_of_work() as uow:
        after = DriftReport.model_validate(StepOutputs(uow.outputs(run.id)).raw["drift_after"])
    assert not after.needed
    with db.unit_of_work() as uow:
        fills = StepOutputs(uow.outputs(run.id)).fills(Side.BUY)
    assert fills is not None and any(f.ticker == "132030" and f.filled == 0 for f in fills.fills)  # history kept


def test_a_recovery_that_plans_nothing_while_drift_remains_stays_partial(db, account):
    """An empty recovery plan while the account still needs rebalancing recovered nothing: the run
    keeps the status of all its orders (PARTIAL), never SUCCEEDED with the cash idle."""
    eng = engine(db, account, hooks=RejectOneBuy(account, "132030"))
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    account.set_faults(reject={})
    assert run.status is RunStatus.PARTIAL, run.error
    n = len(account.orders())
    nothing = ScriptedPlanner("nothing", [[]], side=Side.BUY)
    done = commands.retry_buy_side(engine(db, account, planner=nothing), run.id, reason="x", actor="alice")
    assert account.orders()[n:] == []
    assert done.status is RunStatus.PARTIAL, done.error
    with db.unit_of_work() as uow:
        after = DriftReport.model_validate(StepOutputs(uow.outputs(run.id)).raw["drift_after"])
    assert after.needed and after.cash > 0  # the refused ticker's share still sits in cash
