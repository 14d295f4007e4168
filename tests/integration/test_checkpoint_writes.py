"""``UnitOfWork.save`` on the SQL store (issue 18), on SQLite and PostgreSQL: the fast path of
adapters/db/checkpoint.py (SQLite: statement by statement in BEGIN IMMEDIATE on the driver's cursor;
PostgreSQL: ONE statement on the process's writer connection) against the reference composition of
single writes (the default ``UnitOfWork.save`` in statemachine/ports.py).

* a whole engine run stores the very same rows through either path (read back through the unit of
  work AND as the raw column values, so JSON text, NULL vs JSON null and timestamps match);
* a refused checkpoint (lost lease, moved-on checkpoint, unknown run) writes nothing;
* a checkpoint whose order update names no order of the run writes nothing at all;
* a second active run of an account is refused, naming the active run;
* the fallback (a unit of work that already read something) is still all or nothing, and fenced;
* PostgreSQL: a writer connection killed under the process fails one save (nothing written) and
  the next save reconnects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from adapters.db import checkpoint as fast
from adapters.db.connect import Database
from adapters.db.store import SqlUnitOfWork
from adapters.sim.account import DEMO_DIR, SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.errors import LeaseHeld, RunNotFound
from statemachine.models import OrderStatus, Side, Targets, Thresholds
from statemachine.planner_greedy import GreedyPlanner
from statemachine.ports import UnitOfWork
from statemachine.records import (
    Checkpoint,
    Fence,
    HistoryRecord,
    NewOrder,
    PlanAttemptRecord,
    RunRecord,
    TransitionRecord,
)
from statemachine.settings import EngineSettings
from statemachine.states import RunState, RunStatus
from tests.fakes import FakeClock, ScriptedPlanner

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
#: every engine run here happens at this instant (10:00 KST on a Wednesday); nothing reads the system clock
T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
TTL = 60.0
#: the run tables, each with the order its rows are compared in: a natural key where there is one
#: (PostgreSQL's one statement inserts a checkpoint's outputs in no given order, so their ids are),
#: otherwise the row id, i.e. the order of the checkpoints that inserted them (one row each)
TABLES = {"runs": "created_at, id", "run_transitions": "run_id, seq", "step_outputs": "run_id, seq, kind",
          "plan_attempts": "id", "orders": "id", "rebalancing_history": "run_id"}


# -- helpers ---------------------------------------------------------------------------------------
def fresh_database(request: pytest.FixtureRequest, kind: str, tmp_path: Any, name: str) -> Database:
    """Another empty database of the same kind as the ``db`` fixture's (real migrations)."""
    if kind == "sqlite":
        return Database(f"sqlite:///{tmp_path / f'{name}.db'}", auto_migrate=True)
    server = request.getfixturevalue("pg_server")
    return Database(server.url(server.create_db(template=request.getfixturevalue("pg_template"))),
                    auto_migrate=True)


@pytest.fixture
def other_db(request, db, tmp_path) -> Iterator[Database]:
    database = fresh_database(request, db.engine.dialect.name, tmp_path, "other")
    yield database
    database.dispose()


class Spy:
    """Counts the fast path's writes (SQLite and PostgreSQL)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        for name in ("save_sqlite", "save_pg"):
            real = getattr(fast, name)

            def counted(*a: Any, _real: Any = real, **kw: Any) -> Any:
                self.calls += 1
                return _real(*a, **kw)

            monkeypatch.setattr(fast, name, counted)


def raw_rows(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of the run tables as stored, read with plain SQL: SQLite ``quote(col)`` (an SQL
    literal: the storage class shows, text is quoted, NULL is NULL), PostgreSQL ``col::text`` (NULL
    stays None, a JSON null is 'null', JSON text is kept as written)."""
    out: dict[str, list[dict[str, Any]]] = {}
    sqlite = db.engine.dialect.name == "sqlite"
    with db.engine.connect() as conn:
        for table in TABLES:
            names = (text(f"SELECT name FROM pragma_table_info('{table}') ORDER BY cid") if sqlite else
                     text("SELECT column_name FROM information_schema.columns WHERE table_name = :t "
                          "ORDER BY ordinal_position").bindparams(t=table))
            cols = [r[0] for r in conn.execute(names)]
            exprs = ", ".join(f'quote("{c}")' if sqlite else f'"{c}"::text' for c in cols)
            rows = conn.execute(text(f"SELECT {exprs} FROM {table} ORDER BY {TABLES[table]}")).all()
            out[table] = [dict(zip(cols, row, strict=True)) for row in rows]
    return out


