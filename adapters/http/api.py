"""The HTTP API and the operator page: ``create_app(app_ctx, token)``.

Endpoints only translate a request into a use case of :mod:`statemachine.application`, and an
error into a status (:mod:`adapters.http.errors`); the engine, the store and the broker come from
the composition root. Reads are open (on loopback, see :mod:`adapters.http.security`); writes need the bearer
token. What the endpoints read is in :mod:`adapters.http.views`, background runs in
:mod:`adapters.http.runner`, request and response models in :mod:`adapters.http.schemas`.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from adapters.bootstrap import App
from adapters.http import schemas as s
from adapters.http.accounts import accounts_router
from adapters.http.backtest_api import router as backtest_router
from adapters.http.errors import BROKER_ERRORS, RUN_ERRORS, WRITE_ERRORS, ConfirmationRequired
from adapters.http.errors import install as install_errors
from adapters.http.security import make_write_guard
from adapters.http.views import Api
from adapters.liveness import lease_probe
from adapters.runtime import lease_is_dead
from statemachine import ENGINE_VERSION
from statemachine import errors as e
from statemachine.application import commands, queries
from statemachine.machine import mermaid
from statemachine.records import RunRecord
from statemachine.states import (
    ABORT_TARGET,
    DEFAULT_MAX_PHASE,
    FINAL_STATUSES,
    MAX_PHASE,
    TRANSITIONS,
    RunState,
    RunStatus,
)
from statemachine.timeline import run_summary

log = logging.getLogger("rebalance.http")
WEB_DIR = Path(__file__).parent / "web"
API = "/api/macro-trading"


# ============================================================================ the app
def create_app(app_ctx: App, token: str | None, *, allowed_hosts: list[str] | None = None) -> FastAPI:
    """The API and the page over ``app_ctx``. ``allowed_hosts`` (the Host headers accepted; None: any)
    keeps a loopback server from answering pages of other sites that rebind their name to 127.0.0.1."""
    api = Api(app_ctx, token)
    uow = app_ctx.db.unit_of_work

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        left = api.runs.join(timeout=10.0)
        if left:
            log.warning(
                "shutting down while runs %s are being driven; they stay at their last checkpoint "
                "(resume them later)",
                ", ".join(left),
            )

    app = FastAPI(
        title="KIS rebalancer",
        version=ENGINE_VERSION,
        summary="Durable MP / Sub-MP rebalancing of one KIS account: drift, runs, thresholds, operators.",
        description="Read calls are open on loopback. Calls that change state need `Authorization: Bearer "
        "<REBALANCE_API_TOKEN>`. Every refusal is JSON with `error`, `message` and, where it "
        "applies, `field` (422), `allowed` (409) or `run_id`.",
        lifespan=lifespan,
        docs_url=None,  # served below from vendored Swagger UI: the page must work without internet
        redoc_url=None,
    )
    app.state.api = api
    write = [Depends(make_write_guard(token))]

    install_errors(app)
    if allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)

    # ------------------------------------------------------------------------ info, state machine
    @app.get("/api/info", response_model=s.InfoOut, tags=["meta"])
    def info() -> dict[str, Any]:
        """The service, the account alias it drives and whether writes are enabled (never the token)."""
        return {
            "service": "kis-rebalancer",
            "engine_version": ENGINE_VERSION,
            "account": api.account,
            "broker": app_ctx.settings.broker,
            "writes_enabled": bool(token),
            "lang": app_ctx.settings.lang or "auto",
        }

    @app.get(
        "/api/state-machine",
        response_model=s.StateMachineOut,
        tags=["meta"],
        responses={404: RUN_ERRORS[404]},
    )
    def state_machine(
        run_id: str | None = Query(None, max_length=40, description="highlight this run"),
    ) -> dict[str, Any]:
        """The one transition table: states, transitions with their kind, max_phase stops, mermaid text."""
        text = mermaid()
        if run_id:
            view = api.detail(run_id)
            text = view["mermaid"]
        return {
            "states": list(RunState),
            "statuses": list(RunStatus),
            "final_statuses": [x for x in RunStatus if x in FINAL_STATUSES],
            "transitions": [
                {"trigger": t.trigger, "source": t.source, "dest": t.dest, "kind": t.kind, "doc": t.doc}
                for t in TRANSITIONS
            ],
            "max_phase": [
                {"max_phase": p.max_phase, "state": p.state, "sends_orders": p.sends_orders, "doc": p.doc}
                for p in MAX_PHASE.values()
            ],
            "default_max_phase": DEFAULT_MAX_PHASE,
            "abort_target": ABORT_TARGET,
            "mermaid": text,
        }

    # ------------------------------------------------------------------------ thresholds
    @app.get(f"{API}/rebalancing/config", response_model=s.ConfigOut, tags=["config"])
    def get_config() -> dict[str, Any]:
        """Thresholds in force (the newest row) and the recent rows, newest first."""
        return api.config()

    @app.post(
        f"{API}/rebalancing/config",
        response_model=s.ConfigOut,
        tags=["config"],
        dependencies=write,
        responses=WRITE_ERRORS,
    )
    def set_config(body: s.ThresholdsIn) -> dict[str, Any]:
        """Append a thresholds row (append-only); a field left out keeps the value in force."""
        new = commands.set_thresholds(uow, app_ctx.clock, mp=body.mp_threshold_percent,
                                      sub_mp=body.sub_mp_threshold_percent)
        log.info("thresholds set: MP %s, Sub-MP %s", new.mp, new.sub_mp)
        return api.config()

    @app.get(f"{API}/rebalancing/history", response_model=s.HistoryList, tags=["runs"])
    def history(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        """Finished runs (table rebalancing_history), newest first, each with its LLM tokens and estimated
        price, and the LLM cost of the recent months."""
        return {"history": queries.history(uow, limit), "llm_cost_by_month": queries.llm_cost_by_month(uow)}

    # ------------------------------------------------------------------------ drift now
    @app.get(
        f"{API}/rebalancing-status",
        response_model=s.StatusOut,
        tags=["drift"],
        responses={409: {"model": s.ErrorBody, "description": "no targets recorded yet"}, **BROKER_ERRORS},
    )
    def rebalancing_status() -> dict[str, Any]:
        """The account now against the latest targets: MP and Sub-MP drift, and whether to rebalance."""
        return queries.drift_now(uow, app_ctx.broker, app_ctx.clock)

    # ------------------------------------------------------------------------ starting runs
    @app.post(
        f"{API}/rebalance",
        response_model=s.StartedOut,
        status_code=202,
        tags=["runs"],
        dependencies=write,
        responses={**WRITE_ERRORS, 409: RUN_ERRORS[409], **BROKER_ERRORS},
    )
    def rebalance(body: s.StartIn | None = None) -> dict[str, Any]:
        """Start a full rebalance (max_phase 5: orders are sent) in the background; 409 while the account
        has an active run."""
        actor = body.actor if body else "api"
        eng = app_ctx.engine()
        run = commands.start_run(eng, max_phase=DEFAULT_MAX_PHASE, planner=app_ctx.settings.planner, actor=actor)
        api.runs.launch(run.id, lambda: commands.drive(eng, run.id))
        return _accepted(run)

    @app.post(
        f"{API}/rebalance/test",
        response_model=s.RunDetail,
        tags=["runs"],
        dependencies=write,
        responses={**WRITE_ERRORS, 409: {"model": s.ErrorBody, "description": "the account has an active run, "
                                         "or a max_phase that trades was sent without confirm: true"},
                   **BROKER_ERRORS},
    )
    def rebalance_test(body: s.PhaseTestIn) -> dict[str, Any]:
        """Run to ``max_phase`` and answer with the result (drift, plans, checks, fills). Phases 1-4 read
        the real account and send nothing; phase 5 really trades, so it needs ``"confirm": true``
        (without it: 409, nothing started)."""
        phase = MAX_PHASE[body.max_phase]
        if phase.sends_orders and not body.confirm:
            raise ConfirmationRequired(
                f"max_phase {body.max_phase} ({phase.doc}) really trades: it sends sell and buy orders to the "
                f"broker for account {api.account}. Send \"confirm\": true to place them; nothing was started",
                field="confirm")
        done = commands.start_and_drive(app_ctx.engine(), max_phase=body.max_phase,
                                        planner=app_ctx.settings.planner, actor=body.actor)
        return api.detail(done.id)

    # ------------------------------------------------------------------------ runs
    @app.get(f"{API}/runs", response_model=s.RunList, tags=["runs"])
    def list_runs(
        status: list[RunStatus] | None = Query(None, description="only these statuses"),
        limit: int = Query(50, ge=1, le=500),
    ) -> dict[str, Any]:
        """Runs, newest first, with their history figures (drift before and after, trades, cost)."""
        rows = queries.list_runs(uow, status, limit, lease=lease_probe(app_ctx))
        for row in rows:
            row["driven_here"] = api.runs.driving(row["id"])
        return {"runs": rows}

    @app.get(
        f"{API}/runs/{{run_id}}", response_model=s.RunDetail, tags=["runs"], responses={404: RUN_ERRORS[404]}
    )
    def run_detail(run_id: str) -> dict[str, Any]:
        """A run's timeline: transitions with time and duration, plans and checks, orders and fills, and the
        state diagram with the run's place in it."""
        return api.detail(run_id)

    @app.post(
        f"{API}/runs/{{run_id}}/resume",
        response_model=s.StartedOut,
        status_code=202,
        tags=["operator"],
        dependencies=write,
        responses={**WRITE_ERRORS, **RUN_ERRORS},
    )
    def resume(run_id: str) -> dict[str, Any]:
        """Continue an interrupted run from its last checkpoint, in the background. A BLOCKED run needs
        ``force`` first; a finished run is refused."""
        eng = app_ctx.engine()
        run = commands.check_resume_here(eng, run_id, driven_here=api.runs.driving(run_id),
                                         now=app_ctx.clock.now(), lease_is_dead=lease_is_dead)
        if not api.runs.launch(run_id, lambda: commands.resume(eng, run_id)):
            raise e.LeaseHeld(f"run {run_id} is already being driven by this server", run_id=run_id)
        return _accepted(run)

    @app.post(
        f"{API}/runs/{{run_id}}/abort",
        response_model=s.RunSummary,
        tags=["operator"],
        dependencies=write,
        responses={**WRITE_ERRORS, **RUN_ERRORS},
    )
    def abort(run_id: str, body: s.OperatorIn) -> dict[str, Any]:
        """Abort an active run: it sends nothing more; orders already filled stand."""
        return run_summary(commands.abort(app_ctx.engine(), run_id, reason=body.reason, actor=body.actor))

    @app.post(
        f"{API}/runs/{{run_id}}/force",
        response_model=s.RunSummary,
        tags=["operator"],
        dependencies=write,
        responses={**WRITE_ERRORS, **RUN_ERRORS},
    )
    def force(run_id: str, body: s.ForceIn) -> dict[str, Any]:
        """Move a run along an operator edge of the table (or abort it); refused edges answer 409 with the
        allowed targets. Resume the run afterwards."""
        return run_summary(
            commands.force(app_ctx.engine(), run_id, body.target.value, reason=body.reason, actor=body.actor)
        )

    @app.post(
        f"{API}/runs/{{run_id}}/retry-buys",
        response_model=s.StartedOut,
        status_code=202,
        tags=["operator"],
        dependencies=write,
        responses={**WRITE_ERRORS, **RUN_ERRORS},
    )
    def retry_buys(run_id: str, body: s.OperatorIn) -> dict[str, Any]:
        """Retry the buy side of a PARTIAL run whose sells all filled: the recovery edge back to SOLD is
        recorded (who, why) now, then the run re-reads the account and the orderable cash, re-plans,
        checks and buys in the background. 409 when the run is not PARTIAL on its buy side, when its
        sells did not finish, or when another run holds the account."""
        eng = app_ctx.engine()
        run = commands.begin_buy_side_retry(eng, run_id, reason=body.reason, actor=body.actor)
        if not api.runs.launch(run_id, lambda: commands.resume(eng, run_id)):
            raise e.LeaseHeld(f"run {run_id} is already being driven by this server", run_id=run_id)
        return _accepted(run)

    app.include_router(accounts_router(app_ctx, write))  # issue 19: /api/accounts

    # ------------------------------------------------------------------------ the page and the docs
    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="KIS rebalancer · API",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html")

    from adapters.http.targets_api import register as register_targets

    register_targets(app, app_ctx, API, write)

    app.include_router(backtest_router)  # POST /api/backtest (issue 20)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    return app


__all__ = ["API", "create_app"]


def _accepted(run: RunRecord) -> dict[str, Any]:
    """The answer to a run started or resumed in the background: where to follow it."""
    return {"run_id": run.id, "status": run.status, "state": run.state, "detail_url": f"{API}/runs/{run.id}"}
