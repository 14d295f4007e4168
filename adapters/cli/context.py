"""What every command module shares: the typer apps, the consoles, the process state (settings,
database URL), the ``--json``/``--db`` options, and the translation of errors into one line on
stderr and an exit code (see :mod:`adapters.cli.exit_codes`).

Command modules (:mod:`adapters.cli.app`, ``cmd_*``) import this module and register on its
``app``; none imports another, so there is no import cycle. :mod:`adapters.cli.app` imports
them all, which registers every command.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from adapters.bootstrap import App, bootstrap
from adapters.cli import exit_codes as ec
from adapters.cli.messages import LANGS, cli_error, error_line, printed, resolve, set_lang, tr
from adapters.cli.render import show_run
from adapters.config import Settings
from adapters.runtime import setup_logging
from statemachine.application import queries
from statemachine.errors import RebalanceError, TargetsError
from statemachine.models import Targets
from statemachine.records import RunRecord

HELP = f"""Rebalance a KIS brokerage account toward its target allocation, durably.

Every transition is committed to the database; a killed run resumes where it stopped
(`resume`) and never sends an order twice.

{ec.TABLE}"""

app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False, rich_markup_mode=None)
config_app = typer.Typer(help="Rebalancing thresholds (table rebalancing_config).", no_args_is_help=True)
targets_app = typer.Typer(help="Target allocation: MP and Sub-MP (table ai_strategy_decisions).",
                          no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(targets_app, name="targets")
app.add_typer(db_app, name="db")

# the terminal's width (rich: the terminal, else $COLUMNS, else 80); tables shrink and clip to it
out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class State:
    db: str | None = None
    settings: Settings | None = None


state = State()

DbOpt = Annotated[str | None, typer.Option("--db", help="Database URL, e.g. sqlite:///rebalance.db (a file "
                                                        "here), sqlite:////abs/path.db or postgresql://host/db "
                                                        "(default: REBALANCE_DATABASE_URL or sqlite:///rebalance.db)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _version(value: bool) -> None:
    if value:
        from statemachine import CHECKPOINT_FORMAT, ENGINE_VERSION

        print(f"run_rebalance {ENGINE_VERSION} (checkpoint format {CHECKPOINT_FORMAT})")
        raise typer.Exit(ec.OK)


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_version,
                                          help="Print the version and exit.")] = False,
    db: DbOpt = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING, ERROR")] = "",
    log_format: Annotated[str, typer.Option(help="text or json")] = "",
    lang: Annotated[str, typer.Option("--lang", help="Language of the messages: ko or en (or auto: LC_ALL/LANG); "
                                                     "default REBALANCE_LANG, else en. --json is never translated.")]
    = "",
) -> None:
    settings = Settings()
    state.settings = settings
    if lang and lang.strip().lower() not in (*LANGS, "auto"):
        err.print(tr("error.line", message=tr("error.bad_lang", value=lang)))
        raise typer.Exit(ec.BAD_INPUT)
    set_lang(resolve(lang, settings.lang))
    state.db = db
    setup_logging(log_level or settings.log_level, log_format or settings.log_format, stream=sys.stderr)


def get_app(account: str | None = None, read_only: bool = False) -> App:
    """The composition root for this invocation (settings and ``--db`` from the callback); with
    ``account``, that stored account's (adapters.accounts_runtime.app_for). A ``read_only`` command
    never creates a database (see :mod:`adapters.cli.guards`)."""
    from adapters.cli.guards import check_readable, checked_url

    assert state.settings is not None
    url = checked_url(state.db or state.settings.database_url)
    if read_only:
        check_readable(url)
    if account is not None:
        from adapters.accounts_runtime import app_for

        return app_for(state.settings, account, db_url=url)
    return bootstrap(state.settings, db_url=url)


def empty_hint(rows: list[Any]) -> None:
    """Nothing to show on the default database while the demo's exists: say where the runs are."""
    from adapters.cli.guards import checked_url, demo_hint

    assert state.settings is not None
    hint = demo_hint(checked_url(state.db or state.settings.database_url)) if not rows else None
    if hint:
        err.print(hint)


AccountOpt = Annotated[str | None, typer.Option("--account", help="The account's alias (see: accounts list); "
                                                                  "default: REBALANCE_ACCOUNT_ALIAS's set-up.")]


F = TypeVar("F", bound=Callable[..., Any])


def handled(fn: F) -> F:
    """Turn every known error into one line on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except RebalanceError as exc:
            err.print(error_line(exc, printed(exc, exc.message)))
            if kwargs.get("as_json"):  # scripts read stdout: the error as JSON there too
                emit({"error": type(exc).__name__, "message": exc.message, "exit_code": error_code(exc),
                      **exc.fields})
            raise typer.Exit(error_code(exc)) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first.get("loc", ()))
            err.print(tr("error.invalid_input", loc=loc, msg=first.get("msg")))
            if kwargs.get("as_json"):
                emit({"error": "ValidationError", "message": f"invalid input at '{loc}': {first.get('msg')}",
                      "exit_code": ec.BAD_INPUT, "field": loc})
            raise typer.Exit(ec.BAD_INPUT) from None
        except KeyboardInterrupt:
            err.print(tr("error.interrupted"))
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def error_code(exc: RebalanceError) -> int:
    from statemachine import errors as e

    table = [(e.RunNotFound, ec.NOT_FOUND), (e.RunFinished, ec.FINISHED), (e.IncompatibleCheckpoint, ec.INCOMPATIBLE),
             (e.ReplayMismatch, ec.INCOMPATIBLE), (e.LeaseHeld, ec.BUSY), (e.SafetyStop, ec.SAFETY_STOP),
             (e.DomainError, ec.BAD_INPUT)]
    for cls, code in table:
        if isinstance(exc, cls):
            return code
    if type(exc).__name__ == "DatabaseError":
        return ec.DATABASE
    return ec.OUTSIDE_FAILURE if isinstance(exc, e.AdapterError) else ec.UNEXPECTED


def emit(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def finish(a: App, run: RunRecord, as_json: bool, quiet_timeline: bool = False) -> None:
    """Print the run's timeline (or its JSON) and exit with the code of its status."""
    view = queries.run_timeline(a.db.unit_of_work, run.id)
    if as_json:
        emit(view)
    elif not quiet_timeline:
        show_run(out, view)
    raise typer.Exit(ec.BY_STATUS[run.status])


def progress() -> Callable[[str], None]:
    """What the run is doing now, one line per step and per order sent or filled, on stderr. At log
    level INFO or below the log already reports each of these: then nothing more (no line twice)."""
    import logging

    def report(msg: str) -> None:
        if logging.getLogger("rebalance").isEnabledFor(logging.INFO):
            return
        err.print(f"[dim]… {msg}[/]")

    return report


def read_targets(path: Path) -> Targets:
    """A targets file, validated (``TargetsError`` naming the file when it is missing or not JSON)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise cli_error(TargetsError, "file.missing", {"field": "FILE"}, what="targets", path=path,
                        ) from None
    except json.JSONDecodeError as exc:
        raise cli_error(TargetsError, "file.not_json", {"field": "FILE"}, what="targets", path=path,
                        msg=exc.msg, line=exc.lineno) from None
    return Targets.model_validate(data)