def normalised(rows: dict[str, list[dict[str, Any]]], run_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Raw rows without what may differ between two stores: run ids, row ids and owner names."""
    out: dict[str, list[dict[str, Any]]] = {}
    for table, items in rows.items():
        clean = []
        for row in items:
            row = {k: v for k, v in row.items() if k != "id" or table == "runs"}
            if "lease_owner" in row:
                row["lease_owner"] = "<owner>" if row["lease_owner"] not in (None, "NULL") else row["lease_owner"]
            for k, v in row.items():
                if isinstance(v, str):
                    for i, rid in enumerate(run_ids):
                        v = v.replace(rid, f"<run{i}>")
                    row[k] = v
            clean.append(row)
        out[table] = clean
    return out


def read_back(db: Database, run_id: str) -> dict[str, Any]:
    """What the unit of work's read methods return about a run, without its id and lease owner."""
    with db.unit_of_work() as uow:
        run = uow.get_run(run_id).model_dump(exclude={"id", "lease_owner"})
        return {
            "run": run,
            "transitions": [t.model_dump(exclude={"run_id"}) for t in uow.transitions(run_id)],
            "outputs": uow.outputs(run_id),
            "plan_attempts": [a.model_dump(exclude={"run_id"}) for a in uow.plan_attempts(run_id)],
            "orders": [o.model_dump(exclude={"id", "run_id"}) for o in uow.orders(run_id)],
            "history": (h.model_dump(exclude={"run_id"}) if (h := uow.history_of(run_id)) is not None else None),
        }


def run_record(run_id: str, *, owner: str = "runner-a", account: str = "demo") -> RunRecord:
    return RunRecord(id=run_id, account=account, state=RunState.CREATED, status=RunStatus.RUNNING, seq=0,
                     thresholds=Thresholds(), targets=TARGETS, engine_version="test", checkpoint_format=1,
                     lease_owner=owner, lease_expires_at=T0 + timedelta(seconds=TTL), lease_epoch=1,
                     created_at=T0, updated_at=T0)


def transition(run_id: str, seq: int, dest: str = "FETCHED") -> TransitionRecord:
    return TransitionRecord(run_id=run_id, seq=seq, trigger="step", source="CREATED", dest=dest, actor="test",
                            at=T0 + timedelta(seconds=seq), status="RUNNING")


def new_order(ticker: str = "411420", seq: int = 0) -> NewOrder:
    return NewOrder(account="demo", side=Side.SELL, ticker=ticker, name="x", quantity=3, attempt=1, seq=seq,
                    status=OrderStatus.INTENT, created_at=T0)


def create(db: Database, run_id: str, *, owner: str = "runner-a", account: str = "demo",
           orders: int = 1) -> tuple[Fence, list[int]]:
    """A committed run (seq 0, its first transition) with ``orders`` intents, written through save."""
    fence = Fence(owner, 1)
    with db.unit_of_work() as uow:
        uow.save(Checkpoint(run_id=run_id, fence=fence, new_run=run_record(run_id, owner=owner, account=account),
                            transition=transition(run_id, 0, "CREATED")))
    ids = []
    for i in range(orders):
        with db.unit_of_work() as uow:
            new_id = uow.save(Checkpoint(run_id=run_id, fence=fence, new_order=new_order(seq=i)))
        assert isinstance(new_id, int)
        ids.append(new_id)
    return fence, ids


def everything(run_id: str, fence: Fence, *, expect_seq: int | None = 0, order_updates: dict | None = None,
               release: bool = False, orders: bool = True) -> Checkpoint:
    """A checkpoint with every part: were any of it written, the tables would show it. Without
    ``orders``: a side's transition as the ledger writes it (the run's row, no order written)."""
    cp = Checkpoint(
        run_id=run_id, fence=fence, run_fields={"seq": 1, "state": RunState.FETCHED, "updated_at": T0 + timedelta(1)},
        expect_seq=expect_seq, release=release, transition=transition(run_id, 1), outputs={"snapshot": {"cash": 1}},
        output_seq=1,
        new_attempt=PlanAttemptRecord(run_id=run_id, side=Side.SELL, attempt=1, planner="greedy", plan=None,
                                      created_at=T0),
        order_updates=order_updates or {}, new_order=new_order("360750"),
        history=HistoryRecord(run_id=run_id, executed_at=T0, account="demo", status=RunStatus.SUCCEEDED,
                              mp_threshold_percent=3.0, sub_mp_threshold_percent=5.0, drift_before=None,
                              drift_after=None, trades=[], total_cost=0))
    if not orders:
        cp.order_updates, cp.new_order = {}, None
    return cp


def orders_only(run_id: str, fence: Fence, order_updates: dict) -> Checkpoint:
    """An order intent with the previous order's answer (the run's row only checked, not written)."""
    return Checkpoint(run_id=run_id, fence=fence, order_updates=order_updates, new_order=new_order("360750"))


def run_row(db: Database, run_id: str) -> RunRecord:
    with db.unit_of_work() as uow:
        return uow.get_run(run_id)


def take_over(db: Database, run_id: str, owner: str = "runner-b") -> Fence:
    with db.unit_of_work() as uow:
        fence = uow.acquire_lease(run_id, owner, T0, TTL, steal_if=lambda _: True)
        uow.commit()
    assert fence is not None and fence.epoch == 2
    return fence


@pytest.fixture(params=["fast", "reference"])
def path(request, monkeypatch) -> str:
    """Through the SQL store's own save, or through the reference composition of single writes."""
    if request.param == "reference":
        monkeypatch.setattr(SqlUnitOfWork, "save", UnitOfWork.save)
    return request.param


# -- 1. the same run, the same rows ----------------------------------------------------------------
def engine_run(db: Database, tmp_path: Any, scenario: str) -> str:
    clock = FakeClock(T0)
    account = SimAccount.demo(tmp_path / f"account-{id(db)}.json")
    account.clock = clock.now
    settings: dict[str, Any] = {}
    planner: Any = GreedyPlanner()
    if scenario == "partial":
        account.set_faults(partial_fill={"411420": 0.5})
        settings["partial_retries"] = 1
    elif scenario == "rejected":
        planner = ScriptedPlanner("bad", [[("411420", 1)], [("453850", 5)], [("999999", 3)]])
    es = EngineSettings(fill_timeout_s=2, fill_poll_s=0.5, **settings)
    eng = Engine(db.unit_of_work, SimulatedBroker(account), lambda name: planner, clock, es, owner="owner-a")
    done = eng.run(eng.start(account="demo", targets=TARGETS).id)
    expected = {"full": RunStatus.SUCCEEDED, "partial": RunStatus.PARTIAL, "rejected": RunStatus.FAILED}[scenario]
    assert done.status is expected, done.error
    return done.id


@pytest.mark.parametrize("scenario", ["full", "partial", "rejected"])
def test_fast_path_stores_what_the_reference_composition_stores(db, other_db, tmp_path, monkeypatch, scenario):
    spy = Spy(monkeypatch)
    fast_id = engine_run(db, tmp_path, scenario)
    assert spy.calls > 5  # the run's checkpoints went through the fast path
    with monkeypatch.context() as m:
        m.setattr(SqlUnitOfWork, "save", UnitOfWork.save)
        before = spy.calls
        ref_id = engine_run(other_db, tmp_path, scenario)
        assert spy.calls == before  # ... and these through the single writes only
    assert fast_id != ref_id

    got, want = read_back(db, fast_id), read_back(other_db, ref_id)
    assert got["transitions"] and got["outputs"] and got["plan_attempts"] and got["history"] is not None
    assert bool(got["orders"]) is (scenario != "rejected")  # the rejected plans sent nothing
    for part in want:
        assert got[part] == want[part], part

    raw_fast = normalised(raw_rows(db), [fast_id])
    raw_ref = normalised(raw_rows(other_db), [ref_id])
    assert all(raw_fast[t] for t in TABLES if t != "orders" or scenario != "rejected")
    for table in TABLES:
        assert raw_fast[table] == raw_ref[table], table


# -- 2. refusals write nothing -----------------------------------------------------------------------
RID = "20261125-010000-aaaaaa"


@pytest.mark.parametrize("case", ["stale_fence", "stale_fence_no_orders", "stale_fence_orders_only", "moved_on",
                                  "unknown_run"])
def test_a_refused_checkpoint_writes_nothing(db, path, case):
    fence, (oid,) = create(db, RID)
    updates = {oid: {"status": OrderStatus.SENT, "odno": "0000123", "updated_at": T0}}
    if case.startswith("stale_fence"):
        current = take_over(db, RID)
        cp = {"stale_fence": everything(RID, fence, order_updates=updates),
              "stale_fence_no_orders": everything(RID, fence, orders=False),
              "stale_fence_orders_only": orders_only(RID, fence, updates)}[case]
    elif case == "moved_on":
        current = fence
        cp = everything(RID, fence, expect_seq=5, order_updates=updates)
    else:
        current = fence
        cp = everything("20261125-010000-nosuch", fence)
    before_run, before = run_row(db, RID), raw_rows(db)
    with db.unit_of_work() as uow:
        if case == "unknown_run":
            with pytest.raises(RunNotFound):
                uow.save(cp)
        else:
            with pytest.raises(LeaseHeld) as e:
                uow.save(cp)
    if case.startswith("stale_fence"):
        assert "runner-a lost the lease of run" in e.value.message and "epoch 2, held by runner-b" in e.value.message
    elif case == "moved_on":
        assert f"run {RID} moved on under this process (expected checkpoint 5)" in e.value.message
    assert raw_rows(db) == before  # no transition, output, attempt, order, history; the run row as it was
    assert run_row(db, RID) == before_run and run_row(db, RID).fence == current
    # and the holder of the lease, at the right checkpoint, can write the very same checkpoint
    cp = everything(RID, current, order_updates=updates)
    with db.unit_of_work() as uow:
        assert isinstance(uow.save(cp), int)
    assert run_row(db, RID).seq == 1 and len(raw_rows(db)["run_transitions"]) == 2


# -- 3. an order update that finds no order: nothing at all ------------------------------------------
# (the reference's single update_order is fenced by the order's own run, not by the checkpoint's:
# an order of another run is the fast path's case only)
@pytest.mark.parametrize("path,which", [("fast", "unknown"), ("reference", "unknown"), ("fast", "other_run")],
                         indirect=["path"])
def test_an_order_update_that_finds_no_order_writes_nothing(db, path, which):
    fence, (mine,) = create(db, RID)
    if which == "unknown":
        missing = mine + 1000
    else:
        _, (missing,) = create(db, "20261125-010000-bbbbbb", account="other", owner="runner-z")
    before_run, before = run_row(db, RID), raw_rows(db)
    cp = everything(RID, fence, release=True, order_updates={
        mine: {"status": OrderStatus.SENT, "odno": "0000123", "updated_at": T0},  # this one is there
        missing: {"status": OrderStatus.FILLED, "filled_quantity": 3, "updated_at": T0},
    })
    with db.unit_of_work() as uow, pytest.raises(KeyError) as e:
        uow.save(cp)
    assert str(missing) in str(e.value)
    after = raw_rows(db)
    assert after == before  # not the valid order's update, not the transition, output, attempt, new order
    run = run_row(db, RID)
    assert run == before_run and run.seq == 0 and run.lease_owner == "runner-a"
    with db.unit_of_work() as uow:
        assert [t.seq for t in uow.transitions(RID)] == [0] and uow.outputs(RID) == {}
        assert [(o.id, o.status) for o in uow.orders(RID)] == [(mine, OrderStatus.INTENT)]


# -- 4. one active run per account -------------------------------------------------------------------
def test_a_second_active_run_of_an_account_is_refused_naming_the_active_one(db, path):
    create(db, RID)
    second = "20261125-010000-cccccc"
    before = raw_rows(db)
    with db.unit_of_work() as uow, pytest.raises(LeaseHeld) as e:
        uow.save(Checkpoint(run_id=second, fence=Fence("runner-b", 1), new_run=run_record(second, owner="runner-b"),
                            transition=transition(second, 0, "CREATED")))
    assert e.value.fields["run_id"] == RID and f"active run ({RID})" in e.value.message
    assert raw_rows(db) == before
    with db.unit_of_work() as uow, pytest.raises(RunNotFound):
        uow.get_run(second)


# -- 5. the fallback: a unit of work with a transaction open ----------------------------------------------
@pytest.mark.parametrize("case", ["stale_fence_no_orders", "stale_fence_orders_only", "unknown_order", "ok"])
def test_save_after_a_read_is_still_all_or_nothing_and_fenced(db, monkeypatch, case):
    fence, (oid,) = create(db, RID)
    if case.startswith("stale_fence"):
        take_over(db, RID)
    updates = {oid: {"status": OrderStatus.SENT, "odno": "0000123", "updated_at": T0}}
    if case == "unknown_order":
        updates[oid + 1000] = {"status": OrderStatus.FILLED, "updated_at": T0}
    spy = Spy(monkeypatch)
    before_run, before = run_row(db, RID), raw_rows(db)
    with db.unit_of_work() as uow:
        assert uow.get_run(RID).seq == 0
        uow.conn.execute(text("SELECT 1"))  # a transaction is open now (a read alone opens one on SQLite only)
        assert uow.conn.in_transaction()
        cp = {"stale_fence_no_orders": everything(RID, fence, orders=False),
              "stale_fence_orders_only": orders_only(RID, fence, updates)}.get(case) or \
            everything(RID, fence, order_updates=updates)
        if case == "ok":
            assert isinstance(uow.save(cp), int)
        else:
            with pytest.raises(LeaseHeld if case.startswith("stale_fence") else KeyError) as e:
                uow.save(cp)
            if case.startswith("stale_fence"):
                assert "runner-a lost the lease of run" in e.value.args[0]
            uow.commit()  # a caller that goes on with the unit of work commits nothing of the refused save
    assert spy.calls == 0  # the single writes, in the open transaction
    if case == "ok":
        run = run_row(db, RID)
        assert run.seq == 1 and run.state is RunState.FETCHED
        with db.unit_of_work() as uow:
            assert [t.seq for t in uow.transitions(RID)] == [0, 1] and uow.outputs(RID) == {"snapshot": {"cash": 1}}
            assert [o.status for o in uow.orders(RID)] == [OrderStatus.SENT, OrderStatus.INTENT]
            assert uow.history_of(RID) is not None and len(uow.plan_attempts(RID)) == 1
    else:
        assert raw_rows(db) == before and run_row(db, RID) == before_run


def test_a_read_opens_a_transaction_on_sqlite_only_and_the_save_after_it_is_one_statement_on_postgresql(
        db, monkeypatch):
    """PostgreSQL: a plain read with no transaction open runs in autocommit (one round trip) and leaves
    none open, so the checkpoint after it is still the one statement; SQLite: the read begins the
    unit of work's transaction (BEGIN IMMEDIATE, the write lock), and the save joins it."""
    fence, (oid,) = create(db, RID)
    spy = Spy(monkeypatch)
    with db.unit_of_work() as uow:
        assert uow.get_run(RID).seq == 0 and uow.orders(RID)[0].id == oid
        pg = db.engine.dialect.name == "postgresql"
        assert uow.conn.in_transaction() is not pg
        assert isinstance(uow.save(everything(RID, fence, order_updates={oid: {"status": OrderStatus.SENT,
                                                                               "updated_at": T0}})), int)
        uow.commit()
    assert spy.calls == (1 if pg else 0)
    run = run_row(db, RID)
    assert run.seq == 1 and run.state is RunState.FETCHED
    with db.unit_of_work() as uow:
        assert [o.status for o in uow.orders(RID)] == [OrderStatus.SENT, OrderStatus.INTENT]


# -- 6. PostgreSQL: the writer's connection killed under it ---------------------------------------------
@pytest.mark.pg
def test_a_killed_writer_connection_fails_one_save_and_the_next_reconnects(pg_server, pg_template):
    db = Database(pg_server.url(pg_server.create_db(template=pg_template)))
    try:
        fence, (oid,) = create(db, RID)  # the writer's connection is open now
        assert db.writer is not None
        pid = db.writer._conn.driver_connection.info.backend_pid
        with pg_server.admin() as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0] is True
        before_run, before = run_row(db, RID), raw_rows(db)
        cp = everything(RID, fence, order_updates={oid: {"status": OrderStatus.SENT, "updated_at": T0}})
        with db.unit_of_work() as uow, pytest.raises(DBAPIError):
            uow.save(cp)
        assert raw_rows(db) == before and run_row(db, RID) == before_run
        with db.unit_of_work() as uow:
            assert isinstance(uow.save(cp), int)
        assert db.writer._conn.driver_connection.info.backend_pid != pid  # a new connection
        run = run_row(db, RID)
        assert run.seq == 1 and run.state is RunState.FETCHED
        with db.unit_of_work() as uow:
            assert [o.status for o in uow.orders(RID)] == [OrderStatus.SENT, OrderStatus.INTENT]
    finally:
        db.dispose()


