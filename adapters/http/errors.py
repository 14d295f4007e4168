"""Errors to HTTP: one mapping from the error hierarchy (see :mod:`statemachine.errors`) to statuses,
one JSON shape for every refusal (``error``, ``message`` and, where it applies, ``field``, ``allowed``,
``run_id``), and the security headers every response carries. No traceback, token or URL with a
password ever reaches a response: unexpected errors are logged and answered with one line.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.http import schemas as s
from adapters.http.security import Unauthorized
from statemachine import errors as e

log = logging.getLogger("rebalance.http")
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
class ConfirmationRequired(e.DomainError):
    """A call that would really trade, made without ``confirm: true`` (nothing was started)."""

    status_code = 409


def _json_error(err: dict[str, Any]) -> dict[str, Any] | None:
    """A body that is not JSON: say so, with the parser's reason and the character position."""
    if err.get("type") != "json_invalid":
        return None
    loc = list(err.get("loc", ()))
    pos = loc[1] if len(loc) > 1 else None
    detail = (err.get("ctx") or {}).get("error") or err.get("msg") or "JSON decode error"
    where = f" at character {pos}" if isinstance(pos, int) else ""
    return {
        "error": "ValidationError",
        "message": f"request body is not valid JSON: {detail}{where}",
        "field": "body",
        "position": pos if isinstance(pos, int) else None,
        "detail": [{"loc": [str(p) for p in loc], "msg": str(detail), "type": "json_invalid"}],
    }


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
        return 409 if "allowed" in exc.fields or "refused" in exc.fields else 422  # refused: the run's state
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
    for err in exc.errors():
        bad_json = _json_error(err)
        if bad_json is not None:
            return JSONResponse(bad_json, status_code=422)
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


def install(app: FastAPI) -> None:
    """Exception handlers and security headers on ``app``."""

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
    async def _headers(request: Request, call_next):
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
