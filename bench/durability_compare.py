"""Side by side, in ONE process, interleaved (issue 18): what a run's persistence costs in this
engine, next to a bare one-commit-per-durable-write loop and to three durable-execution libraries,
at matching durability settings, on SQLite and on PostgreSQL.

The workload is the demo rebalance: 9 transitions with about 1 KB of output each and 7 orders with
an intent and a result each (23 durable writes).

* ``bare``: the database driver alone (sqlite3 / psycopg), one transaction per durable write
  (``BEGIN; INSERT or UPDATE; COMMIT``): 9 step rows of 1 KB, 7 intent rows, 7 result updates;
* ``engine``: this engine's real nine-step run of the demo account (3 sells, 4 buys, immediate
  fills, greedy planner) against an in-memory simulated account, on its database; and the same run
  with no persistence (``adapters.memory``): the difference is the engine's persistence cost;
* ``DBOS``: a workflow of 23 ``@DBOS.step`` calls (9 returning 1 KB, 7 intents, 7 results);
* ``LangGraph``: a graph of 23 nodes in a chain (same outputs), ``durability="sync"``, with the
  SQLite saver (``langgraph-checkpoint-sqlite``) and the PostgreSQL saver
  (``langgraph-checkpoint-postgres``);
* ``Burr``: an application of 23 actions (same outputs) with a state persister saving after every
  action: ``SQLLitePersister`` and the psycopg2 ``PostgreSQLPersister``.

Durability: every SQLite file is in WAL mode with ``synchronous=FULL`` (checked after the runs on
each file; DBOS's and Burr's connections use SQLite's default, FULL, the file is put in WAL first);
PostgreSQL is a cluster started by this script with ``fsync=on`` and ``synchronous_commit=on``
(the defaults; the test harness's cluster runs with ``fsync=off`` and is not used), or ``--pg URL``.

Steady state: 50 untimed rounds first. A new SQLite file's WAL grows with every commit until its
first checkpoint (1,000 pages), and an ``fdatasync`` of a growing file also flushes its size, so
those commits cost more; after the checkpoint the WAL is written again from its start, within the
file, as it is in a database in use. Bare writes one page a commit (23 a run) and would still be
growing after 40 runs, the engine about five (its WAL wraps within 10 runs): with 3 warm-ups bare
paid the growing file's price in every timed run (6 to 7 ms a run against 4 once wrapped here),
which flattered every variant's ratio.

Commits per run: on PostgreSQL the server's count (``pg_stat_database.xact_commit`` of each
variant's own database, connection set-up included); on SQLite the ``COMMIT`` statements and
autocommitted writes seen by a trace callback on every ``sqlite3`` connection of the process.

An anchor library that is not installed is skipped with a message. Install them in a separate
virtualenv (``pip install -e '.[bench]'``), never in the project's. Writes its section of
docs/benchmarks.md between ``<!-- durability-compare:start -->`` and ``<!-- durability-compare:end -->``::

    /work/bench-venv/bin/python bench/durability_compare.py [--runs 40] [--pg URL] [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from adapters.clock import SystemClock  # noqa: E402
from adapters.db.connect import Database  # noqa: E402
from adapters.memory import MemoryStore  # noqa: E402
from adapters.sim.account import DEMO_DIR  # noqa: E402
from adapters.sim.broker import SimulatedBroker  # noqa: E402
from bench.memory import MemoryAccount  # noqa: E402
from bench.sections import write_section  # noqa: E402
from statemachine.engine import Engine  # noqa: E402
from statemachine.models import Targets  # noqa: E402
from statemachine.planner_greedy import GreedyPlanner  # noqa: E402
from statemachine.settings import EngineSettings  # noqa: E402
from statemachine.states import RunStatus  # noqa: E402
from tests.pg import start_cluster, stop_cluster  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- durability-compare:start -->", "<!-- durability-compare:end -->"
TARGETS = Targets.model_validate_json((DEMO_DIR / "demo_targets.json").read_text())
SETTINGS = EngineSettings(fill_poll_s=0.01, fill_timeout_s=5)
GREEDY = GreedyPlanner()
STEPS, ORDERS = 9, 7
PAYLOAD = "x" * 1000  # about 1 KB of output per transition
WRITES = STEPS + 2 * ORDERS


# -- commit counting on SQLite: a trace callback on every sqlite3 connection ----------------------
class SqliteCommits:
    count = 0
    full = 0  # of them, made at synchronous=FULL (or EXTRA): fsynced before they returned
    _orig = sqlite3.connect

    @classmethod
    def install(cls) -> None:
        def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn = cls._orig(*args, **kwargs)
            conn.set_trace_callback(cls._trace(conn))
            return conn

        sqlite3.connect = connect  # type: ignore[assignment]
        sqlite3.dbapi2.connect = connect  # type: ignore[assignment]  # what SQLAlchemy's dialect calls

    @classmethod
    def _trace(cls, conn: sqlite3.Connection) -> Callable[[str], None]:
        level = ["FULL"]  # SQLite's default in WAL mode; each PRAGMA synchronous=... traced changes it

        def cb(sql: str) -> None:
            words = sql.split()
            head = words[0].upper() if words else ""
            if head == "PRAGMA" and len(words) > 1 and words[1].lower().startswith("synchronous="):
                level[0] = words[1].split("=", 1)[1].upper()
            elif head in ("COMMIT", "END") or (head in ("INSERT", "UPDATE", "DELETE", "REPLACE")
                                               and conn.in_transaction is False):
                # (an autocommitted write is a transaction of its own)
                cls.count += 1
                cls.full += level[0] in ("FULL", "2", "EXTRA", "3")
        return cb


def sqlite_settings(path: Path) -> tuple[str, int]:
    with contextlib.closing(SqliteCommits._orig(str(path))) as c:
        return c.execute("PRAGMA journal_mode").fetchone()[0], c.execute("PRAGMA synchronous").fetchone()[0]


def wal_file(path: Path) -> None:
    """Create the file in WAL mode (persistent): libraries that open their own connections write WAL."""
    with contextlib.closing(SqliteCommits._orig(str(path))) as c:
        c.execute("PRAGMA journal_mode=WAL")


def full(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")


# -- a durable PostgreSQL cluster ------------------------------------------------------------------
class DurableCluster:
    """A throwaway cluster with the defaults that matter here: fsync=on, synchronous_commit=on."""

    def __init__(self) -> None:
        self.datadir: str | None = None
        self.bindir: str | None = None
        self.port = 0

    def start(self) -> str:
        self.bindir, self.datadir, self.port = start_cluster(
            "-c fsync=on -c synchronous_commit=on -c max_connections=200", prefix="rb-bench-pg-",
            missing="no initdb: give --pg URL")
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if self.datadir and self.bindir:
            stop_cluster(self.bindir, self.datadir, "fast")


class Pg:
    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.admin = psycopg.connect(admin_url, autocommit=True)
        self.created: list[str] = []

    def new_db(self, kind: str) -> str:
        name = f"rb_cmp_{kind}_{uuid.uuid4().hex[:6]}"
        self.admin.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def xact_commit(self, url: str) -> int:
        self.admin.execute("SELECT pg_stat_clear_snapshot()")
        row = self.admin.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = %s",
                                 (url.rsplit("/", 1)[1],)).fetchone()
        return int(row[0]) if row else 0

    def settled_commits(self, url: str) -> int:
        """``xact_commit`` once every closed backend's counts have reached the server."""
        seen: list[int] = []
        for _ in range(200):
            seen = [*seen[-2:], self.xact_commit(url)]
            if len(seen) == 3 and len(set(seen)) == 1:
                return seen[0]
            time.sleep(0.3)
        return seen[-1]

    def next_xid(self) -> int:
        """The cluster's next transaction id: only a transaction that writes takes one, so its growth
        around a run counts that run's writing transactions (reading it takes none)."""
        return int(self.admin.execute("SELECT txid_snapshot_xmax(txid_current_snapshot())").fetchone()[0])

    def settings(self) -> str:
        got = [self.admin.execute(f"SHOW {k}").fetchone()[0] for k in ("fsync", "synchronous_commit")]
        return f"fsync={got[0]}, synchronous_commit={got[1]}"

    def drop_all(self) -> None:
        for name in self.created:
            self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.close()