# -- 7. PostgreSQL: statements prepared once, named uniquely ---------------------------------------------
def prepared_on(db: Database) -> list[str]:
    """The statements prepared on the writer's session, as the server lists them."""
    assert db.writer is not None and db.writer._conn is not None
    rows = db.writer._conn.driver_connection.execute("SELECT name FROM pg_prepared_statements ORDER BY name")
    return [r[0] for r in rows.fetchall()]


@pytest.mark.pg
def test_a_shape_whose_first_execution_fails_is_prepared_and_runs_prepared_next(pg_server, pg_template):
    """The first execution of a shape parses it in the same pipeline: when the execution fails (an
    order update that finds no row) the statement stays prepared, the failure is the right error,
    nothing is written, and the next checkpoint of that shape runs the prepared statement."""
    db = Database(pg_server.url(pg_server.create_db(template=pg_template)))
    try:
        fence, (oid,) = create(db, RID)
        names = prepared_on(db)
        missing = {oid + 1000: {"status": OrderStatus.SENT, "updated_at": T0}}
        before = raw_rows(db)
        with db.unit_of_work() as uow, pytest.raises(KeyError):
            uow.save(orders_only(RID, fence, missing))
        assert raw_rows(db) == before
        prepared = prepared_on(db)
        assert len(prepared) == len(names) + 1 and all(n.startswith("rb_checkpoint_") for n in prepared)
        with db.unit_of_work() as uow:
            assert isinstance(uow.save(orders_only(RID, fence, {oid: {"status": OrderStatus.SENT,
                                                                     "updated_at": T0}})), int)
        assert prepared_on(db) == prepared  # run prepared: nothing parsed again
        with db.unit_of_work() as uow:
            assert [o.status for o in uow.orders(RID)] == [OrderStatus.SENT, OrderStatus.INTENT]
    finally:
        db.dispose()


