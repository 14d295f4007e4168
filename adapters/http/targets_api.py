"""The targets endpoints (the page's MP and Sub-MP tabs): the decision in force, a new decision,
and the history of decisions with who changed what and when (table ai_strategy_decisions).

A new decision is validated by :class:`statemachine.models.Targets` itself, exactly as
``targets set FILE`` validates a file (the body's ``mp``/``sub_mp``/``names`` are passed through
untyped so that no second set of rules answers first): an invalid one is a 422 naming the field
(``mp``, ``mp.Stock``, ``sub_mp.Bond.411420``...) and nothing is written.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Query
from pydantic import Field

from adapters.bootstrap import App
from adapters.http.errors import WRITE_ERRORS
from adapters.http.requests import Actor, In
from adapters.http.schemas import ErrorBody, Out
from statemachine.application import commands, queries
from statemachine.application.views import targets_view
from statemachine.errors import TargetsError
from statemachine.models import Targets

log = logging.getLogger("rebalance.http")


class TargetsIn(In):
    """A new strategy decision, in the targets file format (validated as ``targets set`` validates)."""

    mp_id: str = Field("MP", max_length=32, description="the decision's name")
    mp: dict[str, Any] = Field(description="percent per asset class, summing to 100")
    sub_mp: dict[str, Any] = Field(description="per class: weight per 6-digit ticker (or CASH), summing to 1")
    names: dict[str, Any] = Field(default_factory=dict, description="ticker -> display name")
    decided_by: Actor | None = Field(None, description="who decides (recorded; default 'api')")


class DecisionOut(Out):
    id: int | None
    decided_at: str
    decided_by: str | None = Field(None, description="null for decisions recorded before 0006")
    mp_id: str
    mp: dict[str, float]
    sub_mp: dict[str, dict[str, float]]
    names: dict[str, str] = Field(default_factory=dict)


class Change(Out):
    field: str = Field(description="mp_id, mp.<class> or sub_mp.<class>.<ticker>")
    before: Any = None
    after: Any = None


class DecisionWithChanges(DecisionOut):
    changes: list[Change] = Field(description="against the decision before it; the first lists everything")


class DecisionPage(Out):
    total: int
    limit: int
    offset: int
    decisions: list[DecisionWithChanges] = Field(description="newest first")


def register(app: FastAPI, app_ctx: App, api_prefix: str, write: list) -> None:
    uow = app_ctx.db.unit_of_work
    no_targets: dict[int | str, dict[str, Any]] = {409: {"model": ErrorBody, "description": "no targets recorded yet"}}

    @app.get(f"{api_prefix}/targets", response_model=DecisionOut, tags=["targets"], responses=no_targets)
    def get_targets() -> dict[str, Any]:
        """The strategy decision in force (the latest): MP and Sub-MP."""
        d = queries.latest_targets(uow)
        if d is None:
            raise TargetsError("no targets yet: record them with PUT /targets or 'targets set FILE'",
                               field="targets")
        return targets_view(d)

    def _set(body: TargetsIn) -> dict[str, Any]:
        t = Targets.model_validate(body.model_dump(exclude={"decided_by"}))
        d = commands.set_targets(uow, app_ctx.clock, t, decided_by=body.decided_by or "api")
        log.info("targets %s recorded as decision #%s by %s", t.mp_id, d.id, d.decided_by)
        return targets_view(d)

    for method in ("put", "post"):
        getattr(app, method)(
            f"{api_prefix}/targets", response_model=DecisionOut, status_code=201, tags=["targets"],
            dependencies=write, responses=WRITE_ERRORS, name=f"set_targets_{method}",
            summary="Record a new strategy decision",
            description="Validated as `targets set FILE` validates a file; 422 naming the field otherwise "
                        "(nothing written).",
        )(_set)

    @app.get(f"{api_prefix}/targets/history", response_model=DecisionPage, tags=["targets"])
    def targets_history(limit: int = Query(20, ge=1, le=200),
                        offset: int = Query(0, ge=0, le=1_000_000)) -> dict[str, Any]:
        """Strategy decisions, newest first, with who decided and what changed against the one before."""
        return queries.targets_history(uow, limit, offset)