# -- the variants: each is (setup) -> one run callable ------------------------------------------------
class Variant:
    label: str
    db: str  # "SQLite" or "PostgreSQL"
    url: str | None = None  # PostgreSQL: the variant's own database (commits counted there)

    def run(self, i: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class BareSqlite(Variant):
    def __init__(self, path: Path) -> None:
        self.label, self.db, self.path = "bare: one commit per durable write", "SQLite", path
        self.conn = sqlite3.connect(str(path), isolation_level=None)
        full(self.conn)
        self.conn.execute("CREATE TABLE steps (run TEXT, seq INT, payload TEXT)")
        self.conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, run TEXT, ticker TEXT, qty INT, "
                          "status TEXT, odno TEXT, filled INT)")

    def _tx(self, sql: str, args: tuple) -> None:
        self.conn.execute("BEGIN")
        self.conn.execute(sql, args)
        self.conn.execute("COMMIT")

    def run(self, i: int) -> None:
        rid = f"r{i}"
        for s in range(STEPS):
            self._tx("INSERT INTO steps VALUES (?, ?, ?)", (rid, s, PAYLOAD))
        for o in range(ORDERS):
            self._tx("INSERT INTO orders (run, ticker, qty, status) VALUES (?, ?, ?, 'INTENT')", (rid, f"T{o}", 10))
        for o in range(ORDERS):
            self._tx("UPDATE orders SET status='FILLED', odno=?, filled=10 WHERE run=? AND ticker=?",
                     (f"{o:010d}", rid, f"T{o}"))