@pytest.mark.pg
def test_a_writer_given_a_pooled_connection_again_prepares_under_new_names(pg_server, pg_template):
    """A closed writer hands its connection back to the pool with its statements still prepared on
    the session; the next writer to get it must not collide with them."""
    db = Database(pg_server.url(pg_server.create_db(template=pg_template)))
    try:
        fence, (oid,) = create(db, RID)
        assert db.writer is not None
        pid = db.writer._conn.driver_connection.info.backend_pid
        first = prepared_on(db)
        db.writer.close()
        with db.unit_of_work() as uow:
            assert isinstance(uow.save(orders_only(RID, fence, {oid: {"status": OrderStatus.SENT,
                                                                     "updated_at": T0}})), int)
        assert db.writer._conn.driver_connection.info.backend_pid == pid  # the same session, from the pool
        again = prepared_on(db)
        assert set(first) < set(again)
        with db.unit_of_work() as uow:
            assert [o.status for o in uow.orders(RID)] == [OrderStatus.SENT, OrderStatus.INTENT]
    finally:
        db.dispose()


@pytest.mark.pg
def test_reads_stay_in_their_transaction_on_a_server_whose_default_is_not_read_committed(pg_server,
                                                                                         pg_template):
    """Autocommit reads are the same reads only under READ COMMITTED; a database set to another
    default level keeps every read in the unit of work's transaction."""
    name = pg_server.create_db(template=pg_template)
    with pg_server.admin() as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_isolation = \'repeatable read\'')
    db = Database(pg_server.url(name))
    try:
        create(db, RID)
        with db.unit_of_work() as uow:
            assert uow.get_run(RID).seq == 0
            assert uow.conn.in_transaction()
    finally:
        db.dispose()


