"""The engine: walks a run through the transition table, one committed checkpoint per step.

Each step reads only what earlier steps stored (so a resumed run sees exactly what the
interrupted one saw), talks to the world only through ports, and returns an :class:`Outcome`.
:meth:`Engine._commit` then writes the new state, the audit row, the step's outputs, the plan
attempt and, for a finished run, the history row, in ONE transaction guarded by the run's
sequence number. A step that raises leaves the stored state where it was and records the error.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from . import CHECKPOINT_FORMAT, ENGINE_VERSION
from .drift import drift_report
from .errors import (
    DomainError,
    IncompatibleCheckpoint,
    LeaseHeld,
    RebalanceError,
    RunFinished,
    SafetyStop,
    TargetsError,
    TransitionError,
)
from .limits import check_limits, limit_failures
from .machine import RunMachine, force_edge
from .models import (
    CheckResult,
    DriftReport,
    OrderRecord,
    OrderStatus,
    Plan,
    PlanningContext,
    Side,
    Snapshot,
    Targets,
    Thresholds,
)
from .orders import OrderExecutor, broker_day, cancel_open_orders, ticker_results
from .ports import Broker, Clock, Hooks, NoHooks, PlannerFactory, UnitOfWork
from .projection import apply_trades
from .records import Fence, HistoryRecord, PlanAttemptRecord, RunRecord, TransitionRecord
from .replay import check_replay
from .rules import check_plan, failures, passed
from .settings import EngineSettings
from .states import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    MAX_PLAN_ATTEMPTS,
    RunState,
    RunStatus,
    stop_state,
)
from .step_records import BlockedRecord, CancelledOpenOrders, Cash, Fill, Fills, StepOutputs, fills_kind

log = logging.getLogger("rebalance.engine")
Guard = Callable[[RunRecord], None]
#: The run this thread is driving, for log lines of libraries that know nothing of runs.
current_run_id: ContextVar[str | None] = ContextVar("current_run_id", default=None)


@dataclass
class Outcome:
    """What a step produced. ``trigger=None`` records a status change without moving."""

    trigger: str | None
    outputs: dict[str, BaseModel] = field(default_factory=dict)  # kind -> record (statemachine.step_records)
    status: RunStatus | None = None
    error: str | None = None
    reason: str | None = None
    run_fields: dict[str, Any] = field(default_factory=dict)
    new_attempt: PlanAttemptRecord | None = None
    attempt_update: tuple[Side, int, dict[str, Any]] | None = None
    audit: str | None = None  # name of the audit row when trigger is None


class RunLog(logging.LoggerAdapter):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs.setdefault("extra", {})["run_id"] = self.extra["run_id"]  # type: ignore[index]
        return msg, kwargs


def run_log(run_id: str) -> RunLog:
    return RunLog(log, {"run_id": run_id})


class Engine:
    def __init__(self, uow: Callable[[], AbstractContextManager[UnitOfWork]], broker: Broker,
                 planners: PlannerFactory, clock: Clock, settings: EngineSettings | None = None,
                 hooks: Hooks | None = None, owner: str | None = None,
                 lease_is_dead: Callable[[str], bool] | None = None, guards: list[Guard] | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.uow = uow
        self.broker = broker
        self.planners = planners
        self.clock = clock
        self.settings = settings or EngineSettings()
        self.hooks = hooks or NoHooks()
        self.owner = owner or f"engine:{uuid.uuid4().hex[:8]}"
        self.lease_is_dead = lease_is_dead or (lambda owner: False)
        self.guards = guards or []
        self.progress = progress or (lambda msg: None)
        self._stop_requested = threading.Event()
        #: run id -> the (owner, epoch) this engine got when it took the run's lease; every write
        #: about the run carries it, so once another runner took over, this engine writes nothing.
        self._fences: dict[str, Fence] = {}

    def request_stop(self) -> None:
        """Ask :meth:`run` to return after the current step commits (safe from a signal handler).

        The run stays RUNNING at that checkpoint with its lease released, for ``resume``."""
        self._stop_requested.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested.is_set()

    # ============================================================ public commands
    def start(self, *, account: str, max_phase: int = 5, planner: str = "auto", actor: str = "cli",
              targets: Targets | None = None, thresholds: Thresholds | None = None) -> RunRecord:
        """Create a run (state CREATED) holding the account's one active slot and its lease."""
        stop_state(max_phase)  # validates
        now = self.clock.now()
        with self.uow() as uow:
            if targets is None:
                decision = uow.latest_targets()
                if decision is None:
                    raise TargetsError("no targets: set them with 'targets set FILE' first", field="targets")
                targets = decision.targets
            thresholds = thresholds or uow.latest_thresholds()
            run = RunRecord(
                id=_new_run_id(now), account=account, state=RunState.CREATED, status=RunStatus.RUNNING,
                seq=0, max_phase=max_phase, planner=planner, actor=actor, thresholds=thresholds,
                targets=targets, engine_version=ENGINE_VERSION, checkpoint_format=CHECKPOINT_FORMAT,
                lease_owner=self.owner, lease_expires_at=now + timedelta(seconds=self.settings.lease_ttl_s),
                lease_epoch=1, created_at=now, updated_at=now,
            )
            fence = Fence(self.owner, run.lease_epoch)
            uow.add_run(run)
            uow.add_transition(TransitionRecord(run_id=run.id, seq=0, trigger="start", source="-",
                                                dest=RunState.CREATED.value, actor=actor,
                                                reason=f"max_phase={max_phase} planner={planner}", at=now,
                                                status=RunStatus.RUNNING.value), fence=fence)
            uow.commit()
        self._fences[run.id] = fence
        run_log(run.id).info("run started for %s: max_phase=%d planner=%s thresholds mp=%.2f sub_mp=%.2f",
                             account, max_phase, planner, thresholds.mp, thresholds.sub_mp)
        return run

    def get(self, run_id: str) -> RunRecord:
        with self.uow() as uow:
            return uow.get_run(run_id)

    def run(self, run_id: str) -> RunRecord:
        """Drive a run this engine holds the lease of until it stops, finishes or blocks."""
        heartbeat = _Heartbeat(self, run_id)
        heartbeat.start()
        token = current_run_id.set(run_id)
        try:
            while True:
                run = self.get(run_id)
                if run.status is not RunStatus.RUNNING:
                    return run
                if self.stop_requested:
                    run_log(run.id).warning("stop requested: run left RUNNING at %s (checkpoint %d); resume "
                                            "it to continue", run.state, run.seq)
                    return run
                self._renew(run)
                if self._guard(run):  # a guard aborted the run: run no step on the stale record
                    return self.get(run_id)
                step = self._steps()[run.state]
                t0 = self.clock.monotonic()
                rl = run_log(run.id)
                try:
                    outcome = step(run)
                except SafetyStop as exc:
                    self._abort(run, reason=exc.message, actor="safety")
                    raise
                except LeaseHeld:
                    raise  # another process drives the run now: write nothing on it
                except Exception as exc:
                    self._record_error(run, exc)
                    raise
                rl.debug("step %s took %.3fs", run.state, self.clock.monotonic() - t0)
                self._commit(run, outcome, int((self.clock.monotonic() - t0) * 1000))
        finally:
            current_run_id.reset(token)
            heartbeat.stop()
            self._release(run_id)

    def resume(self, run_id: str) -> RunRecord:
        """Continue an interrupted run from its last checkpoint; safe to call again and again."""
        run = self.get(run_id)
        self._check_resumable(run)
        if run.status is RunStatus.BLOCKED:
            return run
        fence = self._take_lease(run)
        if fence.epoch != run.lease_epoch:  # taken from another runner (or free): it may have a send in flight
            self._await_pending_sends(run)
        run_log(run.id).info("resuming from %s (checkpoint %d, lease epoch %d)", run.state, run.seq, fence.epoch)
        return self.run(run_id)

    def check_resumable(self, run_id: str) -> RunRecord:
        """Raise what :meth:`resume` would refuse with (wrong account, old format, finished); else the run."""
        run = self.get(run_id)
        self._check_resumable(run)
        return run

    def interrupted(self) -> list[RunRecord]:
        """Runs of this engine's account left RUNNING (their process died or was stopped)."""
        with self.uow() as uow:
            return uow.find_runs(account=self.broker.alias, statuses=[RunStatus.RUNNING.value], limit=1000)

    def force(self, run_id: str, target: str, *, reason: str, actor: str) -> RunRecord:
        """Move a run along an operator edge of the table (or abort it), recording who and why."""
        if not reason or not reason.strip():
            raise TransitionError("force needs a reason", field="reason")
        run = self.get(run_id)
        if run.status not in ACTIVE_STATUSES and not (run.status is RunStatus.FAILED
                                                      and run.state in (RunState.SELL_PLANNED, RunState.BUY_PLANNED)):
            raise RunFinished(f"run {run_id} is {run.status}; nothing to force", run_id=run_id)
        edge = force_edge(run.state, target)
        if edge is None:
            return self.abort(run_id, reason=reason, actor=actor)
        self._take_lease(run, allow_blocked=True)
        fields: dict[str, Any] = {"finished_at": None}
        if edge.trigger == "force_replan_sells":
            fields["sell_attempts"] = 0
        if edge.trigger == "force_replan_buys":
            fields["buy_attempts"] = 0
        outputs: dict[str, BaseModel] = {}
        if edge.dest is RunState.CASH_FETCHED and "cash" not in self._outputs(run):
            outputs = self._fetch_cash(run).outputs  # sells done by hand: buys plan on the cash read now
        # the forward path's last state has no step: an operator who says the buys were done ends the run
        status = RunStatus.RUNNING if edge.dest in self._steps() else RunStatus.SUCCEEDED
        outcome = Outcome(trigger=None, status=status, reason=reason, run_fields=fields, outputs=outputs)
        self._commit(run, outcome, None, forced=(edge.trigger, edge.dest), actor=actor)
        self._release(run_id)
        run_log(run_id).warning("forced %s -> %s by %s: %s", run.state, edge.dest, actor, reason)
        return self.get(run_id)

    def abort(self, run_id: str, *, reason: str, actor: str) -> RunRecord:
        if not reason or not reason.strip():
            raise TransitionError("abort needs a reason", field="reason")
        run = self.get(run_id)
        if run.status not in ACTIVE_STATUSES:
            raise RunFinished(f"run {run_id} is already {run.status}; it cannot be aborted", run_id=run_id)
        # An operator's abort is authoritative: it takes the lease even from a live runner, whose
        # epoch is thereby fenced (its next write about the run raises LeaseHeld and writes nothing).
        # Except while that runner has a send in flight: fenced then, it could not record the
        # broker's answer, and an order placed would be known to no run. The kill switch stops such
        # a runner before its next order, after it recorded this one.
        inflight = self._send_in_flight(run)
        holder_live = (run.lease_owner not in (None, self.owner) and run.lease_expires_at is not None
                       and run.lease_expires_at > self.clock.now() and not self.lease_is_dead(run.lease_owner))
        if inflight and holder_live:
            order, until = inflight
            raise LeaseHeld(f"run {run_id} has a send in flight ({order.side.value} {order.ticker} x{order.quantity}) "
                            f"by its live runner {run.lease_owner}; aborting now would leave that order unrecorded. "
                            f"Set the kill switch (the runner stops before its next order) or abort again after "
                            f"{until:%H:%M:%S} UTC", run_id=run_id, owner=run.lease_owner)
        self._take_lease(run, steal=True)
        try:
            self._abort(run, reason=reason, actor=actor)
        finally:
            self._release(run_id)
        return self.get(run_id)

    # ============================================================ leases and guards
    def _check_resumable(self, run: RunRecord) -> None:
        if run.account != self.broker.alias:
            raise DomainError(f"run {run.id} belongs to account {run.account}, but this process is configured for "
                              f"{self.broker.alias}; resume it with that account's settings", run_id=run.id)
        if run.checkpoint_format != CHECKPOINT_FORMAT:
            raise IncompatibleCheckpoint(
                f"run {run.id} was written with checkpoint format {run.checkpoint_format} (engine "
                f"{run.engine_version}); this engine reads format {CHECKPOINT_FORMAT}. Resume it with engine "
                f"{run.engine_version}, or abort it and start a new run", run_id=run.id)
        if run.status in FINAL_STATUSES:
            raise RunFinished(f"run {run.id} already finished with status {run.status}; nothing to resume",
                              run_id=run.id, status=run.status.value)
        with self.uow() as uow:  # one read: the run, its steps and its outputs as one committed whole
            fresh, steps, kinds = uow.get_run(run.id), uow.transitions(run.id), set(uow.outputs(run.id))
        check_replay(fresh, steps, kinds)

    def _take_lease(self, run: RunRecord, allow_blocked: bool = False, steal: bool = False) -> Fence:
        """Take the run's lease (a new owner gets a new epoch) and keep the fence for every write."""
        with self.uow() as uow:
            fence = uow.acquire_lease(run.id, self.owner, self.clock.now(), self.settings.lease_ttl_s,
                                      steal_if=(lambda owner: True) if steal else self.lease_is_dead)
            uow.commit()
        if fence is None:
            fresh = self.get(run.id)
            expires = f"{fresh.lease_expires_at:%H:%M:%S}" if fresh.lease_expires_at else "-"
            raise LeaseHeld(f"run {run.id} is being driven by {fresh.lease_owner} (lease until {expires}); not "
                            f"touching it", run_id=run.id, owner=fresh.lease_owner)
        if run.lease_owner not in (None, self.owner) and fence.epoch != run.lease_epoch:
            run_log(run.id).warning("took the lease of run %s over from %s (epoch %d -> %d)", run.id,
                                    run.lease_owner, run.lease_epoch, fence.epoch)
        self._fences[run.id] = fence
        return fence

    def _fence(self, run_id: str) -> Fence:
        """The fence this engine writes about ``run_id`` with; LeaseHeld when it never took the lease.

        An engine that did not take the lease itself (``run`` called by another object of the same
        owner) adopts the stored fence only if the stored owner is this engine's owner."""
        fence = self._fences.get(run_id)
        if fence is None:
            stored = self.get(run_id).fence
            if stored is None or stored.owner != self.owner:
                raise LeaseHeld(f"{self.owner} does not hold the lease of run {run_id} (held by "
                                f"{stored or 'nobody'}); take it first", run_id=run_id)
            fence = self._fences.setdefault(run_id, stored)
        return fence

    def _renew(self, run: RunRecord) -> None:
        """Extend the lease this engine holds; fails once anyone else took it (or it was released)."""
        fence = self._fence(run.id)
        with self.uow() as uow:
            ok = uow.renew_lease(run.id, fence, self.clock.now(), self.settings.lease_ttl_s)
            if not ok:
                current = uow.get_run(run.id)
            uow.commit()
        if not ok:
            raise LeaseHeld(f"{fence.owner} lost the lease of run {run.id} (its epoch {fence.epoch}): another "
                            f"runner took over (epoch {current.lease_epoch}, held by "
                            f"{current.lease_owner or 'nobody now'}); not sending or writing anything more",
                            run_id=run.id, owner=current.lease_owner, epoch=current.lease_epoch)

    def _release(self, run_id: str) -> None:
        """Give the lease up, if this engine still holds it (a fenced runner has nothing to release)."""
        fence = self._fences.pop(run_id, None)
        if fence is None:
            return
        try:
            with self.uow() as uow:
                uow.release_lease(run_id, fence)
                uow.commit()
        except LeaseHeld as exc:
            run_log(run_id).warning("lease not released: %s", exc.message)

    def _send_in_flight(self, run: RunRecord) -> tuple[OrderRecord, datetime] | None:
        """The newest pending send (INTENT or UNKNOWN, sent at least once) whose outcome may still
        show at the broker, with the moment that stops being possible (its start plus
        ``send_timeout_s + settle_window_s``); None when there is none."""
        with self.uow() as uow:
            pending = [o for o in uow.orders(run.id)
                       if o.status in (OrderStatus.INTENT, OrderStatus.UNKNOWN) and o.sends > 0]
        if not pending:
            return None
        last = max(pending, key=lambda o: o.send_started_at or o.updated_at or o.created_at)
        started = last.send_started_at or last.updated_at or last.created_at
        until = started + timedelta(seconds=self.settings.send_timeout_s + self.settings.settle_window_s)
        return (last, until) if until > self.clock.now() else None

    def _await_pending_sends(self, run: RunRecord) -> None:
        """After a takeover, wait out a send the previous runner may still have in flight.

        A runner frozen mid-send (SIGSTOP, a long GC pause, a partitioned host) loses its lease, but
        its request may still reach the broker, and the broker's order list may show it only later.
        Reconciling before then would find nothing and send the order a second time. So a new owner
        waits until the newest pending send (INTENT or UNKNOWN, sent at least once) is older than
        ``send_timeout_s + settle_window_s``, renewing its own lease meanwhile."""
        inflight = self._send_in_flight(run)
        if inflight is None:
            return
        last, until = inflight
        started = last.send_started_at or last.updated_at or last.created_at
        left = (until - self.clock.now()).total_seconds()
        run_log(run.id).warning(
            "took run %s over with a send in flight: %s %s x%d (%s, send started %s); waiting %.1fs, until its "
            "deadline plus the settle window (%gs + %gs) has passed, before reconciling, so that the earlier "
            "runner's order, if it reached the broker, shows in the order list and is not sent twice",
            run.id, last.side.value, last.ticker, last.quantity, last.status.value, f"{started:%H:%M:%S}", left,
            self.settings.send_timeout_s, self.settings.settle_window_s)
        step = max(0.5, self.settings.lease_ttl_s / 3)
        while (left := (until - self.clock.now()).total_seconds()) > 0:
            self.clock.sleep(min(left, step))
            self._renew(run)

    def _guard(self, run: RunRecord) -> bool:
        """Run the guards; True when one of them stopped (and aborted) the run."""
        for guard in self.guards:
            try:
                guard(run)
            except SafetyStop as exc:
                run_log(run.id).error("safety stop: %s", exc.message)
                self._abort(run, reason=exc.message, actor="safety")
                return True
        return False

    def _order_guard(self, run_id: str) -> None:
        run = self.get(run_id)
        if run.status is not RunStatus.RUNNING:
            raise SafetyStop(f"run {run_id} is {run.status}; no further orders", run_id=run_id)
        for guard in self.guards:
            guard(run)

    # ============================================================ committing
    def _commit(self, run: RunRecord, outcome: Outcome, duration_ms: int | None, *,
                forced: tuple[str, RunState] | None = None, actor: str = "engine") -> RunRecord:
        now = self.clock.now()
        if forced:
            trigger, dest = forced
        elif outcome.trigger:
            trigger, dest = outcome.trigger, RunMachine(run.state).fire(outcome.trigger)
        else:
            trigger, dest = outcome.audit or "status", run.state
        status = outcome.status or RunStatus.RUNNING
        if (status is RunStatus.RUNNING and outcome.trigger and run.max_phase < 5
                and dest is stop_state(run.max_phase)):
            status = RunStatus.STOPPED
        finished = status in FINAL_STATUSES
        seq = run.seq + 1
        fields: dict[str, Any] = dict(state=dest, seq=seq, status=status, updated_at=now, **outcome.run_fields)
        if outcome.error is not None or status is RunStatus.RUNNING:
            fields["error"] = outcome.error
        if status is RunStatus.BLOCKED:
            fields["blocked_reason"] = outcome.reason
        elif status is RunStatus.RUNNING:
            fields["blocked_reason"] = None
        if finished:
            fields["finished_at"] = now
        fence = self._fence(run.id)
        with self.uow() as uow:
            uow.update_run(run.id, fence=fence, expect_seq=run.seq, **fields)
            uow.add_transition(TransitionRecord(
                run_id=run.id, seq=seq, trigger=trigger, source=run.state.value, dest=dest.value, actor=actor,
                reason=outcome.reason or outcome.error, at=now, duration_ms=duration_ms, status=status.value),
                fence=fence)
            for kind, record in outcome.outputs.items():
                uow.put_output(run.id, seq, kind, record.model_dump(mode="json"), fence=fence)
            if outcome.new_attempt:
                uow.add_plan_attempt(outcome.new_attempt, fence=fence)
            if outcome.attempt_update:
                side, n, upd = outcome.attempt_update
                uow.update_plan_attempt(run.id, side, n, fence=fence, **upd)
            if finished:
                outputs = {**uow.outputs(run.id)}
                uow.add_history(self._history(run, status, outputs, uow, now, outcome.error or outcome.reason),
                                fence=fence)
            uow.commit()
        rl = run_log(run.id)
        if status in (RunStatus.FAILED, RunStatus.ABORTED, RunStatus.BLOCKED):
            rl.error("%s -> %s [%s] %s", run.state, dest, status, outcome.error or outcome.reason or "")
        else:
            rl.info("%s -> %s [%s]%s", run.state, dest, status, f" {outcome.reason}" if outcome.reason else "")
        if finished:
            self._summary(run.id)
        self.hooks.point(f"checkpoint:{dest.value}")
        self.hooks.point("checkpoint")
        return run

    def _record_error(self, run: RunRecord, exc: BaseException) -> None:
        message = exc.message if isinstance(exc, RebalanceError) else f"{type(exc).__name__}: {exc}"
        run_log(run.id).error("step from %s failed, state kept: %s", run.state, message)
        try:
            fence = self._fence(run.id)
            with self.uow() as uow:
                uow.update_run(run.id, fence=fence, error=message[:2000], updated_at=self.clock.now())
                uow.commit()
        except LeaseHeld as lost:  # another runner took the run over meanwhile: write nothing
            run_log(run.id).warning("error not recorded: %s", lost.message)
        except Exception:  # noqa: BLE001 - the original error matters more
            run_log(run.id).exception("could not record the error")

    def _abort(self, run: RunRecord, *, reason: str, actor: str) -> None:
        fresh = self.get(run.id)
        if fresh.status not in ACTIVE_STATUSES:
            return
        self._commit(fresh, Outcome(trigger=None, status=RunStatus.ABORTED, reason=reason, audit="abort",
                                    error=f"aborted by {actor}: {reason}"),
                     None, actor=actor)

    def _summary(self, run_id: str) -> None:
        with self.uow() as uow:
            rows = [h for h in uow.history(limit=20) if h.run_id == run_id]
        if rows:
            h = rows[0]
            before = (h.drift_before or {}).get("total_abs_drift")
            after = (h.drift_after or {}).get("total_abs_drift")
            run_log(run_id).info("finished %s: %d trades, cost %s KRW, total drift %s -> %s", h.status,
                                 len(h.trades), f"{h.total_cost:,}",
                                 f"{before:.2f}pp" if before is not None else "-",
                                 f"{after:.2f}pp" if after is not None else "-")

    def _history(self, run: RunRecord, status: RunStatus, outputs: dict[str, dict], uow: UnitOfWork,
                 now: Any, error: str | None) -> HistoryRecord:
        trades = [o for o in uow.orders(run.id) if o.filled_quantity > 0]
        trade_rows = [{"side": o.side.value, "ticker": o.ticker, "name": o.name, "quantity": o.filled_quantity,
                       "avg_price": o.avg_price, "amount": o.amount, "fees": o.fees, "odno": o.odno}
                      for o in trades]
        before = outputs.get("drift_before")
        after = outputs.get("drift_after") or (before if not trades else None)
        return HistoryRecord(
            run_id=run.id, executed_at=now, account=run.account, status=status,
            mp_threshold_percent=run.thresholds.mp, sub_mp_threshold_percent=run.thresholds.sub_mp,
            drift_before=before, drift_after=after, trades=trade_rows, total_cost=sum(o.fees for o in trades),
            error_message=error if status not in (RunStatus.SUCCEEDED, RunStatus.NOT_NEEDED, RunStatus.STOPPED)
            else None,
        )

    # ============================================================ steps
    def _steps(self) -> dict[RunState, Callable[[RunRecord], Outcome]]:
        return {
            RunState.CREATED: self._fetch,
            RunState.FETCHED: self._check_drift,
            RunState.DRIFT_CHECKED: lambda r: self._plan(r, Side.SELL),
            RunState.SELL_PLANNED: lambda r: self._validate(r, Side.SELL),
            RunState.SELL_VALIDATED: lambda r: self._execute(r, Side.SELL),
            RunState.SOLD: self._fetch_cash,
            RunState.CASH_FETCHED: lambda r: self._plan(r, Side.BUY),
            RunState.BUY_PLANNED: lambda r: self._validate(r, Side.BUY),
            RunState.BUY_VALIDATED: lambda r: self._execute(r, Side.BUY),
        }

    def _outputs(self, run: RunRecord) -> StepOutputs:
        with self.uow() as uow:
            return StepOutputs(uow.outputs(run.id))

    def _read_account(self, targets: Targets) -> Snapshot:
        self.progress("reading the account")
        snap = self.broker.balance()
        missing = [t for t in targets.tickers() if snap.price(t) is None]
        if missing:
            snap = snap.model_copy(update={"prices": {**snap.prices, **self.broker.prices(missing)}})
        return snap.model_copy(update={"taken_at": self.clock.now()})

    def _fetch(self, run: RunRecord) -> Outcome:
        """Step 1-2: holdings and cash (every page), prices of targets not held, open orders.

        Orders already open at the broker are not in the balance, so a plan made beside them could
        double-trade: by default the run stops FAILED and lists them; with ``open_orders_policy=cancel``
        a real run cancels them, each cancellation confirmed by the broker, and reads the account again."""
        day = broker_day(self.clock.now())
        snap = self._read_account(run.targets)
        open_orders = self.broker.open_orders(day)
        cancelled: CancelledOpenOrders | None = None
        if open_orders and self.settings.open_orders_policy == "cancel" and run.max_phase >= 5:
            # cancel first (confirmed from the order list), then read the account again: the plan
            # must see the holdings and cash as they are after the cancellation
            cancelled = cancel_open_orders(self.broker, self.clock, self.settings, day, run_log(run.id))
            snap = self._read_account(run.targets)
            open_orders = self.broker.open_orders(day)
        snap = snap.model_copy(update={"open_orders": open_orders})
        out = Outcome(trigger="fetch", outputs={"snapshot": snap},
                      reason=f"{len(snap.holdings)} holdings, cash {snap.cash:,} KRW, total {snap.total:,} KRW")
        if cancelled is not None and cancelled.orders:
            out.outputs["cancelled_open_orders"] = cancelled
            out.reason = f"{out.reason}; cancelled {len(cancelled.orders)} open order(s) first"
        if open_orders:
            listing = "; ".join(f"{o.side.value} {o.ticker} x{o.remaining} (order {o.odno})" for o in open_orders)
            out.status = RunStatus.FAILED
            out.error = (f"{len(open_orders)} unfilled order(s) already open at the broker: {listing}. A plan made "
                         f"beside them could double-trade; cancel them first or set open_orders_policy=cancel")
            if self.settings.open_orders_policy == "cancel" and run.max_phase < 5:
                out.error += " (a dry run, max_phase < 5, cancels nothing)"
        return out

    def _check_drift(self, run: RunRecord) -> Outcome:
        """Step 3: drift against the thresholds recorded on the run."""
        snap = self._outputs(run).snapshot()
        report = drift_report(snap, run.targets, run.thresholds)
        out = Outcome(trigger="check_drift", outputs={"drift_before": report})
        if report.needed:
            out.reason = "rebalancing needed: " + ", ".join(report.exceeded())
        else:
            out.status = RunStatus.NOT_NEEDED
            out.reason = "no drift reaches its threshold"
        return out

    def _context(self, run: RunRecord, side: Side, attempt: int) -> PlanningContext:
        outputs = self._outputs(run)
        attempts = self._attempts(run, side)
        prev = attempts[-1] if attempts else None
        common: dict[str, Any] = dict(
            side=side, targets=run.targets, thresholds=run.thresholds, attempt=attempt,
            sell_untargeted=self.settings.sell_untargeted,
            previous_plan=prev.plan if prev else None,
            previous_failures=failures(prev.checks) if prev else [],
        )
        if side is Side.SELL:
            before = outputs.drift_before()
            assert before is not None, "planning runs after the drift check"
            snap, drift, _ = self._after_earlier_attempts(run, side, attempt, outputs.snapshot(), before)
            return PlanningContext(snapshot=snap, drift=drift, **common)
        cash = outputs.cash()
        sells = outputs.fills(Side.SELL)
        sold = sells.filled_tickers() if sells else []
        snap, drift, spent = self._after_earlier_attempts(run, side, attempt, cash.snapshot, cash.drift)
        orderable = max(0, cash.orderable_cash - spent)
        return PlanningContext(snapshot=snap, drift=drift, orderable_cash=orderable,
                               cash_buffer=self.settings.cash_buffer(orderable), sold_tickers=sold, **common)

    def _after_earlier_attempts(self, run: RunRecord, side: Side, attempt: int, snap: Snapshot,
                                drift: DriftReport) -> tuple[Snapshot, DriftReport, int]:
        """A re-plan (an operator's force, a retry) plans on the stored account data: apply what the
        side's earlier attempts filled since that data was read, so the new plan does not trade it
        again (each attempt's orders are its own chain, statemachine.orders). Returns the snapshot,
        its drift and the cash those fills spent (buys)."""
        with self.uow() as uow:
            earlier = [o for o in uow.orders(run.id) if o.side is side and o.attempt < attempt
                       and o.filled_quantity > 0 and (snap.taken_at is None or o.created_at >= snap.taken_at)]
        if not earlier:
            return snap, drift, 0
        trades = [(o.side, o.ticker, o.filled_quantity, int(round(o.avg_price))) for o in earlier]
        after, _ = apply_trades(snap, trades, self.settings.fees, {o.ticker: o.name for o in earlier})
        spent = sum(o.amount + o.fees for o in earlier) if side is Side.BUY else 0
        return after, drift_report(after, run.targets, run.thresholds), spent

    def _attempts(self, run: RunRecord, side: Side) -> list[PlanAttemptRecord]:
        with self.uow() as uow:
            return [a for a in uow.plan_attempts(run.id) if a.side is side]

    def _planner_name(self, run: RunRecord, attempt: int) -> str:
        if attempt > MAX_PLAN_ATTEMPTS:
            return "optimal"  # the configured hand-over after three failed LLM attempts
        return run.planner

    def _plan(self, run: RunRecord, side: Side) -> Outcome:
        """Steps 4 and 8: one planning attempt, recorded with the planner that made it."""
        n = (run.sell_attempts if side is Side.SELL else run.buy_attempts) + 1  # within this round
        number = len(self._attempts(run, side)) + 1  # unique per run and side; a forced re-plan: new round
        ctx = self._context(run, side, number)
        planner = self.planners(self._planner_name(run, n))
        self.progress(f"planning {side.value}s with {planner.name} (attempt {n})")
        t0 = self.clock.monotonic()
        plan: Plan | None
        error = None
        try:
            plan = planner.plan(ctx)
        except Exception as exc:  # noqa: BLE001 - a planner failure is a failed attempt, never a crash
            plan, error = None, (exc.message if isinstance(exc, RebalanceError) else f"{type(exc).__name__}: {exc}")
            run_log(run.id).warning("%s planner %s failed on attempt %d: %s", side.value, planner.name, n, error)
        meta = dict(plan.meta) if plan else dict(getattr(planner, "last_meta", {}) or {})
        meta["latency_ms"] = int((self.clock.monotonic() - t0) * 1000)
        record = PlanAttemptRecord(run_id=run.id, side=side, attempt=number,
                                   planner=plan.planner if plan else planner.name, plan=plan, error=error,
                                   meta=meta, created_at=self.clock.now())
        count = {"sell_attempts" if side is Side.SELL else "buy_attempts": n}
        summary = (f"{len(plan.orders)} order(s) by {record.planner}" if plan else f"planner error: {error}")
        return Outcome(trigger="plan_sells" if side is Side.SELL else "plan_buys", new_attempt=record,
                       run_fields=count, reason=f"attempt {n}: {summary}")

    def _validate(self, run: RunRecord, side: Side) -> Outcome:
        """Steps 5 and 9: R1-R5. A failure loops back; the third ends the side."""
        attempt = self._attempts(run, side)[-1]
        ctx = self._context(run, side, attempt.attempt)
        if attempt.plan is None:
            checks = [CheckResult(rule="PLAN", passed=False, message=f"the planner produced no plan: {attempt.error}")]
        else:
            checks = check_plan(ctx, attempt.plan, self.settings.fees) + self._limits(run, ctx, attempt.plan)
        ok = passed(checks)
        n = run.sell_attempts if side is Side.SELL else run.buy_attempts  # attempts in this round
        upd = (side, attempt.attempt, {"checks": [c.model_dump(mode="json") for c in checks], "passed": ok})
        rl = run_log(run.id)
        if ok:
            return Outcome(trigger="validate_sells" if side is Side.SELL else "validate_buys", attempt_update=upd,
                           reason=f"attempt {attempt.attempt} passed R1-R5")
        bad = failures(checks)
        for c in bad:
            rl.warning("%s plan attempt %d failed %s: %s", side.value, attempt.attempt, c.rule, c.message)
        reasons = "; ".join(f"{c.rule} {c.ticker or ''} {c.message}".replace("  ", " ") for c in bad)
        limited = limit_failures(checks)
        last = bool(limited) or (n >= MAX_PLAN_ATTEMPTS and not self._may_hand_over(attempt, n))
        if not last:
            return Outcome(trigger="reject_sells" if side is Side.SELL else "reject_buys", attempt_update=upd,
                           reason=f"attempt {attempt.attempt} failed: {reasons}")
        if limited:
            error = f"the {side.value} plan was refused by the safety limits; no order sent: {reasons}"
        else:
            error = f"the {side.value} plan failed the rule checks {n} times; last: {reasons}"
        status = RunStatus.FAILED
        outputs: dict[str, BaseModel] = {}
        if side is Side.BUY and self._sold_anything(run):
            status = RunStatus.PARTIAL
            error += " (the sells stand; the cash stays)"
            outputs["drift_after"] = self._fresh_drift(run)
        return Outcome(trigger=None, audit=f"{side.value}_side_failed", status=status, error=error,
                       attempt_update=upd, outputs=outputs)

    def _limits(self, run: RunRecord, ctx: PlanningContext, plan: Plan) -> list[CheckResult]:
        """L1/L2 (statemachine.limits): T from the run's first snapshot, sells already done count."""
        outputs = self._outputs(run)
        drift = outputs.drift_before()
        total = int((drift.total if drift else 0) or ctx.snapshot.total)
        sells = outputs.fills(Side.SELL)
        before = sum(f.amount for f in sells.fills) if sells and plan.side is Side.BUY else 0
        return check_limits(ctx, plan, self.settings.limits, account_total=total, traded_before=before)

    def _may_hand_over(self, attempt: PlanAttemptRecord, n: int) -> bool:
        """After the round's third failed Gemini plan, the optimal planner may take over (a 4th attempt).
        The planner that made the attempt counts, not the one the run asked for ("auto" may be Gemini)."""
        return (n == MAX_PLAN_ATTEMPTS and self.settings.on_llm_failure == "optimal"
                and attempt.planner == "gemini")

    def _sold_anything(self, run: RunRecord) -> bool:
        with self.uow() as uow:
            return any(o.side is Side.SELL and o.filled_quantity > 0 for o in uow.orders(run.id))

    def _fresh_drift(self, run: RunRecord) -> DriftReport:
        return drift_report(self._read_account(run.targets), run.targets, run.thresholds)

    def _passing_plan(self, run: RunRecord, side: Side) -> PlanAttemptRecord:
        attempts = [a for a in self._attempts(run, side) if a.passed]
        if not attempts:
            raise TransitionError(f"no validated {side.value} plan for run {run.id}", run_id=run.id)
        return attempts[-1]

    def _execute(self, run: RunRecord, side: Side) -> Outcome:
        """Steps 6 and 10: send the validated orders (or project them for a dry run)."""
        attempt = self._passing_plan(run, side)
        plan = attempt.plan
        assert plan is not None
        trigger = "sell" if side is Side.SELL else "buy"
        kind = fills_kind(side)
        if run.max_phase < 5:
            snap = self._context(run, side, attempt.attempt).snapshot
            fills = []
            for o in plan.orders:
                price = snap.price(o.ticker) or 0
                amount = o.quantity * price
                fills.append(Fill(ticker=o.ticker, name=o.name, side=side, intended=o.quantity, filled=o.quantity,
                                  amount=amount, avg_price=float(price),
                                  fees=self.settings.fees.cost(o.ticker, side, amount),
                                  status=OrderStatus.PROJECTED, odnos=[]))
            return Outcome(trigger=trigger, outputs={kind: Fills(projected=True, fills=fills)},
                           reason=f"{len(fills)} order(s) projected at snapshot prices, none sent")
        executor = OrderExecutor(self.uow, self.broker, self.clock, self.hooks, self.settings, run_log(run.id),
                                 heartbeat=lambda: self._renew(run), guard=lambda: self._order_guard(run.id),
                                 fence=self._fence(run.id))
        self.progress(f"executing {len(plan.orders)} {side.value} order(s)")
        result = executor.execute(run, side, attempt.attempt, plan.orders)
        if result.blocked:
            return Outcome(trigger=None, audit="blocked", status=RunStatus.BLOCKED, reason=result.blocked.reason,
                           outputs={"blocked": BlockedRecord(side=side, ticker=result.blocked.ticker,
                                                             reason=result.blocked.reason,
                                                             candidates=result.blocked.candidates)})
        fills = list(ticker_results(result.orders).values())
        done = sum(1 for f in fills if f.status is OrderStatus.FILLED)
        out = Outcome(trigger=trigger, outputs={kind: Fills(projected=False, fills=fills)},
                      reason=f"{done} of {len(fills)} {side.value} order(s) filled")
        if side is Side.BUY:
            out.outputs["drift_after"] = self._fresh_drift(run)
            out.status = self._final_status(run, fills)
        return out

    def _final_status(self, run: RunRecord, buy_fills: list[Fill]) -> RunStatus:
        sells = self._outputs(run).fills(Side.SELL)
        every = (sells.fills if sells else []) + buy_fills
        if all(f.status is OrderStatus.FILLED for f in every):
            return RunStatus.SUCCEEDED
        if any(f.filled > 0 for f in every):
            return RunStatus.PARTIAL
        return RunStatus.FAILED

    def _fetch_cash(self, run: RunRecord) -> Outcome:
        """Step 7: orderable cash after every sell is resolved (projected for a dry run)."""
        outputs = self._outputs(run)
        sells = outputs.fills(Side.SELL) or Fills(projected=False, fills=[])
        if sells.projected:
            trades = [(Side.SELL, f.ticker, f.filled, int(f.avg_price)) for f in sells.fills]
            snap, _ = apply_trades(outputs.snapshot(), trades, self.settings.fees)
            proceeds = sum(f.amount - f.fees for f in sells.fills)
            cash = self.broker.orderable_cash() + proceeds
        else:
            snap = self._read_account(run.targets)
            cash = self.broker.orderable_cash()
        report = drift_report(snap, run.targets, run.thresholds)
        return Outcome(trigger="fetch_cash",
                       outputs={"cash": Cash(orderable_cash=cash, projected=sells.projected, snapshot=snap,
                                             drift=report)},
                       reason=f"orderable cash {cash:,} KRW" + (" (projected)" if sells.projected else ""))


class _Heartbeat:
    """Renews the run's lease in the background while a long step (an LLM call) runs."""

    def __init__(self, engine: Engine, run_id: str) -> None:
        self.engine = engine
        self.run_id = run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{run_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        current_run_id.set(self.run_id)
        interval = max(0.5, self.engine.settings.lease_ttl_s / 3)
        while not self._stop.wait(interval):
            fence = self.engine._fences.get(self.run_id)
            if fence is None:
                continue
            try:
                with self.engine.uow() as uow:
                    uow.renew_lease(self.run_id, fence, self.engine.clock.now(), self.engine.settings.lease_ttl_s)
                    uow.commit()
            except Exception:  # noqa: BLE001 - the step's own renewals will notice a lost lease
                log.debug("heartbeat failed", exc_info=True)


def _new_run_id(now: Any) -> str:
    return f"{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
