"""The HTTP API and the operator page: ``create_app(app_ctx, token)``.

Endpoints only translate a request into an engine or store call and an error into a status
(see :func:`status_for`); the engine, the store and the broker come from the composition root.
Reads are open (on loopback, see :mod:`adapters.http_security`); writes need the bearer token.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from statemachine import ENGINE_VERSION
from statemachine import errors as e
from statemachine.drift import drift_report
from statemachine.machine import mermaid
from statemachine.models import Snapshot, Targets, Thresholds
from statemachine.ports import Broker
from statemachine.records import RunRecord
from statemachine.states import (
    ABORT_TARGET,
    DEFAULT_MAX_PHASE,
    FINAL_STATUSES,
    MAX_PHASE,
    TRANSITIONS,
    RunState,
    RunStatus,
    forced_targets,
)
from statemachine.timeline import run_summary, timeline

from . import http_schemas as s
from .bootstrap import App
from .http_runner import BackgroundRuns
from .http_security import Unauthorized, WritesDisabled, make_write_guard
from .runtime import lease_is_dead

log = logging.getLogger("rebalance.http")
WEB_DIR = Path(__file__).parent / "web"
API = "/api/macro-trading"
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": s.ErrorBody, "description": "no or wrong bearer token"},
    403: {"model": s.ErrorBody, "description": "the server has no REBALANCE_API_TOKEN: writes are disabled"},
    422: {"model": s.ValidationBody, "description": "invalid input; `field` names it"},
}
RUN_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": s.ErrorBody, "description": "no such run"},
    409: {
        "model": s.ErrorBody,
        "description": "refused in the run's current state (`allowed` lists what is)",
    },
}
BROKER_ERRORS: dict[int | str, dict[str, Any]] = {
    502: {
        "model": s.ErrorBody,
        "description": "the broker failed; a run stays at its checkpoint (resumable)",
    },
    503: {"model": s.ErrorBody, "description": "a safety stop (kill switch) or the database is unavailable"},
}


# ============================================================================ errors
def status_for(exc: e.RebalanceError) -> int:
    """The one mapping from the error hierarchy to HTTP statuses."""
    explicit = getattr(exc, "status_code", None)
    if isinstance(explicit, int):
        return explicit
    if isinstance(exc, e.RunNotFound):
        return 404
    if isinstance(exc, e.RunFinished | e.LeaseHeld | e.IncompatibleCheckpoint | e.ReplayMismatch):
        return 409
    if isinstance(exc, e.TransitionError):
        return 409 if "allowed" in exc.fields else 422
    if isinstance(exc, e.TargetsError) and exc.fields.get("field") == "targets":
        return 409  # no targets recorded yet: a precondition, not bad input
    if isinstance(exc, e.DomainError):
        return 422
    if isinstance(exc, e.SafetyStop) or type(exc).__name__ == "DatabaseError":
        return 503
    if isinstance(exc, e.AdapterError):
        return 502
    return 500


def _error_response(exc: e.RebalanceError) -> JSONResponse:
    code = status_for(exc)
    body = jsonable_encoder({"error": type(exc).__name__, "message": exc.message, **exc.fields})
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    if code >= 500:
        log.error("%s: %s", type(exc).__name__, exc.message)
    return JSONResponse(body, status_code=code, headers=headers)


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    details = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        details.append({"loc": loc, "msg": err.get("msg", ""), "type": err.get("type", "")})
    first = details[0] if details else {"loc": [], "msg": "invalid request"}
    where = [p for p in first["loc"] if p not in ("body", "query", "path", "header")]
    field = ".".join(where) or (first["loc"][0] if first["loc"] else None)
    body = {
        "error": "ValidationError",
        "message": f"{field or 'request'}: {first['msg']}",
        "field": field,
        "detail": details,
    }
    return JSONResponse(body, status_code=422)


# ============================================================================ reading helpers
def read_account(broker: Broker, targets: Targets) -> Snapshot:
    """The account now, with prices of targeted tickers it does not hold (as the engine reads it)."""
    snap = broker.balance()
    missing = [t for t in targets.tickers() if snap.price(t) is None]
    if missing:
        snap = snap.model_copy(update={"prices": {**snap.prices, **broker.prices(missing)}})
    return snap


def _visited(transitions: list[dict[str, Any]]) -> list[str]:
    seen: list[str] = []
    for t in transitions:
        if t["to"] not in seen:
            seen.append(t["to"])
    return seen


def _lease_is_live(run: RunRecord) -> bool:
    """Another process holds the run's lease and looks alive (so a resume would be refused)."""
    if not run.lease_owner or run.lease_expires_at is None:
        return False
    return run.lease_expires_at > datetime.now(UTC) and not lease_is_dead(run.lease_owner)