INTERRUPT = """
import os, signal, sys, threading, time
sys.path.insert(0, os.getcwd())
from adapters.db.connect import Database
from statemachine.models import OrderStatus
from statemachine.records import Checkpoint
from tests.integration.test_checkpoint_writes import RID, T0, create
import psycopg

db = Database(sys.argv[1])
fence, (oid,) = create(db, RID)
def update(status):
    return Checkpoint(run_id=RID, fence=fence, order_updates={oid: {"status": status, "updated_at": T0}})
with db.unit_of_work() as uow:
    uow.save(update(OrderStatus.SENT))  # the shape is prepared: the next save of it runs the prepared statement
locker = psycopg.connect(sys.argv[2])
locker.execute("SELECT 1 FROM runs WHERE id = %s FOR UPDATE", (RID,))  # the run's row locked: the save waits
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
t0 = time.monotonic()
try:
    with db.unit_of_work() as uow:
        uow.save(update(OrderStatus.FILLED))
    print("not interrupted")
except KeyboardInterrupt:
    print("interrupted after %.1f s" % (time.monotonic() - t0))
locker.rollback()
with db.unit_of_work() as uow:  # the writer goes on: the cancelled statement wrote nothing
    print("statuses", [o.status.value for o in uow.orders(RID)])
    uow.save(update(OrderStatus.FILLED))
    print("statuses", [o.status.value for o in uow.orders(RID)])
db.dispose()
"""


