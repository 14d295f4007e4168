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
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from statemachine import buy_recovery
from statemachine.application import Runs, UowFactory
from statemachine.errors import LeaseHeld, RebalanceError
from statemachine.models import Side
from statemachine.records import RunRecord
from statemachine.settings import BuyRecoveryPolicy
from statemachine.states import RECOVERABLE_STATUS, RunStatus, recovery_sources
from statemachine.step_records import StepOutputs

if TYPE_CHECKING:
    from statemachine.engine import Engine

log = logging.getLogger("rebalance.scheduler")


@dataclass(frozen=True)
class TickResult:
    # "not_due" | "closed" | "busy" | "claimed" | "ran" | "stopped" | "error"; the buy-side recovery
    # adds "waiting" (its delay), "killed" (kill switch on) and "exhausted" (gave up, operator told)
    outcome: str
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


# ---------------------------------------------------------------------------- buy-side recovery
#: The name the notifications hook is called by when the automatic recovery gives up on a run:
#: ``on_exhausted(run, message)`` (adapters.scheduler.recovery.notify_buy_recovery_exhausted).
ExhaustedHook = Callable[[RunRecord, str], None]


def _candidates(uow: UowFactory, account: str, now: datetime, policy: BuyRecoveryPolicy) -> list[RunRecord]:
    """PARTIAL runs of the account stopped on the buy side, whose last outcome is within the window,
    oldest first."""
    oldest = now - timedelta(hours=policy.window_h)
    with uow() as u:
        runs = u.find_runs(account=account, statuses=[RECOVERABLE_STATUS.value], limit=200)
    sources = set(recovery_sources())
    return sorted((r for r in runs if r.state in sources and (r.finished_at or r.updated_at) >= oldest),
                  key=lambda r: (r.finished_at or r.updated_at, r.id))


def recover_buy_sides(uow: UowFactory, engine: Callable[[], Engine], *, account: str, now: datetime,
                      policy: BuyRecoveryPolicy, market_open: Callable[[datetime], tuple[bool, str]],
                      kill_switch: Callable[[], str | None], on_exhausted: ExhaustedHook) -> list[TickResult]:
    """One pass of the automatic buy-side recovery (off unless ``policy.enabled``).

    For each PARTIAL run of the account whose sells all filled and whose proceeds are not all spent:
    once ``policy.delay_s`` has passed since its last outcome, and only inside the market session
    (``market_open``; outside it the attempt waits, nothing counted) and with the kill switch off
    (``kill_switch``; on: nothing is recorded or sent), retry its buy side (actor ``auto-recovery``,
    the reason names the attempt) and drive it. After ``policy.max_attempts`` automatic attempts the
    run stays PARTIAL: an audit row and the run's error say so, an ERROR is logged, and
    ``on_exhausted`` is called (the notifications hook). At most one attempt per pass: one run per
    account at a time."""
    if not policy.enabled:
        return []
    results: list[TickResult] = []
    for run in _candidates(uow, account, now, policy):
        with uow() as u:
            outputs = StepOutputs(u.outputs(run.id))
            orders = u.orders(run.id)
            steps = u.transitions(run.id)
        sells = outputs.fills(Side.SELL)
        if buy_recovery.refusal(run, sells) is not None or buy_recovery.exhausted(steps):
            continue
        idle = buy_recovery.unspent_proceeds(sells, orders)
        if idle <= 0:
            continue
        n = buy_recovery.automatic_attempts(steps)
        rid = {"run_id": run.id}
        if n >= policy.max_attempts:
            msg = (f"automatic buy-side recovery gave up after {n} attempt(s); the run stays PARTIAL with "
                   f"{idle:,} KRW of sale proceeds unspent: retry its buy side by hand (retry {run.id} "
                   f"--buy-side) or start a new run")
            engine().record_recovery_exhausted(run.id, message=msg, actor=buy_recovery.AUTO_ACTOR)
            log.error("run %s: %s", run.id, msg, extra=rid)
            on_exhausted(run, msg)
            results.append(TickResult("exhausted", msg, run=run))
            continue
        due = (run.finished_at or run.updated_at) + timedelta(seconds=policy.delay_s)
        if now < due:
            results.append(TickResult("waiting", f"run {run.id}: buy-side recovery {n + 1} due at {due:%H:%M:%S} UTC",
                                      due, run))
            continue
        is_open, why = market_open(now)
        if not is_open:
            msg = f"run {run.id}: buy-side recovery {n + 1} waits for the market session: {why}"
            log.info(msg, extra=rid)
            return [*results, TickResult("closed", msg, due, run)]
        switch = kill_switch()
        if switch is not None:
            msg = f"run {run.id}: buy-side recovery {n + 1} not attempted: the kill switch is on ({switch})"
            log.warning(msg, extra=rid)
            return [*results, TickResult("killed", msg, due, run)]
        last = steps[-1]
        reason = (f"automatic buy-side recovery {n + 1} of {policy.max_attempts}: {idle:,} KRW of sale proceeds "
                  f"unspent after {last.status or run.status.value} ({(run.error or last.reason or '')[:200]})")
        eng = engine()
        try:
            eng.retry_buy_side(run.id, reason=reason, actor=buy_recovery.AUTO_ACTOR)
        except LeaseHeld as exc:
            log.info("run %s: buy-side recovery not started: %s", run.id, exc.message, extra=rid)
            return [*results, TickResult("busy", exc.message, due, run)]
        log.warning("run %s: %s", run.id, reason, extra=rid)
        try:
            done = eng.resume(run.id)
        except RebalanceError as exc:
            log.error("run %s: buy-side recovery stopped with an error: %s", run.id, exc.message, extra=rid)
            return [*results, TickResult("error", exc.message, due, eng.get(run.id))]
        if done.status is RunStatus.RUNNING:
            done = eng.get(run.id)
            return [*results, TickResult("stopped", f"run {run.id} stopped at checkpoint {done.state}", due, done)]
        results.append(TickResult("ran", f"run {run.id}: buy-side recovery {n + 1} finished {done.status}", due,
                                  done))
        return results
    return results
