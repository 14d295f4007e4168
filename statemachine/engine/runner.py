"""The engine's public commands: start, run, resume, force, abort, and what they refuse.

The engine walks a run through the transition table, one committed checkpoint per step. Each step
reads only what earlier steps stored (so a resumed run sees exactly what the interrupted one saw),
talks to the world only through ports, and returns an :class:`Outcome`; the ledger then commits it
in ONE transaction guarded by the run's sequence number. A step that raises leaves the stored state
where it was and records the error.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from .. import CHECKPOINT_FORMAT, ENGINE_VERSION
from ..errors import (
    DomainError,
    IncompatibleCheckpoint,
    LeaseHeld,
    RunFinished,
    SafetyStop,
    TargetsError,
    TransitionError,
)
from ..machine import force_edge
from ..models import Targets, Thresholds
from ..notices import run_notice
from ..policies import Policy
from ..ports import Broker, Clock, Hooks, NoHooks, Notifier, PlannerFactory, UnitOfWork
from ..records import Checkpoint, Fence, RunRecord, TransitionRecord
from ..settings import EngineSettings
from ..states import ACTIVE_STATUSES, FINAL_STATUSES, RunState, RunStatus, stop_state
from ..step_records import LeaseNote
from ..timeline import LEASE_NOTE
from .base import Guard, Outcome, RunMemo, current_run_id, run_log
from .buy_recovery import BuyRecoveryMixin
from .leases import _Heartbeat, lease_is_live


class Engine(BuyRecoveryMixin):
    """Drives runs of one account through the table; every public command of the engine."""

    def __init__(self, uow: Callable[[], AbstractContextManager[UnitOfWork]], broker: Broker,
                 planners: PlannerFactory, clock: Clock, settings: EngineSettings | None = None,
                 hooks: Hooks | None = None, owner: str | None = None,
                 lease_is_dead: Callable[[str], bool] | None = None, guards: list[Guard] | None = None,
                 progress: Callable[[str], None] | None = None, notifier: Notifier | None = None) -> None:
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
        self.notifier = notifier
        self._stop_requested = threading.Event()
        #: run id -> the (owner, epoch) this engine got when it took the run's lease; every write
        #: about the run carries it, so once another runner took over, this engine writes nothing.
        self._fences: dict[str, Fence] = {}
        self._memos: dict[str, RunMemo] = {}

    def request_stop(self) -> None:
        """Ask :meth:`run` to return after the current step commits (safe from a signal handler).

        The run stays RUNNING at that checkpoint with its lease released, for ``resume``."""
        self._stop_requested.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested.is_set()

    def start(self, *, account: str, max_phase: int = 5, planner: str = "auto", actor: str = "cli",
              targets: Targets | None = None, thresholds: Thresholds | None = None,
              policy: Policy | None = None) -> RunRecord:
        """Create a run (state CREATED) holding the account's one active slot and its lease."""
        stop_state(max_phase)  # validates
        policy = policy or self.settings.policy
        now = self.clock.now()
        if targets is None or thresholds is None:
            with self.uow() as uow:
                if targets is None:
                    decision = uow.latest_targets()
                    if decision is None:
                        raise TargetsError("no targets: set them with 'targets set FILE' first", field="targets")
                    targets = decision.targets
                thresholds = thresholds or uow.peek_thresholds()  # the run's row is written elsewhere
        assert targets is not None and thresholds is not None
        run = RunRecord(
            id=_new_run_id(now), account=account, state=RunState.CREATED, status=RunStatus.RUNNING,
            seq=0, max_phase=max_phase, planner=planner, policy=policy, actor=actor, thresholds=thresholds,
            targets=targets, engine_version=ENGINE_VERSION, checkpoint_format=CHECKPOINT_FORMAT,
            lease_owner=self.owner, lease_expires_at=now + timedelta(seconds=self.settings.lease_ttl_s),
            lease_epoch=1, created_at=now, updated_at=now,
        )
        fence = Fence(self.owner, run.lease_epoch)
        created = TransitionRecord(run_id=run.id, seq=0, trigger="start", source="-", dest=RunState.CREATED.value,
                                   actor=actor, reason=f"max_phase={max_phase} planner={planner} "
                                                       f"policy={policy.label()}", at=now,
                                   status=RunStatus.RUNNING.value)
        with self.uow() as uow:  # the run and its first transition: one durable fact
            uow.save(Checkpoint(run_id=run.id, fence=fence, new_run=run, transition=created))
        self._fences[run.id] = fence
        # what was just committed is all there is to know about the run: nothing to read back
        self._memos[run.id] = RunMemo(run=run, transitions=[created], extended=self.clock.monotonic())
        run_log(run.id).info("run started for %s: max_phase=%d planner=%s thresholds mp=%.2f sub_mp=%.2f",
                             account, max_phase, planner, thresholds.mp, thresholds.sub_mp)
        return run

    def run(self, run_id: str) -> RunRecord:
        """Drive a run this engine holds the lease of until it stops, finishes or blocks; then tell
        the notifier when the run ended during this drive (finished, failed, blocked, guard stop)."""
        ended: dict[str, bool] = {}
        try:
            done = self._drive(run_id, ended)
        except SafetyStop:
            self._notify(run_id, guard=True)
            raise
        if "guard" in ended or ("stepped" in ended and done.status is not RunStatus.RUNNING):
            self._notify(run_id, guard="guard" in ended, run=done)
        return done

    def _notify(self, run_id: str, *, guard: bool = False, run: RunRecord | None = None) -> None:
        """Best effort: a notifier that fails (or a read that fails) never changes the run's outcome."""
        if self.notifier is None:
            return
        try:
            with self.uow() as uow:
                stored = uow.get_run(run_id) if run is None or guard else run
                notice = run_notice(stored, uow.orders(run_id), uow.history_of(run_id), guard=guard)
            if notice is not None:
                self.notifier.notify(notice)
        except Exception as exc:  # noqa: BLE001 - a notification is never worth a run
            run_log(run_id).warning("notification of run %s not sent: %s: %s", run_id, type(exc).__name__, exc)

    def _drive(self, run_id: str, ended: dict[str, bool]) -> RunRecord:
        self._memos[run_id] = self._load(run_id)  # the one read of a run: nothing is read back after it
        heartbeat = _Heartbeat(self, run_id)
        heartbeat.start()
        token = current_run_id.set(run_id)
        try:
            while True:
                run = self._memos[run_id].run
                if run.status is not RunStatus.RUNNING:
                    return run
                if self.stop_requested:
                    run_log(run.id).warning("stop requested: run left RUNNING at %s (checkpoint %d); resume "
                                            "it to continue", run.state, run.seq)
                    return run
                self._renew_if_due(run)
                if self._guard(run):  # a guard aborted the run: run no step on the stale record
                    ended["guard"] = True
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
                ended["stepped"] = True
        finally:
            current_run_id.reset(token)
            heartbeat.stop()
            self._memos.pop(run_id, None)
            self._release(run_id)

    def _load(self, run_id: str) -> RunMemo:
        """The run as stored, in one read: an operator may have aborted it, or another runner taken it,
        since this engine last wrote. Its outputs, plan attempts and orders are read only when this
        engine does not remember them already (it started the run and nothing changed it since)."""
        memo = self._memos.get(run_id)
        with self.uow() as uow:
            if memo is not None:
                run = uow.peek_run(run_id)
                if _same_checkpoint(memo.run, run):
                    memo.run = run
                    return memo
            # everything, in the unit of work's transaction (the run read again when it changed)
            run = uow.get_run(run_id)
            memo = RunMemo(run=run, outputs=uow.outputs(run_id), attempts=uow.plan_attempts(run_id),
                           orders={o.id: o for o in uow.orders(run_id)}, transitions=uow.transitions(run_id))
        if run.lease_owner == self.owner and run.lease_expires_at is not None:
            # the lease was extended (taken, or by a checkpoint) this long ago
            age = self.settings.lease_ttl_s - (run.lease_expires_at - self.clock.now()).total_seconds()
            memo.extended = self.clock.monotonic() - max(0.0, age)
        return memo

    def resume(self, run_id: str) -> RunRecord:
        """Continue an interrupted run from its last checkpoint; safe to call again and again."""
        run = self.get(run_id)
        self._check_resumable(run)
        if run.status is RunStatus.BLOCKED:
            return run
        fence = self._take_lease(run)
        self._memos.pop(run_id, None)  # read what is stored, not what this engine may remember
        if fence.epoch != run.lease_epoch:  # taken from another runner (or free): it may have a send in flight
            self._note_resume(run, fence)
            self._await_pending_sends(run)
        run_log(run.id).info("resuming from %s (checkpoint %d, lease epoch %d)", run.state, run.seq, fence.epoch)
        return self.run(run_id)

    def _note_resume(self, run: RunRecord, fence: Fence) -> None:
        """Record who resumed the run, when, and who held it before (``lease:<epoch>``, an output of no
        step): the timeline shows the interruption (:func:`statemachine.timeline.interruptions`)."""
        now = self.clock.now()
        if run.lease_owner and run.lease_expires_at is not None:
            seen = run.lease_expires_at - timedelta(seconds=self.settings.lease_ttl_s)
        else:
            seen = run.updated_at
        note = LeaseNote(epoch=fence.epoch, owner=self.owner, at=now.isoformat(), state=run.state.value,
                         seq=run.seq, previous_owner=run.lease_owner, previous_seen_at=seen.isoformat())
        with self.uow() as uow:
            uow.put_output(run.id, run.seq, f"{LEASE_NOTE}{fence.epoch}", note.payload(), fence=fence)
            uow.commit()

    def check_resumable(self, run_id: str) -> RunRecord:
        """Raise what :meth:`resume` would refuse with (wrong account, old format, finished); else the run."""
        run = self.get(run_id)
        self._check_resumable(run)
        return run

    def interrupted(self) -> list[RunRecord]:
        """Runs of this engine's account left RUNNING (their process died or was stopped)."""
        with self.uow() as uow:
            return uow.find_runs(account=self.broker.alias, statuses=[RunStatus.RUNNING.value], limit=1000)

    def force(self, run_id: str, target: str, *, reason: str, actor: str, planner: str | None = None) -> RunRecord:
        """Move a run along an operator edge of the table (or abort it), recording who and why;
        ``planner``: the planner the run uses from now on (a retry may change it)."""
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
        if planner is not None and planner != run.planner:
            fields["planner"] = planner
            reason = f"{reason} (planner {run.planner} -> {planner})"
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
        holder_live = run.lease_owner != self.owner and lease_is_live(run, self.clock.now(), self.lease_is_dead)
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
        self._notify(run_id)
        return self.get(run_id)

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
        self._check_replay(run.id)

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


def _same_checkpoint(a: RunRecord, b: RunRecord) -> bool:
    return (a.seq, a.state, a.status, a.lease_owner, a.lease_epoch) == (b.seq, b.state, b.status, b.lease_owner,
                                                                       b.lease_epoch)


def _new_run_id(now: Any) -> str:
    return f"{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