@pytest.mark.pg
def test_ctrl_c_interrupts_a_checkpoint_waiting_on_the_server_and_the_writer_goes_on(pg_server, pg_template):
    """A checkpoint blocked on the server (here: the run's row locked by another transaction) is
    interrupted by Ctrl-C, cancelled on the server (nothing written), and the next save works."""
    import subprocess
    import sys

    name = pg_server.create_db(template=pg_template)
    plain = f"host={pg_server.host} port={pg_server.port} user=postgres dbname={name}"
    out = subprocess.run([sys.executable, "-c", INTERRUPT, pg_server.url(name), plain], capture_output=True,
                         text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("interrupted after 0.") or lines[0].startswith("interrupted after 1."), lines
    assert lines[1:] == ["statuses ['SENT']", "statuses ['FILLED']"]


@pytest.mark.pg
def test_a_snapshot_unit_of_work_reads_one_committed_state_while_a_checkpoint_lands(pg_server, pg_template):
    """What a resume checks a run's history on (``_check_replay``): its row, steps and outputs read
    in one unit of work must agree even when the driving process commits a checkpoint between the
    reads (every read in autocommit, or under READ COMMITTED, would see it halfway). SQLite needs no
    test of its own: the first read begins the unit of work's IMMEDIATE transaction, which no other
    writer gets past."""
    url = pg_server.url(pg_server.create_db(template=pg_template))
    db, driver = Database(url), Database(url)  # this process, and the one driving the run
    try:
        fence, (oid,) = create(db, RID)
        with db.unit_of_work() as uow:
            uow.snapshot()
            run = uow.get_run(RID)
            with driver.unit_of_work() as other:  # a checkpoint committed between the reads
                other.save(everything(RID, fence, order_updates={oid: {"status": OrderStatus.SENT,
                                                                      "updated_at": T0}}))
            steps, kinds = uow.transitions(RID), set(uow.outputs(RID))
        assert run.seq == 0 and [t.seq for t in steps] == [0] and kinds == set()
        assert run_row(db, RID).seq == 1  # it did land
    finally:
        driver.dispose()
        db.dispose()


# -- 9. durable before every effect: what a checkpoint not durable yet changes (docs/durability.md) -----
@pytest.mark.pg
@pytest.mark.parametrize("every_commit", [False, True])
def test_on_postgresql_a_checkpoint_not_durable_yet_commits_asynchronously_and_only_it(pg_server, pg_template,
                                                                                     monkeypatch, every_commit):
    """``Checkpoint.durable=False``: the checkpoint's one statement sets ``synchronous_commit`` to
    ``off`` for its own transaction (its commit does not wait for the WAL flush; the next durable
    commit's flush covers it); a durable one keeps the session's setting. Observed inside a
    transaction, where the setting the statement made stays visible; ``every_commit`` makes every
    checkpoint durable; the session's setting is never changed."""
    db = Database(pg_server.url(pg_server.create_db(template=pg_template)), every_commit=every_commit)
    try:
        fence, (oid,) = create(db, RID)
        with pg_server.admin() as admin:
            default = admin.execute("SHOW synchronous_commit").fetchone()[0]
        assert default != "off"
        dialect = db.engine.dialect
        for durable in (False, True):
            p = fast.plan(orders_only(RID, fence, {oid: {"status": OrderStatus.SENT, "updated_at": T0}}))
            p.durable = durable
            raw = db.engine.raw_connection()
            try:
                conn = raw.driver_connection
                conn.execute("SELECT 1")  # a transaction is open (psycopg's implicit BEGIN)
                assert fast.save_pg(conn, dialect, p, {}, durable)[0] is True
                inside = conn.execute("SHOW synchronous_commit").fetchone()[0]
                conn.rollback()
                after = conn.execute("SHOW synchronous_commit").fetchone()[0]
                conn.rollback()
            finally:
                raw.close()
            assert (inside, after) == ("off" if not durable else default, default)
        # through the writer: what it hands save_pg
        seen: list[bool] = []
        real = fast.save_pg

        def spy(raw: Any, dialect: Any, p: Any, prepared: Any, durable: bool = True) -> Any:
            seen.append(durable)
            return real(raw, dialect, p, prepared, durable)

        monkeypatch.setattr(fast, "save_pg", spy)
        for durable in (False, True):
            cp = orders_only(RID, fence, {oid: {"status": OrderStatus.SENT, "updated_at": T0}})
            cp.durable, cp.new_order = durable, None
            with db.unit_of_work() as uow:
                uow.save(cp)
        assert seen == ([True, True] if every_commit else [False, True])
        with db.engine.connect() as c:  # the pool's sessions keep the server's setting
            assert c.exec_driver_sql("SHOW synchronous_commit").scalar() == default
    finally:
        db.dispose()


@pytest.mark.parametrize("every_commit", [False, True])
def test_on_sqlite_the_checkpoint_connection_commits_at_normal_only_what_is_not_durable_yet(
        tmp_path, every_commit):
    """The writer's connection switches ``synchronous`` (only when it changes): NORMAL for a
    checkpoint not durable yet, FULL for a durable one (its fsync covers the WAL before it);
    ``every_commit``: FULL always. The pool's connections stay FULL."""
    db = Database(f"sqlite:///{tmp_path / 'w.db'}", auto_migrate=True, every_commit=every_commit)
    try:
        fence, (oid,) = create(db, RID)
        assert db.writer is not None
        levels = []
        for durable in (False, False, True, False):
            cp = orders_only(RID, fence, {oid: {"status": OrderStatus.SENT, "updated_at": T0}})
            cp.durable, cp.new_order = durable, None
            with db.unit_of_work() as uow:
                uow.save(cp)
            levels.append(db.writer._conn.driver_connection.execute("PRAGMA synchronous").fetchone()[0])
        assert levels == ([2, 2, 2, 2] if every_commit else [1, 1, 2, 1])
        with db.engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    finally:
        db.dispose()


# -- 10. peeks: the run and the thresholds read on their own -------------------------------------------
def test_peeks_read_what_the_unit_of_work_reads_and_stay_out_of_its_transaction(db, tmp_path):
    """``peek_run`` / ``peek_thresholds`` decode every column as ``get_run`` / ``latest_thresholds``
    do (the same records, NULLs and JSON included); a unit of work with a transaction open reads its
    own (uncommitted) state through them; an unknown run raises RunNotFound; no thresholds: the
    defaults."""
    done = engine_run(db, tmp_path, "full")
    with db.unit_of_work() as uow:
        assert uow.peek_thresholds() == uow.latest_thresholds() == Thresholds()
        assert uow.peek_run(done) == uow.get_run(done)
        assert uow.peek_run(done).model_dump() == uow.get_run(done).model_dump()
        with pytest.raises(RunNotFound):
            uow.peek_run("no-such-run")
    fence, _ = create(db, RID, orders=0)
    with db.unit_of_work() as uow:
        peeked = uow.peek_run(RID)
        assert peeked == uow.get_run(RID) and peeked.finished_at is None and peeked.error is None
        uow.add_thresholds(Thresholds(mp=4.0, sub_mp=6.0), T0)  # a transaction is open now
        assert uow.peek_thresholds() == Thresholds(mp=4.0, sub_mp=6.0)  # its own write
    with db.unit_of_work() as uow:
        assert uow.peek_thresholds() == Thresholds()  # rolled back
        uow.add_thresholds(Thresholds(mp=4.5, sub_mp=6.5), T0)
        uow.commit()
        assert uow.peek_thresholds() == uow.latest_thresholds() == Thresholds(mp=4.5, sub_mp=6.5)


@pytest.mark.pg
def test_a_peek_on_a_killed_writer_connection_raises_sqlalchemys_error_and_the_next_reconnects(pg_server,
                                                                                             pg_template):
    """A peek fails the way any statement of the store fails (SQLAlchemy's DBAPIError, so the CLI and
    the API report a database error), drops the broken connection, and the next peek reconnects."""
    db = Database(pg_server.url(pg_server.create_db(template=pg_template)))
    try:
        create(db, RID, orders=0)
        assert db.writer is not None
        pid = db.writer._conn.driver_connection.info.backend_pid
        with pg_server.admin() as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0] is True
        with db.unit_of_work() as uow, pytest.raises(DBAPIError):
            uow.peek_run(RID)
        with db.unit_of_work() as uow:
            assert uow.peek_run(RID).id == RID
        assert db.writer._conn.driver_connection.info.backend_pid != pid
    finally:
        db.dispose()


