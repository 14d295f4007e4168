"""The one table: states, run statuses, every allowed transition and the max_phase stops.

The engine, the command line, the HTTP API, the mermaid diagram and the docs all read this
module; nothing else defines a state or an edge.

Edges come in three kinds:

* ``engine``   - the normal forward path the engine walks;
* ``loopback`` - a failed rule check returns the run to that side's planning state;
* ``operator`` - only ``force`` (with a reason) may take them;
* ``recovery`` - the buy-side recovery of a PARTIAL run (``retry --buy-side`` by an operator, or
  the scheduler's automatic recovery), always with a reason: the one way a finished run moves
  again. It leads back to SOLD, whose step reads the account and the orderable cash as they are
  now, so the buys are re-planned from what is actually there (never from the old plan or cash).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RunState(StrEnum):
    """Where a run is. ``CREATED`` is the start; the nine after it are docs/domain.md section 4."""

    CREATED = "CREATED"
    FETCHED = "FETCHED"
    DRIFT_CHECKED = "DRIFT_CHECKED"
    SELL_PLANNED = "SELL_PLANNED"
    SELL_VALIDATED = "SELL_VALIDATED"
    SOLD = "SOLD"
    CASH_FETCHED = "CASH_FETCHED"
    BUY_PLANNED = "BUY_PLANNED"
    BUY_VALIDATED = "BUY_VALIDATED"
    BOUGHT = "BOUGHT"


class RunStatus(StrEnum):
    """How a run stands (docs/domain.md section 5)."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    NOT_NEEDED = "NOT_NEEDED"
    STOPPED = "STOPPED"
    BLOCKED = "BLOCKED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    ABORTED = "ABORTED"


#: Statuses a run never leaves, except PARTIAL along a ``recovery`` edge (:data:`RECOVERABLE_STATUS`).
FINAL_STATUSES = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.NOT_NEEDED,
        RunStatus.STOPPED,
        RunStatus.PARTIAL,
        RunStatus.FAILED,
        RunStatus.ABORTED,
    }
)
#: Statuses a run can be resumed (or forced) from.
ACTIVE_STATUSES = frozenset({RunStatus.RUNNING, RunStatus.BLOCKED})
#: The one finished status a ``recovery`` edge leaves (the sells stand, the buy side did not finish).
RECOVERABLE_STATUS = RunStatus.PARTIAL


@dataclass(frozen=True)
class Transition:
    trigger: str
    source: RunState
    dest: RunState
    kind: str  # "engine" | "loopback" | "operator" | "recovery"
    doc: str


S = RunState

TRANSITIONS: tuple[Transition, ...] = (
    # -- the forward path -------------------------------------------------------------------
    Transition("fetch", S.CREATED, S.FETCHED, "engine", "holdings, cash, open orders and targets read"),
    Transition("check_drift", S.FETCHED, S.DRIFT_CHECKED, "engine", "drift against thresholds"),
    Transition("plan_sells", S.DRIFT_CHECKED, S.SELL_PLANNED, "engine", "a sell plan attempt"),
    Transition("validate_sells", S.SELL_PLANNED, S.SELL_VALIDATED, "engine", "sell plan passed R1-R5"),
    Transition("sell", S.SELL_VALIDATED, S.SOLD, "engine", "every sell order resolved"),
    Transition("fetch_cash", S.SOLD, S.CASH_FETCHED, "engine", "orderable cash after the sells"),
    Transition("plan_buys", S.CASH_FETCHED, S.BUY_PLANNED, "engine", "a buy plan attempt"),
    Transition("validate_buys", S.BUY_PLANNED, S.BUY_VALIDATED, "engine", "buy plan passed R1-R5"),
    Transition("buy", S.BUY_VALIDATED, S.BOUGHT, "engine", "every buy order resolved"),
    # -- loop-back after a failed rule check ----------------------------------------------------
    Transition("reject_sells", S.SELL_PLANNED, S.DRIFT_CHECKED, "loopback", "sell plan failed a rule"),
    Transition("reject_buys", S.BUY_PLANNED, S.CASH_FETCHED, "loopback", "buy plan failed a rule"),
    # -- operator-only (force with a reason) ------------------------------------------------------
    Transition("force_replan_sells", S.SELL_VALIDATED, S.DRIFT_CHECKED, "operator", "re-plan the sells"),
    Transition("force_replan_sells", S.SELL_PLANNED, S.DRIFT_CHECKED, "operator", "re-plan the sells"),
    Transition(
        "force_sold_by_hand", S.SELL_VALIDATED, S.CASH_FETCHED, "operator",
        "sells were done by hand; fetch cash and go on to buys",
    ),
    Transition("force_skip_sells", S.DRIFT_CHECKED, S.SOLD, "operator", "skip the sell side"),
    Transition("force_replan_buys", S.BUY_VALIDATED, S.CASH_FETCHED, "operator", "re-plan the buys"),
    Transition("force_replan_buys", S.BUY_PLANNED, S.CASH_FETCHED, "operator", "re-plan the buys"),
    Transition(
        "force_unblock_sells", S.SELL_VALIDATED, S.SELL_VALIDATED, "operator",
        "the operator settled a blocked reconciliation by hand; reconcile the sells again",
    ),
    Transition(
        "force_unblock_buys", S.BUY_VALIDATED, S.BUY_VALIDATED, "operator",
        "the operator settled a blocked reconciliation by hand; reconcile the buys again",
    ),
    Transition("force_bought_by_hand", S.BUY_VALIDATED, S.BOUGHT, "operator", "buys were done by hand"),
    # -- buy-side recovery of a PARTIAL run (retry --buy-side, or the automatic recovery) ---------------
    Transition(
        "retry_buys", S.BUY_PLANNED, S.SOLD, "recovery",
        "the buy plan failed its checks after the sells: re-read cash and account, re-plan the buys",
    ),
    Transition(
        "retry_buys", S.BOUGHT, S.SOLD, "recovery",
        "buy orders were rejected or left unfilled after the sells: re-read cash and account, re-plan the buys",
    ),
)

