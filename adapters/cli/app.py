"""``run_rebalance.py``: the command line. Commands translate input into engine calls and errors
into one clear line and an exit code (see :mod:`adapters.cli.exit_codes`)."""

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

from adapters.bootstrap import App, bootstrap, market_description
from adapters.cli import exit_codes as ec
from adapters.cli.render import history_table, runs_table, show_run
from adapters.config import Settings
from adapters.runtime import setup_logging
from statemachine.errors import RebalanceError, TargetsError
from statemachine.machine import mermaid
from statemachine.models import Targets, Thresholds
from statemachine.records import RunRecord
from statemachine.states import MAX_PHASE, RunState
from statemachine.timeline import run_summary, timeline

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

out = Console(highlight=False, soft_wrap=False, width=200)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class State:
    db: str | None = None
    settings: Settings | None = None


state = State()

DbOpt = Annotated[str | None, typer.Option("--db", help="Database URL (default: REBALANCE_DATABASE_URL or "
                                                        "sqlite:///rebalance.db)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@app.callback()
def main(
    db: DbOpt = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING, ERROR")] = "",
    log_format: Annotated[str, typer.Option(help="text or json")] = "",
) -> None:
    settings = Settings()
    state.settings = settings
    state.db = db
    setup_logging(log_level or settings.log_level, log_format or settings.log_format, stream=sys.stderr)


def _app() -> App:
    assert state.settings is not None
    return bootstrap(state.settings, db_url=state.db)


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
            err.print(f"[red]error:[/] {exc.message}")
            raise typer.Exit(_code(exc)) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first.get("loc", ()))
            err.print(f"[red]error:[/] invalid input at '{loc}': {first.get('msg')}")
            raise typer.Exit(ec.BAD_INPUT) from None
        except KeyboardInterrupt:
            err.print("interrupted; the run stays at its last checkpoint (use: resume)")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _code(exc: RebalanceError) -> int:
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


def _emit(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _view(a: App, run_id: str) -> dict[str, Any]:
    with a.db.unit_of_work() as uow:
        run = uow.get_run(run_id)
        hist = next((h for h in uow.history(limit=1000) if h.run_id == run_id), None)
        return timeline(run, uow.transitions(run_id), uow.plan_attempts(run_id), uow.orders(run_id),
                        uow.outputs(run_id), hist)


def _finish(a: App, run: RunRecord, as_json: bool, quiet_timeline: bool = False) -> None:
    view = _view(a, run.id)
    if as_json:
        _emit(view)
    elif not quiet_timeline:
        show_run(out, view)
    raise typer.Exit(ec.BY_STATUS[run.status])


def _progress() -> Callable[[str], None]:
    def report(msg: str) -> None:
        err.print(f"[dim]… {msg}[/]")

    return report


def _check_planner(name: str | None) -> None:
    from adapters.bootstrap import PLANNER_NAMES

    if name is not None and name not in PLANNER_NAMES:
        raise TargetsError(f"unknown planner '{name}' (choose one of {', '.join(PLANNER_NAMES)})", field="planner")


def _read_targets(path: Path) -> Targets:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise TargetsError(f"targets file {path} does not exist", field="FILE") from None
    except json.JSONDecodeError as exc:
        raise TargetsError(f"targets file {path} is not valid JSON: {exc.msg} at line {exc.lineno}",
                           field="FILE") from None
    return Targets.model_validate(data)


# ======================================================================= running
@app.command()
@handled
def run(
    max_phase: Annotated[int, typer.Option("--max-phase", min=1, max=5, help="; ".join(
        f"{p.max_phase}: stop in {p.state.value} ({p.doc})" for p in MAX_PHASE.values()))] = 5,
    planner: Annotated[str | None, typer.Option(help="auto | optimal | greedy | gemini")] = None,
    targets: Annotated[Path | None, typer.Option(help="Use this targets file instead of the latest decision.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a rebalance of the configured account and drive it until it stops."""
    t = _read_targets(targets) if targets else None
    _check_planner(planner)
    a = _app()
    eng = a.engine(progress=None if as_json else _progress())
    started = eng.start(account=a.broker().alias, max_phase=max_phase, planner=planner or a.settings.planner,
                        actor="cli", targets=t)
    if not as_json:
        err.print(f"run [bold]{started.id}[/] started (max_phase {max_phase})")
    _finish(a, eng.run(started.id), as_json)


@app.command()
@handled
def resume(
    run_id: Annotated[str | None, typer.Argument(help="The run to resume.")] = None,
    all_interrupted: Annotated[bool, typer.Option("--all-interrupted", help="Resume every interrupted run.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Continue an interrupted run from its last checkpoint (safe to run again and again)."""
    a = _app()
    eng = a.engine(progress=None if as_json else _progress())
    if all_interrupted == bool(run_id):
        raise RebalanceError("give a RUN_ID or --all-interrupted (one of them)")
    if run_id:
        _finish(a, eng.resume(run_id), as_json)
    results = []
    worst = ec.OK
    for r in eng.interrupted():
        try:
            done = eng.resume(r.id)
            results.append({"id": r.id, "status": done.status.value, "state": done.state.value})
            worst = max(worst, ec.BY_STATUS[done.status])
        except RebalanceError as exc:
            results.append({"id": r.id, "error": exc.message})
            worst = max(worst, _code(exc))
            err.print(f"[yellow]{r.id}:[/] {exc.message}")
    if as_json:
        _emit({"resumed": results})
    else:
        out.print(f"{len(results)} interrupted run(s) handled" + "".join(
            f"\n  {x['id']}: {x.get('status', 'error')} {x.get('state', x.get('error', ''))}" for x in results))
    raise typer.Exit(worst)


@app.command()
@handled
def demo(
    keep_account: Annotated[bool, typer.Option(help="Keep the simulated account as it is (default: reset it).")]
    = False,
    as_json: JsonOpt = False,
) -> None:
    """Reset the simulated account to the bundled demo, set the demo targets, rebalance, show the timeline."""
    from adapters.sim.account import DEMO_DIR, SimAccount

    a = _app()
    if a.settings.broker == "kis":
        raise RebalanceError("demo runs only against the simulated account (REBALANCE_BROKER=kis-sim or sim)")
    if not keep_account:
        SimAccount.demo(a.settings.sim_account_path)
    targets = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
    with a.db.unit_of_work() as uow:
        uow.add_targets(targets, a.clock.now())
        uow.commit()
    eng = a.engine(progress=None if as_json else _progress())
    started = eng.start(account=a.broker().alias, max_phase=5, planner=a.settings.planner, actor="demo")
    if not as_json:
        err.print(f"demo run [bold]{started.id}[/] against the simulated account "
                  f"({a.settings.sim_account_path})")
        err.print(f"market: {market_description(a.settings)}; clock {a.clock.now():%Y-%m-%d %H:%M:%S} UTC")
    _finish(a, eng.run(started.id), as_json)


# ======================================================================= reading
@app.command()
@handled
def status(run_id: Annotated[str | None, typer.Argument()] = None, as_json: JsonOpt = False) -> None:
    """Active and interrupted runs (or one run) with state, age and lease holder."""
    a = _app()
    with a.db.unit_of_work() as uow:
        runs = [uow.get_run(run_id)] if run_id else uow.find_runs(statuses=["RUNNING", "BLOCKED"], limit=200)
    rows = [run_summary(r) for r in runs]
    if as_json:
        _emit({"runs": rows})
    else:
        runs_table(out, rows, a.clock.now(), "Run" if run_id else "Active and interrupted runs")


@app.command()
@handled
def show(run_id: str, as_json: JsonOpt = False) -> None:
    """A run's timeline: transitions with time and duration, plans, checks with reasons, orders and fills."""
    a = _app()
    view = _view(a, run_id)
    if as_json:
        _emit(view)
    else:
        show_run(out, view)


@app.command()
@handled
def history(limit: Annotated[int, typer.Option(min=1, max=1000)] = 20, as_json: JsonOpt = False) -> None:
    """Finished runs (table rebalancing_history)."""
    a = _app()
    with a.db.unit_of_work() as uow:
        rows = [h.model_dump(mode="json") for h in uow.history(limit=limit)]
    if as_json:
        _emit({"history": rows})
    else:
        history_table(out, rows)


@app.command()
def diagram(
    run_id: Annotated[str | None, typer.Option("--run", help="Highlight where this run is.")] = None,
    as_markdown: Annotated[bool, typer.Option("--markdown", help="The whole reference page (docs/state_machine.md).")]
    = False,
) -> None:
    """Print the state machine as a mermaid diagram, generated from the transition table."""
    if as_markdown:
        from statemachine.docs import markdown

        print(markdown(), end="")
        return
    current: RunState | None = None
    if run_id:
        @handled
        def _state() -> RunState:
            with _app().db.unit_of_work() as uow:
                return uow.get_run(run_id).state

        current = _state()
    print(mermaid(current))


# ======================================================================= config and targets
@config_app.command("get")
@handled
def config_get(as_json: JsonOpt = False) -> None:
    """Thresholds in force (the newest row)."""
    a = _app()
    with a.db.unit_of_work() as uow:
        th = uow.latest_thresholds()
    data = {"mp_threshold_percent": th.mp, "sub_mp_threshold_percent": th.sub_mp}
    if as_json:
        _emit(data)
    else:
        out.print(f"MP threshold {th.mp} pp, Sub-MP threshold {th.sub_mp} pp")


@config_app.command("set")
@handled
def config_set(
    mp_threshold: Annotated[str | None, typer.Option("--mp-threshold", help="0-100, percentage points")] = None,
    sub_mp_threshold: Annotated[str | None, typer.Option("--sub-mp-threshold", help="0-100, points of the class")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Append a thresholds row (append-only; the newest is in force)."""
    if mp_threshold is None and sub_mp_threshold is None:
        raise TargetsError("give --mp-threshold and/or --sub-mp-threshold", field="thresholds")
    a = _app()
    with a.db.unit_of_work() as uow:
        cur = uow.latest_thresholds()
        new = Thresholds(mp=cur.mp if mp_threshold is None else mp_threshold,
                         sub_mp=cur.sub_mp if sub_mp_threshold is None else sub_mp_threshold)
        uow.add_thresholds(new, a.clock.now())
        uow.commit()
    data = {"mp_threshold_percent": new.mp, "sub_mp_threshold_percent": new.sub_mp}
    if as_json:
        _emit(data)
    else:
        out.print(f"thresholds set: MP {new.mp} pp, Sub-MP {new.sub_mp} pp")


@targets_app.command("show")
@handled
def targets_show(as_json: JsonOpt = False) -> None:
    """The latest strategy decision."""
    a = _app()
    with a.db.unit_of_work() as uow:
        d = uow.latest_targets()
    if d is None:
        raise TargetsError("no targets yet: run 'targets set FILE'", field="targets")
    data = {"decided_at": d.decided_at.isoformat(), **d.targets.model_dump(mode="json", exclude={"decided_at"})}
    if as_json:
        _emit(data)
        return
    out.print(f"[bold]{d.targets.mp_id}[/] decided {d.decided_at:%Y-%m-%d %H:%M:%S} UTC")
    for c, p in d.targets.mp.items():
        subs = ", ".join(f"{t} {w:.0%}" for t, w in d.targets.sub_mp.get(c, {}).items())
        out.print(f"  {c:<13} {p:>6.2f}%   {subs}")


@targets_app.command("set")
@handled
def targets_set(file: Path, as_json: JsonOpt = False) -> None:
    """Record a new strategy decision from a JSON targets file (validated first; nothing written if bad)."""
    t = _read_targets(file)
    a = _app()
    with a.db.unit_of_work() as uow:
        d = uow.add_targets(t, a.clock.now())
        uow.commit()
    if as_json:
        _emit({"id": d.id, "mp_id": t.mp_id, "decided_at": d.decided_at.isoformat()})
    else:
        out.print(f"targets {t.mp_id} recorded (decision #{d.id})")


# ======================================================================= operators
@app.command()
@handled
def force(
    run_id: str,
    target: Annotated[str, typer.Argument(help="Target state (an operator edge of the table) or ABORTED.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit trail).")] = "",
    actor: Annotated[str, typer.Option(help="Who (recorded).")] = "operator",
    as_json: JsonOpt = False,
) -> None:
    """Move a run along an operator edge (refused otherwise, listing the allowed targets)."""
    a = _app()
    done = a.engine().force(run_id, target, reason=reason, actor=actor)
    if as_json:
        _emit(run_summary(done))
    else:
        out.print(f"run {run_id} is now {done.state} [{done.status}]; resume it to continue")


@app.command()
@handled
def abort(
    run_id: str,
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit trail).")] = "",
    actor: Annotated[str, typer.Option(help="Who (recorded).")] = "operator",
    as_json: JsonOpt = False,
) -> None:
    """Abort an active run (it sends nothing more; orders already filled stand)."""
    a = _app()
    done = a.engine().abort(run_id, reason=reason, actor=actor)
    if as_json:
        _emit(run_summary(done))
    else:
        out.print(f"run {run_id} aborted at {done.state}")


# ======================================================================= database
@db_app.command("upgrade")
@handled
def db_upgrade() -> None:
    """Migrate the database to the newest schema (PostgreSQL needs this; SQLite migrates itself)."""
    from adapters.db.connect import database_url, safe_url, upgrade

    assert state.settings is not None
    url = database_url(state.db or state.settings.database_url)
    rev = upgrade(url)
    out.print(f"{safe_url(url)} is at schema {rev}")


def entry() -> None:
    app()


# Commands kept in modules of their own register themselves on `app` when imported.
from adapters.cli import cmd_ops, cmd_plan, cmd_serve, cmd_sim  # noqa: E402,F401
