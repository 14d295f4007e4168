"""The ledger: every step's outcome committed in ONE transaction (state, audit row, outputs, plan
attempt, history row of a finished run), errors recorded, aborts, and the closing summary.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..buy_recovery import attempts as recovery_attempts
from ..buy_recovery import history_recovery
from ..errors import LeaseHeld, RebalanceError
from ..machine import RunMachine
from ..models import OrderRecord
from ..ports import UnitOfWork
from ..records import Checkpoint, HistoryRecord, PlanAttemptRecord, RunRecord, TransitionRecord
from ..states import ACTIVE_STATUSES, FINAL_STATUSES, RunState, RunStatus, stop_state
from .base import Outcome, RunMemo, run_log
from .leases import LeaseMixin


class LedgerMixin(LeaseMixin):
    """Commit outcomes, record errors and aborts, write the history row and the summary."""

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
        memo = self._memos.get(run.id)
        if not finished:  # the checkpoint extends the lease: no separate renewal (issue 18)
            fields["lease_expires_at"] = now + timedelta(seconds=self.settings.lease_ttl_s)
        stored = dict(fields)
        if memo is not None and memo.run.status is status:
            # the status is indexed: left out when it does not change, its indexes are not rewritten
            del stored["status"]
        transition = TransitionRecord(
            run_id=run.id, seq=seq, trigger=trigger, source=run.state.value, dest=dest.value, actor=actor,
            reason=outcome.reason or outcome.error, at=now, duration_ms=duration_ms, status=status.value)
        payloads = {kind: record.model_dump(mode="json") for kind, record in outcome.outputs.items()}
        cp = Checkpoint(run_id=run.id, fence=fence, run_fields=stored, expect_seq=run.seq, transition=transition,
                        outputs=payloads, output_seq=seq, new_attempt=outcome.new_attempt,
                        attempt_update=outcome.attempt_update, order_updates=outcome.order_updates,
                        release=finished,  # the run is over: its lease goes with its last checkpoint
                        # a step the next step builds on: durable with the next durable commit (an
                        # order's send counter, the run's end); a run that stops, blocks or ends is
                        # told to somebody: durable now
                        durable=status is not RunStatus.RUNNING)
        with self.uow() as uow:
            if finished:
                if memo is not None:
                    outputs, orders = {**memo.outputs, **payloads}, list(memo.orders.values())
                    transitions = [*memo.transitions, transition]
                else:
                    outputs, orders = {**uow.outputs(run.id), **payloads}, uow.orders(run.id)
                    transitions = [*uow.transitions(run.id), transition]
                orders = [o.with_fields(outcome.order_updates.get(o.id)) for o in orders]
                cp.history = self._history(uow, run, status, outputs, orders, transitions, now,
                                           outcome.error or outcome.reason)
            uow.save(cp)
        history = cp.history
        orders_done = [memo.orders[oid].with_fields(upd) for oid, upd in outcome.order_updates.items()
                       if memo is not None and oid in memo.orders]
        if finished:
            self._fences.pop(run.id, None)
        if memo is not None:
            self._remember(memo, fields, payloads, outcome, orders_done)
            memo.transitions.append(transition)
            if not finished:
                memo.extended = self.clock.monotonic()
        rl = run_log(run.id)
        if status in (RunStatus.FAILED, RunStatus.ABORTED, RunStatus.BLOCKED):
            rl.error("%s -> %s [%s] %s", run.state, dest, status, outcome.error or outcome.reason or "")
        else:
            rl.info("%s -> %s [%s]%s", run.state, dest, status, f" {outcome.reason}" if outcome.reason else "")
        for upd in outcome.order_updates.values():
            if "odno" in upd:
                self.hooks.point("order:sent_committed")
        if history is not None:
            self._summary(run.id, history)
        self.hooks.point(f"checkpoint:{dest.value}")
        self.hooks.point("checkpoint")
        return run

    def _remember(self, memo: RunMemo, fields: dict[str, Any], payloads: dict[str, dict[str, Any]],
                  outcome: Outcome, orders: list[OrderRecord]) -> None:
        """Apply what was just committed to the run's memo."""
        released = {"lease_owner": None, "lease_expires_at": None} if fields["status"] in FINAL_STATUSES else {}
        memo.run = memo.run.model_copy(update={**fields, **released})
        memo.outputs.update(payloads)
        if outcome.new_attempt:
            memo.attempts.append(outcome.new_attempt)
        if outcome.attempt_update:
            side, n, upd = outcome.attempt_update
            memo.attempts = [PlanAttemptRecord.model_validate({**a.model_dump(), **upd})
                             if (a.side, a.attempt) == (side, n) else a for a in memo.attempts]
        for rec in orders:
            memo.orders[rec.id] = rec

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

    def _summary(self, run_id: str, h: HistoryRecord) -> None:
        if h is not None:
            before = (h.drift_before or {}).get("total_abs_drift")
            after = (h.drift_after or {}).get("total_abs_drift")
            run_log(run_id).info("finished %s: %d trades, cost %s KRW, total drift %s -> %s", h.status,
                                 len(h.trades), f"{h.total_cost:,}",
                                 f"{before:.2f}pp" if before is not None else "-",
                                 f"{after:.2f}pp" if after is not None else "-")

    def _history(self, uow: UnitOfWork, run: RunRecord, status: RunStatus, outputs: dict[str, dict],
                 orders: list[OrderRecord], transitions: list[TransitionRecord], now: Any,
                 error: str | None) -> HistoryRecord:
        """The run's history row, from its transitions up to the one being committed; the row an earlier
        finish wrote is read (in ``uow``) only for a run whose buy side was retried."""
        trades = [o for o in sorted(orders, key=lambda o: o.id) if o.filled_quantity > 0]
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
            recovery=history_recovery(transitions, uow.history_of(run.id) if recovery_attempts(transitions) else None),
            policy=run.policy.label() if run.policy else "threshold",
        )