class Api:
    """The request handlers' shared pieces: the app context, the token guard, background runs."""

    def __init__(self, app_ctx: App, token: str | None) -> None:
        self.ctx = app_ctx
        self.token = token
        self.runs = BackgroundRuns()

    @property
    def account(self) -> str:
        return self.ctx.broker().alias

    def detail(self, run_id: str) -> dict[str, Any]:
        with self.ctx.db.unit_of_work() as uow:
            run = uow.get_run(run_id)
            hist = next((h for h in uow.history(limit=1000) if h.run_id == run_id), None)
            view = timeline(
                run,
                uow.transitions(run_id),
                uow.plan_attempts(run_id),
                uow.orders(run_id),
                uow.outputs(run_id),
                hist,
            )
        visited = _visited(view["transitions"])
        view["visited"] = visited
        view["mermaid"] = mermaid(run.state, visited=visited)
        view["driven_here"] = self.runs.driving(run_id)
        return view

    def active_run(self) -> str | None:
        with self.ctx.db.unit_of_work() as uow:
            active = uow.find_runs(
                account=self.account, statuses=[RunStatus.RUNNING.value, RunStatus.BLOCKED.value], limit=1
            )
        return active[0].id if active else None

    def config(self) -> dict[str, Any]:
        with self.ctx.db.unit_of_work() as uow:
            rows = uow.config_rows(limit=20)
        if rows:
            return {**rows[0], "recent": rows}
        d = Thresholds()
        return {
            "id": None,
            "mp_threshold_percent": d.mp,
            "sub_mp_threshold_percent": d.sub_mp,
            "updated_at": None,
            "recent": [],
        }


