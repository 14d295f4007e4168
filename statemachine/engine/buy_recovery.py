"""The buy-side recovery of a PARTIAL run (:mod:`statemachine.buy_recovery`): the engine commits the
table's ``recovery`` edge back to SOLD, recorded with who and why, and the run is then driven on by
``resume`` like any interrupted run: fetch cash (the account and orderable cash read now), plan,
check, buy. And the audit row the automatic recovery writes when it gives up.
"""

from __future__ import annotations

from .. import CHECKPOINT_FORMAT
from ..buy_recovery import EXHAUSTED_AUDIT, refusal
from ..errors import DomainError, IncompatibleCheckpoint, TransitionError
from ..models import Side
from ..records import RunRecord
from ..states import ACTIVE_STATUSES, RECOVERABLE_STATUS, RunStatus, recovery_edge
from ..step_records import StepOutputs
from .base import Outcome, run_log
from .steps import StepsMixin


class BuyRecoveryMixin(StepsMixin):
    """Retry the buy side of a PARTIAL run; record that the automatic recovery gave up."""

    def retry_buy_side(self, run_id: str, *, reason: str, actor: str) -> RunRecord:
        """Move a PARTIAL run whose sells all filled back to SOLD along the recovery edge (RUNNING,
        buy attempts reset), recorded with ``actor`` and ``reason``; the lease is released and
        :meth:`resume` drives it. Raises what :func:`statemachine.buy_recovery.refusal` names."""
        if not reason or not reason.strip():
            raise TransitionError("retrying the buy side needs a reason", field="reason")
        run = self.get(run_id)
        self._check_recoverable(run)
        edge = recovery_edge(run.state)
        assert edge is not None  # checked by refusal()
        self._take_lease(run)
        try:
            fresh = self.get(run_id)  # as of the lease: nobody moved it meanwhile (the commit checks seq)
            self._check_recoverable(fresh)
            outcome = Outcome(trigger=None, status=RunStatus.RUNNING, reason=reason,
                              run_fields={"buy_attempts": 0, "finished_at": None})
            self._commit(fresh, outcome, None, forced=(edge.trigger, edge.dest), actor=actor)
        finally:
            self._release(run_id)
        run_log(run_id).warning("buy side of PARTIAL run retried by %s: %s -> %s: %s", actor, run.state,
                                edge.dest, reason)
        return self.get(run_id)

    def record_recovery_exhausted(self, run_id: str, *, message: str, actor: str) -> RunRecord:
        """Record on a PARTIAL run that the automatic recovery gave up (status stays PARTIAL; the run's
        ``error`` says so, for ``status``, ``show`` and the API)."""
        run = self.get(run_id)
        if run.status is not RECOVERABLE_STATUS:
            return run
        self._take_lease(run)
        try:
            fresh = self.get(run_id)
            if fresh.status is RECOVERABLE_STATUS:
                self._commit(fresh, Outcome(trigger=None, audit=EXHAUSTED_AUDIT, status=RECOVERABLE_STATUS,
                                            reason=message, error=message), None, actor=actor)
        finally:
            self._release(run_id)
        return self.get(run_id)

    def _check_recoverable(self, run: RunRecord) -> None:
        if run.account != self.broker.alias:
            raise DomainError(f"run {run.id} belongs to account {run.account}, but this process is configured for "
                              f"{self.broker.alias}", run_id=run.id)
        if run.checkpoint_format != CHECKPOINT_FORMAT:
            raise IncompatibleCheckpoint(f"run {run.id} was written with checkpoint format {run.checkpoint_format}; "
                                         f"this engine reads format {CHECKPOINT_FORMAT}", run_id=run.id)
        with self.uow() as uow:
            sells = StepOutputs(uow.outputs(run.id)).fills(Side.SELL)
            others = uow.find_runs(account=run.account, statuses=[s.value for s in ACTIVE_STATUSES], limit=5)
        err = refusal(run, sells, others)
        if err is not None:
            raise err
        self._check_replay(run.id)
