"""Accounts as data (issue 19): the account model, its credential source and the rules they obey.

An :class:`Account` names one brokerage account the engine rebalances: its alias (the ``account``
of its runs), its broker, a masked number for people to recognise it, WHERE its credentials come
from (never the credentials themselves), the portfolio it follows (None: the strategist's latest
decision, ``ai_strategy_decisions``, as before accounts existed), its own thresholds (None: the
global ones, ``rebalancing_config``), its schedule (None: the global ``REBALANCE_SCHEDULE_CRON``)
and whether it is enabled.

No secret ever enters this model: a credential source is either the names of three environment
variables or the path of a file readable by its owner only. :func:`looks_like_secret` refuses a
value where a name or a path belongs (someone pasting the app key into ``--appkey-env``), and the
masked number refuses a full account number. Pure: no I/O; resolving a source is the adapters' job
(:mod:`adapters.accounts_runtime`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from statemachine.errors import AccountError
from statemachine.models import Thresholds

BrokerKind = Literal["kis-paper", "kis-real", "kis-sim", "sim"]
BROKERS: tuple[str, ...] = ("kis-paper", "kis-real", "kis-sim", "sim")
#: The brokers that need credentials (the simulators have their own test keys).
NEEDS_CREDENTIALS = frozenset({"kis-paper", "kis-real"})

ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PORTFOLIO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
# 8 account digits and a 2-digit product code, with the middle hidden: 1234****-01
MASKED = re.compile(r"^[0-9]{0,4}\*{2,8}[0-9]{0,2}(-[0-9]{2})?$")
FULL_NUMBER = re.compile(r"^([0-9]{8})-?([0-9]{2})$")


def looks_like_secret(value: str) -> bool:
    """Does ``value``, given where a name or a path belongs, look like a key, secret, token or
    account number instead? (Fails toward refusing: a name is short words joined by ``_``.)

    True for: 6 or more digits in all (an account number), a run of 16 or more letters and digits
    with no separator (an app key is 36, a secret 180), base64 or JWT punctuation (``+``, ``=``),
    or whitespace inside."""
    v = value.strip()
    if sum(ch.isdigit() for ch in v) >= 6:
        return True
    if re.search(r"[A-Za-z0-9]{16,}", v):
        return True
    return any(ch in v for ch in "+=") or re.search(r"\s", v) is not None


def mask_account_number(number: str) -> str:
    """``12345678-01`` -> ``1234****-01``: the form kept in the database and shown."""
    m = FULL_NUMBER.match(number.strip())
    if m is None:
        raise AccountError("an account number is 8 digits and a 2-digit product code (12345678-01)",
                           field="account_number")
    return f"{m.group(1)[:4]}****-{m.group(2)}"


class Credentials(BaseModel):
    """Where an account's KIS credentials come from: three environment variable NAMES, or a file.

    The file is JSON ``{"appkey": ..., "appsecret": ..., "account": "12345678-01"}``, owned by
    the user running the engine and readable by no one else (mode 0600); both are checked when it
    is used, with a clear error."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    appkey_env: str | None = None
    appsecret_env: str | None = None
    account_env: str | None = None
    file: str | None = None

    @field_validator("appkey_env", "appsecret_env", "account_env")
    @classmethod
    def _env_name(cls, v: str | None, info: Any) -> str | None:
        if v is None:
            return None
        field = info.field_name
        if looks_like_secret(v):
            raise AccountError(f"{field} must be the NAME of an environment variable, not its value (this "
                               "looks like a key, secret or account number; nothing was stored)", field=field)
        if not ENV_NAME.match(v):
            raise AccountError(f"{field} must be an environment variable name (A-Z, 0-9, _; nothing "
                               "was stored)",
                               field=field)
        return v

    @field_validator("file")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if not v.strip() or len(v) > 512 or "\x00" in v:
            raise AccountError("credentials file must be a path", field="credentials_file")
        parts = [p for p in re.split(r"[/\\]", v) if p]
        if "/" not in v and not v.startswith("~") or any(looks_like_secret(p) for p in parts):
            raise AccountError("credentials file must be a path to a file (e.g. /etc/kis/isa.json), not a "
                               "key or secret; nothing was stored", field="credentials_file")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> Credentials:
        envs = (self.appkey_env, self.appsecret_env, self.account_env)
        if self.file is not None and any(envs):
            raise AccountError("give either the credentials' environment variable names or a credentials "
                               "file, not both", field="credentials")
        if any(envs) and not all(envs):
            raise AccountError("the credentials' environment variables come as three names: app key, app "
                               "secret and account number", field="credentials")
        return self

    @property
    def kind(self) -> Literal["env", "file", "none"]:
        if self.file is not None:
            return "file"
        return "env" if self.appkey_env else "none"

    def describe(self) -> str:
        """Where the credentials come from, for people (names and paths only)."""
        if self.kind == "file":
            return f"file {self.file}"
        if self.kind == "env":
            return f"env {self.appkey_env}, {self.appsecret_env}, {self.account_env}"
        return "none"


