"""The replay check accepts every walk the transition table allows (every edge, engine, loop-back or
operator, and every status row where the engine writes it) and refuses the first step that is not."""

from __future__ import annotations

import json
from collections import deque
from datetime import UTC, datetime

import pytest

from adapters.sim.account import DEMO_DIR
from statemachine.engine.recovery import AUDITS, PRODUCERS, REQUIRED, check_replay
from statemachine.errors import ReplayMismatch
from statemachine.models import Targets, Thresholds
from statemachine.records import RunRecord, TransitionRecord
from statemachine.states import TRANSITIONS, RunState, RunStatus, Transition

AT = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))


def _path_to(state: RunState) -> list[Transition]:
    """The shortest walk of engine edges from CREATED to ``state``."""
    seen = {RunState.CREATED: []}
    todo = deque([RunState.CREATED])
    while todo:
        s = todo.popleft()
        for t in TRANSITIONS:
            if t.kind == "engine" and t.source == s and t.dest not in seen:
                seen[t.dest] = [*seen[s], t]
                todo.append(t.dest)
    return seen[state]


def _history(steps: list[tuple[str, str, str]]) -> list[TransitionRecord]:
    rows = [("start", "-", RunState.CREATED.value), *steps]
    return [TransitionRecord(run_id="r", seq=n, trigger=trig, source=src, dest=dst, actor="t", at=AT)
            for n, (trig, src, dst) in enumerate(rows)]


def _run(state: str, seq: int) -> RunRecord:
    return RunRecord(id="r", account="demo", state=RunState(state), status=RunStatus.RUNNING, seq=seq,
                     thresholds=Thresholds(mp=3.0, sub_mp=5.0), targets=TARGETS,
                     engine_version="x", checkpoint_format=1, created_at=AT, updated_at=AT)


def _outputs(history: list[TransitionRecord]) -> set[str]:
    return {k for t in history for k in REQUIRED.get(t.trigger, ())}


def _check(history: list[TransitionRecord], kinds: set[str] | None = None) -> None:
    check_replay(_run(history[-1].dest, history[-1].seq), history, _outputs(history) if kinds is None else kinds)


@pytest.mark.parametrize("edge", TRANSITIONS, ids=lambda t: f"{t.trigger}:{t.source}")
def test_every_edge_of_the_table_replays(edge):
    steps = [(t.trigger, t.source.value, t.dest.value) for t in _path_to(edge.source)]
    steps.append((edge.trigger, edge.source.value, edge.dest.value))
    _check(_history(steps))


@pytest.mark.parametrize("audit,state", [(a, s) for a, where in AUDITS.items()
                                         for s in (where or [RunState.SELL_PLANNED, RunState.BUY_VALIDATED])])
def test_status_rows_replay_where_the_engine_writes_them(audit, state):
    steps = [(t.trigger, t.source.value, t.dest.value) for t in _path_to(state)]
    history = _history([*steps, (audit, state.value, state.value)])
    kinds = _outputs(history) | {k for k, by in PRODUCERS.items() if audit in by}
    _check(history, kinds)


def test_retries_loop_back_three_times_then_a_forced_replan():
    plan = [("plan_sells", "DRIFT_CHECKED", "SELL_PLANNED"), ("reject_sells", "SELL_PLANNED", "DRIFT_CHECKED")]
    steps = [(t.trigger, t.source.value, t.dest.value) for t in _path_to(RunState.DRIFT_CHECKED)]
    steps += plan * 2 + [plan[0], ("sell_side_failed", "SELL_PLANNED", "SELL_PLANNED"),
                         ("force_replan_sells", "SELL_PLANNED", "DRIFT_CHECKED"), plan[0]]
    _check(_history(steps))


def test_a_status_row_in_the_wrong_state_is_refused():
    steps = [(t.trigger, t.source.value, t.dest.value) for t in _path_to(RunState.SOLD)]
    history = _history([*steps, ("blocked", "SOLD", "SOLD")])
    with pytest.raises(ReplayMismatch) as err:
        _check(history, _outputs(history) | {"blocked"})
    assert err.value.fields["step"] == len(history) - 1
    assert err.value.fields["recorded"] == "blocked SOLD -> SOLD"


def test_an_operator_edge_from_the_wrong_state_is_refused():
    steps = [(t.trigger, t.source.value, t.dest.value) for t in _path_to(RunState.SOLD)]
    with pytest.raises(ReplayMismatch) as err:
        _check(_history([*steps, ("force_skip_sells", "SOLD", "SOLD")]))
    assert "fetch_cash SOLD -> CASH_FETCHED" in err.value.fields["expected"]


def test_a_step_that_does_not_leave_the_previous_state_is_refused():
    with pytest.raises(ReplayMismatch) as err:
        _check(_history([("fetch", "CREATED", "FETCHED"), ("plan_sells", "DRIFT_CHECKED", "SELL_PLANNED")]))
    assert (err.value.fields["step"], err.value.fields["recorded"]) == (2, "plan_sells DRIFT_CHECKED -> SELL_PLANNED")