#: The pseudo-target that ``force`` accepts to abort a run from any active state.
ABORT_TARGET = "ABORTED"


@dataclass(frozen=True)
class PhaseStop:
    max_phase: int
    state: RunState
    sends_orders: bool
    doc: str


MAX_PHASE: dict[int, PhaseStop] = {
    1: PhaseStop(1, S.FETCHED, False, "fetch only"),
    2: PhaseStop(2, S.DRIFT_CHECKED, False, "drift check only"),
    3: PhaseStop(3, S.BUY_PLANNED, False, "plan: sells validated, fills projected, buys planned"),
    4: PhaseStop(4, S.BUY_VALIDATED, False, "as 3, buy plan checked"),
    5: PhaseStop(5, S.BOUGHT, True, "full execution"),
}
DEFAULT_MAX_PHASE = 5
MAX_PLAN_ATTEMPTS = 3

ORDER: tuple[RunState, ...] = tuple(RunState)


def engine_edges() -> list[Transition]:
    return [t for t in TRANSITIONS if t.kind in ("engine", "loopback")]


def recovery_edge(source: RunState | str) -> Transition | None:
    """The buy-side recovery edge out of ``source`` (None when a run there has no buy side to retry)."""
    src = RunState(source)
    return next((t for t in TRANSITIONS if t.kind == "recovery" and t.source == src), None)


def recovery_sources() -> list[RunState]:
    """The states a PARTIAL run's buy side can be retried from."""
    return [t.source for t in TRANSITIONS if t.kind == "recovery"]


def operator_edges(source: RunState | str) -> list[Transition]:
    """The edges ``force`` may take from ``source``."""
    src = RunState(source)
    return [t for t in TRANSITIONS if t.kind == "operator" and t.source == src]


def forced_targets(source: RunState | str) -> list[str]:
    """Names ``force`` accepts from ``source`` (operator edge targets, then ABORTED)."""
    seen: list[str] = []
    for t in operator_edges(source):
        if t.dest.value not in seen:
            seen.append(t.dest.value)
    return [*seen, ABORT_TARGET]


def next_edge(source: RunState, trigger: str) -> Transition:
    for t in TRANSITIONS:
        if t.source == source and t.trigger == trigger:
            return t
    raise KeyError(f"no transition {trigger!r} from {source}")


def stop_state(max_phase: int) -> RunState:
    if max_phase not in MAX_PHASE:
        raise ValueError(f"max_phase must be one of {sorted(MAX_PHASE)}, got {max_phase}")
    return MAX_PHASE[max_phase].state


def reached(state: RunState, target: RunState) -> bool:
    """True when ``state`` is at or past ``target`` on the forward path."""
    return ORDER.index(state) >= ORDER.index(target)
