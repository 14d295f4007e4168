"""``run_rebalance.py``: the command line. Commands translate input into a use case of
:mod:`statemachine.application` and errors into one clear line and an exit code (see
:mod:`adapters.cli.exit_codes`); the shared pieces are in :mod:`adapters.cli.context`.

This module holds the commands that run and read runs; the others live in ``cmd_*`` modules,
imported at the end so that every command is registered on the one ``app``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from adapters.bootstrap import market_description
from adapters.cli import exit_codes as ec
from adapters.cli.context import (
    AccountOpt,
    JsonOpt,
    app,
    db_app,
    emit,
    empty_hint,
    err,
    error_code,
    finish,
    get_app,
    handled,
    out,
    progress,
    read_targets,
    state,
)
from adapters.cli.guards import check_planner_usable
from adapters.cli.messages import cli_error, tr
from adapters.cli.render import history_table, runs_table, show_run
from statemachine.application import commands, queries
from statemachine.errors import RebalanceError, TargetsError
from statemachine.machine import mermaid
from statemachine.models import Targets
from statemachine.policies import Policy
from statemachine.states import MAX_PHASE, RunState
from statemachine.timeline import run_summary


def _check_planner(name: str | None) -> None:
    from adapters.bootstrap import PLANNER_NAMES

    if name is not None and name not in PLANNER_NAMES:
        raise cli_error(TargetsError, "run.unknown_planner", {"field": "planner"}, name=name,
                        choices=", ".join(PLANNER_NAMES))


# ======================================================================= running
@app.command()
@handled
def run(
    max_phase: Annotated[int, typer.Option("--max-phase", min=1, max=5, help="; ".join(
        f"{p.max_phase}: stop in {p.state.value} ({p.doc})" for p in MAX_PHASE.values()))] = 5,
    planner: Annotated[str | None, typer.Option(help="auto | optimal | greedy | gemini")] = None,
    targets: Annotated[Path | None, typer.Option(help="Use this targets file instead of the latest decision.")] = None,
    account: AccountOpt = None,
    policy: Annotated[str | None, typer.Option(help="threshold | calendar | band-edge | cost-aware | "
                                               "volatility-aware, or JSON with parameters (default REBALANCE_POLICY)")
                      ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a rebalance of the configured account (or --account ALIAS) and drive it until it stops."""
    t = read_targets(targets) if targets else None
    chosen = Policy.parse(policy) if policy else None
    _check_planner(planner)
    a = get_app(account)
    check_planner_usable(planner or a.settings.planner, a.settings)
    eng = a.engine(progress=None if as_json else progress())
    started = commands.start_run(eng, max_phase=max_phase, planner=planner or a.settings.planner, actor="cli",
                                 targets=t, policy=chosen)
    if not as_json:
        err.print(tr("run.started", id=started.id, max_phase=max_phase))
    finish(a, commands.drive(eng, started.id), as_json)


