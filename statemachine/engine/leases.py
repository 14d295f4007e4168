"""The run's lease: taking it (a new owner, a new epoch), the fence every write carries, renewing
it (also from a background heartbeat thread while a long step runs), releasing it, and the guards
checked before every order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from ..errors import LeaseHeld, SafetyStop
from ..records import Fence, RunRecord
from ..states import RunStatus
from .base import EngineBase, current_run_id, log, run_log


def lease_is_live(run: RunRecord, now: datetime, lease_is_dead: Callable[[str], bool]) -> bool:
    """Someone holds the run's lease, it has not expired, and its holder does not look dead."""
    if not run.lease_owner or run.lease_expires_at is None:
        return False
    return run.lease_expires_at > now and not lease_is_dead(run.lease_owner)


class LeaseMixin(EngineBase):
    """Take, check, renew and release the run's lease; run the guards before an order."""

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
        if ok:
            self._extended(run.id)
        if not ok:
            raise LeaseHeld(f"{fence.owner} lost the lease of run {run.id} (its epoch {fence.epoch}): another "
                            f"runner took over (epoch {current.lease_epoch}, held by "
                            f"{current.lease_owner or 'nobody now'}); not sending or writing anything more",
                            run_id=run.id, owner=current.lease_owner, epoch=current.lease_epoch)

    def _extended(self, run_id: str) -> None:
        """Note that a commit just extended the run's lease (a checkpoint, a send, a renewal)."""
        memo = self._memos.get(run_id)
        if memo is not None:
            memo.extended = self.clock.monotonic()

    def _renewal_due(self, run_id: str) -> bool:
        memo = self._memos.get(run_id)
        if memo is None or memo.extended is None:
            return True
        return self.clock.monotonic() - memo.extended >= self.settings.lease_ttl_s / 3

    def _renew_if_due(self, run: RunRecord) -> None:
        """Renew the lease unless a commit extended it less than a third of its time ago: every
        checkpoint and every send extends it in its own transaction (fenced, with the write), so a
        separate renewal is needed only while a step waits (issue 18). A runner whose lease was
        taken over learns it at its next write, which writes nothing, or here once a renewal is due."""
        if self._renewal_due(run.id):
            self._renew(run)

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

    def _order_guard(self, run_id: str) -> None:
        memo = self._memos.get(run_id)
        # the run as this engine committed it: an operator's abort elsewhere took the lease, so the
        # send's own commit (fenced) refuses before anything is sent
        run = memo.run if memo is not None else self.get(run_id)
        if run.status is not RunStatus.RUNNING:
            raise SafetyStop(f"run {run_id} is {run.status}; no further orders", run_id=run_id)
        for guard in self.guards:
            guard(run)


class _Heartbeat:
    """Renews the run's lease in the background while a long step (an LLM call) runs."""

    def __init__(self, engine: LeaseMixin, run_id: str) -> None:
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
            if fence is None or not self.engine._renewal_due(self.run_id):
                continue  # no lease, or a checkpoint extended it recently
            try:
                with self.engine.uow() as uow:
                    ok = uow.renew_lease(self.run_id, fence, self.engine.clock.now(),
                                         self.engine.settings.lease_ttl_s)
                    uow.commit()
                if ok:
                    self.engine._extended(self.run_id)
            except Exception:  # noqa: BLE001 - the step's own renewals will notice a lost lease
                log.debug("heartbeat failed", exc_info=True)
