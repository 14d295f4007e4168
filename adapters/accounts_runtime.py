"""Composing one account's rebalance (issue 19): broker, targets, thresholds and engine for an
alias, from the ``accounts`` row and the settings.

* :func:`app_for` is what entry points call: with no alias, or with the alias of the
  environment set-up (``REBALANCE_ACCOUNT_ALIAS``) and no ``accounts`` row of that name, it is
  exactly :func:`adapters.bootstrap.bootstrap`: a single-account set-up from before accounts existed
  runs unchanged. With an alias stored in ``accounts``, it is :func:`build_account_app`.
* :func:`build_account_app` scopes the settings to the account (:func:`account_settings`): its alias,
  its broker, its simulated account file, its credentials resolved from the environment variables
  it names or its owner-only file (:func:`resolve_credentials`), its own token cache file; the
  engine (:class:`AccountEngine`) starts runs toward the account's portfolio (None: the
  strategist's latest decision) with its thresholds (None: the global ones), read when each run
  starts.

Secrets live only in memory, inside ``SecretStr``: errors name the variable or the file, never a value.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from adapters.bootstrap import App, bootstrap, check_clock_setting, kill_switch_guard, live_guards, make_planners
from adapters.config import Settings
from adapters.db.accounts import AccountRepository, PortfolioRepository
from adapters.db.connect import Database
from adapters.runtime import CrashHooks, lease_is_dead, lease_owner
from statemachine.accounts import Account, BrokerKind, Credentials
from statemachine.engine import Engine
from statemachine.errors import AccountNotFound, CredentialsError, TargetsError
from statemachine.models import Targets, Thresholds
from statemachine.ports import Broker, Clock
from statemachine.records import RunRecord

#: accounts.broker -> (Settings.broker, KIS environment)
BROKER_SETTINGS: dict[str, tuple[str, str | None]] = {
    "kis-paper": ("kis", "paper"), "kis-real": ("kis", "real"), "kis-sim": ("kis-sim", None), "sim": ("sim", None)}


@dataclass(frozen=True)
class KisCredentials:
    appkey: SecretStr
    appsecret: SecretStr
    account: SecretStr  # the full number, 12345678-01

    def __repr__(self) -> str:  # never the values, even in a traceback's locals
        return "KisCredentials(<hidden>)"


def resolve_credentials(creds: Credentials, environ: Mapping[str, str] | None = None) -> KisCredentials:
    """The credentials an account's source names: from its three environment variables, or from its
    JSON file (``appkey``, ``appsecret``, ``account``), which must be a regular file owned by this
    user and readable by no one else (mode 0600 or stricter). Errors name the variable or the file
    and what is wrong, never a value."""
    if creds.kind == "env":
        env = os.environ if environ is None else environ
        names = (creds.appkey_env, creds.appsecret_env, creds.account_env)
        missing = [n for n in names if n and not (env.get(n) or "").strip()]
        if missing:
            raise CredentialsError(f"credentials' environment variable(s) not set: {', '.join(missing)}",
                                   field="credentials", variables=missing)
        k, s, a = ((env.get(n) or "").strip() for n in names if n)
        return KisCredentials(SecretStr(k), SecretStr(s), SecretStr(a))
    if creds.kind == "file":
        assert creds.file is not None
        return _from_file(Path(creds.file).expanduser())
    raise CredentialsError("this account has no credentials' source (environment variable names or a file)",
                           field="credentials")


def _from_file(path: Path) -> KisCredentials:
    try:
        st = path.stat()
    except OSError as exc:
        raise CredentialsError(f"credentials file {path} cannot be read: {exc.strerror or type(exc).__name__}",
                               field="credentials_file", path=str(path)) from None
    if not stat.S_ISREG(st.st_mode):
        raise CredentialsError(f"credentials file {path} is not a regular file", field="credentials_file",
                               path=str(path))
    if st.st_mode & 0o077:
        raise CredentialsError(f"credentials file {path} is readable by others (mode {stat.S_IMODE(st.st_mode):04o});"
                               f" make it owner-only: chmod 600 {path}", field="credentials_file", path=str(path))
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise CredentialsError(f"credentials file {path} is not owned by the user running the engine",
                               field="credentials_file", path=str(path))
    try:
        data: Any = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        raise CredentialsError(f"credentials file {path} is not a JSON object with appkey, appsecret and account",
                               field="credentials_file", path=str(path)) from None
    if not isinstance(data, dict):
        data = {}
    missing = [k for k in ("appkey", "appsecret", "account") if not isinstance(data.get(k), str) or not data[k].strip()]
    if missing:
        raise CredentialsError(f"credentials file {path} lacks {', '.join(missing)}", field="credentials_file",
                               path=str(path))
    return KisCredentials(SecretStr(data["appkey"].strip()), SecretStr(data["appsecret"].strip()),
                          SecretStr(data["account"].strip()))


def sim_account_path(settings: Settings, account: Account) -> str:
    """The simulated account file of a sim / kis-sim account: its own, or ``<alias>.json`` beside
    the settings' file."""
    if account.sim_account_path:
        return account.sim_account_path
    return str(Path(settings.sim_account_path).parent / f"{account.alias}.json")


