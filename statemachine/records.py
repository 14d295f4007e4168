"""What the store keeps about a run: plain typed records, shared by the engine and the adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .models import CheckResult, OrderStatus, Plan, Side, Targets, Thresholds
from .policies import Policy
from .states import RunState, RunStatus


@dataclass(frozen=True)
class Fence:
    """Who may write about a run: the lease owner and the epoch its acquisition got.

    Every lease acquisition by a new owner (a takeover, or the first take of a free or expired
    lease) increments the run's ``lease_epoch``; a renewal by the same owner keeps it. Every write
    about a run is conditional on the writer still holding both, so a runner that stalled past its
    lease and was taken over writes nothing when it wakes (it gets ``LeaseHeld``)."""

    owner: str
    epoch: int

    def __str__(self) -> str:
        return f"{self.owner} (epoch {self.epoch})"


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class RunRecord(Record):
    id: str
    account: str  # an alias or a masked number, never the full account number
    state: RunState
    status: RunStatus
    seq: int = 0  # number of committed transitions
    max_phase: int = 5
    planner: str = "auto"
    policy: Policy | None = None  # the rebalancing policy (statemachine.policies); None: threshold (0007)
    actor: str = "cli"
    sell_attempts: int = 0
    buy_attempts: int = 0
    thresholds: Thresholds
    targets: Targets
    error: str | None = None
    blocked_reason: str | None = None
    engine_version: str
    checkpoint_format: int
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    lease_epoch: int = 0  # incremented by every acquisition by a new owner (see Fence)
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None

    @property
    def fence(self) -> Fence | None:
        """The fence of the lease as stored (None when nobody holds it)."""
        return Fence(self.lease_owner, self.lease_epoch) if self.lease_owner else None


class TransitionRecord(Record):
    run_id: str
    seq: int
    trigger: str
    source: str
    dest: str
    actor: str
    reason: str | None = None
    at: datetime
    duration_ms: int | None = None
    status: str | None = None


class PlanAttemptRecord(Record):
    run_id: str
    side: Side
    attempt: int
    planner: str
    plan: Plan | None
    error: str | None = None
    checks: list[CheckResult] = Field(default_factory=list)
    passed: bool | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


class RecoveryAttempt(Record):
    """One buy-side recovery of a run (a ``retry_buys`` transition): who, when, why, how it ended."""

    seq: int
    at: datetime
    actor: str
    reason: str | None = None
    outcome: str | None = None  # the status the attempt ended in (None while it runs)


class BuyRecovery(Record):
    """The history row's account of a run whose buy side was retried: the first outcome, then each
    attempt (the row's own ``status`` and ``drift_after`` are the final ones)."""

    first_status: RunStatus
    first_error: str | None = None
    first_total_abs_drift_after: float | None = None
    attempts: list[RecoveryAttempt]


class HistoryRecord(Record):
    run_id: str
    executed_at: datetime
    account: str
    status: RunStatus
    mp_threshold_percent: float
    sub_mp_threshold_percent: float
    drift_before: dict[str, Any] | None
    drift_after: dict[str, Any] | None
    trades: list[dict[str, Any]]
    total_cost: int
    error_message: str | None = None
    recovery: BuyRecovery | None = None  # set once the buy side of the run was retried (0005)
    policy: str | None = None  # the run's policy label, e.g. "band-edge:0.5" (0007)


class StrategyDecision(Record):
    id: int | None = None
    decided_at: datetime
    targets: Targets
    decided_by: str | None = None  # who recorded it (0006; None for older decisions)


@dataclass(frozen=True)
class NewOrder:
    """An order intent to insert (its id comes back from :meth:`~statemachine.ports.UnitOfWork.save`)."""

    account: str
    side: Side
    ticker: str
    name: str
    quantity: int
    attempt: int
    seq: int
    status: OrderStatus
    created_at: datetime


@dataclass
class Checkpoint:
    """One durable fact of a run, written by :meth:`~statemachine.ports.UnitOfWork.save` in ONE
    transaction, all of it or nothing, fenced by ``fence`` (issue 18): a transition with its outputs,
    plan attempt and the side's final order results; an order intent (with the previous order's
    broker answer); a send's counter. Every part is optional; the run's row is always checked.

    ``new_run``: the run to create (its creator holds its lease); ``run_fields``: columns of the
    run's row to set, only if its checkpoint is still ``expect_seq`` when given; ``release``: the
    lease goes with this write (a finished run); ``outputs`` are stored at ``output_seq``;
    ``order_updates``: order id -> columns; ``history``: the finished run's history row.

    ``durable``: on stable storage before :meth:`save` returns (it survives a power cut), because
    something outside the database follows it (an order is sent, a caller or an operator is told
    the outcome). ``False`` (a step's transition the next step builds on, an order intent its send
    counter follows): committed, atomic and visible, and it survives the process being killed, but
    a power cut or a crash of the database's machine may lose it, and only together with every later
    commit: the next durable commit makes it durable too, and nothing outside the database depends
    on it before then (docs/durability.md, "Durable before every effect"). A store may treat every
    checkpoint as durable (``REBALANCE_DURABILITY=every-commit``)."""

    run_id: str
    fence: Fence
    new_run: RunRecord | None = None
    run_fields: dict[str, Any] = field(default_factory=dict)
    expect_seq: int | None = None
    release: bool = False
    transition: TransitionRecord | None = None
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    output_seq: int = 0
    new_attempt: PlanAttemptRecord | None = None
    attempt_update: tuple[Side, int, dict[str, Any]] | None = None
    order_updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    new_order: NewOrder | None = None
    history: HistoryRecord | None = None
    durable: bool = True
