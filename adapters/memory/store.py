"""The in-memory unit of work: :class:`statemachine.ports.UnitOfWork` over the tables of
:mod:`adapters.memory.tables`, with the SQL store's semantics (``adapters/db/store.py``) on every
point: the same fencing checks and errors, lease expiry strictly before ``now``, orders' account
scoping, one history row per run, the newest output of each kind by checkpoint, the same orderings
and unique constraints. A unit of work holds its store's lock from creation to exit (SQLite's
``BEGIN IMMEDIATE``), so the engine's heartbeat thread and concurrent runners take turns."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from adapters.memory.tables import Database, IntegrityError, Row, Transaction, row, utc
from statemachine.errors import LeaseHeld, RunNotFound
from statemachine.models import OrderRecord, OrderStatus, Side, Targets, Thresholds
from statemachine.ports import Claim, ConfigRow, UnitOfWork, lost_lease
from statemachine.records import Fence, HistoryRecord, PlanAttemptRecord, RunRecord, StrategyDecision, TransitionRecord

ACTIVE = ("RUNNING", "BLOCKED")
_COLUMNS = {"runs": set(RunRecord.model_fields), "orders": set(OrderRecord.model_fields) | {"account"},
            "attempts": set(PlanAttemptRecord.model_fields)}


def _checked(table: str, fields: dict[str, Any]) -> Row:
    unknown = set(fields) - _COLUMNS[table]
    if unknown:
        raise ValueError(f"no column(s) {', '.join(sorted(unknown))} in {table}")
    return row(table, fields)


class MemoryStore:
    """Hands out units of work over one in-memory database, like ``adapters.db.connect.Database``."""

    def __init__(self) -> None:
        self.db = Database()

    def unit_of_work(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.db)

    __call__ = unit_of_work


class MemoryUnitOfWork(UnitOfWork):
    def __init__(self, db: Database) -> None:
        db.lock.acquire()
        self._db: Database | None = db
        self.tx = Transaction(db)

    def __exit__(self, *exc: object) -> None:
        db, self._db = self._db, None
        if db is not None:
            self.tx.rollback()
            db.lock.release()

    def commit(self) -> None:
        self.tx.commit()

    def rollback(self) -> None:
        self.tx.rollback()

    @property
    def t(self) -> Any:
        return self.tx.tables

    # -- fencing --------------------------------------------------------------------------------
    def _hold(self, run_id: str, fence: Fence) -> None:
        r = self.t.runs.get(run_id)
        if r is None:
            raise RunNotFound(f"no run with id '{run_id}'", run_id=run_id)
        if (r["lease_owner"], r["lease_epoch"]) != (fence.owner, fence.epoch):
            raise lost_lease(self.get_run(run_id), fence)

    def _unique(self, table: str, new: Row, *keys: str) -> None:
        for old in getattr(self.t, table).values():
            if all(old[k] == new[k] for k in keys):
                raise IntegrityError(f"{table}: a row with this ({', '.join(keys)}) exists")

    def _insert(self, table: str, values: Row) -> int:
        new_id = self._db_().next_id(table)
        self.tx.write(table)[new_id] = {"id": new_id, **values}
        return new_id

    def _db_(self) -> Database:
        assert self._db is not None, "unit of work used after its with block"
        return self._db

    # -- runs -----------------------------------------------------------------------------------
    def add_run(self, run: RunRecord) -> None:
        new = row("runs", {**run.model_dump(mode="json"), "created_at": run.created_at,
                           "updated_at": run.updated_at, "lease_expires_at": run.lease_expires_at,
                           "finished_at": run.finished_at})
        clash = run.id in self.t.runs or (new["status"] in ACTIVE and any(
            r["account"] == run.account and r["status"] in ACTIVE for r in self.t.runs.values()))
        if clash:
            active = self.find_runs(account=run.account, statuses=list(ACTIVE), limit=1)
            other = active[0].id if active else "?"
            raise LeaseHeld(f"account {run.account} already has an active run ({other}); resume or abort it "
                            f"first", account=run.account, run_id=other)
        self.tx.write("runs")[run.id] = new

    def get_run(self, run_id: str) -> RunRecord:
        r = self.t.runs.get(run_id)
        if r is None:
            raise RunNotFound(f"no run with id '{run_id}'", run_id=run_id)
        return RunRecord.model_validate(r)

    def find_runs(self, *, account: str | None = None, statuses: list[str] | None = None,
                  limit: int = 50) -> list[RunRecord]:
        wanted = {getattr(s, "value", s) for s in statuses or ()}
        rows = [r for r in self.t.runs.values()
                if (not account or r["account"] == account) and (not wanted or r["status"] in wanted)]
        rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        return [RunRecord.model_validate(r) for r in rows[:limit]]

    def update_run(self, run_id: str, *, fence: Fence, expect_seq: int | None = None, **fields: Any) -> None:
        values = _checked("runs", fields)
        r = self.t.runs.get(run_id)
        if (r is None or (r["lease_owner"], r["lease_epoch"]) != (fence.owner, fence.epoch)
                or (expect_seq is not None and r["seq"] != expect_seq)):
            run = self.get_run(run_id)  # raises RunNotFound
            if run.fence != fence:
                raise lost_lease(run, fence)
            raise LeaseHeld(f"run {run_id} moved on under this process (expected checkpoint {expect_seq}); "
                            f"another process is driving it", run_id=run_id)
        if values.get("status") in ACTIVE and r["status"] not in ACTIVE:  # a finished run active again
            others = [o for o in self.t.runs.values()
                      if o["account"] == r["account"] and o["status"] in ACTIVE and o["id"] != run_id]
            if others:  # the SQL store's uq_runs_active_account
                raise LeaseHeld(f"account {r['account']} already has an active run ({others[0]['id']})",
                                account=r["account"], run_id=others[0]["id"])
        self.tx.write("runs")[run_id] = {**r, **values}

    def add_transition(self, record: TransitionRecord, *, fence: Fence) -> None:
        self._hold(record.run_id, fence)
        new = row("transitions", record.model_dump())
        self._unique("transitions", new, "run_id", "seq")
        self._insert("transitions", new)

    def transitions(self, run_id: str) -> list[TransitionRecord]:
        rows = sorted((r for r in self.t.transitions.values() if r["run_id"] == run_id), key=lambda r: r["seq"])
        return [TransitionRecord.model_validate({k: v for k, v in r.items() if k != "id"}) for r in rows]

    def put_output(self, run_id: str, seq: int, kind: str, payload: dict[str, Any], *, fence: Fence) -> None:
        self._hold(run_id, fence)
        new = {"run_id": run_id, "seq": seq, "kind": kind, "payload": json.dumps(payload)}
        self._unique("outputs", new, "run_id", "seq", "kind")
        self._insert("outputs", new)

    def outputs(self, run_id: str) -> dict[str, dict[str, Any]]:
        rows = sorted((r for r in self.t.outputs.values() if r["run_id"] == run_id), key=lambda r: r["seq"])
        return {r["kind"]: json.loads(r["payload"]) for r in rows}

    def add_plan_attempt(self, record: PlanAttemptRecord, *, fence: Fence) -> None:
        self._hold(record.run_id, fence)
        new = row("attempts", {**record.model_dump(mode="json"), "created_at": record.created_at})
        self._unique("attempts", new, "run_id", "side", "attempt")
        self._insert("attempts", new)

    def update_plan_attempt(self, run_id: str, side: Side, attempt: int, *, fence: Fence, **fields: Any) -> None:
        self._hold(run_id, fence)
        values = _checked("attempts", fields)
        for i, r in self.t.attempts.items():  # no such attempt: nothing updated, as an SQL UPDATE
            if (r["run_id"], r["side"], r["attempt"]) == (run_id, side.value, attempt):
                self.tx.write("attempts")[i] = {**r, **values}

    def plan_attempts(self, run_id: str) -> list[PlanAttemptRecord]:
        return [PlanAttemptRecord.model_validate({k: v for k, v in r.items() if k != "id"})
                for r in self.t.attempts.values() if r["run_id"] == run_id]

    # -- orders ---------------------------------------------------------------------------------
    def add_order(self, *, run_id: str, account: str, side: Side, ticker: str, name: str, quantity: int,
                  attempt: int, seq: int, status: OrderStatus, created_at: datetime,
                  fence: Fence) -> OrderRecord:
        self._hold(run_id, fence)
        new = row("orders", dict(
            run_id=run_id, account=account, side=side, ticker=ticker, name=name, quantity=quantity,
            attempt=attempt, seq=seq, status=status, odno=None, org_no=None, filled_quantity=0, avg_price=0.0,
            amount=0, fees=0, sends=0, send_started_at=None, broker_code=None, message=None,
            created_at=created_at, sent_at=None, updated_at=None))
        self._unique("orders", new, "run_id", "side", "ticker", "seq")
        return self._order(self._insert("orders", new))

    def _order(self, order_id: int) -> OrderRecord:
        return OrderRecord.model_validate({k: v for k, v in self.t.orders[order_id].items() if k != "account"})

    def update_order(self, order_id: int, *, fence: Fence, **fields: Any) -> OrderRecord:
        r = self.t.orders.get(order_id)
        if r is None:
            raise KeyError(order_id)
        self._hold(r["run_id"], fence)
        self.tx.write("orders")[order_id] = {**r, **_checked("orders", fields)}
        return self._order(order_id)

    def orders(self, run_id: str) -> list[OrderRecord]:
        return [self._order(i) for i, r in self.t.orders.items() if r["run_id"] == run_id]

    def known_odnos(self, account: str, since: datetime) -> set[str]:
        return {r["odno"] for r in self.t.orders.values()
                if r["account"] == account and r["odno"] is not None and r["created_at"] >= since}

    # -- leases ---------------------------------------------------------------------------------
    def acquire_lease(self, run_id: str, owner: str, now: datetime, ttl_s: float,
                      steal_if: Callable[[str], bool] | None = None) -> Fence | None:
        exp = now + timedelta(seconds=ttl_s)
        r = self.t.runs.get(run_id)
        held_by = None if r is None else r["lease_owner"]
        expired = r is not None and r["lease_expires_at"] is not None and r["lease_expires_at"] < now
        if r is None or not (held_by is None or held_by == owner or expired):
            current = self.get_run(run_id).lease_owner  # raises RunNotFound
            if steal_if is None or not current or not steal_if(current):
                return None
        epoch = r["lease_epoch"] if held_by == owner else r["lease_epoch"] + 1
        self.tx.write("runs")[run_id] = {**r, **row("runs", dict(lease_owner=owner, lease_expires_at=exp,
                                                                 lease_epoch=epoch))}
        return Fence(owner, epoch)

    def renew_lease(self, run_id: str, fence: Fence, now: datetime, ttl_s: float) -> bool:
        r = self.t.runs.get(run_id)
        if r is None or (r["lease_owner"], r["lease_epoch"]) != (fence.owner, fence.epoch):
            return False
        self.tx.write("runs")[run_id] = {**r, **row("runs", {"lease_expires_at": now + timedelta(seconds=ttl_s)})}
        return True

    def release_lease(self, run_id: str, fence: Fence) -> None:
        r = self.t.runs.get(run_id)
        if r is None or (r["lease_owner"], r["lease_epoch"]) != (fence.owner, fence.epoch):
            raise lost_lease(self.get_run(run_id), fence)
        self.tx.write("runs")[run_id] = {**r, "lease_owner": None, "lease_expires_at": None}

    # -- targets, thresholds, history -----------------------------------------------------------
    def latest_targets(self) -> StrategyDecision | None:
        found = self.decisions(limit=1)
        return found[0] if found else None

    def decisions(self, limit: int = 20, offset: int = 0) -> list[StrategyDecision]:
        rows = sorted(self.t.decisions.values(), key=lambda r: (r["decided_at"], r["id"]), reverse=True)
        out = []
        for r in rows[offset:offset + limit]:
            targets = Targets.model_validate({"mp_id": r["mp_id"], "mp": r["mp"], "sub_mp": r["sub_mp"],
                                              "names": r["names"] or {}, "decided_at": r["decided_at"]})
            out.append(StrategyDecision(id=r["id"], decided_at=r["decided_at"], targets=targets,
                                        decided_by=r.get("decided_by")))
        return out

    def count_decisions(self) -> int:
        return len(self.t.decisions)

    def add_targets(self, targets: Targets, decided_at: datetime, decided_by: str | None = None) -> StrategyDecision:
        new_id = self._insert("decisions", row("decisions", dict(
            decided_at=decided_at, mp_id=targets.mp_id, mp=targets.mp, sub_mp=targets.sub_mp, names=targets.names,
            decided_by=decided_by)))
        return StrategyDecision(id=new_id, decided_at=decided_at, targets=targets, decided_by=decided_by)

    def latest_thresholds(self) -> Thresholds:
        if not self.t.config:
            return Thresholds()
        r = self.t.config[max(self.t.config)]
        return Thresholds(mp=r["mp_threshold_percent"], sub_mp=r["sub_mp_threshold_percent"])

    def add_thresholds(self, thresholds: Thresholds, at: datetime) -> None:
        self._insert("config", row("config", dict(mp_threshold_percent=float(thresholds.mp),
                                                  sub_mp_threshold_percent=float(thresholds.sub_mp), updated_at=at)))

    def config_rows(self, limit: int = 20) -> list[ConfigRow]:
        return [ConfigRow(**self.t.config[i]) for i in sorted(self.t.config, reverse=True)[:limit]]

    def add_history(self, record: HistoryRecord, *, fence: Fence) -> None:
        """One row per finished run: a run finished again replaces its row (as the SQL store)."""
        self._hold(record.run_id, fence)
        table = self.tx.write("history")
        for i in [i for i, r in table.items() if r["run_id"] == record.run_id]:
            del table[i]
        self._insert("history", row("history", {**record.model_dump(mode="json"),
                                                "executed_at": record.executed_at}))

    def history(self, limit: int = 50) -> list[HistoryRecord]:
        rows = sorted(self.t.history.values(), key=lambda r: (r["executed_at"], r["id"]), reverse=True)
        return [HistoryRecord.model_validate({k: v for k, v in r.items() if k != "id"}) for r in rows[:limit]]

    def history_of(self, run_id: str) -> HistoryRecord | None:
        found = [r for r in self.t.history.values() if r["run_id"] == run_id]
        return HistoryRecord.model_validate({k: v for k, v in found[0].items() if k != "id"}) if found else None

    # -- schedule claims: one row per (account, due_at), the unique key deciding the one winner ----
    def claim_slot(self, account: str, due_at: datetime, owner: str, now: datetime) -> tuple[bool, Claim]:
        key = (account, utc(due_at))
        old = self.t.claims.get(key)
        if old is not None:
            return False, Claim(**old)
        new = row("claims", dict(account=account, due_at=due_at, claimed_by=owner, claimed_at=now,
                                 run_id=None, outcome=None))
        self.tx.write("claims")[key] = new
        return True, Claim(**new)

    def get_claim(self, account: str, due_at: datetime) -> Claim | None:
        old = self.t.claims.get((account, utc(due_at)))
        return Claim(**old) if old is not None else None

    def record_outcome(self, account: str, due_at: datetime, *, run_id: str | None = None,
                       outcome: str | None = None) -> None:
        key = (account, utc(due_at))
        old = self.t.claims.get(key)
        if old is None:
            return
        changes: dict[str, Any] = {}
        if run_id is not None:
            changes["run_id"] = run_id
        if outcome is not None:
            changes["outcome"] = outcome[:2000]
        self.tx.write("claims")[key] = {**old, **changes}

    def claims(self, account: str | None = None, limit: int = 50) -> list[Claim]:
        rows = [r for r in self.t.claims.values() if account is None or r["account"] == account]
        rows.sort(key=lambda r: r["due_at"], reverse=True)
        return [Claim(**r) for r in rows[:limit]]
