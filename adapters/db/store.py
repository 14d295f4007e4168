"""The SQLAlchemy unit of work: the :class:`statemachine.ports.UnitOfWork` over one connection."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, RowMapping, Select, and_, bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError

from adapters.db import checkpoint as fast
from adapters.db import claims as slots
from adapters.db import tables as t
from statemachine.errors import LeaseHeld, RunNotFound
from statemachine.models import OrderRecord, OrderStatus, Side, Targets, Thresholds
from statemachine.ports import Claim, ConfigRow, UnitOfWork, lost_lease
from statemachine.records import (
    Checkpoint,
    Fence,
    HistoryRecord,
    PlanAttemptRecord,
    RunRecord,
    StrategyDecision,
    TransitionRecord,
)


class SqlUnitOfWork(UnitOfWork):
    """Fencing: a fenced write first locks the run's row (``SELECT ... FOR UPDATE`` on PostgreSQL;
    SQLite transactions begin IMMEDIATE, so the whole database is locked for writing) and checks
    the (owner, epoch) in it, in the same transaction as the write. A takeover updates that row,
    so it waits for this transaction or this transaction sees it: never both writers. Once checked
    the lock is held until the transaction ends, so later writes of the transaction skip the check."""

    def __init__(self, engine: Engine, writer: fast.Writer | None = None) -> None:
        self.engine = engine
        self.writer = writer  # the process's checkpoint connection (adapters.db.checkpoint)
        # No connection is taken from the pool until a statement needs one (a unit of work that
        # only saves a checkpoint goes through the writer and never does), and no transaction is
        # begun here nor after a commit: the first statement begins one (SQLite: BEGIN IMMEDIATE,
        # adapters.db.connect), so a unit of work costs exactly the transactions it uses, and
        # leaving it after a commit rolls nothing back.
        self._conn: Connection | None = None
        self._snapshot = False  # PostgreSQL: the reads share one REPEATABLE READ transaction (snapshot())
        self._held: set[tuple[str, Fence]] = set()  # checked (and locked) in this transaction

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    def _in_transaction(self) -> bool:
        return self._conn is not None and self._conn.in_transaction()

    def snapshot(self) -> None:
        """PostgreSQL: the unit of work's transaction becomes REPEATABLE READ, so its reads share one
        snapshot (under READ COMMITTED each statement takes its own, and a run's row read before a
        concurrent checkpoint and its steps read after it would disagree). SQLite: its transaction,
        begun IMMEDIATE by the first read, already reads one state."""
        if self.engine.dialect.name != "postgresql":
            return
        if self._in_transaction():
            raise RuntimeError("snapshot() must come before the unit of work's first statement")
        self.conn.execution_options(isolation_level="REPEATABLE READ")  # reset when the connection returns
        self._snapshot = True

    def _read(self, q: Select[Any]) -> Sequence[RowMapping]:
        """The rows of a plain ``SELECT`` (no lock). On PostgreSQL, when this unit of work has no
        transaction open, the statement runs in autocommit on a connection of its own: one round
        trip instead of ``BEGIN``, ``SELECT``, ``ROLLBACK``. It sees what it would have seen as the
        first statement of a transaction: under READ COMMITTED (the engine never sets another, and
        a server whose default is another level keeps every read in its transaction) every
        statement takes its own snapshot and a plain ``SELECT`` locks nothing, and with no
        transaction open there is nothing of this unit of work's own it could miss. SQLite keeps
        the unit of work's transaction: it begins IMMEDIATE (the write lock), which a read followed
        by a write relies on."""
        dialect = self.engine.dialect
        if dialect.name == "postgresql" and dialect.default_isolation_level == "READ COMMITTED" \
                and not self._in_transaction() and not self._snapshot:
            with self.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                return conn.execute(q).mappings().all()
        return self.conn.execute(q).mappings().all()

    def __exit__(self, *exc: object) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if conn.in_transaction():
                conn.rollback()
        finally:
            conn.close()

    def commit(self) -> None:
        self._held.clear()
        if self._in_transaction():
            self.conn.commit()

    def rollback(self) -> None:
        self._held.clear()
        if self._in_transaction():
            self.conn.rollback()  # the unit of work goes on: the next statement begins anew

    # -- fencing --------------------------------------------------------------------------------
    def _hold(self, run_id: str, fence: Fence) -> None:
        """Lock the run's row and check ``fence`` holds its lease; raise LeaseHeld otherwise."""
        if (run_id, fence) in self._held:
            return
        c = t.runs.c
        row = self.conn.execute(select(c.lease_owner, c.lease_epoch).where(c.id == run_id)
                                .with_for_update()).first()
        if row is None:
            raise RunNotFound(f"no run with id '{run_id}'", run_id=run_id)
        if (row.lease_owner, row.lease_epoch) != (fence.owner, fence.epoch):
            raise lost_lease(self.get_run(run_id), fence)
        self._held.add((run_id, fence))

    def _order_run(self, order_id: int) -> str:
        run_id = self.conn.execute(select(t.orders.c.run_id).where(t.orders.c.id == order_id)).scalar()
        if run_id is None:
            raise KeyError(order_id)
        return str(run_id)

    # -- one durable fact, one transaction (adapters.db.checkpoint) -------------------------------
    def save(self, cp: Checkpoint) -> int | None:
        """The checkpoint in one transaction on the driver's own cursor (one statement on
        PostgreSQL). A unit of work that already read or wrote something goes through the single
        writes instead, in its open transaction."""
        dialect = self.engine.dialect
        if self._in_transaction() or (self.writer is None and dialect.name != "sqlite"):
            return super().save(cp)
        self._held.clear()
        p = fast.plan(cp)
        try:
            if self.writer is None:  # an in-memory SQLite database: its one connection is the pool's
                ok, new_id = fast.save_sqlite(self.conn.connection.dbapi_connection, dialect, p)
            else:
                ok, new_id = self.writer.save(p)
        except fast.WriteFailed as exc:
            raise KeyError(exc.write.key.get("id")) from None
        except dialect.loaded_dbapi.Error as exc:
            raise self._driver_error(exc, cp) from exc
        if not ok:
            self._refused(cp)
        return new_id

    def _driver_error(self, exc: Exception, cp: Checkpoint) -> BaseException:
        dialect = self.engine.dialect
        text_ = str(exc)
        if getattr(exc, "sqlstate", None) == "22012":  # PostgreSQL division_by_zero: an order update found no
            # row (the guard of checkpoint.pg_statement)
            return KeyError(", ".join(str(k) for k in cp.order_updates))
        if isinstance(exc, dialect.loaded_dbapi.IntegrityError) and (
                fast.ACTIVE_ACCOUNT in text_ or "runs.account" in text_):
            if cp.new_run is not None:
                return self._active_run(cp.new_run.account)
            return LeaseHeld(f"account of run {cp.run_id} already has another active run; not reopening it",
                             run_id=cp.run_id)
        if self._conn is not None and self.writer is None and isinstance(
                exc, dialect.loaded_dbapi.OperationalError | dialect.loaded_dbapi.InterfaceError):
            self._conn.invalidate()  # a broken connection goes back to no pool
        return self._sqlalchemy_error(exc)

    def _sqlalchemy_error(self, exc: Exception) -> StatementError:
        """A driver's error as SQLAlchemy raises it for any statement (no parameters in its text)."""
        dialect = self.engine.dialect
        return DBAPIError.instance(None, None, exc, dialect.loaded_dbapi.Error, hide_parameters=True,
                                   dialect=dialect)

    def _refused(self, cp: Checkpoint) -> None:
        """The run's row refused the checkpoint (nothing was written): say why, as the single writes do."""
        run = self.get_run(cp.run_id)  # raises RunNotFound
        if run.fence != cp.fence:
            raise lost_lease(run, cp.fence)
        raise LeaseHeld(f"run {cp.run_id} moved on under this process (expected checkpoint {cp.expect_seq}); "
                        f"another process is driving it", run_id=cp.run_id)

    def _active_run(self, account: str) -> LeaseHeld:
        active = self.find_runs(account=account, statuses=["RUNNING", "BLOCKED"], limit=1)
        other = active[0].id if active else "?"
        return LeaseHeld(f"account {account} already has an active run ({other}); resume or abort it first",
                         account=account, run_id=other)

    # -- runs ---------------------------------------------------------------------------------
    def add_run(self, run: RunRecord) -> None:
        row = run.model_dump(mode="json")
        row.update(created_at=run.created_at, updated_at=run.updated_at, lease_expires_at=run.lease_expires_at,
                   finished_at=run.finished_at)
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(t.runs).values(**row))
        except IntegrityError as exc:
            raise self._active_run(run.account) from exc

    def get_run(self, run_id: str) -> RunRecord:
        return _run(_first(self._read(select(t.runs).where(t.runs.c.id == run_id))), run_id)

    def _peeks(self) -> bool:
        """A peek goes to the checkpoint connection: there is one, and this unit of work has no
        transaction (nor snapshot) its reads belong to."""
        return self.writer is not None and not self._snapshot and not self._in_transaction()

    def _peek(self, table: Any, where: tuple[str, ...] = (), params: tuple[Any, ...] = (),
              tail: str = "") -> list[dict[str, Any]]:
        """The writer's select; a driver error raised as SQLAlchemy's, as every other statement's."""
        assert self.writer is not None
        try:
            return self.writer.select(table, where, params, tail)
        except self.engine.dialect.loaded_dbapi.Error as exc:
            raise self._sqlalchemy_error(exc) from exc

    def peek_run(self, run_id: str) -> RunRecord:
        if not self._peeks():
            return self.get_run(run_id)
        return _run(_first(self._peek(t.runs, ("id",), (run_id,))), run_id)

    def find_runs(self, *, account: str | None = None, statuses: list[str] | None = None,
                  limit: int = 50) -> list[RunRecord]:
        q = select(t.runs).order_by(t.runs.c.created_at.desc(), t.runs.c.id.desc()).limit(limit)
        if account:
            q = q.where(t.runs.c.account == account)
        if statuses:
            q = q.where(t.runs.c.status.in_(statuses))
        return [RunRecord.model_validate(dict(r)) for r in self._read(q)]

    def update_run(self, run_id: str, *, fence: Fence, expect_seq: int | None = None, **fields: Any) -> None:
        values = {k: fast.plain(v) for k, v in fields.items()}
        params = {f"v_{k}": v for k, v in values.items()}
        params.update(f_id=run_id, f_owner=fence.owner, f_epoch=fence.epoch, f_seq=expect_seq)
        try:
            res = self.conn.execute(_update_run_fenced(tuple(sorted(values)), expect_seq is not None), params)
        except IntegrityError as exc:  # uq_runs_active_account: a finished run made active again (a retry)
            raise LeaseHeld(f"account of run {run_id} already has another active run; not reopening it",
                            run_id=run_id) from exc
        if res.rowcount != 1:
            self._refused(Checkpoint(run_id=run_id, fence=fence, expect_seq=expect_seq))
        self._held.add((run_id, fence))  # the row is locked (updated) by this transaction now

    def add_transition(self, record: TransitionRecord, *, fence: Fence) -> None:
        self._hold(record.run_id, fence)
        self.conn.execute(_insert(t.run_transitions), record.model_dump())

    def transitions(self, run_id: str) -> list[TransitionRecord]:
        q = select(t.run_transitions).where(t.run_transitions.c.run_id == run_id).order_by(t.run_transitions.c.seq)
        return [TransitionRecord.model_validate({k: v for k, v in dict(r).items() if k != "id"})
                for r in self._read(q)]

    def put_output(self, run_id: str, seq: int, kind: str, payload: dict[str, Any], *, fence: Fence) -> None:
        self._hold(run_id, fence)
        self.conn.execute(_insert(t.step_outputs), {"run_id": run_id, "seq": seq, "kind": kind, "payload": payload})

    def outputs(self, run_id: str) -> dict[str, dict[str, Any]]:
        q = select(t.step_outputs).where(t.step_outputs.c.run_id == run_id).order_by(t.step_outputs.c.seq)
        return {r["kind"]: r["payload"] for r in self._read(q)}

    def add_plan_attempt(self, record: PlanAttemptRecord, *, fence: Fence) -> None:
        self._hold(record.run_id, fence)
        row = record.model_dump(mode="json")
        row["created_at"] = record.created_at
        self.conn.execute(_insert(t.plan_attempts), row)

    def update_plan_attempt(self, run_id: str, side: Side, attempt: int, *, fence: Fence, **fields: Any) -> None:
        self._hold(run_id, fence)
        self.conn.execute(update(t.plan_attempts).where(and_(
            t.plan_attempts.c.run_id == run_id, t.plan_attempts.c.side == side.value,
            t.plan_attempts.c.attempt == attempt)).values(**fields))

    def plan_attempts(self, run_id: str) -> list[PlanAttemptRecord]:
        q = (select(t.plan_attempts).where(t.plan_attempts.c.run_id == run_id)
             .order_by(t.plan_attempts.c.id))
        return [PlanAttemptRecord.model_validate({k: v for k, v in dict(r).items() if k != "id"})
                for r in self._read(q)]

    # -- orders ---------------------------------------------------------------------------------
    def add_order(self, *, run_id: str, account: str, side: Side, ticker: str, name: str, quantity: int,
                  attempt: int, seq: int, status: OrderStatus, created_at: datetime,
                  fence: Fence) -> OrderRecord:
        values: dict[str, Any] = dict(
            run_id=run_id, account=account, side=side.value, ticker=ticker, name=name, quantity=quantity,
            attempt=attempt, seq=seq, status=status.value, created_at=created_at, filled_quantity=0,
            avg_price=0.0, amount=0, fees=0, sends=0)
        # the fence is checked (and the run's row locked) by the INSERT itself: one statement
        params = {f"v_{k}": v for k, v in values.items()}
        row = self.conn.execute(_insert_order_fenced(), {**params, "f_run": run_id, "f_owner": fence.owner,
                                                         "f_epoch": fence.epoch}).mappings().first()
        if row is None:
            raise lost_lease(self.get_run(run_id), fence)  # get_run raises RunNotFound
        self._held.add((run_id, fence))
        return _order_record(row)

    def update_order(self, order_id: int, *, fence: Fence, **fields: Any) -> OrderRecord:
        """One statement: the fence is checked (and the run's row locked) by the UPDATE's condition."""
        values = {k: fast.plain(v) for k, v in fields.items()}
        q = _update_order_fenced(tuple(sorted(values)))
        row = self.conn.execute(q, {**{f"v_{k}": v for k, v in values.items()}, "f_id": order_id,
                                    "f_owner": fence.owner, "f_epoch": fence.epoch}).mappings().first()
        if row is None:
            raise lost_lease(self.get_run(self._order_run(order_id)), fence)  # KeyError: no such order
        self._held.add((str(row["run_id"]), fence))
        return _order_record(row)

    def orders(self, run_id: str) -> list[OrderRecord]:
        q = select(t.orders).where(t.orders.c.run_id == run_id).order_by(t.orders.c.id)
        return [_order_record(r) for r in self._read(q)]

    def known_odnos(self, account: str, since: datetime) -> set[str]:
        q = select(t.orders.c.odno).where(and_(t.orders.c.account == account, t.orders.c.odno.is_not(None),
                                               t.orders.c.created_at >= since))
        return {r["odno"] for r in self._read(q)}

    # -- leases ---------------------------------------------------------------------------------
    def acquire_lease(self, run_id: str, owner: str, now: datetime, ttl_s: float,
                      steal_if: Callable[[str], bool] | None = None) -> Fence | None:
        exp = now + timedelta(seconds=ttl_s)
        c = t.runs.c
        self._held.clear()
        # the same owner keeps its epoch; anyone else (a free lease included: NULL = owner is NULL) bumps it
        epoch = case((c.lease_owner == owner, c.lease_epoch), else_=c.lease_epoch + 1)
        res = self.conn.execute(update(t.runs).where(and_(
            c.id == run_id,
            or_(c.lease_owner.is_(None), c.lease_owner == owner, c.lease_expires_at < now),
        )).values(lease_owner=owner, lease_expires_at=exp, lease_epoch=epoch))
        if res.rowcount != 1:
            current = self.get_run(run_id).lease_owner
            if steal_if is None or not current or not steal_if(current):
                return None
            res = self.conn.execute(update(t.runs).where(and_(c.id == run_id, c.lease_owner == current))
                                    .values(lease_owner=owner, lease_expires_at=exp, lease_epoch=c.lease_epoch + 1))
            if res.rowcount != 1:
                return None
        return Fence(owner, int(self.conn.execute(select(c.lease_epoch).where(c.id == run_id)).scalar_one()))

    def renew_lease(self, run_id: str, fence: Fence, now: datetime, ttl_s: float) -> bool:
        c = t.runs.c
        res = self.conn.execute(update(t.runs).where(and_(c.id == run_id, c.lease_owner == fence.owner,
                                                          c.lease_epoch == fence.epoch))
                                .values(lease_expires_at=now + timedelta(seconds=ttl_s)))
        if res.rowcount == 1:
            self._held.add((run_id, fence))  # the row is locked (updated) by this transaction now
            return True
        return False

    def release_lease(self, run_id: str, fence: Fence) -> None:
        c = t.runs.c
        self._held.discard((run_id, fence))
        res = self.conn.execute(update(t.runs).where(and_(c.id == run_id, c.lease_owner == fence.owner,
                                                          c.lease_epoch == fence.epoch))
                                .values(lease_owner=None, lease_expires_at=None))
        if res.rowcount != 1:
            raise lost_lease(self.get_run(run_id), fence)

    # -- targets, thresholds, history ---------------------------------------------------------------
    def latest_targets(self) -> StrategyDecision | None:
        found = self.decisions(limit=1)
        return found[0] if found else None

    def decisions(self, limit: int = 20, offset: int = 0) -> list[StrategyDecision]:
        q = (select(t.ai_strategy_decisions)
             .order_by(t.ai_strategy_decisions.c.decided_at.desc(), t.ai_strategy_decisions.c.id.desc())
             .limit(limit).offset(offset))
        return [_decision(row) for row in self._read(q)]

    def count_decisions(self) -> int:
        return int(self._read(select(func.count().label("n")).select_from(t.ai_strategy_decisions))[0]["n"])

    def add_targets(self, targets: Targets, decided_at: datetime, decided_by: str | None = None) -> StrategyDecision:
        res = self.conn.execute(insert(t.ai_strategy_decisions).values(
            decided_at=decided_at, mp_id=targets.mp_id, mp=targets.mp, sub_mp=targets.sub_mp, names=targets.names,
            decided_by=decided_by))
        return StrategyDecision(id=_new_id(res), decided_at=decided_at, targets=targets, decided_by=decided_by)

    def latest_thresholds(self) -> Thresholds:
        q = select(t.rebalancing_config).order_by(t.rebalancing_config.c.id.desc()).limit(1)
        return _thresholds(_first(self._read(q)))

    def peek_thresholds(self) -> Thresholds:
        if not self._peeks():
            return self.latest_thresholds()
        return _thresholds(_first(self._peek(t.rebalancing_config, tail="ORDER BY id DESC LIMIT 1")))

    def add_thresholds(self, thresholds: Thresholds, at: datetime) -> None:
        self.conn.execute(insert(t.rebalancing_config).values(
            mp_threshold_percent=thresholds.mp, sub_mp_threshold_percent=thresholds.sub_mp, updated_at=at))

    def config_rows(self, limit: int = 20) -> list[ConfigRow]:
        q = select(t.rebalancing_config).order_by(t.rebalancing_config.c.id.desc()).limit(limit)
        return [ConfigRow(**dict(r)) for r in self._read(q)]

    def add_history(self, record: HistoryRecord, *, fence: Fence) -> None:
        """One row per finished run: a run retried by an operator and finished again replaces its row
        (the earlier outcome stays in the run's transitions)."""
        self._hold(record.run_id, fence)
        row = record.model_dump(mode="json")
        row["executed_at"] = record.executed_at
        h = t.rebalancing_history
        self.conn.execute(delete(h).where(h.c.run_id == record.run_id))
        self.conn.execute(insert(t.rebalancing_history).values(**row))

    def history(self, limit: int = 50) -> list[HistoryRecord]:
        q = select(t.rebalancing_history).order_by(t.rebalancing_history.c.executed_at.desc(),
                                                   t.rebalancing_history.c.id.desc()).limit(limit)
        return [HistoryRecord.model_validate({k: v for k, v in dict(r).items() if k != "id"})
                for r in self._read(q)]

    def history_of(self, run_id: str) -> HistoryRecord | None:
        h = t.rebalancing_history
        row = _first(self._read(select(h).where(h.c.run_id == run_id).order_by(h.c.id.desc()).limit(1)))
        return None if row is None else HistoryRecord.model_validate({k: v for k, v in dict(row).items()
                                                                      if k != "id"})

    # -- schedule claims (adapters.db.claims) ---------------------------------------------------------
    def claim_slot(self, account: str, due_at: datetime, owner: str, now: datetime) -> tuple[bool, Claim]:
        return slots.claim_slot(self.conn, account, due_at, owner, now)

    def get_claim(self, account: str, due_at: datetime) -> Claim | None:
        return slots.get_claim(self.conn, account, due_at)

    def record_outcome(self, account: str, due_at: datetime, *, run_id: str | None = None,
                       outcome: str | None = None) -> None:
        slots.record_outcome(self.conn, account, due_at, run_id=run_id, outcome=outcome)

    def claims(self, account: str | None = None, limit: int = 50) -> list[Claim]:
        return slots.claims(self.conn, account, limit)


