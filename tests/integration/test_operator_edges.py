"""Operator controls on a real database: every operator edge of the table (read from
statemachine.states.TRANSITIONS, never copied) allowed from where it starts and refused from
everywhere else, each recorded (who, when, why, from, to) and shown; retry; abort; the kill
switch; the safety limits."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from adapters.bootstrap import kill_switch_guard
from adapters.cli.render import show_run
from adapters.config import Settings
from adapters.sim.account import DEMO_DIR, SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.errors import LeaseHeld, RunFinished, TransitionError
from statemachine.limits import TradingLimits
from statemachine.operations import retry
from statemachine.planner_greedy import GreedyPlanner
from statemachine.settings import EngineSettings
from statemachine.states import ABORT_TARGET, FINAL_STATUSES, TRANSITIONS, RunState, RunStatus, forced_targets
from statemachine.timeline import timeline
from tests.fakes import FakeClock, ScriptedPlanner

TARGETS = json.loads((DEMO_DIR / "demo_targets.json").read_text())
OPERATOR_EDGES = [t for t in TRANSITIONS if t.kind == "operator"]
SOURCES = sorted({t.source for t in OPERATOR_EDGES}, key=list(RunState).index)


@pytest.fixture
def account(tmp_path):
    # the broker and every engine of a test share one (fake) time: 2026-11-25 10:00 KST, a session
    clock = FakeClock()
    acc = SimAccount.demo(tmp_path / "account.json", clock=clock.now)
    acc.test_clock = clock  # type: ignore[attr-defined]
    return acc


class StopAt:
    """Hooks: ask the engine to stop after the checkpoint into ``state``."""

    def __init__(self, state: RunState | None) -> None:
        self.state = state
        self.engine: Engine | None = None

    def point(self, name: str) -> None:
        if self.state is not None and name == f"checkpoint:{self.state.value}" and self.engine:
            self.engine.request_stop()


def engine(
    db, account, *, planner=None, stop_at: RunState | None = None, guards=None, owner="op-test", **settings
) -> Engine:
    hooks = StopAt(stop_at)
    es = EngineSettings(fill_timeout_s=2, fill_poll_s=0.5, **settings)
    greedy = GreedyPlanner()
    eng = Engine(
        db.unit_of_work,
        SimulatedBroker(account),
        lambda name: planner or greedy,
        account.test_clock,
        es,
        hooks=hooks,
        owner=owner,
        guards=guards,
    )
    hooks.engine = eng
    return eng


def run_to(db, account, state: RunState):
    """A run left RUNNING at ``state`` (its checkpoint), lease released."""
    from statemachine.models import Targets

    eng = engine(db, account, stop_at=state)
    run = eng.run(eng.start(account="demo", targets=Targets.model_validate(TARGETS)).id)
    fresh = eng.get(run.id)
    assert (fresh.state, fresh.status) == (state, RunStatus.RUNNING), fresh.error
    return fresh


def transitions(db, run_id):
    with db.unit_of_work() as uow:
        return uow.transitions(run_id)


def rendered(db, run_id) -> str:
    with db.unit_of_work() as uow:
        view = timeline(
            uow.get_run(run_id),
            uow.transitions(run_id),
            uow.plan_attempts(run_id),
            uow.orders(run_id),
            uow.outputs(run_id),
        )
    buf = io.StringIO()
    show_run(Console(file=buf, width=400, color_system=None), view)
    return buf.getvalue()


@pytest.mark.parametrize("edge", OPERATOR_EDGES, ids=lambda t: f"{t.trigger}:{t.source}->{t.dest}")
def test_each_operator_edge_is_allowed_recorded_and_shown(db, account, edge):
    run = run_to(db, account, edge.source)
    before = len(transitions(db, run.id))
    eng = engine(db, account)
    forced = eng.force(run.id, edge.dest.value.lower(), reason=f"ticket OPS-1 {edge.trigger}", actor="alice")
    assert forced.state is edge.dest and forced.lease_owner is None
    trail = transitions(db, run.id)
    assert len(trail) == before + 1
    last = trail[-1]
    assert (last.trigger, last.source, last.dest, last.actor, last.reason) == (
        edge.trigger,
        edge.source.value,
        edge.dest.value,
        "alice",
        f"ticket OPS-1 {edge.trigger}",
    )
    assert last.at is not None and last.seq == forced.seq
    if edge.trigger == "force_replan_sells":
        assert forced.sell_attempts == 0
    if edge.trigger == "force_replan_buys":
        assert forced.buy_attempts == 0
    text = rendered(db, run.id)
    assert "alice" in text and f"ticket OPS-1 {edge.trigger}" in text and f"{edge.trigger}:" in text
    if forced.status is RunStatus.RUNNING:
        forced = eng.resume(run.id)  # the run goes on from where the operator put it, to an outcome
    assert forced.status in FINAL_STATUSES and forced.status is not RunStatus.ABORTED, (
        forced.status,
        forced.error,
    )
    assert forced.error is None or "KeyError" not in forced.error


@pytest.mark.parametrize("source", [s for s in RunState if s not in (RunState.CREATED, RunState.BOUGHT)])
def test_every_other_target_is_refused_listing_the_allowed_ones(db, account, source):
    run = run_to(db, account, source)
    allowed = {t.dest for t in OPERATOR_EDGES if t.source is source}
    eng = engine(db, account)
    before = transitions(db, run.id)
    for target in RunState:
        if target in allowed:
            continue
        with pytest.raises(TransitionError) as e:
            eng.force(run.id, target.value, reason="try", actor="mallory")
        assert e.value.fields["allowed"] == forced_targets(source)
        assert f"allowed: {', '.join(forced_targets(source))}" in e.value.message
    assert transitions(db, run.id) == before  # nothing recorded, nothing moved
    after = eng.get(run.id)
    assert (after.state, after.status, after.seq) == (run.state, run.status, run.seq)


def test_missing_reason_changes_nothing(db, account):
    run = run_to(db, account, RunState.SELL_VALIDATED)
    eng = engine(db, account)
    for blank in ("", "   "):
        with pytest.raises(TransitionError, match="needs a reason"):
            eng.force(run.id, "DRIFT_CHECKED", reason=blank, actor="bob")
        with pytest.raises(TransitionError, match="needs a reason"):
            eng.abort(run.id, reason=blank, actor="bob")
        with pytest.raises(TransitionError, match="needs a reason"):
            retry(eng, run.id, reason=blank, actor="bob")
    assert eng.get(run.id).seq == run.seq


def test_abort_is_recorded_and_a_finished_run_cannot_be_aborted_or_forced(db, account):
    run = run_to(db, account, RunState.BUY_PLANNED)
    eng = engine(db, account)
    eng.clock.advance(86400)  # the operator acts the next day: show gives the date as well
    aborted = eng.force(run.id, ABORT_TARGET, reason="market news", actor="carol")
    assert aborted.status is RunStatus.ABORTED and aborted.state is RunState.BUY_PLANNED
    last = transitions(db, run.id)[-1]
    assert (last.trigger, last.actor, last.reason, last.status) == (
        "abort",
        "carol",
        "market news",
        "ABORTED",
    )
    text = rendered(db, run.id)
    assert "market news" in text and "2026-11-26 01:00:00" in text
    seq = eng.get(run.id).seq
    with pytest.raises(RunFinished, match="already ABORTED"):
        eng.abort(run.id, reason="again", actor="carol")
    with pytest.raises(RunFinished):
        eng.force(run.id, "CASH_FETCHED", reason="again", actor="carol")
    assert eng.get(run.id).seq == seq


def failing_sell_run(db, account):
    bad = ScriptedPlanner("bad", [[("411420", 1)]])
    eng = engine(db, account, planner=bad)
    from statemachine.models import Targets

    run = eng.run(eng.start(account="demo", targets=Targets.model_validate(TARGETS)).id)
    assert run.status is RunStatus.FAILED and run.state is RunState.SELL_PLANNED
    return run


def test_retry_replans_a_failed_run_and_records_it(db, account):
    run = failing_sell_run(db, account)
    eng = engine(db, account)  # the greedy planner this time
    done = retry(eng, run.id, reason="planner fixed", actor="dave")
    assert done.status is RunStatus.SUCCEEDED and done.state is RunState.BOUGHT
    trail = transitions(db, run.id)
    forced = next(t for t in trail if t.actor == "dave")
    assert (forced.trigger, forced.source, forced.dest, forced.reason) == (
        "force_replan_sells",
        "SELL_PLANNED",
        "DRIFT_CHECKED",
        "retry: planner fixed",
    )
    assert any(t.status == "FAILED" for t in trail)  # the earlier failure stays in the trail
    with db.unit_of_work() as uow:
        attempts = [a for a in uow.plan_attempts(run.id) if a.side.value == "sell"]
        history = [h for h in uow.history() if h.run_id == run.id]
    assert [a.attempt for a in attempts] == [1, 2, 3, 4] and attempts[-1].passed
    assert [h.status for h in history] == [RunStatus.SUCCEEDED]  # one row per run, the final outcome
    assert "dave" in rendered(db, run.id)


def test_retry_refuses_runs_that_did_not_fail_their_checks(db, account):
    run = run_to(db, account, RunState.SELL_PLANNED)
    eng = engine(db, account)
    with pytest.raises(TransitionError, match="retry is only for a run that FAILED"):
        retry(eng, run.id, reason="x", actor="erin")
    eng.abort(run.id, reason="done", actor="erin")
    with pytest.raises(RunFinished):
        retry(eng, run.id, reason="x", actor="erin")


def test_retry_refuses_while_another_run_is_active_and_on_stale_data(db, account):
    from datetime import timedelta

    from statemachine.models import Targets

    run = failing_sell_run(db, account)
    eng = engine(db, account, owner="other")
    other = eng.start(account="demo", targets=Targets.model_validate(TARGETS))
    with pytest.raises(LeaseHeld, match=other.id):
        retry(engine(db, account), run.id, reason="x", actor="frank")
    eng.abort(other.id, reason="clear", actor="frank")
    late = engine(db, account)
    late.clock.advance(3600)
    with pytest.raises(TransitionError, match="start a new run instead"):
        retry(late, run.id, reason="x", actor="frank", max_age=timedelta(minutes=30))
    assert late.get(run.id).status is RunStatus.FAILED


def test_kill_switch_sends_no_order_and_aborts_with_the_reason(db, account, tmp_path):
    guard = kill_switch_guard(Settings(kill_switch=True, kill_switch_file=str(tmp_path / "KILL")))
    from statemachine.models import Targets

    eng = engine(db, account, guards=[guard])
    run = eng.run(eng.start(account="demo", targets=Targets.model_validate(TARGETS)).id)
    assert run.status is RunStatus.ABORTED and "kill switch is on (setting)" in run.error
    assert account.orders() == []
    last = transitions(db, run.id)[-1]
    assert (last.actor, last.status) == ("safety", "ABORTED") and "kill switch" in last.reason


def test_kill_switch_file_stops_an_active_run_at_its_next_checkpoint(db, account, tmp_path):
    kill = tmp_path / "KILL"
    guard = kill_switch_guard(Settings(kill_switch=False, kill_switch_file=str(kill)))
    run = run_to(db, account, RunState.SELL_VALIDATED)  # validated, about to send
    kill.write_text("stop")
    done = engine(db, account, guards=[guard]).resume(run.id)
    assert done.status is RunStatus.ABORTED and str(kill) in done.error
    assert account.orders() == []


@pytest.mark.parametrize(
    "limits,rule",
    [(TradingLimits(max_order_value_krw=1_000_000), "L1"), (TradingLimits(max_turnover_percent=5), "L2")],
)
def test_a_plan_over_a_limit_is_refused_before_any_order(db, account, limits, rule):
    from statemachine.models import Targets

    eng = engine(db, account, limits=limits)
    run = eng.run(eng.start(account="demo", targets=Targets.model_validate(TARGETS)).id)
    assert run.status is RunStatus.FAILED and run.state is RunState.SELL_PLANNED
    assert "refused by the safety limits" in run.error and rule in run.error
    assert account.orders() == []
    with db.unit_of_work() as uow:
        [attempt] = uow.plan_attempts(run.id)  # no second attempt: a limit is not the planner's to fix
    failed = [c for c in attempt.checks if not c.passed]
    assert {c.rule for c in failed} == {rule} and all(c.numbers for c in failed)


def test_generous_limits_let_the_run_through(db, account):
    from statemachine.models import Targets

    eng = engine(db, account, limits=TradingLimits(max_order_value_krw=10**10, max_turnover_percent=200))
    run = eng.run(eng.start(account="demo", targets=Targets.model_validate(TARGETS)).id)
    assert run.status is RunStatus.SUCCEEDED
    with db.unit_of_work() as uow:
        rules = {c.rule for a in uow.plan_attempts(run.id) for c in a.checks}
    assert {"L1", "L2"} <= rules


def test_retry_with_another_planner_plans_the_new_round_with_it(db, account):
    run = failing_sell_run(db, account)
    asked: list[str] = []
    greedy = GreedyPlanner()

    def planners(name):
        asked.append(name)
        return greedy

    eng = engine(db, account)
    eng.planners = planners
    done = retry(eng, run.id, reason="Gemini keeps failing", actor="dave", planner="optimal")
    assert done.status is RunStatus.SUCCEEDED and done.planner == "optimal"
    assert asked and set(asked) == {"optimal"}
    forced = next(t for t in transitions(db, run.id) if t.actor == "dave")
    assert forced.reason == "retry: Gemini keeps failing (planner auto -> optimal)"
