"""An in-memory :class:`UnitOfWork` for engine tests (the real one is SQL, in adapters.db).

One lock serialises transactions (the engine's heartbeat thread takes one too). A unit of work
works on a copy of the data and swaps it in on :meth:`commit`; leaving without committing drops
the copy, so a step that raises changes nothing, as with the database. Records are frozen
pydantic models, so a shallow copy of each collection is a full snapshot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from statemachine.errors import LeaseHeld, RunNotFound
from statemachine.models import OrderRecord, OrderStatus, Side, Targets, Thresholds
from statemachine.ports import Claim, ConfigRow, UnitOfWork, check_fence
from statemachine.records import (
    Fence,
    HistoryRecord,
    PlanAttemptRecord,
    RunRecord,
    StrategyDecision,
    TransitionRecord,
)
from statemachine.states import ACTIVE_STATUSES


@dataclass
class _Data:
    runs: dict[str, RunRecord] = field(default_factory=dict)
    transitions: list[TransitionRecord] = field(default_factory=list)
    outputs: list[tuple[str, int, str, dict[str, Any]]] = field(default_factory=list)
    attempts: list[PlanAttemptRecord] = field(default_factory=list)
    orders: dict[int, OrderRecord] = field(default_factory=dict)
    accounts: dict[int, str] = field(default_factory=dict)  # order id -> account
    decisions: list[StrategyDecision] = field(default_factory=list)
    thresholds: list[Thresholds] = field(default_factory=list)
    history: list[HistoryRecord] = field(default_factory=list)
    config: list[ConfigRow] = field(default_factory=list)
    claims: dict[tuple[str, datetime], Claim] = field(default_factory=dict)

    def copy(self) -> _Data:
        return replace(self, runs=dict(self.runs), transitions=list(self.transitions),
                       outputs=list(self.outputs), attempts=list(self.attempts), orders=dict(self.orders),
                       accounts=dict(self.accounts), decisions=list(self.decisions),
                       thresholds=list(self.thresholds), history=list(self.history),
                       config=list(self.config), claims=dict(self.claims))


class MemoryStore:
    def __init__(self) -> None:
        self._data = _Data()
        self._lock = threading.RLock()

    @contextmanager
    def unit_of_work(self) -> Iterator[MemoryUnitOfWork]:
        with self._lock:
            uow = MemoryUnitOfWork(self)
            try:
                yield uow
            finally:
                uow.rollback()

    @property
    def data(self) -> _Data:
        return self._data


class MemoryUnitOfWork(UnitOfWork):
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.d = store._data.copy()

    def commit(self) -> None:
        self.store._data = self.d
        self.d = self.d.copy()

    def rollback(self) -> None:
        self.d = self.store._data.copy()

    # -- runs ------------------------------------------------------------------------------------
    def add_run(self, run: RunRecord) -> None:
        for r in self.d.runs.values():
            if r.account == run.account and r.status in ACTIVE_STATUSES:
                raise LeaseHeld(f"account {run.account} already has the active run {r.id}", run_id=r.id)
        self.d.runs[run.id] = run

    def get_run(self, run_id: str) -> RunRecord:
        try:
            return self.d.runs[run_id]
        except KeyError:
            raise RunNotFound(f"no run {run_id}", run_id=run_id) from None

    def find_runs(self, *, account: str | None = None, statuses: list[str] | None = None,
                  limit: int = 50) -> list[RunRecord]:
        rows = [r for r in self.d.runs.values() if (account is None or r.account == account)
                and (statuses is None or r.status.value in statuses)]
        return sorted(rows, key=lambda r: r.created_at, reverse=True)[:limit]

    def _hold(self, run_id: str, fence: Fence) -> None:
        check_fence(self.get_run(run_id), fence)  # one lock serialises every unit of work

    def update_run(self, run_id: str, *, fence: Fence, expect_seq: int | None = None, **fields: Any) -> None:
        run = self.get_run(run_id)
        check_fence(run, fence)
        if expect_seq is not None and run.seq != expect_seq:
            raise LeaseHeld(f"run {run_id} moved on (seq {run.seq}, expected {expect_seq})", run_id=run_id)
        self.d.runs[run_id] = run.model_copy(update=fields)

    def add_transition(self, record: TransitionRecord, *, fence: Fence) -> None:
        self._hold(record.run_id, fence)
        self.d.transitions.append(record)

    def transitions(self, run_id: str) -> list[TransitionRecord]:
        return [t for t in self.d.transitions if t.run_id == run_id]

    def put_output(self, run_id: str, seq: int, kind: str, payload: dict[str, Any], *, fence: Fence) -> None:
        self._hold(run_id, fence)
        self.d.outputs.append((run_id, seq, kind, payload))

    def outputs(self, run_id: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for rid, _seq, kind, payload in sorted(self.d.outputs, key=lambda x: x[1]):
            if rid == run_id:
                out[kind] = payload
        return out

    def add_plan_attempt(self, record: PlanAttemptRecord, *, fence: Fence) -> None:
        self._hold(record.run_id, fence)
        self.d.attempts.append(record)

    def update_plan_attempt(self, run_id: str, side: Side, attempt: int, *, fence: Fence, **fields: Any) -> None:
        self._hold(run_id, fence)
        for i, a in enumerate(self.d.attempts):
            if a.run_id == run_id and a.side is side and a.attempt == attempt:
                self.d.attempts[i] = a.model_validate({**a.model_dump(), **fields})
                return
        raise KeyError((run_id, side, attempt))

    def plan_attempts(self, run_id: str) -> list[PlanAttemptRecord]:
        return [a for a in self.d.attempts if a.run_id == run_id]

    # -- orders ----------------------------------------------------------------------------------
    def add_order(self, *, run_id: str, account: str, side: Side, ticker: str, name: str, quantity: int,
                  attempt: int, seq: int, status: OrderStatus, created_at: datetime,
                  fence: Fence) -> OrderRecord:
        self._hold(run_id, fence)
        oid = max(self.d.orders, default=0) + 1
        rec = OrderRecord(id=oid, run_id=run_id, side=side, ticker=ticker, name=name, quantity=quantity,
                          attempt=attempt, seq=seq, status=status, created_at=created_at)
        self.d.orders[oid] = rec
        self.d.accounts[oid] = account
        return rec

    def update_order(self, order_id: int, *, fence: Fence, **fields: Any) -> OrderRecord:
        self._hold(self.d.orders[order_id].run_id, fence)
        rec = self.d.orders[order_id].model_copy(update=fields)
        self.d.orders[order_id] = rec
        return rec

    def orders(self, run_id: str) -> list[OrderRecord]:
        return [o for o in self.d.orders.values() if o.run_id == run_id]

    def known_odnos(self, account: str, since: datetime) -> set[str]:
        return {o.odno for i, o in self.d.orders.items()
                if o.odno and self.d.accounts.get(i) == account and o.created_at >= since}

    # -- leases ----------------------------------------------------------------------------------
    def acquire_lease(self, run_id: str, owner: str, now: datetime, ttl_s: float,
                      steal_if: Callable[[str], bool] | None = None) -> Fence | None:
        run = self.get_run(run_id)
        free = (run.lease_owner in (None, owner) or run.lease_expires_at is None
                or run.lease_expires_at < now or (steal_if is not None and steal_if(run.lease_owner)))
        if not free:
            return None
        epoch = run.lease_epoch if run.lease_owner == owner else run.lease_epoch + 1
        self.d.runs[run_id] = run.model_copy(update={"lease_owner": owner, "lease_epoch": epoch,
                                                     "lease_expires_at": now + timedelta(seconds=ttl_s)})
        return Fence(owner, epoch)

    def release_lease(self, run_id: str, fence: Fence) -> None:
        run = self.get_run(run_id)
        check_fence(run, fence)
        self.d.runs[run_id] = run.model_copy(update={"lease_owner": None, "lease_expires_at": None})

    # -- targets, thresholds, history --------------------------------------------------------------
    def latest_targets(self) -> StrategyDecision | None:
        return self.d.decisions[-1] if self.d.decisions else None

    def add_targets(self, targets: Targets, decided_at: datetime) -> StrategyDecision:
        dec = StrategyDecision(id=len(self.d.decisions) + 1, decided_at=decided_at, targets=targets)
        self.d.decisions.append(dec)
        return dec

    def latest_thresholds(self) -> Thresholds:
        return self.d.thresholds[-1] if self.d.thresholds else Thresholds()

    def add_thresholds(self, thresholds: Thresholds, at: datetime) -> None:
        self.d.thresholds.append(thresholds)
        self.d.config.append(ConfigRow(id=len(self.d.config) + 1, mp_threshold_percent=thresholds.mp,
                                       sub_mp_threshold_percent=thresholds.sub_mp, updated_at=at))

    def config_rows(self, limit: int = 20) -> list[ConfigRow]:
        return list(reversed(self.d.config))[:limit]

    def add_history(self, record: HistoryRecord, *, fence: Fence) -> None:
        self._hold(record.run_id, fence)
        self.d.history.append(record)

    def history(self, limit: int = 50) -> list[HistoryRecord]:
        return list(reversed(self.d.history))[:limit]

    def history_of(self, run_id: str) -> HistoryRecord | None:
        return next((h for h in reversed(self.d.history) if h.run_id == run_id), None)

    # -- schedule claims (one lock serialises units of work: the first to commit a slot wins) ------
    def claim_slot(self, account: str, due_at: datetime, owner: str, now: datetime) -> tuple[bool, Claim]:
        key = (account, due_at)
        if key in self.d.claims:
            return False, self.d.claims[key]
        self.d.claims[key] = Claim(account, due_at, owner, now, None, None)
        return True, self.d.claims[key]

    def get_claim(self, account: str, due_at: datetime) -> Claim | None:
        return self.d.claims.get((account, due_at))

    def record_outcome(self, account: str, due_at: datetime, *, run_id: str | None = None,
                       outcome: str | None = None) -> None:
        key = (account, due_at)
        if key in self.d.claims:
            c = self.d.claims[key]
            self.d.claims[key] = replace(c, run_id=c.run_id if run_id is None else run_id,
                                         outcome=c.outcome if outcome is None else outcome[:2000])

    def claims(self, account: str | None = None, limit: int = 50) -> list[Claim]:
        rows = [c for c in self.d.claims.values() if account is None or c.account == account]
        return sorted(rows, key=lambda c: c.due_at, reverse=True)[:limit]
