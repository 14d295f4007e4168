"""The buy-side recovery of a PARTIAL run: when it may happen, how much cash sits idle, and how the
history row tells it.

The original plan's caution: "if buying fails after selling, cash is left over, so a recovery
strategy is needed"; sells and buys are separate units (a buy failure never undoes a sale). A run
whose sells all filled and whose buy side then failed (three failed plans, a limit, rejected or
unfilled buy orders) ends PARTIAL with the proceeds in cash. Its buy side may be retried, by an
operator (``retry RUN_ID --buy-side``) or by the automatic recovery, along the table's ``recovery``
edge back to SOLD: the fetch-cash step then reads the account and the orderable cash as they are
now, and the buys are planned, checked and executed from that (never from the old plan or the old
cash), as recorded transitions of the same run.

Pure functions over the run's records; the engine (:mod:`statemachine.engine.buy_recovery`) and
the application (:mod:`statemachine.application.scheduled`) call them.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import LeaseHeld, RebalanceError, RunFinished, TransitionError
from .models import OrderRecord, OrderStatus, Side
from .records import BuyRecovery, HistoryRecord, RecoveryAttempt, RunRecord, TransitionRecord
from .states import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    RECOVERABLE_STATUS,
    TRANSITIONS,
    recovery_edge,
    recovery_sources,
)
from .step_records import Fills

#: The actor the automatic recovery records on its transitions.
AUTO_ACTOR = "auto-recovery"
#: The audit row recorded when the automatic recovery gave up (the run stays PARTIAL).
EXHAUSTED_AUDIT = "buy_recovery_exhausted"
#: The trigger of the table's recovery edges (one name from every source state).
RECOVERY_TRIGGER = next(t.trigger for t in TRANSITIONS if t.kind == "recovery")


def refusal(run: RunRecord, sells: Fills | None, others_active: Sequence[RunRecord] = ()) -> RebalanceError | None:
    """Why the buy side of ``run`` may not be retried now (an error to raise), or None.

    Refused: a run that is not PARTIAL (still active: 2; finished otherwise: 4), a PARTIAL run that
    stopped before its buy side (no recovery edge from its state), a run whose sells did not all
    fill (the account is not where the buy side expects it: start a new run), and any run while
    another run holds the account (75)."""
    where = " or ".join(s.value for s in recovery_sources())
    if run.status is not RECOVERABLE_STATUS:
        cls = TransitionError if run.status in ACTIVE_STATUSES or run.status not in FINAL_STATUSES else RunFinished
        return cls(f"run {run.id} is {run.status} at {run.state}; only a PARTIAL run whose buy side failed after "
                   f"its sells (in {where}) can have its buy side retried", run_id=run.id, status=run.status.value,
                   refused="buy_side")
    if recovery_edge(run.state) is None:
        return TransitionError(f"run {run.id} is PARTIAL at {run.state}, before its buy side; there is no buy side "
                               f"to retry (only from {where})", run_id=run.id, state=run.state.value,
                               refused="buy_side")
    if sells is None or sells.projected:
        return TransitionError(f"run {run.id} has no executed sells; its buy side cannot be retried (start a new "
                               f"run)", run_id=run.id, refused="buy_side")
    unfinished = [f for f in sells.fills if f.status is not OrderStatus.FILLED]
    if unfinished:
        listing = ", ".join(f"{f.ticker} {f.filled} of {f.intended} ({f.status.value})" for f in unfinished)
        return TransitionError(f"run {run.id}: the sells did not finish ({listing}); retrying only its buy side "
                               f"would plan beside an unfinished sell side. Start a new run instead",
                               run_id=run.id, sells=listing, refused="buy_side")
    others = [r for r in others_active if r.id != run.id]
    if others:
        o = others[0]
        return LeaseHeld(f"account {run.account} has an active run ({o.id}, {o.status} at {o.state}); finish or "
                         f"abort it before retrying the buy side of {run.id}", run_id=o.id, account=run.account)
    return None


def unspent_proceeds(sells: Fills | None, orders: Sequence[OrderRecord]) -> int:
    """Sale proceeds (net of fees) not yet spent on the run's buys, in KRW (0 when none)."""
    if sells is None or sells.projected:
        return 0
    proceeds = sum(f.amount - f.fees for f in sells.fills)
    spent = sum(o.amount + o.fees for o in orders if o.side is Side.BUY and o.filled_quantity > 0)
    return max(0, proceeds - spent)


def attempts(transitions: Sequence[TransitionRecord]) -> list[RecoveryAttempt]:
    """Every buy-side recovery of the run, oldest first, each with the status it ended in."""
    out = []
    for i, t in enumerate(transitions):
        if t.trigger != RECOVERY_TRIGGER:
            continue
        ended = next((n.status for n in transitions[i + 1:]
                      if n.status in {s.value for s in FINAL_STATUSES} or n.trigger == RECOVERY_TRIGGER), None)
        out.append(RecoveryAttempt(seq=t.seq, at=t.at, actor=t.actor, reason=t.reason,
                                   outcome=None if ended is None or ended == "RUNNING" else ended))
    return out


def automatic_attempts(transitions: Sequence[TransitionRecord]) -> int:
    return sum(1 for t in transitions if t.trigger == RECOVERY_TRIGGER and t.actor == AUTO_ACTOR)


def exhausted(transitions: Sequence[TransitionRecord]) -> bool:
    """The automatic recovery gave up on the run (and told the operator) since its last attempt."""
    last = next((t for t in reversed(transitions) if t.trigger in (RECOVERY_TRIGGER, EXHAUSTED_AUDIT)), None)
    return last is not None and last.trigger == EXHAUSTED_AUDIT


def history_recovery(transitions: Sequence[TransitionRecord], previous: HistoryRecord | None) -> BuyRecovery | None:
    """The history row's recovery account: the first outcome (from the row written when the run first
    finished, kept through later attempts) and every attempt. None for a run never retried."""
    done = attempts(transitions)
    if not done:
        return None
    if previous is not None and previous.recovery is not None:
        return previous.recovery.model_copy(update={"attempts": done})
    first = previous
    before = next((t for t in transitions if t.trigger == RECOVERY_TRIGGER), None)
    total = (first.drift_after or {}).get("total_abs_drift") if first is not None else None
    return BuyRecovery(
        first_status=first.status if first is not None else RECOVERABLE_STATUS,
        first_error=first.error_message if first is not None else (before.reason if before else None),
        first_total_abs_drift_after=float(total) if total is not None else None,
        attempts=done,
    )
