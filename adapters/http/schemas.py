"""Request and response models of the HTTP API (the OpenAPI schema at ``/openapi.json``).

Requests are strict (unknown fields refused, numbers must be JSON numbers) so a typo is a 422
naming the field, never a silent default. Responses mirror the engine's stored shapes but
ignore unknown keys, so a checkpoint written by a newer engine still renders.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from statemachine.states import ABORT_TARGET, MAX_PHASE, RunState, RunStatus


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


Percent = Annotated[float, Field(ge=0, le=100, strict=True, allow_inf_nan=False)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Actor = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w .@:/-]+$")
]


# ----------------------------------------------------------------------------- errors
class ErrorBody(Out):
    """Every refusal: the error class, one readable sentence, and what it is about."""

    error: str
    message: str
    field: str | None = None
    allowed: list[str] | None = None
    run_id: str | None = None


class ValidationBody(ErrorBody):
    detail: list[dict[str, Any]] = Field(default_factory=list)


# ----------------------------------------------------------------------------- config
class ThresholdsIn(In):
    """Append a thresholds row; a field left out keeps its value in force."""

    mp_threshold_percent: Percent | None = Field(
        None, description="MP band, percentage points of the account"
    )
    sub_mp_threshold_percent: Percent | None = Field(None, description="Sub-MP band, points of the class")

    @model_validator(mode="after")
    def _one_given(self) -> ThresholdsIn:
        if self.mp_threshold_percent is None and self.sub_mp_threshold_percent is None:
            raise ValueError("give mp_threshold_percent and/or sub_mp_threshold_percent")
        return self


class ThresholdsRow(Out):
    id: int | None = Field(None, description="row id; null while no row exists (defaults in force)")
    mp_threshold_percent: float
    sub_mp_threshold_percent: float
    updated_at: datetime | None = None


class ConfigOut(ThresholdsRow):
    recent: list[ThresholdsRow] = Field(default_factory=list, description="newest first (append-only log)")


# ----------------------------------------------------------------------------- drift
class ThresholdsOut(Out):
    mp: float
    sub_mp: float


class ClassDriftOut(Out):
    asset_class: str
    target_pct: float
    actual_pct: float
    drift: float = Field(description="target - actual, pp of the account; negative = overweight = sell")
    value: int
    exceeded: bool


class TickerDriftOut(Out):
    ticker: str
    name: str
    asset_class: str
    target_weight: float
    actual_weight: float
    drift: float = Field(description="target - actual, pp of the class")
    global_target_pct: float
    global_actual_pct: float
    target_value: int
    value: int
    quantity: int
    price: int
    exceeded: bool


class DriftOut(Out):
    total: int
    cash: int
    thresholds: ThresholdsOut
    classes: list[ClassDriftOut]
    tickers: list[TickerDriftOut]
    needed: bool
    total_abs_drift: float


class StatusOut(DriftOut):
    """The account now against the latest targets and the thresholds in force."""

    account: str
    mp_id: str
    decided_at: datetime | None
    taken_at: datetime
    exceeded: list[str]
    active_run_id: str | None


# ----------------------------------------------------------------------------- runs
class StartIn(In):
    actor: Actor = "api"


class PhaseTestIn(In):
    max_phase: int = Field(
        strict=True,
        ge=min(MAX_PHASE),
        le=max(MAX_PHASE),
        description="; ".join(
            f"{p.max_phase}: stop in {p.state.value} ({p.doc})" for p in MAX_PHASE.values()
        ),
    )
    actor: Actor = "api-test"


class OperatorIn(In):
    reason: Reason = Field(description="why (recorded in the audit trail)")
    actor: Actor = "operator"


ForceTarget = StrEnum("ForceTarget", {s.value: s.value for s in RunState} | {ABORT_TARGET: ABORT_TARGET})


class ForceIn(OperatorIn):
    target: ForceTarget = Field(
        description="a state an operator edge leads to from the run's state, or ABORTED"
    )  # type: ignore[valid-type]


class StartedOut(Out):
    run_id: str
    status: RunStatus
    state: RunState
    detail_url: str


class RunSummary(Out):
    id: str
    account: str
    state: RunState
    status: RunStatus
    max_phase: int
    planner: str
    actor: str
    checkpoint: int
    sell_attempts: int
    buy_attempts: int
    thresholds: ThresholdsOut
    mp_id: str
    error: str | None
    blocked_reason: str | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    engine_version: str
    checkpoint_format: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class RunListItem(RunSummary):
    drift_before: float | None = Field(None, description="total absolute drift before, pp")
    drift_after: float | None = Field(None, description="total absolute drift after, pp")
    trades: int | None = None
    total_cost: int | None = None
    driven_here: bool = Field(False, description="a thread of this server is driving the run now")


class RunList(Out):
    runs: list[RunListItem]


class TransitionOut(Out):
    seq: int
    at: datetime
    trigger: str
    from_: str = Field(alias="from")
    to: str
    status: str | None
    actor: str
    reason: str | None
    duration_ms: int | None

    model_config = ConfigDict(extra="ignore", populate_by_name=True, serialize_by_alias=True)


class CheckOut(Out):
    rule: str
    passed: bool
    ticker: str | None = None
    message: str
    numbers: dict[str, float | int | str | None] = Field(default_factory=dict)


class PlanOrderOut(Out):
    ticker: str
    name: str = ""
    quantity: int
    reason: str = ""


class PlanOut(Out):
    side: str
    attempt: int
    planner: str
    passed: bool | None
    error: str | None
    orders: list[PlanOrderOut]
    checks: list[CheckOut]
    meta: dict[str, Any]
    prompt: str | None = None
    reply: str | None = None


class FillOut(Out):
    ticker: str
    name: str = ""
    side: str
    intended: int
    filled: int
    amount: int
    avg_price: float
    fees: int
    status: str
    odnos: list[str] = Field(default_factory=list)


class FillsOut(Out):
    projected: bool
    fills: list[FillOut]


class OrderOut(Out):
    id: int
    side: str
    ticker: str
    name: str = ""
    quantity: int
    attempt: int
    seq: int
    status: str
    odno: str | None = None
    filled_quantity: int
    avg_price: float
    amount: int
    fees: int
    broker_code: str | None = None
    message: str | None = None
    created_at: datetime
    sent_at: datetime | None = None


class TradeOut(Out):
    side: str
    ticker: str
    name: str = ""
    quantity: int
    avg_price: float
    amount: int
    fees: int
    odno: str | None = None


class HistoryOut(Out):
    run_id: str
    executed_at: datetime
    account: str
    status: RunStatus
    mp_threshold_percent: float
    sub_mp_threshold_percent: float
    drift_before: DriftOut | None
    drift_after: DriftOut | None
    trades: list[TradeOut]
    total_cost: int
    error_message: str | None = None


class HistoryList(Out):
    history: list[HistoryOut]


class RunDetail(Out):
    """A run's story (statemachine.timeline) plus its place in the state diagram."""

    run: RunSummary
    allowed_force_targets: list[str]
    transitions: list[TransitionOut]
    plans: list[PlanOut]
    orders: list[OrderOut]
    drift_before: DriftOut | None
    drift_after: DriftOut | None
    sell_fills: FillsOut | None
    buy_fills: FillsOut | None
    cash: dict[str, Any]
    blocked: dict[str, Any] | None
    history: HistoryOut | None
    visited: list[str] = Field(description="states the run has been in, in order of first visit")
    mermaid: str = Field(description="the state diagram with the run's state highlighted")
    driven_here: bool = False


# ----------------------------------------------------------------------------- state machine
class TransitionDef(Out):
    trigger: str
    source: RunState
    dest: RunState
    kind: str = Field(description="engine | loopback | operator")
    doc: str


class PhaseDef(Out):
    max_phase: int
    state: RunState
    sends_orders: bool
    doc: str


class StateMachineOut(Out):
    states: list[RunState]
    statuses: list[RunStatus]
    final_statuses: list[RunStatus]
    transitions: list[TransitionDef]
    max_phase: list[PhaseDef]
    default_max_phase: int
    abort_target: str
    mermaid: str


class InfoOut(Out):
    service: str
    engine_version: str
    account: str
    broker: str
    writes_enabled: bool = Field(description="false when the server has no REBALANCE_API_TOKEN")
