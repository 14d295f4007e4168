"""A worker: pulls account-rebalance jobs from the procrastinate queue and drives each with the
engine of that account (:func:`adapters.accounts_runtime.app_for`).

A job ``rebalance_account(alias, due_at)``:

1. resumes the account's interrupted runs (RUNNING, lease released or stale; a live lease held by
   another worker is left alone: :class:`LeaseHeld`);
2. with ``due_at``: unless the slot's claim already names a run (the job ran before, e.g. retried
   after its worker died) or the account has an active run, starts the run, writes its id on the
   claim, drives it and writes its outcome. The database keeps one active run per account (the
   unique index ``uq_runs_active_account``), whatever the workers do.

A killed worker: its run keeps a lease nobody renews. Every worker's sweeper (every
``sweep_s``) retries the queue's stalled jobs (their worker's heartbeat stopped) and enqueues a
resume of every RUNNING run whose lease is not live (at most one waiting per account); the job
resumes it from its last checkpoint through the engine's lease takeover (a new epoch fences the
dead owner's writes).

SIGTERM / SIGINT (:meth:`Worker.request_stop`): the engine finishes the step it is in, commits its
checkpoint and returns (the run stays RUNNING with its lease released, for the sweeper's resume);
the worker takes no new job and leaves.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import procrastinate

from adapters.bootstrap import App
from adapters.db.connect import Database
from adapters.runtime import lease_is_dead
from adapters.workers.queue import QUEUE, defer_async, enqueue_resume, register
from statemachine.engine import Engine
from statemachine.engine.leases import lease_is_live
from statemachine.errors import LeaseHeld, RebalanceError
from statemachine.ports import Clock
from statemachine.records import RunRecord
from statemachine.states import RunStatus

log = logging.getLogger("rebalance.workers")


class Worker:
    def __init__(self, *, queue_app: procrastinate.App, db: Database, clock: Clock,
                 app_for: Callable[[str], App], name: str, max_phase: int = 5, planner: str = "auto",
                 sweep_s: float = 5.0, heartbeat_s: float = 2.0, stalled_s: float = 10.0,
                 poll_s: float = 1.0) -> None:
        self.queue_app = queue_app
        self.db = db
        self.clock = clock
        self.app_for = app_for
        self.name = name
        self.max_phase = max_phase
        self.planner = planner
        self.sweep_s = sweep_s
        self.heartbeat_s = heartbeat_s
        self.stalled_s = stalled_s
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()
        self._pq_worker: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.jobs_done = 0
        register(queue_app, self.rebalance_account)

    # ------------------------------------------------------------------ stopping
    def request_stop(self) -> None:
        """Finish the current step, take no new job, leave (safe from a signal handler)."""
        self._stop.set()
        with self._engine_lock:
            if self._engine is not None:
                self._engine.request_stop()
        if self._pq_worker is not None:
            self._pq_worker.stop()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _engine_of(self, app: App) -> Engine:
        eng = app.engine()
        with self._engine_lock:
            self._engine = eng
            if self.stopping:
                eng.request_stop()
        return eng

    # ------------------------------------------------------------------ the job
    def rebalance_account(self, alias: str, due_at: str | None = None) -> str:
        """The job: resume the account's interrupted runs, then the due slot's run. Returns a line."""
        if self.stopping and self._loop is not None:  # taken as the worker stops: handed back untouched
            asyncio.run_coroutine_threadsafe(defer_async(self.queue_app, alias=alias, due_at=due_at),
                                             self._loop).result(timeout=30)
            return "handed back (worker stopping)"
        try:
            return self._job(alias, due_at)
        finally:
            with self._engine_lock:
                self._engine = None
            self.jobs_done += 1

    def _job(self, alias: str, due_at: str | None) -> str:
        app = self.app_for(alias)
        eng = self._engine_of(app)
        for r in eng.interrupted():
            if self.stopping:
                return "stopped"
            try:
                done = eng.resume(r.id)
                log.info("account %s: resumed run %s: %s", alias, r.id, done.status, extra={"run_id": r.id})
            except LeaseHeld as exc:
                log.info("account %s: not resuming %s: %s", alias, r.id, exc.message, extra={"run_id": r.id})
                return "lease held"
        if due_at is None or self.stopping:
            return "resumed"
        due = datetime.fromisoformat(due_at)
        with self.db.unit_of_work() as u:
            claim = u.get_claim(alias, due)
            active = u.find_runs(account=alias, statuses=[RunStatus.RUNNING.value, RunStatus.BLOCKED.value],
                                 limit=1)
        if claim is not None and claim.run_id:
            return f"slot already ran as {claim.run_id}"
        if active:
            return self._outcome(alias, due, f"skipped: run {active[0].id} is {active[0].status}")
        try:
            run = eng.start(account=alias, max_phase=self.max_phase, planner=self.planner, actor="worker")
        except RebalanceError as exc:
            return self._outcome(alias, due, f"not started: {exc.message}")
        with self.db.unit_of_work() as u:
            u.record_outcome(alias, due, run_id=run.id)
            u.commit()
        try:
            done = eng.run(run.id)
        except RebalanceError as exc:
            return self._outcome(alias, due, f"error: {exc.message}")
        if done.status is RunStatus.RUNNING:
            return self._outcome(alias, due, f"stopped at checkpoint {eng.get(run.id).state} (to be resumed)")
        return self._outcome(alias, due, done.status.value)

    def _outcome(self, alias: str, due: datetime, outcome: str) -> str:
        with self.db.unit_of_work() as u:
            u.record_outcome(alias, due, outcome=outcome)
            u.commit()
        log.info("account %s: slot %s: %s", alias, due.isoformat(), outcome)
        return outcome

    # ------------------------------------------------------------------ the sweeper
    def orphaned_runs(self) -> list[RunRecord]:
        """The RUNNING runs whose lease is not live (released, expired, or its holder dead)."""
        now = self.clock.now()
        with self.db.unit_of_work() as u:
            running = u.find_runs(statuses=[RunStatus.RUNNING.value], limit=10000)
        return [r for r in running if not lease_is_live(r, now, lease_is_dead)]

    async def sweep_runs(self) -> list[str]:
        """Enqueue a resume of every orphaned run (one waiting per account); the aliases enqueued."""
        out = []
        for r in await asyncio.to_thread(self.orphaned_runs):
            if await enqueue_resume(self.queue_app, r.account) is not None:
                log.info("run %s of %s has no live lease: resume enqueued", r.id, r.account, extra={"run_id": r.id})
                out.append(r.account)
        return out

    async def _sweep_once(self) -> None:
        jm = self.queue_app.job_manager
        for job in await jm.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=self.stalled_s):
            log.warning("job %s (%s) lost its worker: retried", job.id, job.task_kwargs.get("alias"))
            await jm.retry_job(job)
        await self.sweep_runs()

    async def _sweeper(self) -> None:
        while not self.stopping:
            try:
                await self._sweep_once()
            except Exception:  # noqa: BLE001 - the sweeper never stops the worker
                log.exception("sweep failed")
            await asyncio.sleep(self.sweep_s)

    # ------------------------------------------------------------------ serving
    async def serve_async(self, *, wait: bool = True, signals: bool = True) -> None:
        self._loop = asyncio.get_running_loop()
        if signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(sig, self.request_stop)
        async with self.queue_app.open_async():
            self._pq_worker = self.queue_app._worker(  # noqa: SLF001 - to stop it with the engine
                queues=[QUEUE], name=self.name, concurrency=1, wait=wait, install_signal_handlers=False,
                fetch_job_polling_interval=self.poll_s, abort_job_polling_interval=max(self.poll_s, 1.0),
                update_heartbeat_interval=self.heartbeat_s, stalled_worker_timeout=self.stalled_s,
                listen_notify=True)
            sweeper = asyncio.create_task(self._sweeper()) if wait else None
            if self.stopping:
                self._pq_worker.stop()
            try:
                await self._pq_worker.run()
            finally:
                self._stop.set()
                if sweeper is not None:
                    sweeper.cancel()
                    await asyncio.gather(sweeper, return_exceptions=True)
        log.info("worker %s stopped after %d job(s)", self.name, self.jobs_done)

    def serve(self, *, wait: bool = True) -> None:
        asyncio.run(self.serve_async(wait=wait))