@app.command()
@handled
def resume(
    run_id: Annotated[str | None, typer.Argument(help="The run to resume.")] = None,
    all_interrupted: Annotated[bool, typer.Option("--all-interrupted", help="Resume every interrupted run.")] = False,
    account: AccountOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Continue an interrupted run from its last checkpoint (safe to run again and again)."""
    if run_id and account is None:
        from adapters.accounts_runtime import stored_account_of_run

        account = stored_account_of_run(get_app(), run_id)  # a stored account's run: its own set-up
    a = get_app(account)
    eng = a.engine(progress=None if as_json else progress())
    if all_interrupted == bool(run_id):
        raise cli_error(RebalanceError, "resume.one_of")
    if run_id:
        finish(a, commands.resume(eng, run_id), as_json)
    results = []
    worst = ec.OK
    for r in eng.interrupted():
        try:
            done = commands.resume(eng, r.id)
            results.append({"id": r.id, "status": done.status.value, "state": done.state.value})
            worst = max(worst, ec.BY_STATUS[done.status])
        except RebalanceError as exc:
            results.append({"id": r.id, "error": exc.message})
            worst = max(worst, error_code(exc))
            err.print(f"[yellow]{r.id}:[/] {exc.message}")
    if as_json:
        emit({"resumed": results})
    else:
        out.print(tr("resume.handled", count=len(results)) + "".join(
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

    a = get_app()
    if a.settings.broker == "kis":
        raise cli_error(RebalanceError, "demo.only_sim")
    if not keep_account:
        SimAccount.demo(a.settings.sim_account_path)
    targets = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
    commands.set_targets(a.db.unit_of_work, a.clock, targets, decided_by="demo")
    eng = a.engine(progress=None if as_json else progress())
    started = commands.start_run(eng, max_phase=5, planner=a.settings.planner, actor="demo")
    if not as_json:
        err.print(tr("demo.started", id=started.id, path=a.settings.sim_account_path))
        err.print(tr("demo.market", market=market_description(a.settings), clock=f"{a.clock.now():%Y-%m-%d %H:%M:%S}"))
    finish(a, commands.drive(eng, started.id), as_json)


# ======================================================================= reading
@app.command()
@handled
def status(run_id: Annotated[str | None, typer.Argument()] = None, as_json: JsonOpt = False) -> None:
    """Active and interrupted runs (or one run) with state, age and lease holder."""
    from adapters.liveness import lease_probe

    a = get_app(read_only=True)
    rows = queries.run_statuses(a.db.unit_of_work, run_id, lease=lease_probe(a))
    if as_json:
        emit({"runs": rows})
    else:
        runs_table(out, rows, a.clock.now(), tr("status.title_one") if run_id else tr("status.title_all"))
        if not run_id and not queries.list_runs(a.db.unit_of_work, limit=1):
            empty_hint([])


@app.command()
@handled
def show(run_id: str, as_json: JsonOpt = False) -> None:
    """A run's timeline: transitions with time and duration, plans, checks with reasons, orders and fills."""
    view = queries.run_timeline(get_app(read_only=True).db.unit_of_work, run_id)
    if as_json:
        emit(view)
    else:
        show_run(out, view)


@app.command()
@handled
def history(limit: Annotated[int, typer.Option(min=1, max=1000)] = 20, as_json: JsonOpt = False) -> None:
    """Finished runs (table rebalancing_history) and the LLM's cost.

    Each row carries its run's LLM tokens and estimated price (list prices, USD); below the table,
    one line per recent month."""
    uow = get_app(read_only=True).db.unit_of_work
    rows = queries.history(uow, limit)
    months = queries.llm_cost_by_month(uow)
    if as_json:
        emit({"history": rows, "llm_cost_by_month": months})
    else:
        history_table(out, rows, months)
        empty_hint(rows)


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
            return queries.run_state(get_app(read_only=True).db.unit_of_work, run_id)

        current = _state()
    print(mermaid(current))


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
    done = commands.force(get_app().engine(), run_id, target, reason=reason, actor=actor)
    if as_json:
        emit(run_summary(done))
    else:
        out.print(tr("force.done", id=run_id, state=done.state, status=done.status))


@app.command()
@handled
def abort(
    run_id: str,
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit trail).")] = "",
    actor: Annotated[str, typer.Option(help="Who (recorded).")] = "operator",
    as_json: JsonOpt = False,
) -> None:
    """Abort an active run (it sends nothing more; orders already filled stand)."""
    done = commands.abort(get_app().engine(), run_id, reason=reason, actor=actor)
    if as_json:
        emit(run_summary(done))
    else:
        out.print(tr("abort.done", id=run_id, state=done.state))


# ======================================================================= database
@db_app.command("upgrade")
@handled
def db_upgrade() -> None:
    """Migrate the database to the newest schema (PostgreSQL needs this; SQLite migrates itself)."""
    from adapters.db.connect import database_url, safe_url, upgrade

    assert state.settings is not None
    url = database_url(state.db or state.settings.database_url)
    rev = upgrade(url)
    out.print(tr("db.at_schema", url=safe_url(url), rev=rev))


def entry() -> None:
    app()


# The other commands register themselves on `app` when imported (they import only context).
import adapters.cli.cmd_accounts  # noqa: E402,F401  (issue 19: accounts, portfolios)
import adapters.cli.cmd_worker  # noqa: E402,F401  (issue 19: worker, enqueue-due)
from adapters.cli import cmd_backtest, cmd_config, cmd_ops, cmd_plan, cmd_serve, cmd_sim  # noqa: E402,F401
