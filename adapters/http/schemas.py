"""Request and response models of the HTTP API (the OpenAPI schema at ``/openapi.json``).

Request models are in :mod:`adapters.http.requests` (re-exported here). Responses mirror the
engine's stored shapes but ignore unknown keys, so a checkpoint written by a newer engine still
renders; where the domain has a model of the shape, the response model is that model, made
lenient and documented.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from adapters.http.requests import ForceIn as ForceIn  # the request models, re-exported
from adapters.http.requests import ForceTarget as ForceTarget
from adapters.http.requests import OperatorIn as OperatorIn
from adapters.http.requests import PhaseTestIn as PhaseTestIn
from adapters.http.requests import StartIn as StartIn
from adapters.http.requests import ThresholdsIn as ThresholdsIn
from statemachine.models import CheckResult, ClassDrift, PlanOrder, TickerDrift
from statemachine.records import HistoryRecord
from statemachine.states import RunState, RunStatus


class Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


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
    position: int | None = Field(None, description="a body that is not JSON: the character the parser stopped at")


# ----------------------------------------------------------------------------- config
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


# The shapes the domain defines are its models, made lenient and documented here (one definition:
# a field added to the domain model appears in the API).
class ClassDriftOut(Out, ClassDrift):
    model_config = Out.model_config  # lenient, not the domain's strict and frozen
    drift: float = Field(description="target - actual, pp of the account; negative = overweight = sell")


class TickerDriftOut(Out, TickerDrift):
    model_config = Out.model_config
    drift: float = Field(description="target - actual, pp of the class")


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


class LlmCostOut(Out):
    """The LLM's tokens and estimated price (list prices in USD; ``usd_micros`` = millionths of a USD)
    summed over planning attempts; the deterministic planners count as zero."""

    llm_attempts: int
    prompt_tokens: int
    output_tokens: int
    total_tokens: int
    usd_micros: int
    usd: float
    unpriced_attempts: int
    models: list[str]


class LlmMonthOut(LlmCostOut):
    month: str = Field(description="YYYY-MM (UTC), by the runs' finish")
    runs: int


class LeaseOut(Out):
    """The run's lease as an operator needs it: ``live`` (its holder is driving it), ``stale`` (held
    by a process that is gone or stopped renewing: resume, force or abort it), ``free`` (interrupted,
    nobody holds it), ``none`` (finished)."""

    state: str = Field(description="live | stale | free | none")
    holder: str | None = None
    last_seen_at: datetime | None = Field(None, description="the holder's last lease extension")
    seen_s_ago: int | None = None
    dead: bool = Field(False, description="the holder is a process of this host that no longer exists")
    expired: bool = False
    message: str | None = None
    actions: list[str] = Field(default_factory=list)


class RunListItem(RunSummary):
    drift_before: float | None = Field(None, description="total absolute drift before, pp")
    drift_after: float | None = Field(None, description="total absolute drift after, pp")
    trades: int | None = None
    total_cost: int | None = None
    llm_cost: LlmCostOut | None = None
    driven_here: bool = Field(False, description="a thread of this server is driving the run now")
    lease: LeaseOut | None = None


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


class CheckOut(Out, CheckResult):
    model_config = Out.model_config


class PlanOrderOut(Out, PlanOrder):
    model_config = Out.model_config


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


class HistoryOut(HistoryRecord):
    # the stored history row, its drift reports and trades typed for the document (pydantic
    # validates the narrower types; mypy sees an incompatible override, hence the ignores)
    model_config = ConfigDict(extra="ignore", frozen=False)
    drift_before: DriftOut | None  # type: ignore[assignment]
    drift_after: DriftOut | None  # type: ignore[assignment]
    trades: list[TradeOut]  # type: ignore[assignment]
    llm_cost: LlmCostOut | None = Field(None, description="the run's LLM tokens and estimated price")


class HistoryList(Out):
    history: list[HistoryOut]
    llm_cost_by_month: list[LlmMonthOut] = Field(default_factory=list)


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
    llm_cost: LlmCostOut | None = None
    visited: list[str] = Field(description="states the run has been in, in order of first visit")
    mermaid: str = Field(description="the state diagram with the run's state highlighted")
    driven_here: bool = False
    lease: LeaseOut | None = None
    interruptions: list[dict[str, Any]] = Field(
        default_factory=list, description="resumes by a new lease holder: after_seq, at, resumed_by, "
        "previous_holder, died, gap_s, message (step durations are measured from the resume)")


# ----------------------------------------------------------------------------- state machine
class TransitionDef(Out):
    trigger: str
    source: RunState
    dest: RunState
    kind: str = Field(description="engine | loopback | operator | recovery")
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
    lang: Literal["ko", "en", "auto"] = Field(
        "auto", description="REBALANCE_LANG for the page: ko, en, or auto (the browser's language)")
