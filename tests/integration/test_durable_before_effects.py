"""Durable before every effect (issue 18, docs/durability.md "Durable before every effect"), on a
real SQLite file: whatever the broker or the caller learns, the database has on disk first.

Every ``sqlite3`` connection of the process is traced (the statements it executes, before they run):
its ``PRAGMA synchronous`` level, and each commit that wrote something. An effect is an order sent,
a cancel sent, or ``run()`` returning or raising to its caller. At each effect the last commit that
wrote must have been made at ``synchronous=FULL``: its fsync of the WAL put it, and every commit
before it of any connection (they are earlier in the same file), on disk. The commits in between
may be ``NORMAL`` (the engine's ``Checkpoint.durable=False``: a step's transition, an order intent).

Scenarios: a plain run; every reply lost (reconciled, adopted); a partial fill (remainder re-sent,
then cancelled); a run stopped by ``max_phase``; a crash before a send, then a resume; and the
same plain run with ``every_commit`` (``REBALANCE_DURABILITY=every-commit``), where every commit is
``FULL``. PostgreSQL's side (``synchronous_commit=off`` for the transaction of a checkpoint that is
not durable yet) is in tests/integration/test_checkpoint_writes.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.db.connect import Database
from adapters.sim.account import SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.planner_greedy import GreedyPlanner
from statemachine.settings import EngineSettings
from statemachine.states import RunStatus
from tests.fakes import FakeClock
from tests.integration.hostile import TARGETS

FULL, NORMAL = 2, 1
LEVELS = {"0": 0, "OFF": 0, "1": NORMAL, "NORMAL": NORMAL, "2": FULL, "FULL": FULL, "3": 3, "EXTRA": 3}


class Journal:
    """What happened, in order: ("write", synchronous level) for each commit that wrote, and
    ("effect", what) for each thing the outside learnt."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def trace(self, conn: sqlite3.Connection) -> Any:
        state = {"level": FULL, "changes": 0}  # sqlite's default synchronous in WAL is FULL

        def cb(sql: str) -> None:
            words = sql.strip().rstrip(";").split()
            if not words:
                return
            head = words[0].upper()
            if head == "PRAGMA" and words[1].lower().startswith("synchronous="):
                state["level"] = LEVELS[words[1].split("=", 1)[1].upper()]
            elif head == "BEGIN":
                state["changes"] = conn.total_changes
            elif head in ("COMMIT", "END"):
                # the trace runs before the statement: the transaction's writes are all counted
                if conn.total_changes > state["changes"]:
                    self.events.append(("write", state["level"]))
            elif head in ("INSERT", "UPDATE", "DELETE", "REPLACE") and not conn.in_transaction:
                self.events.append(("write", state["level"]))  # a statement committed on its own
        return cb

    def effect(self, what: str) -> None:
        self.events.append(("effect", what))

    def writes(self) -> list[int]:
        return [level for kind, level in self.events if kind == "write"]

    def check(self) -> None:
        """At every effect, the newest commit that wrote was at FULL (or nothing was written yet)."""
        last: int | None = None
        effects = 0
        for i, (kind, value) in enumerate(self.events):
            if kind == "write":
                last = value
            else:
                effects += 1
                assert last in (None, FULL, 3), (
                    f"{value} (event {i}) follows a commit at synchronous={last}: a power cut could lose what "
                    f"the outside already learnt; events: {self.events[max(0, i - 6):i + 1]}")
        assert effects > 0


@pytest.fixture
def journal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Journal]:
    j = Journal()
    real = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real(*args, **kwargs)
        conn.set_trace_callback(j.trace(conn))
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    monkeypatch.setattr(sqlite3.dbapi2, "connect", connect)  # what SQLAlchemy's dialect calls
    yield j


class Told(SimulatedBroker):
    """The simulated broker, telling the journal of every call that changes something at the broker."""

    def __init__(self, account: SimAccount, journal: Journal) -> None:
        super().__init__(account)
        self.journal = journal

    def place_order(self, side, ticker, quantity, order_type="01", price=0):  # type: ignore[no-untyped-def]
        self.journal.effect(f"send {side.value} {ticker} x{quantity}")
        return super().place_order(side, ticker, quantity, order_type, price)

    def cancel_order(self, odno, org_no, quantity):  # type: ignore[no-untyped-def]
        self.journal.effect(f"cancel {odno}")
        return super().cancel_order(odno, org_no, quantity)


