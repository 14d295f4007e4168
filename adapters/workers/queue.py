"""The job queue of the workers: procrastinate over the project's PostgreSQL database.

One task, ``rebalance_account(alias, due_at=None)``, on the queue ``rebalance``: resume the
account's interrupted runs, then (with ``due_at``) start and drive the run of that scheduled slot.
Its schema is applied by the Alembic migration 0009; nothing here creates tables.

* :func:`enqueue_due` is the schedule on PostgreSQL: for each due account it claims the slot in
  ``schedule_claims`` (unique per account and due time: with any number of schedulers exactly one
  wins) and the winner defers the job. The claim row says who enqueued it.
* :func:`enqueue_resume` defers a resume of an account's interrupted run, at most one waiting per
  account (procrastinate's queueing lock ``resume:<alias>``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued

from adapters.db.connect import Database
from adapters.kis.shared_limits import libpq_url

log = logging.getLogger("rebalance.workers")

QUEUE = "rebalance"
TASK = "rebalance_account"


def make_queue_app(db_url: str) -> procrastinate.App:
    """A procrastinate App on the database (not opened)."""
    return procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq_url(db_url)))


def register(app: procrastinate.App, handler: Callable[..., Any]) -> procrastinate.tasks.Task[Any, Any, Any]:
    """Register the one task the workers run, ``handler(alias, due_at=None)``."""
    return app.task(name=TASK, queue=QUEUE, pass_context=False)(handler)


def _task(app: procrastinate.App) -> procrastinate.tasks.Task[Any, Any, Any]:
    task = app.tasks.get(TASK)
    return task if task is not None else register(app, _not_here)


def _defer(app: procrastinate.App, *, queueing_lock: str | None = None, **kwargs: Any) -> int:
    """Defer ``rebalance_account`` (sync: inside ``with app.open()``)."""
    job_id: int = _task(app).configure(queueing_lock=queueing_lock).defer(**kwargs)
    return job_id


async def defer_async(app: procrastinate.App, *, queueing_lock: str | None = None, **kwargs: Any) -> int | None:
    """Defer ``rebalance_account`` from the worker's loop; None when the queueing lock is taken."""
    try:
        job_id: int = await _task(app).configure(queueing_lock=queueing_lock).defer_async(**kwargs)
    except AlreadyEnqueued:
        return None
    return job_id


def _not_here(alias: str, due_at: str | None = None) -> None:  # pragma: no cover - never run here
    raise RuntimeError("rebalance_account runs in a worker")


@dataclass(frozen=True)
class Enqueued:
    alias: str
    due_at: datetime
    won: bool  # this scheduler claimed the slot (and deferred the job)
    job_id: int | None
    claimed_by: str


def enqueue_due(app: procrastinate.App, db: Database, due: Iterable[tuple[str, datetime]], *, owner: str,
                now: datetime) -> list[Enqueued]:
    """One job per due (account, due time), whatever other schedulers do: the slot's claim decides."""
    out = []
    with app.open():
        for alias, due_at in due:
            out.append(_enqueue_one(app, db, alias, due_at, owner=owner, now=now))
    return out


def _enqueue_one(app: procrastinate.App, db: Database, alias: str, due_at: datetime, *, owner: str,
                 now: datetime) -> Enqueued:
    with db.unit_of_work() as u:
        won, claim = u.claim_slot(alias, due_at, owner, now)
        u.commit()
    job_id = None
    if won:
        job_id = _defer(app, alias=alias, due_at=due_at.isoformat())
        with db.unit_of_work() as u:
            u.record_outcome(alias, due_at, outcome=f"enqueued as job {job_id}")
            u.commit()
        log.info("account %s: run due at %s enqueued (job %s)", alias, due_at.isoformat(), job_id)
    return Enqueued(alias, due_at, won, job_id, claim.claimed_by)


async def enqueue_resume(app: procrastinate.App, alias: str) -> int | None:
    """Defer a resume of the account's interrupted run unless one is already waiting."""
    return await defer_async(app, queueing_lock=f"resume:{alias}", alias=alias)
