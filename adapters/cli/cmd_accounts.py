"""``accounts`` and ``portfolios`` (issue 19): accounts as data (table ``accounts``) and named
targets (table ``portfolios``).

An account stores WHERE its credentials come from (``--appkey-env/--appsecret-env/--account-env``
NAMES, or ``--credentials-file PATH`` to an owner-only JSON file), never a key, a secret or a full
account number: a value given where a name belongs is refused (exit 2) and nothing is stored.
``run --account ALIAS`` runs one account; ``schedule`` drives every enabled one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from adapters.accounts_runtime import credential_problems, environment_account
from adapters.bootstrap import App
from adapters.cli.context import JsonOpt, app, emit, get_app, handled, out, read_targets
from adapters.db.accounts import AccountRepository, PortfolioRepository
from statemachine.accounts import BROKERS, Account, make_account
from statemachine.application import queries
from statemachine.application.accounts import account_view, overview
from statemachine.application.views import targets_view
from statemachine.errors import AccountError

accounts_app = typer.Typer(help="Accounts the engine rebalances (table accounts): where their credentials come "
                                "from (never the credentials), their portfolio, thresholds and schedule.",
                           no_args_is_help=True)
portfolios_app = typer.Typer(help="Named target allocations, MP and Sub-MP (table portfolios); an account follows "
                                  "one, or the strategist's latest decision (targets set) by default.",
                             no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(portfolios_app, name="portfolios")

AliasArg = Annotated[str, typer.Argument(help="The account's alias (the account of its runs).")]
BrokerOpt = Annotated[str | None, typer.Option("--broker", help=" | ".join(BROKERS))]
MaskedOpt = Annotated[str | None, typer.Option("--masked-number", help="The account number masked: 1234****-01.")]
EnvOpt = Annotated[str | None, typer.Option(help="NAME of the environment variable holding it (not the value).")]
FileOpt = Annotated[str | None, typer.Option("--credentials-file",
                                             help="Path of an owner-only (chmod 600) JSON file: appkey, appsecret, "
                                                  "account.")]
PortfolioOpt = Annotated[str | None, typer.Option("--portfolio", help="Portfolio it follows (default: the "
                                                                      "strategist's latest decision).")]
MpOpt = Annotated[float | None, typer.Option("--mp-threshold", help="Its own MP threshold, percent.")]
SubOpt = Annotated[float | None, typer.Option("--sub-mp-threshold", help="Its own Sub-MP threshold, percent.")]
CronOpt = Annotated[str | None, typer.Option("--schedule", help='Its own cron, e.g. "0 10 * * 1-5".')]
SimOpt = Annotated[str | None, typer.Option("--sim-account", help="sim / kis-sim: its simulated account file.")]


def _repos() -> tuple[App, AccountRepository, PortfolioRepository]:
    a = get_app()
    return a, AccountRepository(a.db.engine, a.clock), PortfolioRepository(a.db.engine, a.clock)


def _thresholds(a: App, mp: float | None, sub_mp: float | None) -> dict[str, float] | None:
    if mp is None and sub_mp is None:
        return None
    cur = queries.thresholds(a.db.unit_of_work)  # the one not given: the global one in force now
    return {"mp": cur.mp if mp is None else mp, "sub_mp": cur.sub_mp if sub_mp is None else sub_mp}


def _credentials(appkey_env: str | None, appsecret_env: str | None, account_env: str | None,
                 credentials_file: str | None) -> dict[str, Any] | None:
    given = {"appkey_env": appkey_env, "appsecret_env": appsecret_env, "account_env": account_env,
             "file": credentials_file}
    return {k: v for k, v in given.items() if v is not None} or None


def _print_accounts(accounts: list[Account]) -> None:
    t = Table(title="Accounts")
    for col in ("alias", "broker", "number", "credentials", "portfolio", "thresholds", "schedule", "enabled"):
        t.add_column(col, no_wrap=col in ("alias", "broker", "number", "enabled"))  # identifiers are never cut
    for x in accounts:
        th = "global" if x.thresholds is None else f"{x.thresholds.mp:g} / {x.thresholds.sub_mp:g}"
        t.add_row(x.alias, x.broker, x.masked_number or "-", x.credentials.describe(), x.portfolio or "default", th,
                  x.schedule_cron or "global", "yes" if x.enabled else "no")
    out.print(t)


@accounts_app.command("add")
@handled
def accounts_add(alias: AliasArg, broker: BrokerOpt = "sim", masked_number: MaskedOpt = None,
                 appkey_env: EnvOpt = None, appsecret_env: EnvOpt = None, account_env: EnvOpt = None,
                 credentials_file: FileOpt = None, portfolio: PortfolioOpt = None, mp_threshold: MpOpt = None,
                 sub_mp_threshold: SubOpt = None, schedule: CronOpt = None, sim_account: SimOpt = None,
                 disabled: Annotated[bool, typer.Option("--disabled", help="Add it disabled.")] = False,
                 as_json: JsonOpt = False) -> None:
    """Add an account (refused, nothing stored, when a value looks like a secret)."""
    a, repo, _ = _repos()
    creds = _credentials(appkey_env, appsecret_env, account_env, credentials_file)
    fields: dict[str, Any] = {"alias": alias, "broker": broker, "masked_number": masked_number,
                              "portfolio": portfolio, "thresholds": _thresholds(a, mp_threshold, sub_mp_threshold),
                              "schedule_cron": schedule, "sim_account_path": sim_account, "enabled": not disabled}
    if creds:
        fields["credentials"] = creds
    added = repo.add(make_account(**fields))
    if as_json:
        emit(account_view(added))
    else:
        out.print(f"account {added.alias} added ({added.broker}, follows {added.follows})")


@accounts_app.command("set")
@handled
def accounts_set(alias: AliasArg, broker: BrokerOpt = None, masked_number: MaskedOpt = None,
                 appkey_env: EnvOpt = None, appsecret_env: EnvOpt = None, account_env: EnvOpt = None,
                 credentials_file: FileOpt = None, portfolio: PortfolioOpt = None, mp_threshold: MpOpt = None,
                 sub_mp_threshold: SubOpt = None, schedule: CronOpt = None, sim_account: SimOpt = None,
                 default_portfolio: Annotated[bool, typer.Option("--default-portfolio", help="Follow the "
                                                                 "strategist's latest decision again.")] = False,
                 global_thresholds: Annotated[bool, typer.Option("--global-thresholds")] = False,
                 global_schedule: Annotated[bool, typer.Option("--global-schedule")] = False,
                 as_json: JsonOpt = False) -> None:
    """Change some of an account's fields (the rest stay)."""
    a, repo, _ = _repos()
    fields: dict[str, Any] = {k: v for k, v in {
        "broker": broker, "masked_number": masked_number, "portfolio": portfolio, "schedule_cron": schedule,
        "sim_account_path": sim_account, "thresholds": _thresholds(a, mp_threshold, sub_mp_threshold),
        "credentials": _credentials(appkey_env, appsecret_env, account_env, credentials_file)}.items()
        if v is not None}
    for flag, name in ((default_portfolio, "portfolio"), (global_thresholds, "thresholds"),
                       (global_schedule, "schedule_cron")):
        if flag:
            if name in fields:
                raise AccountError(f"{name}: give a value or reset it to the global one, not both", field=name)
            fields[name] = None
    if not fields:
        raise AccountError("nothing to change: give at least one option", field="options")
    new = repo.update(alias, **fields)
    if as_json:
        emit(account_view(new))
    else:
        out.print(f"account {alias} updated")