class BarePg(Variant):
    def __init__(self, url: str) -> None:
        self.label, self.db, self.url = "bare: one commit per durable write", "PostgreSQL", url
        self.conn = psycopg.connect(url)
        self.conn.execute("CREATE TABLE steps (run TEXT, seq INT, payload TEXT)")
        self.conn.execute("CREATE TABLE orders (id SERIAL PRIMARY KEY, run TEXT, ticker TEXT, qty INT, "
                          "status TEXT, odno TEXT, filled INT)")
        self.conn.commit()

    def _tx(self, sql: str, args: tuple) -> None:
        self.conn.execute(sql, args)
        self.conn.commit()

    def run(self, i: int) -> None:
        rid = f"r{i}"
        for s in range(STEPS):
            self._tx("INSERT INTO steps VALUES (%s, %s, %s)", (rid, s, PAYLOAD))
        for o in range(ORDERS):
            self._tx("INSERT INTO orders (run, ticker, qty, status) VALUES (%s, %s, %s, 'INTENT')", (rid, f"T{o}", 10))
        for o in range(ORDERS):
            self._tx("UPDATE orders SET status='FILLED', odno=%s, filled=10 WHERE run=%s AND ticker=%s",
                     (f"{o:010d}", rid, f"T{o}"))

    def close(self) -> None:
        self.conn.close()


EVERY_COMMIT = "this engine, every commit durable (REBALANCE_DURABILITY=every-commit)"


class EngineRun(Variant):
    def __init__(self, db: str, url: str | None, tag: str, every_commit: bool = False) -> None:
        self.db, self.tag = db, tag
        self.url = url.replace("postgresql+psycopg://", "postgresql://") if url and db == "PostgreSQL" else None
        if url is None:
            self.label, self.store, self.database = "this engine, no persistence (adapters.memory)", MemoryStore(), None
        else:
            self.label = EVERY_COMMIT if every_commit else "this engine"
            self.database = Database(url, auto_migrate=True, every_commit=every_commit)
            self.store = self.database.unit_of_work

    def run(self, i: int) -> None:
        alias = f"{self.tag}-{i}"
        if self.database is None:
            # a new store each run: the in-memory tables check uniqueness by scanning, so one store
            # growing over the runs would make the no-persistence baseline slower run by run (about
            # 8 ms a run at first, 18 ms after 100 runs), flattering the persistence's cost
            self.store = MemoryStore()
        eng = Engine(self.store, SimulatedBroker(MemoryAccount(), alias=alias), lambda name: GREEDY, SystemClock(),
                     SETTINGS)
        run = eng.run(eng.start(account=alias, targets=TARGETS).id)
        assert run.status is RunStatus.SUCCEEDED, run.error

    def close(self) -> None:
        if self.database is not None:
            self.database.dispose()


