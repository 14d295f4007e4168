"""A scheduled start: one due slot of the schedule becomes at most one run of the account,
however many schedulers are running.

:func:`scheduled_start` skips the slot while the account has an active run, claims it in the
unit of work (exactly one claimer wins; the loser says who has it), starts and drives the run,
and writes the run's id and its outcome on the claim. The scheduler
(:mod:`adapters.scheduler.runner`) decides *when* (cron, calendar, interrupted runs first) and
calls it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from statemachine.application import Runs, UowFactory
from statemachine.errors import LeaseHeld, RebalanceError
from statemachine.records import RunRecord
from statemachine.states import RunStatus

log = logging.getLogger("rebalance.scheduler")


@dataclass(frozen=True)
class TickResult:
    outcome: str  # "not_due" | "closed" | "busy" | "claimed" | "ran" | "stopped" | "error"
    message: str
    due_at: datetime | None = None
    run: RunRecord | None = None


@dataclass(frozen=True)
class Slot:
    """One due time of one account, and how log lines name it (``when``, in the schedule's zone)."""

    account: str
    due_at: datetime
    when: str


def _record(uow: UowFactory, slot: Slot, *, run_id: str | None = None, outcome: str | None = None) -> None:
    with uow() as u:
        u.record_outcome(slot.account, slot.due_at, run_id=run_id, outcome=outcome)
        u.commit()


def scheduled_start(uow: UowFactory, engine: Callable[[], Runs], slot: Slot, *, owner: str, now: datetime,
                    max_phase: int, planner: str) -> TickResult:
    """Start and drive the run due in ``slot`` unless the account is busy or another scheduler
    claimed the slot. ``engine`` builds the engine that drives it (only once the slot is won)."""
    due, when = slot.due_at, slot.when
    with uow() as u:
        active = u.find_runs(account=slot.account, statuses=[RunStatus.RUNNING.value, RunStatus.BLOCKED.value],
                             limit=1)
    if active:
        a = active[0]
        msg = (f"run due at {when} skipped: run {a.id} of {slot.account} is {a.status} at {a.state}"
               f" (lease holder {a.lease_owner or 'none'})")
        log.warning(msg)
        return TickResult("busy", msg, due)
    with uow() as u:
        won, claim = u.claim_slot(slot.account, due, owner, now)
        u.commit()
    if not won:
        msg = f"run due at {when} already claimed by {claim.claimed_by}" + (
            f" (run {claim.run_id})" if claim.run_id else "")
        log.info(msg)
        return TickResult("claimed", msg, due)
    eng = engine()
    try:
        run = eng.start(account=slot.account, max_phase=max_phase, planner=planner, actor="scheduler")
    except RebalanceError as exc:
        _record(uow, slot, outcome=f"not started: {exc.message}")
        log.error("run due at %s not started: %s", when, exc.message)
        return TickResult("busy" if isinstance(exc, LeaseHeld) else "error", exc.message, due)
    _record(uow, slot, run_id=run.id)
    log.info("run due at %s started", when, extra={"run_id": run.id})
    try:
        done = eng.run(run.id)
    except RebalanceError as exc:
        _record(uow, slot, outcome=f"error: {exc.message}")
        log.error("run %s stopped with an error: %s", run.id, exc.message, extra={"run_id": run.id})
        return TickResult("error", exc.message, due, eng.get(run.id))
    if done.status is RunStatus.RUNNING:
        done = eng.get(run.id)  # as stored after the lease was released
        outcome = f"stopped at checkpoint {done.state} (resume it)"
        _record(uow, slot, outcome=outcome)
        return TickResult("stopped", f"run {run.id} {outcome}", due, done)
    _record(uow, slot, outcome=done.status.value)
    return TickResult("ran", f"run {run.id} finished {done.status} at {done.state}", due, done)
