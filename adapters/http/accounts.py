"""The accounts endpoints (issue 19): ``/api/accounts`` (list, add), ``/api/accounts/overview`` (every
account's drift verdict, last run, status and whether it needs an operator), ``/api/accounts/{alias}``
and ``/api/accounts/{alias}/disable`` / ``enable``. Registered by :func:`adapters.http.api.create_app`.

A reply holds names, paths and masked numbers only: an account has nothing secret to leave out,
and a request that puts a value where a name belongs is refused (422) without echoing it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from adapters.accounts_runtime import credential_problems, environment_account
from adapters.bootstrap import App
from adapters.db.accounts import AccountRepository
from adapters.http import schemas as s
from adapters.http.errors import WRITE_ERRORS
from statemachine.accounts import BrokerKind, make_account
from statemachine.application.accounts import account_view, overview

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": s.ErrorBody, "description": "no such account"}}


class CredentialsIO(BaseModel):
    """Where the credentials come from: three environment variable NAMES, or an owner-only file's path."""

    model_config = ConfigDict(extra="forbid")
    kind: str | None = Field(None, description="env | file | none (answers only; ignored in requests)")
    appkey_env: str | None = None
    appsecret_env: str | None = None
    account_env: str | None = None
    file: str | None = None


class ThresholdsIO(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mp: float
    sub_mp: float


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alias: str = Field(max_length=64)
    broker: BrokerKind = "sim"
    masked_number: str | None = Field(None, description="masked, e.g. 1234****-01; a full number is refused")
    credentials: CredentialsIO | None = None
    portfolio: str | None = Field(None, description="None: the strategist's latest decision")
    thresholds: ThresholdsIO | None = Field(None, description="None: the global thresholds")
    schedule_cron: str | None = Field(None, description="None: the global schedule")
    sim_account_path: str | None = None
    enabled: bool = True


class AccountOut(BaseModel):
    alias: str
    broker: str
    masked_number: str | None
    credentials: CredentialsIO
    portfolio: str | None
    follows: str
    thresholds: ThresholdsIO | None
    schedule_cron: str | None
    sim_account_path: str | None
    enabled: bool
    created_at: datetime | None
    updated_at: datetime | None


class AccountList(BaseModel):
    accounts: list[AccountOut]
    environment_account: str | None = Field(None, description="with no accounts rows: the alias the environment "
                                                              "set-up runs (REBALANCE_ACCOUNT_ALIAS)")


class DriftVerdict(BaseModel):
    verdict: str = Field(description="rebalance needed | within thresholds | unknown (from the last run)")
    as_of: datetime | None
    exceeded: list[str]
    total_abs_drift: float | None
    source: str | None


class LastRun(BaseModel):
    id: str
    state: str
    status: str
    max_phase: int
    error: str | None
    blocked_reason: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class OverviewRow(BaseModel):
    alias: str
    broker: str
    masked_number: str | None
    enabled: bool
    portfolio: str | None
    follows: str
    drift: DriftVerdict
    last_run: LastRun | None
    status: str | None
    needs_operator: bool
    problems: list[str]


class OverviewOut(BaseModel):
    accounts: list[OverviewRow]
    needs_operator: list[str] = Field(description="the aliases that need an operator")


class AccountDetail(AccountOut):
    drift: DriftVerdict
    last_run: LastRun | None
    status: str | None
    needs_operator: bool
    problems: list[str]


def accounts_router(app_ctx: App, write: list[Any]) -> APIRouter:
    """The endpoints over ``app_ctx``'s database; ``write``: the bearer-token guard of writes."""
    router = APIRouter(prefix="/api/accounts", tags=["accounts"])
    uow = app_ctx.db.unit_of_work

    def repo() -> AccountRepository:
        return AccountRepository(app_ctx.db.engine, app_ctx.clock)

    def rows(accounts: list[Any]) -> list[dict[str, Any]]:
        return overview(uow, accounts, app_ctx.clock.now(), {a.alias: credential_problems(a) for a in accounts})

    @router.get("", response_model=AccountList)
    def list_accounts(enabled_only: bool = False) -> dict[str, Any]:
        """Every account (only the enabled ones with ``enabled_only``)."""
        found = repo().list(enabled_only=enabled_only)
        env = None if found or repo().count() else app_ctx.settings.account_alias
        return {"accounts": [account_view(a) for a in found], "environment_account": env}

    @router.post("", response_model=AccountOut, status_code=201, dependencies=write,
                 responses={**WRITE_ERRORS, 409: {"model": s.ErrorBody, "description": "the alias is taken"}})
    def add_account(body: AccountIn) -> dict[str, Any]:
        """Add an account: where its credentials come from (names or a path), never the credentials."""
        fields = body.model_dump(exclude_none=True)
        if body.credentials is not None:
            fields["credentials"] = body.credentials.model_dump(exclude_none=True, exclude={"kind"})
        return account_view(repo().add(make_account(**fields)))

    @router.get("/overview", response_model=OverviewOut)
    def accounts_overview() -> dict[str, Any]:
        """Every account: its drift verdict (from its last run; no broker is called), last run, status,
        and whether it needs an operator (a BLOCKED, FAILED, PARTIAL or ABORTED last run, an interrupted
        run, credentials that do not resolve). With no accounts rows: the environment's account."""
        found = repo().list() or [environment_account(app_ctx.settings)]
        out = rows(found)
        return {"accounts": out, "needs_operator": [r["alias"] for r in out if r["needs_operator"]]}

    @router.get("/{alias}", response_model=AccountDetail, responses=NOT_FOUND)
    def get_account(alias: str) -> dict[str, Any]:
        """One account, with its last run, drift verdict and what needs an operator."""
        a = repo().get(alias)
        row = rows([a])[0]
        return {**account_view(a), **{k: row[k] for k in ("drift", "last_run", "status", "needs_operator",
                                                          "problems")}}

    @router.post("/{alias}/disable", response_model=AccountOut, dependencies=write,
                 responses={**WRITE_ERRORS, **NOT_FOUND})
    def disable_account(alias: str) -> dict[str, Any]:
        """Stop scheduling the account (its runs and history stay)."""
        return account_view(repo().disable(alias))

    @router.post("/{alias}/enable", response_model=AccountOut, dependencies=write,
                 responses={**WRITE_ERRORS, **NOT_FOUND})
    def enable_account(alias: str) -> dict[str, Any]:
        """Schedule the account again."""
        return account_view(repo().enable(alias))

    return router