class DbosRun(Variant):
    """DBOS is one instance per process: launched for one database block, destroyed after it."""

    def __init__(self, db: str, sys_url: str) -> None:
        from dbos import DBOS, SetWorkflowID

        self.label, self.db = f"DBOS {_version('dbos')}", db
        self.url = sys_url if db == "PostgreSQL" else None
        self.SetWorkflowID = SetWorkflowID

        @DBOS.step()
        def transition(k: int) -> str:
            return PAYLOAD

        @DBOS.step()
        def intent(k: int) -> dict:
            return {"ticker": f"T{k}", "qty": 10, "status": "INTENT"}

        @DBOS.step()
        def result(k: int) -> dict:
            return {"ticker": f"T{k}", "odno": f"{k:010d}", "filled": 10, "status": "FILLED"}

        @DBOS.workflow()
        def rebalance() -> int:
            for k in range(STEPS):
                transition(k)
            for k in range(ORDERS):
                intent(k)
                result(k)
            return WRITES

        self.workflow = rebalance
        DBOS(config={"name": f"cmp-{db.lower()}", "system_database_url": sys_url, "log_level": "WARNING",
                     "console_log_level": "WARNING", "run_admin_server": False})  # type: ignore[typeddict-unknown-key]
        DBOS.launch()
        self.DBOS = DBOS

    def run(self, i: int) -> None:
        with self.SetWorkflowID(f"wf-{uuid.uuid4().hex}"):
            assert self.workflow() == WRITES

    def close(self) -> None:
        self.DBOS.destroy(destroy_registry=True)


class LangGraphRun(Variant):
    def __init__(self, db: str, target: str) -> None:
        from langgraph.graph import END as G_END
        from langgraph.graph import START as G_START
        from langgraph.graph import StateGraph
        from typing_extensions import TypedDict

        self.label, self.db = f"LangGraph {_version('langgraph')}, durability=\"sync\"", db
        names = [f"t{k}" for k in range(STEPS)] + [f"{w}{k}" for k in range(ORDERS) for w in ("intent", "result")]
        State = TypedDict("State", {n: Any for n in ["i", *names]}, total=False)  # type: ignore[misc]  # noqa: UP013
        graph = StateGraph(State)

        def node(name: str) -> Callable[[dict], dict]:
            if name.startswith("t"):
                return lambda s: {name: PAYLOAD}
            if name.startswith("intent"):
                return lambda s: {name: {"ticker": name, "qty": 10, "status": "INTENT"}}
            return lambda s: {name: {"ticker": name, "odno": "0000000001", "filled": 10, "status": "FILLED"}}

        for n in names:
            graph.add_node(n, node(n))
        graph.add_edge(G_START, names[0])
        for a, b in zip(names, names[1:], strict=False):
            graph.add_edge(a, b)
        graph.add_edge(names[-1], G_END)
        if db == "SQLite":
            from langgraph.checkpoint.sqlite import SqliteSaver

            self.conn: Any = sqlite3.connect(target, check_same_thread=False)
            full(self.conn)
            saver: Any = SqliteSaver(self.conn)
        else:
            from langgraph.checkpoint.postgres import PostgresSaver
            from psycopg.rows import dict_row

            self.url = target
            self.conn = psycopg.connect(target, autocommit=True, prepare_threshold=0, row_factory=dict_row)
            saver = PostgresSaver(self.conn)
        saver.setup()
        self.app = graph.compile(checkpointer=saver)

    def run(self, i: int) -> None:
        out = self.app.invoke({"i": i}, config={"configurable": {"thread_id": uuid.uuid4().hex}}, durability="sync")
        assert out[f"result{ORDERS - 1}"]["status"] == "FILLED"

    def close(self) -> None:
        self.conn.close()


