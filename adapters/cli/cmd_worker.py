"""``worker`` and ``enqueue-due``: many accounts on PostgreSQL, with a job queue (procrastinate).

``worker`` pulls account-rebalance jobs and drives each with that account's engine; SIGTERM
finishes the current step and leaves. ``enqueue-due`` is the schedule for the workers: each due
account gets one job, however many of these run. SQLite keeps the single-machine ``schedule``.
See docs/operating.md, "Workers".
"""

from __future__ import annotations

from typing import Annotated

import typer

from adapters.cli import exit_codes as ec
from adapters.cli.context import app, err, handled, state


def _pg_setup():  # -> (settings scoped to the URL, Database, clock, url)
    from adapters.bootstrap import bootstrap
    from adapters.db.connect import database_url
    from adapters.kis.shared_limits import is_postgres

    assert state.settings is not None
    url = database_url(state.db or state.settings.database_url)
    if not is_postgres(url):
        err.print("[red]error:[/] workers need PostgreSQL (REBALANCE_DATABASE_URL or --db postgresql://...); "
                  "on SQLite 'schedule' drives every account in one process")
        raise typer.Exit(ec.BAD_INPUT)
    settings = state.settings.model_copy(update={"database_url": url})
    base = bootstrap(settings, db_url=url)
    return settings, base, url


@app.command()
@handled
def worker(
    name: Annotated[str, typer.Option(help="This worker's name in the queue's tables and logs.")] = "",
    max_phase: Annotated[int, typer.Option(help="Stop each run after this phase (5: everything).")] = 5,
    sweep_s: Annotated[float, typer.Option(help="Seconds between sweeps for stalled jobs and runs.")] = 5.0,
    stalled_s: Annotated[float, typer.Option(help="A worker silent this long is dead; its job is retried.")] = 10.0,
    burst: Annotated[bool, typer.Option(help="Leave once the queue is empty (tests, benches).")] = False,
) -> None:
    """Run account rebalances pulled from the job queue (PostgreSQL) until SIGTERM."""
    from adapters.accounts_runtime import app_for
    from adapters.runtime import lease_owner
    from adapters.workers.queue import make_queue_app
    from adapters.workers.worker import Worker

    settings, base, url = _pg_setup()
    w = Worker(queue_app=make_queue_app(url), db=base.db, clock=base.clock,
               app_for=lambda alias: app_for(settings, alias, db=base.db, clock=base.clock),
               name=name or f"worker:{lease_owner()}", max_phase=max_phase, planner=settings.planner,
               sweep_s=sweep_s, heartbeat_s=max(0.5, stalled_s / 5), stalled_s=stalled_s)
    err.print(f"worker {w.name} on queue 'rebalance' ({'until empty' if burst else 'until SIGTERM'})")
    w.serve(wait=not burst)


@app.command("enqueue-due")
@handled
def enqueue_due_cmd(
    loop: Annotated[bool, typer.Option(help="Keep going: one pass every --poll-s seconds until Ctrl-C.")] = False,
    poll_s: Annotated[float, typer.Option(help="Seconds between passes with --loop.")] = 30.0,
) -> None:
    """Enqueue one rebalance job per due account (exactly once, however many schedulers run)."""
    from adapters.runtime import lease_owner
    from adapters.workers.queue import make_queue_app
    from adapters.workers.schedule import enqueue_pass

    settings, base, url = _pg_setup()
    queue_app, owner = make_queue_app(url), f"enqueuer:{lease_owner()}"
    while True:
        for e in enqueue_pass(queue_app, settings, base.db, base.clock, owner=owner):
            err.print(f"{e.alias}: due {e.due_at.isoformat()} " + (
                f"enqueued (job {e.job_id})" if e.won else f"already enqueued by {e.claimed_by}"))
        if not loop:
            return
        base.clock.sleep(poll_s)
