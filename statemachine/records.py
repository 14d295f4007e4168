"""What the store keeps about a run: plain typed records, shared by the engine and the adapters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .models import CheckResult, Plan, Side, Targets, Thresholds
from .states import RunState, RunStatus


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
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None


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


class StrategyDecision(Record):
    id: int | None = None
    decided_at: datetime
    targets: Targets