class Account(BaseModel):
    """One account, as stored in the ``accounts`` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alias: str
    broker: BrokerKind = "sim"
    masked_number: str | None = None
    credentials: Credentials = Credentials()
    portfolio: str | None = None  # None: the strategist's latest decision (ai_strategy_decisions)
    thresholds: Thresholds | None = None  # None: the global thresholds (rebalancing_config)
    schedule_cron: str | None = None  # None: the global schedule (REBALANCE_SCHEDULE_CRON)
    sim_account_path: str | None = None  # sim / kis-sim: the simulated account file (None: derived)
    enabled: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @field_validator("alias")
    @classmethod
    def _alias(cls, v: str) -> str:
        if not isinstance(v, str) or not ALIAS.match(v):
            raise AccountError(f"account alias must be 1-64 letters, digits, '.', '_' or '-', got {v!r}",
                               field="alias")
        return v

    @field_validator("broker", mode="before")
    @classmethod
    def _broker(cls, v: Any) -> Any:
        if v not in BROKERS:
            raise AccountError(f"unknown broker {v!r} (one of {', '.join(BROKERS)})", field="broker")
        return v

    @field_validator("masked_number")
    @classmethod
    def _masked(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if FULL_NUMBER.match(v.strip()):
            raise AccountError("give the account number masked (e.g. 1234****-01), never in full; nothing was "
                               "stored", field="masked_number")
        if not MASKED.match(v):
            raise AccountError("masked account number must look like 1234****-01",
                               field="masked_number")
        return v

    @field_validator("portfolio")
    @classmethod
    def _portfolio(cls, v: str | None) -> str | None:
        return None if v is None else check_portfolio_name(v)

    @field_validator("schedule_cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = " ".join(v.split())
        if len(v.split()) not in (5, 6) or len(v) > 120:
            raise AccountError(f"schedule must be a cron expression (5 fields), got {v!r}", field="schedule_cron")
        return v

    @model_validator(mode="after")
    def _needs(self) -> Account:
        if self.broker in NEEDS_CREDENTIALS and self.credentials.kind == "none":
            raise AccountError(f"a {self.broker} account needs its credentials' source: three environment "
                               "variable names or a credentials file", field="credentials")
        return self

    @property
    def follows(self) -> str:
        """The portfolio it follows, for people."""
        return self.portfolio or "default (the strategist's latest decision)"


def check_portfolio_name(name: str) -> str:
    if not isinstance(name, str) or not PORTFOLIO.match(name) or name == "default":
        raise AccountError(f"portfolio name must be 1-64 letters, digits, '.', '_' or '-' and not 'default' "
                           f"(the strategist's latest decision), got {name!r}", field="portfolio")
    return name


def make_account(**fields: Any) -> Account:
    """An :class:`Account` from loose input (CLI, API); every refusal is an :class:`AccountError`
    naming the field."""
    try:
        return Account.model_validate(fields)
    except AccountError:
        raise
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(x) for x in first.get("loc", ())) or "account"
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, AccountError | Exception) and hasattr(cause, "message"):
            raise AccountError(cause.message, field=field) from None
        raise AccountError(f"{field}: {first.get('msg', 'invalid')}", field=field) from None