_ORDER_COLUMNS = ("run_id", "account", "side", "ticker", "name", "quantity", "attempt", "seq", "status", "created_at",
                  "filled_quantity", "avg_price", "amount", "fees", "sends")


@functools.cache
def _insert(table: Any) -> Any:
    """A plain INSERT of ``table``, built once (the values come with each execution)."""
    return insert(table)


@functools.cache
def _update_run_fenced(columns: tuple[str, ...], with_seq: bool) -> Any:
    """UPDATE runs SET ... WHERE id = :id AND the fence holds [AND seq = :seq] (built once per column set)."""
    c = t.runs.c
    cond = and_(c.id == bindparam("f_id"), c.lease_owner == bindparam("f_owner"), c.lease_epoch == bindparam("f_epoch"))
    if with_seq:
        cond = and_(cond, c.seq == bindparam("f_seq"))
    return update(t.runs).where(cond).values({k: bindparam(f"v_{k}", type_=c[k].type) for k in columns})


@functools.cache
def _insert_order_fenced() -> Any:
    """INSERT INTO orders ... SELECT :values FROM runs WHERE the fence holds FOR UPDATE RETURNING *
    (built once: the order writes are the hot path of a run)."""
    o, c = t.orders, t.runs.c
    source = (select(*[bindparam(f"v_{k}", type_=o.c[k].type) for k in _ORDER_COLUMNS]).select_from(t.runs)
              .where(and_(c.id == bindparam("f_run"), c.lease_owner == bindparam("f_owner"),
                          c.lease_epoch == bindparam("f_epoch"))).with_for_update())
    return insert(o).from_select(list(_ORDER_COLUMNS), source).returning(*o.c)


