"""What the operator is told when a run ends: the :class:`RunNotice` the engine hands to its
:class:`~statemachine.ports.Notifier` port (pure data; the adapter decides how to send it).

Four events, from the run as stored when a drive of it stopped:

* ``finished``: the run ended by itself (SUCCEEDED, NOT_NEEDED, STOPPED at its max_phase, PARTIAL);
* ``failed``: FAILED, or ABORTED by an operator;
* ``blocked``: BLOCKED (it waits for an operator's ``force``);
* ``guard``: stopped by a safety guard: ABORTED by one (kill switch, market-hours guard) or FAILED
  because its plan broke a trading limit (L1 max order value, L2 turnover, ...).

A run still RUNNING (interrupted, stopped on request, its step raised) produces no notice: it has
not ended, ``resume`` continues it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .limits import REFUSED_BY_LIMITS
from .models import OrderRecord, OrderStatus
from .records import HistoryRecord, RunRecord
from .states import RunStatus

SAFETY_ACTOR = "safety"  # the actor the engine records for an abort by a guard


class RunEvent(StrEnum):
    FINISHED = "finished"
    FAILED = "failed"
    BLOCKED = "blocked"
    GUARD = "guard"


_FINISHED = frozenset({RunStatus.SUCCEEDED, RunStatus.NOT_NEEDED, RunStatus.STOPPED, RunStatus.PARTIAL})
_SENT = frozenset({OrderStatus.SENT, OrderStatus.UNKNOWN, OrderStatus.PARTIAL, OrderStatus.FILLED,
                   OrderStatus.CANCELLED})


@dataclass(frozen=True)
class RunNotice:
    """One run's ending, as told to the operator (the account is an alias or a masked number)."""

    run_id: str
    account: str
    event: RunEvent
    status: str
    state: str
    reason: str | None
    orders_sent: int
    orders_filled: int
    drift_before: float | None
    drift_after: float | None


def run_event(run: RunRecord, *, guard: bool = False) -> RunEvent | None:
    """The event the run's stored status stands for (None while it has not ended). ``guard``: the
    engine knows a guard stopped it (an ABORTED run whose error names the safety actor counts too)."""
    if run.status is RunStatus.BLOCKED:
        return RunEvent.BLOCKED
    if run.status in _FINISHED:
        return RunEvent.FINISHED
    if run.status is RunStatus.ABORTED:
        by_safety = (run.error or "").startswith(f"aborted by {SAFETY_ACTOR}:")
        return RunEvent.GUARD if guard or by_safety else RunEvent.FAILED
    if run.status is RunStatus.FAILED:
        return RunEvent.GUARD if REFUSED_BY_LIMITS in (run.error or "") else RunEvent.FAILED
    return None


def _total_drift(d: dict | None) -> float | None:
    v = (d or {}).get("total_abs_drift")
    return float(v) if isinstance(v, (int, float)) else None


def run_notice(run: RunRecord, orders: list[OrderRecord], history: HistoryRecord | None, *,
               guard: bool = False) -> RunNotice | None:
    """The notice for a run that ended (None while it has not): counts of orders sent and filled,
    total drift before and after when the run recorded them, and why it failed or blocked."""
    event = run_event(run, guard=guard)
    if event is None:
        return None
    reason = run.blocked_reason if event is RunEvent.BLOCKED else run.error
    return RunNotice(
        run_id=run.id, account=run.account, event=event, status=run.status.value, state=run.state.value,
        reason=reason or None,
        orders_sent=sum(1 for o in orders if o.status in _SENT or o.odno),
        orders_filled=sum(1 for o in orders if o.filled_quantity > 0),
        drift_before=_total_drift(history.drift_before if history else None),
        drift_after=_total_drift(history.drift_after if history else None),
    )
