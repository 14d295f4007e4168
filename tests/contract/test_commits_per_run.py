"""One transaction per durable fact (issue 18): a plain run commits exactly its durable facts and
opens no other transaction: no read-backs, no separate lease renewals, nothing rolled back. Counted
on the client (SQLAlchemy events) on SQLite and PostgreSQL, and on PostgreSQL also by the server
(``pg_stat_database``). The accounting is in docs/durability.md ("Transactions per run")."""

from __future__ import annotations

import json

import pytest

from adapters.db.connect import Database
from adapters.sim.account import DEMO_DIR, SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.models import OrderStatus, Targets
from statemachine.planner_greedy import GreedyPlanner
from statemachine.settings import EngineSettings
from statemachine.states import RunStatus
from tests.contract.txcount import PgXacts, TxCount
from tests.fakes import FakeClock

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))


def durable_facts(transitions: int, orders: list) -> int:
    """The durable facts of a run whose orders all filled at their first reading:

    * 1: the run's creation (run row, step 0, lease);
    * 1 per transition after step 0, with its outputs and plan attempt; a validation of a real run
      carries the plan's order intents, the last transition the history row and the lease's release;
    * per order, 1 per send: its counter and start, committed before the send (the lease extended);
    * per order, 1: the broker's answer (order number) with the fill result."""
    return 1 + (transitions - 1) + sum(o.sends for o in orders) + len(orders)


@pytest.fixture
def account(tmp_path):
    return SimAccount.demo(tmp_path / "account.json")


def test_a_run_commits_exactly_its_durable_facts(db_url, account):
    db = Database(db_url, auto_migrate=True)
    server = PgXacts(db_url) if db.engine.dialect.name == "postgresql" else None
    try:
        clock = FakeClock()
        account.clock = clock.now
        greedy = GreedyPlanner()
        eng = Engine(db.unit_of_work, SimulatedBroker(account), lambda name: greedy, clock,
                     EngineSettings(fill_timeout_s=2, fill_poll_s=0.5), owner="test-owner")
        with db.unit_of_work() as uow:  # the dialect's first-connection queries happen before counting
            uow.find_runs(limit=1)
        db.engine.dispose()  # its backend exits, flushing its counters
        before = server.settled((0, 0)) if server else (0, 0)  # absolute counters once settled
        xid0 = server.next_xid() if server else 0
        count = TxCount().attach(db.engine)
        run = eng.run(eng.start(account="demo", targets=TARGETS).id)
        count.detach()
        writing = server.next_xid() - xid0 if server else None
        if db.writer is not None:
            db.writer.close()  # its connection goes back to the pool, which closes it:
        db.engine.dispose()  # the server counts a backend's transactions when it exits
        seen = server.settled(before) if server else None
        assert run.status is RunStatus.SUCCEEDED
        with db.unit_of_work() as uow:
            transitions, orders = uow.transitions(run.id), uow.orders(run.id)
        assert len(transitions) == 10 and len(orders) == 7
        assert all(o.status is OrderStatus.FILLED and o.sends == 1 for o in orders)
        facts = durable_facts(len(transitions), orders)
        assert facts == 24
        # every transaction commits a durable fact. The run reads twice, each a single SELECT in
        # autocommit on the checkpoint connection (``peek_*``: no BEGIN, no ROLLBACK): start()'s read of
        # the thresholds in force (this run was given its targets, not its thresholds) and run()'s read
        # of the run row at its entry (an operator may have aborted it since start)
        if server is None:
            assert (count.commits, count.begins, count.rollbacks) == (facts, facts, 0)
        else:
            # the checkpoints and the two reads: one statement each on the writer's connection, in
            # autocommit (the server counts each as a transaction; a read as one that wrote nothing);
            # nothing goes through SQLAlchemy's own transactions
            assert (count.begins, count.rollbacks) == (0, 0)
            assert seen == (facts + 2 + count.connects, 0), count
            assert writing == facts  # the transactions that wrote: exactly the durable facts
    finally:
        db.dispose()
        if server is not None:
            server.close()
