"""Use cases that change something: start, resume, force, abort, retry a run; record targets;
append thresholds. Runs move only through the engine's public methods; targets and thresholds
are written in one unit of work each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from statemachine.application import Runs, UowFactory
from statemachine.engine.leases import lease_is_live
from statemachine.errors import LeaseHeld, RebalanceError, TransitionError
from statemachine.models import Targets, Thresholds
from statemachine.operations import retry as retry_run
from statemachine.policies import Policy
from statemachine.ports import Clock
from statemachine.records import RunRecord, StrategyDecision
from statemachine.states import RunStatus, forced_targets

if TYPE_CHECKING:
    from statemachine.engine import Engine


def start_run(engine: Runs, *, max_phase: int, planner: str, actor: str,
              targets: Targets | None = None, policy: Policy | None = None) -> RunRecord:
    """Create a run of the engine's account (not driven yet: ``engine.run`` drives it). Raises
    LeaseHeld while the account has an active run."""
    return engine.start(account=engine.broker.alias, max_phase=max_phase, planner=planner, actor=actor,
                        targets=targets, policy=policy)


def start_and_drive(engine: Runs, *, max_phase: int, planner: str, actor: str,
                    targets: Targets | None = None, policy: Policy | None = None) -> RunRecord:
    """Start a run and drive it until it stops; an error names the run it happened in."""
    run = start_run(engine, max_phase=max_phase, planner=planner, actor=actor, targets=targets, policy=policy)
    try:
        return engine.run(run.id)
    except RebalanceError as exc:
        exc.fields.setdefault("run_id", run.id)
        raise


def drive(engine: Runs, run_id: str) -> RunRecord:
    """Drive a started run until it stops (done, stopped at its max_phase, blocked or failed)."""
    return engine.run(run_id)


def resume(engine: Runs, run_id: str) -> RunRecord:
    """Continue an interrupted run from its last checkpoint."""
    return engine.resume(run_id)


def check_resume_here(engine: Runs, run_id: str, *, driven_here: bool, now: datetime,
                      lease_is_dead: Callable[[str], bool]) -> RunRecord:
    """May this process start resuming the run in the background? A finished run, a BLOCKED run
    (it needs ``force`` first) and a run someone is driving are refused."""
    run = engine.check_resumable(run_id)
    if run.status is RunStatus.BLOCKED:
        raise TransitionError(f"run {run_id} is BLOCKED: {run.blocked_reason or ''} Settle it and use force first",
                              run_id=run_id, allowed=forced_targets(run.state))
    if driven_here or lease_is_live(run, now, lease_is_dead):
        raise LeaseHeld(f"run {run_id} is being driven by {run.lease_owner or 'this server'}; not touching it",
                        run_id=run_id)
    return run


def force(engine: Runs, run_id: str, target: str, *, reason: str, actor: str) -> RunRecord:
    """Move a run along an operator edge of the table (or abort it)."""
    return engine.force(run_id, target, reason=reason, actor=actor)


def abort(engine: Runs, run_id: str, *, reason: str, actor: str) -> RunRecord:
    """Abort an active run: it sends nothing more; orders already filled stand."""
    return engine.abort(run_id, reason=reason, actor=actor)


def retry(engine: Engine, run_id: str, *, reason: str, actor: str, max_age: timedelta,
          planner: str | None = None) -> RunRecord:
    """A new planning round for a run that failed its plan checks (see :mod:`statemachine.operations`),
    optionally with another planner."""
    return retry_run(engine, run_id, reason=reason, actor=actor, max_age=max_age, planner=planner)


def begin_buy_side_retry(engine: Engine, run_id: str, *, reason: str, actor: str) -> RunRecord:
    """Record the buy-side recovery edge of a PARTIAL run (refusals as in :func:`retry_buy_side`); the
    run is then RUNNING at SOLD, its lease free, for ``resume`` to drive (the HTTP API does so in
    the background)."""
    return engine.retry_buy_side(run_id, reason=reason, actor=actor)


def retry_buy_side(engine: Engine, run_id: str, *, reason: str, actor: str) -> RunRecord:
    """Retry the buy side of a PARTIAL run whose sells all filled (:mod:`statemachine.buy_recovery`):
    the recovery edge back to SOLD is recorded (who, why), then the run is driven on from a fresh
    read of the account and the orderable cash: plan, check, buy. Refused (nothing recorded) when
    the run is not PARTIAL on its buy side, when its sells did not finish, or when another run
    holds the account."""
    begin_buy_side_retry(engine, run_id, reason=reason, actor=actor)
    try:
        return engine.resume(run_id)
    except RebalanceError as exc:
        exc.fields.setdefault("run_id", run_id)
        raise


def set_thresholds(uow: UowFactory, clock: Clock, *, mp: float | str | None = None,
                   sub_mp: float | str | None = None) -> Thresholds:
    """Append a thresholds row; a value left out keeps the one in force. Returns the new row's values."""
    with uow() as u:
        cur = u.latest_thresholds()
        new = Thresholds(mp=cur.mp if mp is None else mp, sub_mp=cur.sub_mp if sub_mp is None else sub_mp)
        u.add_thresholds(new, clock.now())
        u.commit()
    return new


def set_targets(uow: UowFactory, clock: Clock, targets: Targets, decided_by: str | None = None) -> StrategyDecision:
    """Record a new strategy decision (the latest is what runs rebalance toward) and who made it."""
    with uow() as u:
        d = u.add_targets(targets, clock.now(), decided_by)
        u.commit()
    return d