# ============================================================================ the app
def create_app(app_ctx: App, token: str | None) -> FastAPI:
    api = Api(app_ctx, token)

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
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

    @app.exception_handler(e.RebalanceError)
    async def _on_domain_error(_: Request, exc: e.RebalanceError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _on_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _on_http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # a body that is not JSON at all: a validation error like any other
            return JSONResponse(
                {
                    "error": "ValidationError",
                    "message": "body: not valid JSON",
                    "field": "body",
                    "detail": [],
                },
                status_code=422,
            )
        return JSONResponse(
            {"error": "HTTPError", "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in a request")
        return JSONResponse(
            {"error": "InternalError", "message": "unexpected error; see the server log"}, status_code=500
        )

    @app.middleware("http")
    async def _headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        path = request.url.path
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        elif not path.startswith(("/docs", "/redoc", "/openapi")):
            response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response

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
        with app_ctx.db.unit_of_work() as uow:
            cur = uow.latest_thresholds()
            new = Thresholds(
                mp=cur.mp if body.mp_threshold_percent is None else body.mp_threshold_percent,
                sub_mp=cur.sub_mp if body.sub_mp_threshold_percent is None else body.sub_mp_threshold_percent,
            )
            uow.add_thresholds(new, datetime.now(UTC))
            uow.commit()
        log.info("thresholds set: MP %s, Sub-MP %s", new.mp, new.sub_mp)
        return api.config()

    @app.get(f"{API}/rebalancing/history", response_model=s.HistoryList, tags=["runs"])
    def history(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        """Finished runs (table rebalancing_history), newest first."""
        with app_ctx.db.unit_of_work() as uow:
            return {"history": [h.model_dump(mode="json") for h in uow.history(limit=limit)]}

    # ------------------------------------------------------------------------ drift now
    @app.get(
        f"{API}/rebalancing-status",
        response_model=s.StatusOut,
        tags=["drift"],
        responses={409: {"model": s.ErrorBody, "description": "no targets recorded yet"}, **BROKER_ERRORS},
    )
    def rebalancing_status() -> dict[str, Any]:
        """The account now against the latest targets: MP and Sub-MP drift, and whether to rebalance."""
        with app_ctx.db.unit_of_work() as uow:
            decision = uow.latest_targets()
            thresholds = uow.latest_thresholds()
        if decision is None:
            raise e.TargetsError(
                "no targets yet: record a strategy decision ('targets set FILE')", field="targets"
            )
        broker = app_ctx.broker()
        snap = read_account(broker, decision.targets)
        report = drift_report(snap, decision.targets, thresholds)
        return {
            **report.model_dump(mode="json"),
            "account": broker.alias,
            "mp_id": decision.targets.mp_id,
            "decided_at": decision.decided_at,
            "taken_at": datetime.now(UTC),
            "exceeded": report.exceeded(),
            "active_run_id": api.active_run(),
        }

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
        run = eng.start(
            account=eng.broker.alias,
            max_phase=DEFAULT_MAX_PHASE,
            planner=app_ctx.settings.planner,
            actor=actor,
        )
        api.runs.launch(run.id, lambda: eng.run(run.id))
        return {
            "run_id": run.id,
            "status": run.status,
            "state": run.state,
            "detail_url": f"{API}/runs/{run.id}",
        }

    @app.post(
        f"{API}/rebalance/test",
        response_model=s.RunDetail,
        tags=["runs"],
        dependencies=write,
        responses={**WRITE_ERRORS, 409: RUN_ERRORS[409], **BROKER_ERRORS},
    )
    def rebalance_test(body: s.PhaseTestIn) -> dict[str, Any]:
        """Run to ``max_phase`` and answer with the result (drift, plans, checks, fills). Phases 1-4 read
        the real account and send nothing; phase 5 really trades."""
        eng = app_ctx.engine()
        run = eng.start(
            account=eng.broker.alias,
            max_phase=body.max_phase,
            planner=app_ctx.settings.planner,
            actor=body.actor,
        )
        try:
            eng.run(run.id)
        except e.RebalanceError as exc:
            exc.fields.setdefault("run_id", run.id)
            raise
        return api.detail(run.id)

    # ------------------------------------------------------------------------ runs
    @app.get(f"{API}/runs", response_model=s.RunList, tags=["runs"])
    def list_runs(
        status: list[RunStatus] | None = Query(None, description="only these statuses"),
        limit: int = Query(50, ge=1, le=500),
    ) -> dict[str, Any]:
        """Runs, newest first, with their history figures (drift before and after, trades, cost)."""
        with app_ctx.db.unit_of_work() as uow:
            runs = uow.find_runs(statuses=[x.value for x in status] if status else None, limit=limit)
            hist = {h.run_id: h for h in uow.history(limit=max(1000, limit))}
        rows = []
        for r in runs:
            row = run_summary(r)
            h = hist.get(r.id)
            if h is not None:
                row.update(
                    drift_before=(h.drift_before or {}).get("total_abs_drift"),
                    drift_after=(h.drift_after or {}).get("total_abs_drift"),
                    trades=len(h.trades),
                    total_cost=h.total_cost,
                )
            row["driven_here"] = api.runs.driving(r.id)
            rows.append(row)
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
        run = eng.check_resumable(run_id)
        if run.status is RunStatus.BLOCKED:
            raise e.TransitionError(
                f"run {run_id} is BLOCKED: {run.blocked_reason or ''} Settle it and use force first",
                run_id=run_id,
                allowed=forced_targets(run.state),
            )
        if api.runs.driving(run_id) or _lease_is_live(run):
            raise e.LeaseHeld(
                f"run {run_id} is being driven by {run.lease_owner or 'this server'}; not touching it",
                run_id=run_id,
            )
        if not api.runs.launch(run_id, lambda: eng.resume(run_id)):
            raise e.LeaseHeld(f"run {run_id} is already being driven by this server", run_id=run_id)
        return {
            "run_id": run.id,
            "status": run.status,
            "state": run.state,
            "detail_url": f"{API}/runs/{run.id}",
        }

    @app.post(
        f"{API}/runs/{{run_id}}/abort",
        response_model=s.RunSummary,
        tags=["operator"],
        dependencies=write,
        responses={**WRITE_ERRORS, **RUN_ERRORS},
    )
    def abort(run_id: str, body: s.OperatorIn) -> dict[str, Any]:
        """Abort an active run: it sends nothing more; orders already filled stand."""
        return run_summary(app_ctx.engine().abort(run_id, reason=body.reason, actor=body.actor))

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
            app_ctx.engine().force(run_id, body.target.value, reason=body.reason, actor=body.actor)
        )

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

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    return app


__all__ = ["create_app", "status_for", "read_account", "Unauthorized", "WritesDisabled"]
