"""One durable fact, one transaction, on the database driver's own cursor (issue 18).

:meth:`adapters.db.store.SqlUnitOfWork.save` writes a :class:`~statemachine.records.Checkpoint`
(a transition with its outputs, an order intent, a send's counter) here instead of statement by
statement through SQLAlchemy's execution layer, whose per-statement cost was most of the engine's
persistence. The values are encoded by the same SQLAlchemy column types (their bind processors for
the connection's dialect), so what is stored is byte for byte what the single writes of
``store.py`` store, and both read it back the same way.

* **SQLite**: ``BEGIN IMMEDIATE`` (the database is locked for writing), the fenced write of the
  run's row first, then the other rows, then ``COMMIT``; anything wrong rolls all of it back.
* **PostgreSQL**: ONE statement in an implicit transaction, so one round trip per commit: the
  run's row is written (or locked ``FOR UPDATE``) in the first data-modifying CTE with the fence
  in its ``WHERE``, and every other write selects from it, so a lost lease writes nothing at all.
  An order update that matches no row makes the statement fail (a division by zero in its last
  line: the server rolls the whole statement back), so a checkpoint is never half written.

The outcome comes back as (run row written?, the new order's id); the caller turns a refused
fence into the same errors the single writes raise.

Durability (docs/durability.md, "Durable before every effect"): a checkpoint that is not durable
yet (``Plan.durable`` false) commits without waiting for its flush (SQLite: the checkpoint
connection at ``synchronous=NORMAL``; PostgreSQL: ``synchronous_commit=off`` for its transaction,
set inside its statement); the next durable one flushes the WAL up to itself, and so makes it
durable too.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Integer, String, Table, Text, TypeDecorator
from sqlalchemy.engine import Dialect, Engine

from adapters.db import tables as t
from statemachine.records import Checkpoint

#: the constraint a second active run of an account (or a finished run reopened) breaks
ACTIVE_ACCOUNT = "uq_runs_active_account"


@dataclass(slots=True)  # not frozen: a checkpoint builds a few of them, a frozen one costs more to build
class Write:
    """One row written by a checkpoint: ``insert`` (``upsert`` on ``conflict``) or ``update``
    (of the row ``key`` names, which must exist when ``one``)."""

    table: Table
    verb: str
    values: dict[str, Any]
    key: dict[str, Any] = field(default_factory=dict)
    one: bool = False
    returns_id: bool = False
    conflict: tuple[str, ...] = ()


@dataclass(slots=True)
class Plan:
    """A checkpoint as rows: the run's row first (``insert`` a new run, ``update`` it fenced, or
    ``lock`` it to check the fence), then the rest."""

    run: Write
    rest: list[Write]
    durable: bool = True  # on stable storage before the save returns (statemachine.records.Checkpoint)


class WriteFailed(Exception):
    """The run's row was written but a later row could not be (an order that is not there)."""

    def __init__(self, write: Write) -> None:
        super().__init__(f"{write.table.name} {write.key}")
        self.write = write