# -- 11. checkpoints that only check the run's row (an order's intent, a send's counter) -------------
@pytest.mark.parametrize("case", ["intent_stale_fence", "intent_unknown_run", "counter_stale_fence",
                                  "first_order_missing", "second_order_missing"])
def test_an_orders_only_checkpoint_refused_or_missing_an_order_writes_nothing(db, path, case):
    """On SQLite the fence of such a checkpoint is checked in its first write's own statement; on
    PostgreSQL in the statement's first CTE. Either way: a refused fence, an unknown run or an
    order that is not there (first or later) writes nothing, and says which."""
    fence, (a, b) = create(db, RID, orders=2)
    sent = {"status": OrderStatus.SENT, "odno": "0000123", "updated_at": T0}
    counter = {"sends": 1, "sent_at": T0, "send_started_at": T0, "updated_at": T0}
    if case.startswith("intent"):
        cp = orders_only(RID, fence, {})  # the intent alone: the first write is an insert
        if case == "intent_unknown_run":
            cp.run_id = "20261125-010000-nosuch"
        else:
            take_over(db, RID)
    elif case == "counter_stale_fence":
        take_over(db, RID)
        cp = Checkpoint(run_id=RID, fence=fence, order_updates={a: counter})
    elif case == "first_order_missing":
        cp = Checkpoint(run_id=RID, fence=fence, order_updates={a + 1000: counter, b: sent})
    else:
        cp = orders_only(RID, fence, {a: sent, b + 1000: counter})
    before_run, before = run_row(db, RID), raw_rows(db)
    expected = {"intent_stale_fence": LeaseHeld, "counter_stale_fence": LeaseHeld,
                "intent_unknown_run": RunNotFound}.get(case, KeyError)
    with db.unit_of_work() as uow, pytest.raises(expected):
        uow.save(cp)
    assert raw_rows(db) == before and run_row(db, RID) == before_run
    if case.endswith("missing"):  # the holder writes the same checkpoint without the missing order
        cp.order_updates = {k: v for k, v in cp.order_updates.items() if k in (a, b)}
        with db.unit_of_work() as uow:
            new_id = uow.save(cp)
        assert (new_id is None) == (cp.new_order is None)
        with db.unit_of_work() as uow:
            orders = {o.id: o for o in uow.orders(RID)}
        assert len(orders) == 2 + (cp.new_order is not None)
        assert all(orders[k].updated_at == T0 for k in cp.order_updates)