def account_settings(settings: Settings, account: Account, environ: Mapping[str, str] | None = None) -> Settings:
    """The settings as this account sees them: its alias, broker and simulated account file, its
    schedule; for KIS its credentials (resolved now) and a token cache file of its own."""
    broker, env = BROKER_SETTINGS[account.broker]
    update: dict[str, Any] = {"account_alias": account.alias, "broker": broker,
                              "sim_account_path": sim_account_path(settings, account)}
    if account.schedule_cron:
        update["schedule_cron"] = account.schedule_cron
    scoped = settings.model_copy(update=update)
    if broker == "kis" or account.credentials.kind != "none":
        # kis-sim with credentials: resolved and set the same way (the simulator's own test keys are
        # used by adapters.kis.bootstrap until it serves per-key accounts)
        creds = resolve_credentials(account.credentials, environ)
        ks = settings.kis()
        cache = Path(ks.token_cache_path).expanduser()
        scoped._kis = ks.model_copy(update={
            "env": env or ks.env, "appkey": creds.appkey, "appsecret": creds.appsecret, "account": creds.account,
            "token_cache_path": str(cache.parent / f"{cache.stem}.{account.alias}{cache.suffix}")})
    return scoped


class AccountEngine(Engine):
    """The engine of one account: a run started without explicit targets or thresholds gets the
    account's (its portfolio, its thresholds), read when the run starts; None from a source falls
    back to the engine's defaults (the latest decision, the global thresholds)."""

    def __init__(self, *args: Any, targets_source: Callable[[], Targets | None],
                 thresholds_source: Callable[[], Thresholds | None], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.targets_source = targets_source
        self.thresholds_source = thresholds_source

    def start(self, *, account: str, max_phase: int = 5, planner: str = "auto", actor: str = "cli",
              targets: Targets | None = None, thresholds: Thresholds | None = None) -> RunRecord:
        targets = targets if targets is not None else self.targets_source()
        thresholds = thresholds if thresholds is not None else self.thresholds_source()
        return super().start(account=account, max_phase=max_phase, planner=planner, actor=actor, targets=targets,
                             thresholds=thresholds)


def portfolio_targets(portfolios: PortfolioRepository, account: Account) -> Targets | None:
    """The targets the account follows now: its portfolio's newest version, or None for the default
    portfolio (the strategist's latest decision). A named portfolio with no targets refuses the run."""
    if account.portfolio is None:
        return None
    found = portfolios.find(account.portfolio)
    if found is None:
        raise TargetsError(f"account '{account.alias}' follows portfolio '{account.portfolio}', which has no "
                           f"targets: set them with 'portfolios add {account.portfolio} FILE'", field="portfolio")
    return found.targets


def build_account_app(settings: Settings, account: Account, *, db: Database, clock: Clock,
                      environ: Mapping[str, str] | None = None) -> App:
    """Everything one account's rebalance needs, over a shared database and clock."""
    scoped = account_settings(settings, account, environ)
    check_clock_setting(scoped)
    es = scoped.engine_settings()
    accounts = AccountRepository(db.engine, clock)
    portfolios = PortfolioRepository(db.engine, clock)
    alias = account.alias

    def broker_factory() -> Broker:
        from adapters.bootstrap import make_broker

        return make_broker(scoped, clock)

    def targets_source() -> Targets | None:
        return portfolio_targets(portfolios, accounts.get(alias))

    def thresholds_source() -> Thresholds | None:
        return accounts.get(alias).thresholds

    def engine_factory(progress: Callable[[str], None] | None = None) -> Engine:
        return AccountEngine(db.unit_of_work, broker_factory(), make_planners(scoped, clock), clock, es,
                             hooks=CrashHooks(scoped.crash_at), owner=lease_owner(), lease_is_dead=lease_is_dead,
                             guards=[kill_switch_guard(scoped), *live_guards(scoped, clock)], progress=progress,
                             targets_source=targets_source, thresholds_source=thresholds_source)

    return App(settings=scoped, db=db, broker_factory=broker_factory, engine_factory=engine_factory, clock=clock)


def app_for(settings: Settings, alias: str | None = None, *, db_url: str | None = None, clock: Clock | None = None,
            db: Database | None = None, environ: Mapping[str, str] | None = None) -> App:
    """The App for ``alias``: the environment set-up (:func:`bootstrap`) when ``alias`` is None or
    is ``REBALANCE_ACCOUNT_ALIAS`` with no ``accounts`` row; the stored account otherwise."""
    base = bootstrap(settings, db_url=db_url, clock=clock, db=db)
    if alias is None:
        return base
    account = AccountRepository(base.db.engine, base.clock).find(alias)
    if account is None:
        if alias == settings.account_alias:
            return base
        raise AccountNotFound(f"no account '{alias}' (see: accounts list)", alias=alias)
    return build_account_app(settings, account, db=base.db, clock=base.clock, environ=environ)


def credential_problems(account: Account, environ: Mapping[str, str] | None = None) -> list[str]:
    """What keeps the account's credentials from resolving now (empty: nothing; the simulators need none)."""
    if account.broker not in ("kis-paper", "kis-real") and account.credentials.kind == "none":
        return []
    try:
        resolve_credentials(account.credentials, environ)
    except CredentialsError as exc:
        return [exc.message]
    return []


def environment_account(settings: Settings) -> Account:
    """The account of the environment set-up (no ``accounts`` rows), as an :class:`Account` for views."""
    broker: BrokerKind = ("sim" if settings.broker == "sim" else "kis-sim" if settings.broker == "kis-sim"
                          else "kis-real" if settings.kis().env == "real" else "kis-paper")
    return Account.model_construct(alias=settings.account_alias, broker=broker, masked_number=None,
                                   credentials=Credentials(), portfolio=None, thresholds=None,
                                   schedule_cron=settings.schedule_cron, sim_account_path=None, enabled=True,
                                   created_at=None, updated_at=None)


def stored_account_of_run(app: App, run_id: str) -> str | None:
    """The alias of the run's account when it is stored in ``accounts`` (so ``resume RUN_ID`` needs
    no ``--account``); None for the environment's account or an unknown run."""
    from statemachine.errors import RunNotFound

    try:
        with app.db.unit_of_work() as u:
            alias = u.get_run(run_id).account
    except RunNotFound:
        return None
    return alias if AccountRepository(app.db.engine, app.clock).find(alias) is not None else None