def plain(value: Any) -> Any:
    """What the single writes hand SQLAlchemy: a model as JSON data, an enum as its value."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "value"):
        return value.value
    return value


def plan(cp: Checkpoint) -> Plan:
    fence = {"id": cp.run_id, "lease_owner": cp.fence.owner, "lease_epoch": cp.fence.epoch}
    if cp.new_run is not None:
        r = cp.new_run
        row = r.model_dump(mode="json")
        row.update(created_at=r.created_at, updated_at=r.updated_at, lease_expires_at=r.lease_expires_at,
                   finished_at=r.finished_at)
        run = Write(t.runs, "insert", row)
    elif cp.run_fields or cp.release:
        values = {k: plain(v) for k, v in cp.run_fields.items()}
        if cp.release:
            values.update(lease_owner=None, lease_expires_at=None)
        key = dict(fence, seq=cp.expect_seq) if cp.expect_seq is not None else fence
        run = Write(t.runs, "update", values, key, one=True)
    else:
        run = Write(t.runs, "lock", {}, fence, one=True)
    rest: list[Write] = []
    if cp.transition is not None:
        rest.append(Write(t.run_transitions, "insert", cp.transition.model_dump()))
    for kind, payload in cp.outputs.items():
        rest.append(Write(t.step_outputs, "insert", {"run_id": cp.run_id, "seq": cp.output_seq, "kind": kind,
                                                     "payload": payload}))
    if cp.new_attempt is not None:
        row = cp.new_attempt.model_dump(mode="json")
        row["created_at"] = cp.new_attempt.created_at
        rest.append(Write(t.plan_attempts, "insert", row))
    if cp.attempt_update is not None:
        side, n, upd = cp.attempt_update
        rest.append(Write(t.plan_attempts, "update", {k: plain(v) for k, v in upd.items()},
                          {"run_id": cp.run_id, "side": side.value, "attempt": n}))
    for order_id, upd in cp.order_updates.items():
        rest.append(Write(t.orders, "update", {k: plain(v) for k, v in upd.items()},
                          {"id": order_id, "run_id": cp.run_id}, one=True))
    if cp.new_order is not None:
        o = cp.new_order
        rest.append(Write(t.orders, "insert", {
            "run_id": cp.run_id, "account": o.account, "side": o.side.value, "ticker": o.ticker, "name": o.name,
            "quantity": o.quantity, "attempt": o.attempt, "seq": o.seq, "status": o.status.value,
            "created_at": o.created_at, "filled_quantity": 0, "avg_price": 0.0, "amount": 0, "fees": 0, "sends": 0},
            returns_id=True))
    if cp.history is not None:
        row = cp.history.model_dump(mode="json")
        row["executed_at"] = cp.history.executed_at
        # one row per run: a run retried and finished again replaces its row
        rest.append(Write(t.rebalancing_history, "upsert", row, conflict=("run_id",)))
    return Plan(run, rest, cp.durable)


# -- encoding: the columns' own SQLAlchemy types ---------------------------------------------------
@functools.cache
def _processors(dialect: Dialect, table: str, columns: tuple[str, ...]) -> tuple[Any, ...]:
    """Each column's bind processor; on SQLite two in one step each, the same text as SQLAlchemy's
    (tests/unit/test_checkpoint_encoding.py): the UTC datetimes, and JSON (``json.dumps``, which is
    what SQLAlchemy's JSON type calls with the default serializer; ``None`` is JSON ``null``, as
    there with ``none_as_null`` off)."""
    cols = t.metadata.tables[table].c
    out: list[Any] = []
    for c in columns:
        type_ = cols[c].type
        if dialect.name == "sqlite" and isinstance(type_, t.UTCDateTime):
            out.append(_sqlite_utc)
        elif dialect.name == "sqlite" and isinstance(type_, JSON) and not type_.none_as_null \
                and dialect._json_serializer is None:
            out.append(json.dumps)
        else:
            out.append(type_.dialect_impl(dialect).bind_processor(dialect))
    return tuple(out)


def _sqlite_utc(value: datetime | None) -> str | None:
    """:class:`adapters.db.tables.UTCDateTime` on SQLite in one step: the UTC time, naive, in
    SQLAlchemy's SQLite storage format (the same text; the byte-for-byte tests hold it)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    v = value.astimezone(UTC)
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"


@functools.cache
def _cast(table: str, column: str) -> str:
    """PostgreSQL: the parameter's type, so a NULL selected into a column has the column's type.
    Without a length: an explicit cast to varchar(n) would silently cut an over-long value."""
    type_ = t.metadata.tables[table].c[column].type
    if isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    for kind, name in ((JSON, "JSON"), (Boolean, "BOOLEAN"), (BigInteger, "BIGINT"), (Integer, "INTEGER"),
                       (Float, "FLOAT"), (Text, "TEXT"), (String, "VARCHAR")):
        if isinstance(type_, kind):
            return name
    if isinstance(type_, DateTime):
        return "TIMESTAMP WITH TIME ZONE" if type_.timezone else "TIMESTAMP WITHOUT TIME ZONE"
    raise TypeError(f"no PostgreSQL cast for {table}.{column} ({type_!r})")


