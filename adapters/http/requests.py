"""Request models of the HTTP API (bodies of the calls that change state).

Requests are strict: unknown fields are refused and numbers must be JSON numbers, so a typo is a
422 naming the field, never a silent default. :mod:`adapters.http.schemas` re-exports them with
the response models.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from statemachine.states import ABORT_TARGET, MAX_PHASE, RunState


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


Percent = Annotated[float, Field(ge=0, le=100, strict=True, allow_inf_nan=False)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Actor = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w .@:/-]+$")
]


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
    confirm: bool = Field(
        False,
        strict=True,
        description="required (true) for a max_phase that sends orders ("
        + ", ".join(str(p.max_phase) for p in MAX_PHASE.values() if p.sends_orders)
        + "): those really trade; without it the call is refused with 409 and nothing starts",
    )


class OperatorIn(In):
    reason: Reason = Field(description="why (recorded in the audit trail)")
    actor: Actor = "operator"


ForceTarget = StrEnum("ForceTarget", {s.value: s.value for s in RunState} | {ABORT_TARGET: ABORT_TARGET})  # type: ignore[misc]


class ForceIn(OperatorIn):
    target: ForceTarget = Field(
        description="a state an operator edge leads to from the run's state, or ABORTED"
    )
