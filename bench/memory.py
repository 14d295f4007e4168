"""No-persistence doubles for the durability benchmark: a UnitOfWork over dicts (commit and
rollback do nothing) and a simulated account kept in memory (no file, no lock, no fsync).

They let the benchmark time the engine's own work, so the difference to a real database is the
cost of the checkpoints alone."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.sim.account import DEMO_DIR, SimAccount
from statemachine.errors import LeaseHeld, RunNotFound
from statemachine.models import OrderRecord, OrderStatus, Side, Targets, Thresholds
from statemachine.ports import UnitOfWork, check_fence
from statemachine.records import (
    Fence,
    HistoryRecord,
    PlanAttemptRecord,
    RunRecord,
    StrategyDecision,
    TransitionRecord,
)


class MemoryStore:
    def __init__(self) -> None:
        self.runs: dict[str, RunRecord] = {}
        self.transitions: list[TransitionRecord] = []
        self.outputs: list[tuple[str, int, str, dict]] = []
        self.attempts: list[PlanAttemptRecord] = []
        self.orders: dict[int, tuple[str, OrderRecord]] = {}
        self.history: list[HistoryRecord] = []
        self.targets: list[StrategyDecision] = []
        self.thresholds: list[Thresholds] = []
        self.ids = itertools.count(1)

    def __call__(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self)


class MemoryUnitOfWork(UnitOfWork):
    def __init__(self, store: MemoryStore) -> None:
        self.s = store

    def commit(self) -> None:
        return None

    def rollback(self) -> None:
        return None

    def add_run(self, run: RunRecord) -> None:
        active = ("RUNNING", "BLOCKED")
        if any(r.account == run.account and r.status.value in active for r in self.s.runs.values()):
            raise LeaseHeld(f"account {run.account} already has an active run", account=run.account)
        self.s.runs[run.id] = run

    def get_run(self, run_id: str) -> RunRecord:
        if run_id not in self.s.runs:
            raise RunNotFound(f"no run with id '{run_id}'", run_id=run_id)
        return self.s.runs[run_id]

    def find_runs(self, *, account: str | None = None, statuses: list[str] | None = None,
                  limit: int = 50) -> list[RunRecord]:
        out = [r for r in self.s.runs.values() if (not account or r.account == account)
               and (not statuses or r.status.value in statuses)]
        return sorted(out, key=lambda r: (r.created_at, r.id), reverse=True)[:limit]

    def _hold(self, run_id: str, fence: Fence) -> None:
        check_fence(self.get_run(run_id), fence)

    def update_run(self, run_id: str, *, fence: Fence, expect_seq: int | None = None, **fields: Any) -> None:
        run = self.get_run(run_id)
        check_fence(run, fence)
        if expect_seq is not None and run.seq != expect_seq:
            raise LeaseHeld(f"run {run_id} moved on", run_id=run_id)
        self.s.runs[run_id] = run.model_copy(update=fields)

    def add_transition(self, record: TransitionRecord, *, fence: Fence) -> None:
        self._hold(record.run_id, fence)
        self.s.transitions.append(record)

    def transitions(self, run_id: str) -> list[TransitionRecord]:
        return [t for t in self.s.transitions if t.run_id == run_id]

    def put_output(self, run_id: str, seq: int, kind: str, payload: dict[str, Any], *, fence: Fence) -> None:
        self._hold(run_id, fence)
        self.s.outputs.append((run_id, seq, kind, payload))

    def outputs(self, run_id: str) -> dict[str, dict[str, Any]]:
        return {kind: payload for rid, _, kind, payload in self.s.outputs if rid == run_id}

    def add_plan_attempt(self, record: PlanAttemptRecord, *, fence: Fence) -> None:
        self._hold(record.run_id, fence)
        self.s.attempts.append(record)

    def update_plan_attempt(self, run_id: str, side: Side, attempt: int, *, fence: Fence, **fields: Any) -> None:
        self._hold(run_id, fence)
        for i, a in enumerate(self.s.attempts):
            if a.run_id == run_id and a.side is side and a.attempt == attempt:
                self.s.attempts[i] = PlanAttemptRecord.model_validate({**a.model_dump(), **fields})

    def plan_attempts(self, run_id: str) -> list[PlanAttemptRecord]:
        return [a for a in self.s.attempts if a.run_id == run_id]

    def add_order(self, *, run_id: str, account: str, side: Side, ticker: str, name: str, quantity: int,
                  attempt: int, seq: int, status: OrderStatus, created_at: datetime,
                  fence: Fence) -> OrderRecord:
        self._hold(run_id, fence)
        rec = OrderRecord(id=next(self.s.ids), run_id=run_id, side=side, ticker=ticker, name=name,
                          quantity=quantity, attempt=attempt, seq=seq, status=status, created_at=created_at)
        self.s.orders[rec.id] = (account, rec)
        return rec

    def update_order(self, order_id: int, *, fence: Fence, **fields: Any) -> OrderRecord:
        account, rec = self.s.orders[order_id]
        self._hold(rec.run_id, fence)
        new = rec.model_copy(update=fields)
        self.s.orders[order_id] = (account, new)
        return new

    def orders(self, run_id: str) -> list[OrderRecord]:
        return [rec for _, rec in self.s.orders.values() if rec.run_id == run_id]

    def known_odnos(self, account: str, since: datetime) -> set[str]:
        return {rec.odno for acc, rec in self.s.orders.values()
                if acc == account and rec.odno and rec.created_at >= since}

    def acquire_lease(self, run_id: str, owner: str, now: datetime, ttl_s: float,
                      steal_if: Callable[[str], bool] | None = None) -> Fence | None:
        from datetime import timedelta

        run = self.get_run(run_id)
        free = run.lease_owner in (None, owner) or (run.lease_expires_at and run.lease_expires_at < now)
        if not (free or (steal_if is not None and run.lease_owner and steal_if(run.lease_owner))):
            return None
        epoch = run.lease_epoch if run.lease_owner == owner else run.lease_epoch + 1
        self.s.runs[run_id] = run.model_copy(update={"lease_owner": owner, "lease_epoch": epoch,
                                                     "lease_expires_at": now + timedelta(seconds=ttl_s)})
        return Fence(owner, epoch)

    def release_lease(self, run_id: str, fence: Fence) -> None:
        run = self.get_run(run_id)
        check_fence(run, fence)
        self.s.runs[run_id] = run.model_copy(update={"lease_owner": None, "lease_expires_at": None})

    def latest_targets(self) -> StrategyDecision | None:
        return self.s.targets[-1] if self.s.targets else None

    def add_targets(self, targets: Targets, decided_at: datetime) -> StrategyDecision:
        d = StrategyDecision(id=len(self.s.targets) + 1, decided_at=decided_at, targets=targets)
        self.s.targets.append(d)
        return d

    def latest_thresholds(self) -> Thresholds:
        return self.s.thresholds[-1] if self.s.thresholds else Thresholds()

    def add_thresholds(self, thresholds: Thresholds, at: datetime) -> None:
        self.s.thresholds.append(thresholds)

    def add_history(self, record: HistoryRecord, *, fence: Fence) -> None:
        self._hold(record.run_id, fence)
        self.s.history.append(record)

    def history(self, limit: int = 50) -> list[HistoryRecord]:
        return list(reversed(self.s.history))[:limit]


DEMO_STATE: dict[str, Any] = {
    "cano": "50001234", "product": "01", "alias": "demo", "cash": 0, "holdings": {}, "prices": {},
    "names": {}, "orders": [], "next_odno": 1, "faults": {}, "calls": {},
    **json.loads((DEMO_DIR / "demo_account.json").read_text()),
}


class MemoryAccount(SimAccount):
    """The simulated account's rules over a dict: no file, no lock, no fsync."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.path = Path("<memory>")
        self.state = copy.deepcopy(DEMO_STATE)
        self.clock = clock or (lambda: datetime.now(UTC))

    @contextmanager
    def _tx(self) -> Iterator[dict[str, Any]]:
        self._mature(self.state)
        yield self.state

    def read(self) -> dict[str, Any]:
        return self.state
