"""SQLite is durable through a power cut on every connection the engine uses: WAL with
``synchronous=FULL`` (docs/durability.md). Under NORMAL a WAL commit reaches the disk only at the next
checkpoint, so an order intent committed just before its send could be forgotten by a power cut and
the order sent again on resume. The checkpoint connection alone commits at NORMAL a checkpoint that
is not durable yet, and is back at FULL by the run's end (durable before every effect:
tests/integration/test_durable_before_effects.py)."""

from __future__ import annotations

import threading

from sqlalchemy import event

from adapters.db.connect import Database
from adapters.sim.account import SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.planner_greedy import GreedyPlanner
from statemachine.settings import EngineSettings
from statemachine.states import RunStatus
from tests.contract.helpers import TARGETS
from tests.fakes import FakeClock

FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def _pragmas(dbapi_conn) -> tuple[str, int]:
    cur = dbapi_conn.cursor()
    try:
        mode = cur.execute("PRAGMA journal_mode").fetchone()[0]
        sync = cur.execute("PRAGMA synchronous").fetchone()[0]
    finally:
        cur.close()
    return mode, sync


def test_every_connection_of_an_engine_run_is_wal_and_synchronous_full(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'rebalance.db'}", auto_migrate=True)
    seen: dict[int, object] = {}

    @event.listens_for(db.engine, "checkout")
    def _checkout(dbapi_conn, _record, _proxy):
        seen[id(dbapi_conn)] = dbapi_conn

    try:
        clock = FakeClock()
        account = SimAccount.demo(tmp_path / "account.json")
        account.clock = clock.now
        greedy = GreedyPlanner()
        eng = Engine(db.unit_of_work, SimulatedBroker(account), lambda name: greedy, clock,
                     EngineSettings(fill_timeout_s=2, fill_poll_s=0.5), owner="test-owner")
        # a second connection at the same time as the run's: the pool opens another one
        hold = threading.Event()
        done = threading.Event()

        def reader() -> None:
            with db.engine.connect() as conn:
                hold.set()
                done.wait(30)
                conn.exec_driver_sql("SELECT 1")

        t = threading.Thread(target=reader)
        t.start()
        hold.wait(30)
        run = eng.run(eng.start(account="demo", targets=TARGETS).id)
        done.set()
        t.join(30)
        assert run.status is RunStatus.SUCCEEDED
        assert len(seen) >= 2
        assert {_pragmas(c) for c in seen.values()} == {("wal", FULL)}
    finally:
        db.dispose()