@functools.cache
def _update_order_fenced(columns: tuple[str, ...]) -> Any:
    """UPDATE orders SET ... WHERE id = :id AND its run's lease is the fence's (FOR UPDATE) RETURNING *."""
    o, c = t.orders, t.runs.c
    fenced = (select(c.id).where(and_(c.id == o.c.run_id, c.lease_owner == bindparam("f_owner"),
                                      c.lease_epoch == bindparam("f_epoch"))).with_for_update().scalar_subquery())
    return (update(o).where(and_(o.c.id == bindparam("f_id"), o.c.run_id == fenced))
            .values({k: bindparam(f"v_{k}", type_=o.c[k].type) for k in columns}).returning(*o.c))


def _order_record(row: Any) -> OrderRecord:
    return OrderRecord.model_validate({k: v for k, v in dict(row).items() if k != "account"})


def _new_id(result: Any) -> int:
    """The primary key an INSERT just created."""
    key = result.inserted_primary_key
    assert key is not None, "the INSERT returned no primary key"
    return int(key[0])


def _decision(row: Any) -> StrategyDecision:
    targets = Targets.model_validate({"mp_id": row["mp_id"], "mp": row["mp"], "sub_mp": row["sub_mp"],
                                      "names": row["names"] or {}, "decided_at": row["decided_at"]})
    return StrategyDecision(id=row["id"], decided_at=row["decided_at"], targets=targets,
                            decided_by=row["decided_by"])


def _run(row: Mapping[str, Any] | None, run_id: str) -> RunRecord:
    if row is None:
        raise RunNotFound(f"no run with id '{run_id}'", run_id=run_id)
    return RunRecord.model_validate(dict(row))


def _thresholds(row: Mapping[str, Any] | None) -> Thresholds:
    if row is None:
        return Thresholds()
    return Thresholds(mp=row["mp_threshold_percent"], sub_mp=row["sub_mp_threshold_percent"])


def _first(rows: Sequence[Any]) -> Any:
    return rows[0] if rows else None