def _shape(w: Write) -> tuple[Any, ...]:
    """What a statement's text depends on (its values do not)."""
    return (w.table.name, w.verb, tuple(w.values), tuple(w.key), w.one, w.returns_id, w.conflict)


@functools.cache
def _select_sql(dialect: Dialect, table: str, where: tuple[str, ...], tail: str) -> tuple[str, tuple[str, ...]]:
    """A plain ``SELECT`` of every column of ``table``: its text for the driver, and the columns."""
    cols = t.metadata.tables[table].c
    q = dialect.identifier_preparer.quote
    mark = "?" if dialect.name == "sqlite" else "%s"
    sql = f"SELECT {', '.join(q(c.name) for c in cols)} FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(f"{q(k)} = {mark}" for k in where)
    if tail:
        sql += f" {tail}"
    return sql, tuple(c.name for c in cols)


@functools.cache
def _result_processors(dialect: Dialect, table: str, types: tuple[Any, ...]) -> tuple[Any, ...]:
    """Each column's result processor, the one SQLAlchemy applies reading it through the same dialect
    (``types``: the driver's type codes of the columns, in order, as SQLAlchemy passes them)."""
    cols = t.metadata.tables[table].c
    return tuple(c.type.dialect_impl(dialect).result_processor(dialect, code)
                 for c, code in zip(cols, types, strict=True))


# -- SQLite: one transaction, statement by statement -----------------------------------------------
@functools.cache
def _sqlite_sql(dialect: Dialect, shape: tuple[Any, ...]) -> str:
    name, verb, columns, keys, _, _, conflict = shape
    q = dialect.identifier_preparer.quote
    where = " AND ".join(f"{q(k)} = ?" for k in keys)
    if verb == "lock":
        return f"SELECT id FROM {name} WHERE {where}"
    if verb in ("insert", "upsert"):
        sql = f"INSERT INTO {name} ({', '.join(q(c) for c in columns)}) VALUES ({', '.join('?' * len(columns))})"
        if verb == "upsert":
            sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in columns if c not in conflict)
            sql += f" ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {sets}"
        return sql
    return f"UPDATE {name} SET {', '.join(f'{q(c)} = ?' for c in columns)} WHERE {where}"


