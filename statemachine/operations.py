"""Operator commands built on the engine and the one transition table.

``retry``: a run that FAILED its plan checks (status FAILED in SELL_PLANNED or BUY_PLANNED) gets
a new planning round: it is forced along the table's operator edge back to where that side's
loop-back edge leads (its planning state), with the side's attempt count reset, and driven on.
The force is recorded like any other (who, when, why, from, to).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .engine import Engine
from .errors import LeaseHeld, RunFinished, TransitionError
from .records import RunRecord
from .states import ACTIVE_STATUSES, TRANSITIONS, RunState, RunStatus


def retry_target(state: RunState) -> RunState | None:
    """Where a failed side re-plans from: the destination of the loop-back edge out of ``state``."""
    for t in TRANSITIONS:
        if t.kind == "loopback" and t.source == state:
            return t.dest
    return None


def plan_inputs_taken_at(outputs: dict[str, dict], state: RunState) -> datetime | None:
    snap = (outputs.get("cash") or {}).get("snapshot") if state is RunState.BUY_PLANNED else outputs.get("snapshot")
    raw = (snap or {}).get("taken_at")
    return datetime.fromisoformat(raw) if raw else None


def retry(
    engine: Engine, run_id: str, *, reason: str, actor: str, max_age: timedelta | None = timedelta(minutes=30),
    planner: str | None = None,
) -> RunRecord:
    """Force a failed run back to planning (attempts reset) and drive it; refused with a clear error
    when the run did not fail its checks, when the account has another active run, or when the
    account data the plan would be made on is older than ``max_age``. ``planner``: plan the new round
    (and the rest of the run) with this planner instead of the run's."""
    if not reason or not reason.strip():
        raise TransitionError("retry needs a reason", field="reason")
    run = engine.get(run_id)
    target = retry_target(run.state)
    if run.status is not RunStatus.FAILED or target is None:
        cls = RunFinished if run.status not in ACTIVE_STATUSES else TransitionError
        where = " or ".join(t.source.value for t in TRANSITIONS if t.kind == "loopback")
        raise cls(
            f"run {run_id} is {run.status} at {run.state}; retry is only for a run that FAILED its "
            f"plan checks (in {where})",
            run_id=run_id,
        )
    with engine.uow() as uow:
        others = [
            r
            for r in uow.find_runs(account=run.account, statuses=[s.value for s in ACTIVE_STATUSES])
            if r.id != run_id
        ]
        outputs = uow.outputs(run_id)
    if others:
        raise LeaseHeld(
            f"account {run.account} has an active run ({others[0].id}); finish or abort it "
            f"before retrying {run_id}",
            run_id=others[0].id,
        )
    taken = plan_inputs_taken_at(outputs, run.state)
    if max_age is not None and taken is not None and engine.clock.now() - taken > max_age:
        age = int((engine.clock.now() - taken).total_seconds() // 60)
        limit = int(max_age.total_seconds() // 60)
        raise TransitionError(
            f"run {run_id} would re-plan on account data read {age} min ago (more than "
            f"{limit} min); start a new run instead",
            run_id=run_id,
        )
    engine.force(run_id, target.value, reason=f"retry: {reason}", actor=actor, planner=planner)
    return engine.resume(run_id)