def _setup(tmp_path: Any, journal: Journal, *, every_commit: bool = False, **settings: Any
           ) -> tuple[Database, SimAccount, Engine]:
    db = Database(f"sqlite:///{tmp_path / 'rebalance.db'}", auto_migrate=True, every_commit=every_commit)
    clock = FakeClock()
    account = SimAccount.demo(tmp_path / "account.json")
    account.clock = clock.now
    greedy = GreedyPlanner()
    eng = Engine(db.unit_of_work, Told(account, journal), lambda name: greedy, clock,
                 EngineSettings(**{"fill_timeout_s": 2, "fill_poll_s": 0.5, **settings}), owner="test-owner")
    journal.events.clear()  # the migrations' commits
    return db, account, eng


def _drive(eng: Engine, journal: Journal, run_id: str, how: str = "run") -> Any:
    try:
        return getattr(eng, how)(run_id)
    finally:
        journal.effect(f"{how}() returns")


def test_a_plain_run_is_on_disk_before_each_send_and_before_it_returns(tmp_path, journal):
    db, account, eng = _setup(tmp_path, journal)
    try:
        run = eng.start(account="demo", targets=TARGETS)
        journal.effect("start() returns")
        done = _drive(eng, journal, run.id)
        assert done.status is RunStatus.SUCCEEDED
        journal.check()
        # 24 durable facts, 9 of them fsynced: the creation, the 7 send counters, the end
        writes = journal.writes()
        assert (len(writes), writes.count(FULL)) == (24, 9)
        assert len(account.orders()) == 7
    finally:
        db.dispose()


def test_every_commit_makes_each_commit_durable(tmp_path, journal):
    db, _, eng = _setup(tmp_path, journal, every_commit=True)
    try:
        run = eng.start(account="demo", targets=TARGETS)
        journal.effect("start() returns")
        assert _drive(eng, journal, run.id).status is RunStatus.SUCCEEDED
        journal.check()
        assert journal.writes() == [FULL] * 24
    finally:
        db.dispose()


@pytest.mark.parametrize("case", ["lost replies", "partial fill", "max_phase 2"])
def test_the_rare_paths_are_on_disk_before_each_effect(tmp_path, journal, case):
    db, account, eng = _setup(tmp_path, journal, partial_retries=1)
    try:
        kw: dict[str, Any] = {}
        if case == "lost replies":
            account.set_faults(lose_reply_rate=1.0)  # every order taken, every reply dropped: adopted
        elif case == "partial fill":
            account.set_faults(partial_fill={"411420": 0.5})  # re-sent, then the remainder cancelled
        else:
            kw["max_phase"] = 2  # stops after the sell plan's checks: nothing is sent
        run = eng.start(account="demo", targets=TARGETS, **kw)
        journal.effect("start() returns")
        done = _drive(eng, journal, run.id)
        expected = {"lost replies": RunStatus.SUCCEEDED, "partial fill": RunStatus.PARTIAL,
                    "max_phase 2": RunStatus.STOPPED}[case]
        assert done.status is expected
        journal.check()
        effects = [what for kind, what in journal.events if kind == "effect"]
        if case == "partial fill":
            assert any(e.startswith("cancel") for e in effects)
        assert NORMAL in journal.writes()  # the steps between effects did not pay for an fsync each
    finally:
        db.dispose()


def test_a_crash_before_a_send_then_resume(tmp_path, journal):
    class Crash(Exception):
        pass

    class Hooks:
        armed = True

        def point(self, name: str) -> None:
            if name == "order:before_send" and self.armed:
                self.armed = False
                raise Crash

    db, account, eng = _setup(tmp_path, journal)
    try:
        run = eng.start(account="demo", targets=TARGETS)
        journal.effect("start() returns")
        eng.hooks = Hooks()
        with pytest.raises(Crash):
            _drive(eng, journal, run.id)  # the intent is committed, the error recorded, the lease let go
        assert account.orders() == []
        assert _drive(eng, journal, run.id, "resume").status is RunStatus.SUCCEEDED
        journal.check()
        assert len(account.orders()) == 7
    finally:
        db.dispose()