class BurrRun(Variant):
    def __init__(self, db: str, target: str) -> None:
        from burr.core import ApplicationBuilder, State
        from burr.core.action import action

        self.label, self.db = f"Apache Burr {_version('apache-burr')}, persist after every action", db
        self.ApplicationBuilder = ApplicationBuilder
        names = [f"t{k}" for k in range(STEPS)] + [f"{w}{k}" for k in range(ORDERS) for w in ("intent", "result")]

        def make(name: str) -> Any:
            value: Any = PAYLOAD if name.startswith("t") else {"ticker": name, "qty": 10, "status": name[:6]}

            @action(reads=[], writes=[name])
            def step(state: State) -> State:
                return state.update(**{name: value})

            return step

        self.actions = {n: make(n) for n in names}
        self.transitions = [(a, b) for a, b in zip(names, names[1:], strict=False)]
        self.last = names[-1]
        if db == "SQLite":
            from burr.core.persistence import SQLLitePersister

            self.persister: Any = SQLLitePersister(db_path=target, table_name="burr_state")
            self.persister.initialize()
            full(self.persister.connection)
        else:
            from burr.integrations.persisters.b_psycopg2 import PostgreSQLPersister

            self.url = target
            p = psycopg.conninfo.conninfo_to_dict(target)
            self.persister = PostgreSQLPersister.from_values(db_name=p["dbname"], user=p["user"], password="",
                                                             host=p["host"], port=int(p["port"]),
                                                             table_name="burr_state")
            self.persister.initialize()

    def run(self, i: int) -> None:
        app = (self.ApplicationBuilder().with_actions(**self.actions).with_transitions(*self.transitions)
               .with_entrypoint("t0").with_state(i=i).with_state_persister(self.persister)
               .with_identifiers(app_id=uuid.uuid4().hex, partition_key="bench").build())
        _, _, state = app.run(halt_after=[self.last])
        assert self.last in state

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.persister.cleanup()


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


# -- measuring -------------------------------------------------------------------------------------
def measure(variants: list[Variant], runs: int, warmups: int, pg: Pg | None,
            setup: dict[str, int] | None = None) -> dict[str, dict[str, Any]]:
    """Time each variant ``runs`` times (after ``warmups``), interleaved: run i of every variant, then
    run i+1 of every variant, so a change in the machine's load hits them alike; in a new order each
    round (seeded), so no variant always runs after the same one: a run right after another that
    shares its code (the engine and its no-persistence run) finds it warm.

    Commits per run: SQLite, counted around each timed run; PostgreSQL, the server's count of the
    variant's own database over its whole life (closed first: a backend's counts reach the server
    when it exits) less what setting the variant up costs (``setup``: the same variant built and
    closed on another fresh database), divided by every run (warm-ups included)."""
    times: dict[str, list[float]] = {v.label: [] for v in variants}
    commits: dict[str, int] = dict.fromkeys(times, 0)
    fulls: dict[str, int] = dict.fromkeys(times, 0)
    xids: dict[str, int] = dict.fromkeys(times, 0)
    order = list(variants)
    shuffle = random.Random(18)
    for i in range(warmups + runs):
        shuffle.shuffle(order)  # no variant always runs after the same one (warm or cold caches)
        for v in order:
            before_sql, before_full = SqliteCommits.count, SqliteCommits.full
            xid0 = pg.next_xid() if pg is not None else 0
            t0 = time.perf_counter()
            v.run(i)
            dt = time.perf_counter() - t0
            if i >= warmups:
                times[v.label].append(dt)
                commits[v.label] += SqliteCommits.count - before_sql
                fulls[v.label] += SqliteCommits.full - before_full
                if pg is not None:
                    xids[v.label] += pg.next_xid() - xid0
    out: dict[str, dict[str, Any]] = {}
    for v in variants:
        if v.db == "PostgreSQL":
            v.close()
            per_run = float("nan")
            if pg is not None and v.url and setup is not None and v.label in setup:
                per_run = (pg.settled_commits(v.url) - setup[v.label]) / (warmups + runs)
        else:
            per_run = commits[v.label] / runs
        out[v.label] = {"median_ms": statistics.median(times[v.label]) * 1000, "commits": per_run,
                        "full": fulls[v.label] / runs if v.db == "SQLite" else None,
                        "writing": xids[v.label] / runs if pg is not None else None, "times": times[v.label]}
    return out