@functools.cache
def _sqlite_compiled(dialect: Dialect, shape: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """A shape of write, once: its statement and its values' processors."""
    return _sqlite_sql(dialect, shape), _processors(dialect, shape[0], shape[2])


def sqlite_statement(dialect: Dialect, w: Write, fence: Write | None = None) -> tuple[str, list[Any]]:
    """The statement of ``w`` and its parameters; with ``fence`` (the run's ``lock``), made only
    where the run's row holds that fence (:func:`_sqlite_fenced`)."""
    shape = _shape(w)
    sql, procs = _sqlite_compiled(dialect, shape)
    params = [v if proc is None else proc(v) for proc, v in zip(procs, w.values.values(), strict=True)]
    params += w.key.values()
    if fence is not None:
        sql = _sqlite_fenced(dialect, shape, tuple(fence.key))
        params += fence.key.values()
    return sql, params


@functools.cache
def _sqlite_fenced(dialect: Dialect, shape: tuple[Any, ...], fence: tuple[str, ...]) -> str:
    """The write of ``shape`` made only where the run's row holds the fence (``fence``: its key
    columns): the first write of a checkpoint that only checks the run's row, in one statement."""
    name, verb, columns, _, _, _, _ = shape
    q = dialect.identifier_preparer.quote
    held = f"EXISTS (SELECT 1 FROM runs WHERE {' AND '.join(f'{q(k)} = ?' for k in fence)})"
    if verb == "insert":
        return f"INSERT INTO {name} ({', '.join(q(c) for c in columns)}) SELECT {', '.join('?' * len(columns))} " \
               f"WHERE {held}"
    return f"{_sqlite_sql(dialect, shape)} AND {held}"  # an update: its WHERE gains the fence


def save_sqlite(raw: Any, dialect: Dialect, p: Plan) -> tuple[bool, int | None]:
    """``raw``: the sqlite3 connection (autocommit mode: transactions are explicit here).

    A checkpoint that only checks the run's row (an order's intent or counter) checks it in its
    first write's own statement (``_sqlite_fenced``): the database is locked for writing from
    ``BEGIN IMMEDIATE`` on, so the fence checked there holds for the whole transaction. Only when
    that write changes no row is the run's row read, to tell a refused fence (nothing written)
    from an order that is not there."""
    cur = raw.cursor()
    cur.execute("BEGIN IMMEDIATE")
    try:
        rest, new_id = p.rest, None
        first = rest[0] if p.run.verb == "lock" and rest else None
        if first is not None and (first.verb == "insert" or (first.verb == "update" and first.one)):
            cur.execute(*sqlite_statement(dialect, first, fence=p.run))
            if cur.rowcount != 1:
                sql, params = sqlite_statement(dialect, p.run)
                if cur.execute(sql, params).fetchone() is None:
                    cur.execute("ROLLBACK")
                    return False, None
                raise WriteFailed(first)
            if first.returns_id:
                new_id = cur.lastrowid
            rest = rest[1:]
        else:
            sql, params = sqlite_statement(dialect, p.run)
            cur.execute(sql, params)
            ok = (cur.fetchone() is not None) if p.run.verb == "lock" else (p.run.verb == "insert" or
                                                                           cur.rowcount == 1)
            if not ok:
                cur.execute("ROLLBACK")
                return False, None
        for w in rest:
            sql, params = sqlite_statement(dialect, w)
            cur.execute(sql, params)
            if w.one and cur.rowcount != 1:
                raise WriteFailed(w)
            if w.returns_id:
                new_id = cur.lastrowid
        cur.execute("COMMIT")
        return True, new_id
    except BaseException:
        if raw.in_transaction:
            cur.execute("ROLLBACK")
        raise
    finally:
        cur.close()


# -- PostgreSQL: one statement ------------------------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).isoformat()


def _json(value: Any) -> str:
    return json.dumps(value)  # SQLAlchemy's default serializer: the same text as the single writes store


def _bool(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


def _float(value: float | None) -> str | None:
    return None if value is None else repr(float(value))


def _str(value: Any) -> str | None:
    return value if value.__class__ is str else None if value is None else str(value)


@functools.cache
def _text_encoders(table: str, columns: tuple[str, ...]) -> tuple[Any, ...]:
    """PostgreSQL: each value as text, sent untyped (every placeholder is cast to its column's type),
    so a shape of statement always has the same parameter types and the server prepares it once."""
    out: list[Any] = []
    for c in columns:
        cast = _cast(table, c)
        out.append({"JSON": _json, "BOOLEAN": _bool, "FLOAT": _float,
                    "TIMESTAMP WITH TIME ZONE": _iso}.get(cast, _str))
    return tuple(out)


def _pg_sql(dialect: Dialect, shapes: tuple[tuple[Any, ...], ...]) -> str:
    """The checkpoint's one statement (built once a shape, by :func:`_pg_compiled`); its parameters
    are each write's values then its key, in order (and last the number of counted updates)."""
    q = dialect.identifier_preparer.quote

    def casts(name: str, columns: tuple[str, ...]) -> list[str]:
        return [f"%s::{_cast(name, c)}" for c in columns]

    def assign(name: str, columns: tuple[str, ...]) -> str:
        return ", ".join(f"{q(c)} = {v}" for c, v in zip(columns, casts(name, columns), strict=True))

    def where(keys: tuple[str, ...]) -> str:
        return " AND ".join(f"{q(k)} = %s" for k in keys)

    (name, verb, columns, keys, _, _, _), *rest = shapes
    if verb == "insert":
        first = f"INSERT INTO runs ({', '.join(q(c) for c in columns)}) VALUES ({', '.join(casts(name, columns))}) " \
                f"RETURNING id"
    elif verb == "update":
        first = f"UPDATE runs SET {assign(name, columns)} WHERE {where(keys)} RETURNING id"
    else:
        first = f"SELECT id FROM runs WHERE {where(keys)} FOR UPDATE"
    ctes = [f"r AS ({first})"]
    counted: list[str] = []
    new_id = "NULL"
    for i, (name, verb, columns, keys, one, returns_id, conflict) in enumerate(rest):
        cte = f"w{i}"
        if verb in ("insert", "upsert"):
            sql = f"INSERT INTO {name} ({', '.join(q(c) for c in columns)}) SELECT {', '.join(casts(name, columns))} " \
                  f"FROM r"
            if verb == "upsert":
                sets = ", ".join(f"{q(c)} = EXCLUDED.{q(c)}" for c in columns if c not in conflict)
                sql += f" ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {sets}"
            if returns_id:
                sql += " RETURNING id"
                new_id = f"(SELECT id FROM {cte})"
        else:
            sql = f"UPDATE {name} SET {assign(name, columns)} WHERE {where(keys)} AND run_id IN (SELECT id FROM r) " \
                  f"RETURNING 1"
            if one:
                counted.append(f"(SELECT count(*) FROM {cte})")
        ctes.append(f"{cte} AS ({sql})")
    guard = "1"
    if counted:
        # every counted update found its row, or the run's row was refused (then nothing was written):
        # otherwise 1 / 0 fails the statement, and the server writes none of it
        guard = f"1 / ((SELECT count(*) FROM r) = 0 OR {' + '.join(counted)} = %s)::int"
    # the commit's durability (a checkpoint that is not durable yet commits asynchronously: its
    # last parameter is 'off'; NULL keeps the session's setting, the server's default)
    sync = "set_config('synchronous_commit', COALESCE(%s, current_setting('synchronous_commit')), true)"
    return f"WITH {', '.join(ctes)} SELECT (SELECT count(*) FROM r), {new_id}, {guard}, {sync}"


def pg_statement(dialect: Dialect, p: Plan, durable: bool = True) -> tuple[str, list[Any]]:
    """The statement and its parameters; ``durable``: the commit waits for its WAL flush (the
    session's ``synchronous_commit``), else it is asynchronous (``off``, this transaction only)."""
    writes = [p.run, *p.rest]
    sql, encoders, counted = _pg_compiled(dialect, tuple(_shape(w) for w in writes))
    params: list[Any] = []
    for w, encs in zip(writes, encoders, strict=True):
        params += [enc(v) for enc, v in zip(encs, w.values.values(), strict=True)]
        params += [_str(v) for v in w.key.values()]
    if counted:
        params.append(counted)
    params.append(None if durable else "off")
    return sql, params


@functools.cache
def _pg_compiled(dialect: Dialect, shapes: tuple[tuple[Any, ...], ...]) -> tuple[str, list[tuple[Any, ...]], str]:
    """A shape of checkpoint, once: its statement, each write's value encoders, and the number of
    counted order updates as text ('' when none)."""
    counted = sum(1 for name, verb, _, _, one, _, _ in shapes[1:] if one and verb == "update")
    return (_pg_sql(dialect, shapes), [_text_encoders(shape[0], shape[2]) for shape in shapes],
            str(counted) if counted else "")


_NAMES = itertools.count()


def save_pg(raw: Any, dialect: Dialect, p: Plan, prepared: dict[str, bytes],
            durable: bool = True) -> tuple[bool, int | None]:
    """``raw``: a psycopg connection in autocommit mode, idle, used by nobody else (the
    :class:`Writer`'s): the server commits the statement as one implicit transaction (one round
    trip, no BEGIN and no COMMIT to send).

    The statement goes straight to libpq (``raw.pgconn``), past psycopg's cursor layer (the
    parameters are already text, and that layer's per-execution work was about a tenth of a
    checkpoint's time), and is waited for by the connection's own wait loop.

    ``prepared``: the statements prepared on this connection, by name (kept by its owner). A
    statement is prepared at its first execution, with the ``Parse`` in the same pipeline as the
    execution, before one ``Sync`` (a ``Parse`` synced alone is a transaction and a round trip of
    its own); later executions run the prepared statement. A failed statement raises the psycopg
    error the server's answer maps to (its SQLSTATE's class), as psycopg would."""
    sql, params = pg_statement(dialect, p, durable)
    values = [None if v is None else v.encode() for v in params]
    pgconn = raw.pgconn
    name = prepared.get(sql)
    if name is None:
        # unique in the process: a connection handed back to the pool keeps its prepared statements,
        # and a later writer may be given it again
        name = f"rb_checkpoint_{next(_NAMES)}".encode()
        parsed, res = _prepare_and_execute(pgconn, name, _numbered(sql).encode(), values)
        if parsed:
            prepared[sql] = name
    else:
        from psycopg import generators

        # sent without blocking and waited for by psycopg's own loop: Ctrl-C during a hung statement
        # interrupts it (and cancels it on the server), as it does a cursor's
        pgconn.send_query_prepared(name, values)
        results = raw.wait(generators.execute(pgconn))
        res = results[-1] if results else None
    _check(pgconn, res)
    if res.get_value(0, 0) == b"0":
        return False, None
    new_id = res.get_value(0, 1)
    return True, None if new_id is None else int(new_id)


def _numbered(sql: str) -> str:
    """``%s`` placeholders as libpq's ``$1``, ``$2``... (the statements have no other ``%``)."""
    parts = sql.split("%s")
    return "".join(f"{part}${i}" if i < len(parts) else part for i, part in enumerate(parts, 1))


def _prepare_and_execute(pgconn: Any, name: bytes, sql: bytes, values: list[bytes | None]) -> tuple[bool, Any]:
    """Parse and execute in one pipeline, one ``Sync``: (was the statement prepared, the
    execution's result, or the failed preparation's)."""
    from psycopg import OperationalError, pq

    results: list[Any] = []
    nonblocking, pgconn.nonblocking = pgconn.nonblocking, 0  # blocking: the sync flushes, results wait
    pgconn.enter_pipeline_mode()
    try:
        pgconn.send_prepare(name, sql)
        pgconn.send_query_prepared(name, values)
        pgconn.pipeline_sync()
        for _ in range(8):  # Parse's result, a separator, Execute's, a separator, the Sync
            res = pgconn.get_result()
            if res is None:
                if pgconn.status != pq.ConnStatus.OK:
                    raise OperationalError("the connection was lost during a checkpoint")
                continue
            if res.status == pq.ExecStatus.PIPELINE_SYNC:
                break
            results.append(res)
        else:
            raise OperationalError("no end of the pipeline of a checkpoint's first execution")
    finally:
        if pgconn.status == pq.ConnStatus.OK and pgconn.pipeline_status != pq.PipelineStatus.OFF:
            pgconn.exit_pipeline_mode()
        pgconn.nonblocking = nonblocking
    if not results:
        raise OperationalError("no result for a checkpoint's first execution")
    if results[0].status != pq.ExecStatus.COMMAND_OK:
        return False, results[0]
    return True, results[1] if len(results) > 1 else results[0]


def _check(pgconn: Any, res: Any) -> None:
    """Raise what psycopg raises for a failed statement (a lost connection: OperationalError)."""
    from psycopg import OperationalError, errors, pq

    if res is not None and res.status == pq.ExecStatus.TUPLES_OK:
        return
    if res is None or pgconn.status != pq.ConnStatus.OK:
        raise OperationalError("the connection was lost during a checkpoint")
    raise errors.error_from_result(res, encoding="utf-8")


class Writer:
    """The connection a process writes its checkpoints on, held from the first save until
    :meth:`close`, in autocommit mode (transactions are explicit, or implicit in one statement).

    Why its own connection: a checkpoint then costs no pool checkout, no reset on return and no
    unit-of-work connection at all (:class:`adapters.db.store.SqlUnitOfWork` connects only when a
    statement of its own needs it). On PostgreSQL also because psycopg forgets every prepared
    statement of a connection when that connection rolls back, and the pool's connections roll back
    after every read; on this one nothing ever rolls back, so each shape of checkpoint is parsed and
    planned once per process. A save at a time (a lock); a PostgreSQL connection that breaks is
    dropped and the next save opens a new one; a forked child never uses its parent's. Not for an
    in-memory SQLite database (each connection would be a database of its own)."""

    def __init__(self, engine: Engine, *, every_commit: bool = False) -> None:
        self.engine = engine
        self.every_commit = every_commit  # every checkpoint durable, ``Plan.durable`` or not
        self._pg = engine.dialect.name == "postgresql"
        self._full = True  # SQLite: the connection's synchronous is FULL (adapters.db.connect sets it)
        self._lock = threading.Lock()
        self._conn: Any = None  # a pool-proxied DBAPI connection, checked out for good
        self._pid = 0
        self._prepared: dict[str, bytes] = {}  # PostgreSQL: the statements prepared on it, by name

    def _connection(self) -> Any:
        """The driver's connection (under the lock), opened on first use and in a forked child."""
        if self._conn is None or self._pid != os.getpid():
            self._conn = self.engine.raw_connection()
            if self._pg:
                self._conn.driver_connection.autocommit = True
            self._pid = os.getpid()
            self._prepared = {}
            self._full = True
        return self._conn.driver_connection

    def select(self, table: Table, where: tuple[str, ...] = (), params: tuple[Any, ...] = (),
               tail: str = "") -> list[dict[str, Any]]:
        """Every column of ``table``'s rows matching ``where`` (columns equal to ``params``), then
        ``tail`` (ORDER BY, LIMIT), decoded as SQLAlchemy decodes them, in one statement in
        autocommit: its own read transaction, with no lock taken and no unit of work's connection
        (``SqlUnitOfWork.peek_run``)."""
        dialect = self.engine.dialect
        sql, columns = _select_sql(dialect, table.name, where, tail)
        with self._lock:
            raw = self._connection()
            try:
                cur = raw.cursor()
                try:
                    cur.execute(sql, params)
                    rows = cur.fetchall()
                    procs = _result_processors(dialect, table.name, tuple(d[1] for d in cur.description))
                finally:
                    cur.close()
            except Exception as exc:
                self._drop_if_broken(exc)
                raise
        return [{c: v if proc is None else proc(v) for c, proc, v in zip(columns, procs, row, strict=True)}
                for row in rows]

    def save(self, p: Plan) -> tuple[bool, int | None]:
        with self._lock:
            raw = self._connection()
            durable = p.durable or self.every_commit
            if not self._pg:
                if durable is not self._full:
                    # FULL: the WAL is fsynced before the commit returns, so this commit and every one
                    # before it (of any connection: they are earlier in the same WAL) survive a power
                    # cut; NORMAL: the commit survives the process, and the next FULL one makes it durable
                    raw.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=NORMAL")
                    self._full = durable
                return save_sqlite(raw, self.engine.dialect, p)
            try:
                return save_pg(raw, self.engine.dialect, p, self._prepared, durable)
            except Exception as exc:
                self._drop_if_broken(exc)
                raise

    def _drop_if_broken(self, exc: Exception) -> None:
        """PostgreSQL: a connection that broke under a statement is dropped; the next use opens one."""
        dbapi = self.engine.dialect.loaded_dbapi
        if self._pg and isinstance(exc, dbapi.OperationalError | dbapi.InterfaceError):
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                if self._pg:
                    self._conn.driver_connection.autocommit = False
                self._conn.close()  # back to the pool
            self._conn = None