@accounts_app.command("list")
@handled
def accounts_list(enabled_only: Annotated[bool, typer.Option("--enabled-only")] = False,
                  as_json: JsonOpt = False) -> None:
    """Every account (with no rows, the environment's single account is what runs)."""
    a, repo, _ = _repos()
    rows = repo.list(enabled_only=enabled_only)
    if as_json:
        emit({"accounts": [account_view(x) for x in rows]})
    elif rows:
        _print_accounts(rows)
    else:
        out.print(f"no accounts: the environment set-up runs account '{a.settings.account_alias}' "
                  f"({a.settings.broker})")


@accounts_app.command("show")
@handled
def accounts_show(alias: AliasArg, as_json: JsonOpt = False) -> None:
    """One account: its fields, whether its credentials resolve now, its last run and drift."""
    a, repo, _ = _repos()
    acct = repo.get(alias)
    row = overview(a.db.unit_of_work, [acct], a.clock.now(), {alias: credential_problems(acct)})[0]
    view = {**account_view(acct), **{k: row[k] for k in ("drift", "last_run", "status", "needs_operator",
                                                         "problems")}}
    if as_json:
        emit(view)
        return
    _print_accounts([acct])
    last = row["last_run"]
    out.print(f"last run: {last['id']} {last['status']} at {last['state']}" if last else "last run: none")
    out.print(f"drift: {row['drift']['verdict']}" + (f" ({', '.join(row['drift']['exceeded'])})"
                                                     if row["drift"]["exceeded"] else ""))
    for p in row["problems"]:
        out.print(f"[yellow]needs an operator:[/] {p}")