def sqlite_block(tmp: Path, runs: int, warmups: int) -> tuple[dict[str, dict[str, Any]], list[str], list[str]]:
    skipped: list[str] = []
    variants: list[Variant] = [BareSqlite(tmp / "bare.db"),
                               EngineRun("SQLite", f"sqlite:///{tmp / 'engine.db'}", "sqlite"),
                               EngineRun("SQLite", f"sqlite:///{tmp / 'engine-every.db'}", "sqlite-every",
                                         every_commit=True),
                               EngineRun("SQLite", None, "memory-sqlite")]
    files = {"bare": tmp / "bare.db", "engine": tmp / "engine.db", "engine (every-commit)": tmp / "engine-every.db"}
    if _installed("dbos"):
        wal_file(tmp / "dbos.sqlite")
        files["DBOS"] = tmp / "dbos.sqlite"
        variants.append(DbosRun("SQLite", f"sqlite:///{tmp / 'dbos.sqlite'}"))
    else:
        skipped.append("DBOS (pip install dbos) not installed: skipped")
    if _installed("langgraph.checkpoint.sqlite"):
        files["LangGraph"] = tmp / "langgraph.db"
        variants.append(LangGraphRun("SQLite", str(tmp / "langgraph.db")))
    else:
        skipped.append("LangGraph SQLite saver (pip install langgraph langgraph-checkpoint-sqlite) not installed: "
                       "skipped")
    if _installed("burr"):
        wal_file(tmp / "burr.db")
        files["Burr"] = tmp / "burr.db"
        variants.append(BurrRun("SQLite", str(tmp / "burr.db")))
    else:
        skipped.append("Apache Burr (pip install apache-burr) not installed: skipped")
    try:
        res = measure(variants, runs, warmups, None)
    finally:
        for v in variants:
            v.close()
    checks = [f"{k}: journal_mode={m}, synchronous={'FULL' if s == 2 else s}"
              for k, (m, s) in ((k, sqlite_settings(p)) for k, p in files.items())]
    return res, skipped, checks


def pg_block(pg: Pg, runs: int, warmups: int) -> tuple[dict[str, dict[str, Any]], list[str]]:
    skipped: list[str] = []
    factories: list[tuple[str, Callable[[str], Variant]]] = [
        ("bare", BarePg),
        ("engine", lambda url: EngineRun("PostgreSQL", url.replace("postgresql://", "postgresql+psycopg://"), "pg")),
        ("engine_every", lambda url: EngineRun("PostgreSQL", url.replace("postgresql://", "postgresql+psycopg://"),
                                               "pg-every", every_commit=True)),
    ]
    if _installed("dbos"):
        factories.append(("dbos", lambda url: DbosRun("PostgreSQL", url)))
    else:
        skipped.append("DBOS not installed: skipped")
    if _installed("langgraph.checkpoint.postgres"):
        factories.append(("langgraph", lambda url: LangGraphRun("PostgreSQL", url)))
    else:
        skipped.append("LangGraph PostgreSQL saver (pip install langgraph-checkpoint-postgres) not installed: skipped")
    if _installed("burr") and _installed("psycopg2"):
        factories.append(("burr", lambda url: BurrRun("PostgreSQL", url)))
    else:
        skipped.append("Apache Burr's PostgreSQL persister (pip install apache-burr psycopg2-binary) not installed: "
                       "skipped")
    setup: dict[str, int] = {}
    for kind, make in factories:  # what building and closing each variant costs, on a throwaway database
        url = pg.new_db(f"setup_{kind}")
        v = make(url)
        v.close()
        setup[v.label] = pg.settled_commits(url)
    variants: list[Variant] = [make(pg.new_db(kind)) for kind, make in factories]
    variants.insert(3, EngineRun("PostgreSQL", None, "memory-pg"))
    try:
        res = measure(variants, runs, warmups, pg, setup)
    finally:
        for v in variants:
            with contextlib.suppress(Exception):
                v.close()
    return res, skipped