def _toggle(alias: str, enabled: bool, as_json: bool) -> None:
    _, repo, _ = _repos()
    new = repo.enable(alias) if enabled else repo.disable(alias)
    if as_json:
        emit(account_view(new))
    else:
        out.print(f"account {alias} {'enabled' if enabled else 'disabled'}")


@accounts_app.command("disable")
@handled
def accounts_disable(alias: AliasArg, as_json: JsonOpt = False) -> None:
    """Stop scheduling an account (its runs and history stay)."""
    _toggle(alias, False, as_json)


@accounts_app.command("enable")
@handled
def accounts_enable(alias: AliasArg, as_json: JsonOpt = False) -> None:
    """Schedule an account again."""
    _toggle(alias, True, as_json)


@accounts_app.command("overview")
@handled
def accounts_overview(as_json: JsonOpt = False) -> None:
    """All accounts: drift verdict (from the last run), last run, status, and who needs an operator."""
    a, repo, _ = _repos()
    accounts = repo.list() or [environment_account(a.settings)]
    rows = overview(a.db.unit_of_work, accounts, a.clock.now(), {x.alias: credential_problems(x) for x in accounts})
    if as_json:
        emit({"accounts": rows})
        return
    t = Table(title="All accounts")
    for col in ("alias", "broker", "drift", "last run", "status", "operator"):
        t.add_column(col)
    for r in rows:
        last = r["last_run"]
        t.add_row(r["alias"], r["broker"], r["drift"]["verdict"], last["id"] if last else "-", r["status"] or "-",
                  "; ".join(r["problems"]) if r["needs_operator"] else "-")
    out.print(t)
    need = [r["alias"] for r in rows if r["needs_operator"]]
    if need:
        out.print(f"[yellow]needs an operator:[/] {', '.join(need)}")


# ======================================================================= portfolios
@portfolios_app.command("add")
@handled
def portfolios_add(name: Annotated[str, typer.Argument(help="The portfolio's name.")],
                   file: Annotated[Path, typer.Argument(help="A targets file (the shape of 'targets set').")],
                   as_json: JsonOpt = False) -> None:
    """Record a portfolio's targets (a new version of it if the name exists)."""
    targets = read_targets(file)
    _, _, ports = _repos()
    d = ports.set(name, targets)
    if as_json:
        emit({"portfolio": name, **targets_view(d)})
    else:
        out.print(f"portfolio {name} recorded ({targets.mp_id})")


@portfolios_app.command("list")
@handled
def portfolios_list(as_json: JsonOpt = False) -> None:
    """Every portfolio's newest version, and which accounts follow it."""
    _, repo, ports = _repos()
    followers: dict[str | None, list[str]] = {}
    for x in repo.list():
        followers.setdefault(x.portfolio, []).append(x.alias)
    rows: list[dict[str, Any]] = [
        {"portfolio": n, "mp_id": d.targets.mp_id, "mp": d.targets.mp, "decided_at": d.decided_at.isoformat(),
         "accounts": followers.get(n, [])} for n, d in ports.list()]
    if as_json:
        emit({"portfolios": rows, "default_followers": followers.get(None, [])})
        return
    t = Table(title="Portfolios")
    for col in ("name", "mp_id", "MP", "recorded", "accounts"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["portfolio"], r["mp_id"], " / ".join(f"{k} {v:g}" for k, v in r["mp"].items()),
                  r["decided_at"], ", ".join(r["accounts"]) or "-")
    out.print(t)


@portfolios_app.command("show")
@handled
def portfolios_show(name: Annotated[str, typer.Argument(help="The portfolio's name.")], as_json: JsonOpt = False
                    ) -> None:
    """A portfolio's newest targets (MP and Sub-MP)."""
    _, _, ports = _repos()
    view = {"portfolio": name, **targets_view(ports.get(name))}
    if as_json:
        emit(view)
        return
    import json

    out.print(json.dumps(view, ensure_ascii=False, indent=2, default=str))