def render(blocks: dict[str, dict[str, dict[str, Any]]], notes: list[str], args: argparse.Namespace,
           elapsed: float) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cmd = "    /work/bench-venv/bin/python bench/durability_compare.py"
    cmd += f" --runs {args.runs}" if args.runs != 40 else ""
    cmd += f" --warmups {args.warmups}" if args.warmups != 50 else ""
    lines = [
        "## Persistence side by side (issue 18)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by",
        "",
        cmd,
        "",
        f"in {elapsed:.0f} s, one process, on {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {load:.1f} at the end (a shared machine: compare ratios within "
        f"one run). {args.runs} timed runs per variant after {args.warmups} warm-ups, interleaved; medians. "
        f"Workload: 9 transitions with about 1 KB of output each, 7 orders with an intent and a result each "
        f"(23 durable writes); see the module doc of `bench/durability_compare.py` for each variant.",
        "",
    ]
    for db, res in blocks.items():
        bare = next(r for k, r in res.items() if k.startswith("bare"))["median_ms"]
        mem = res.get("this engine, no persistence (adapters.memory)", {}).get("median_ms")
        pg = any(r.get("writing") is not None for r in res.values())
        head = "| variant | median ms per run | commits per run |" + (" writing transactions per run |" if pg else "")
        lines += [f"### {db}", "", head + " ratio to bare |", "|---|---:|---:|" + ("---:|" if pg else "") + "---:|"]
        for label, r in res.items():
            w = f" {r['writing']:.1f} |" if pg else ""
            if label.startswith("this engine, no persistence"):
                lines.append(f"| {label} | {r['median_ms']:.1f} | 0 |{' 0 |' if pg else ''} - |")
                continue
            ratio = r["median_ms"] / bare
            lines.append(f"| {label} | {r['median_ms']:.1f} | {r['commits']:.1f} |{w} {ratio:.2f} |")
            if label in ("this engine", EVERY_COMMIT) and mem is not None:
                cost = r["median_ms"] - mem
                what = ("this engine's persistence" if label == "this engine"
                        else "its persistence, every commit durable")
                lines.append(f"| **{what}** (engine run minus its no-persistence run) | "
                             f"**{cost:.1f}** | {r['commits']:.1f} |{w} **{cost / bare:.2f}** |")
        fsynced = [f"{'bare' if label.startswith('bare') else label}: {r['full']:.1f} of {r['commits']:.1f}"
                   for label, r in res.items() if r.get("full") is not None and r["commits"]
                   and (label.startswith("bare") or label in ("this engine", EVERY_COMMIT))]
        if fsynced:
            lines += [f"Commits made at `synchronous=FULL` (fsynced before they returned) per run: "
                      f"{'; '.join(fsynced)}.", ""]
        lines.append("")
    lines += ["Notes:", ""] + [f"* {n}" for n in notes]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40, help="timed runs per variant")
    ap.add_argument("--warmups", type=int, default=50,
                    help="untimed rounds first (enough for every SQLite WAL to wrap once: see the module doc)")
    ap.add_argument("--pg", default=None, help="PostgreSQL admin URL (default: start a durable throwaway cluster)")
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    ap.add_argument("--no-write", action="store_true", help="print, do not write docs/benchmarks.md")
    ap.add_argument("--out", type=Path, default=DOC)
    args = ap.parse_args()
    SqliteCommits.install()
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="durability-compare-"))
    blocks: dict[str, dict[str, dict[str, Any]]] = {}
    notes: list[str] = []
    res, skipped, checks = sqlite_block(tmp, args.runs, args.warmups)
    blocks["SQLite (WAL, synchronous=FULL)"] = res
    notes += skipped + ["SQLite files after the runs: " + "; ".join(checks)]
    cluster = None
    if not args.no_pg:
        admin = args.pg
        if admin is None:
            cluster = DurableCluster()
            admin = cluster.start()
        pg = Pg(admin)
        try:
            notes.append(f"PostgreSQL server settings: {pg.settings()}")
            res, skipped = pg_block(pg, args.runs, args.warmups)
            blocks[f"PostgreSQL ({pg.settings()})"] = res
            notes += skipped
        finally:
            pg.drop_all()
            if cluster is not None:
                cluster.stop()
    notes.append("Commits per run: PostgreSQL counts the server's `xact_commit` of each variant's own database "
                 "over the timed runs (connection set-up and the libraries' own bookkeeping included), which "
                 "includes read-only statements run in autocommit (the engine's two reads of a run: start()'s "
                 "thresholds, run()'s entry); writing transactions per run are the transaction ids the cluster "
                 "assigned during each timed run (only a transaction that writes takes one); SQLite counts "
                 "`COMMIT` statements and autocommitted writes on every sqlite3 connection.")
    section = render(blocks, notes, args, time.monotonic() - t0)
    if not args.no_write:
        write_section(args.out, START, END, section)
    print(section)


if __name__ == "__main__":
    main()
