"""Durability benchmark: what the checkpoints cost, next to no persistence and next to DBOS.

Measured on SQLite (a file, WAL) and PostgreSQL, in one run:

1. the engine's full nine-step run (demo account, 3 sells + 4 buys, immediate fills) with its
   database, against the same run with no persistence (adapters.memory: the in-memory unit of
   work, nothing written to disk). Both use an in-memory simulated account, so the difference is the cost of
   the checkpoints: one transaction per transition plus the order protocol's intent/sent/filled
   writes;
2. the same nine steps as a DBOS workflow (``dbos`` 3.x): each step is a ``@DBOS.step`` running
   the engine's step on the in-memory store and returning its output, so DBOS records each step's
   result in its own system database (a separate SQLite file / PostgreSQL database);
3. the time from ``resume`` to the next committed transition after a crash: a real
   ``run_rebalance.py run`` SIGKILLed at its first checkpoint, then ``run_rebalance.py resume``
   (wall time from launching it, interpreter start included) and the same in process (an
   engine interrupted by an exception, resumed by a fresh engine).

Writes its section of docs/benchmarks.md between ``<!-- durability:start -->`` and
``<!-- durability:end -->`` (other sections are left alone). Usage::

    .venv/bin/python bench/durability.py [--runs 30] [--resumes 5] [--pg postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import signal
import statistics
import subprocess
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

from adapters.db.connect import Database  # noqa: E402
from adapters.memory import MemoryStore  # noqa: E402
from adapters.runtime import SystemClock  # noqa: E402
from adapters.sim.account import DEMO_DIR, SimAccount  # noqa: E402
from adapters.sim.broker import SimulatedBroker  # noqa: E402
from bench.memory import MemoryAccount  # noqa: E402
from bench.sections import write_section  # noqa: E402
from statemachine.engine import Engine  # noqa: E402
from statemachine.models import Targets  # noqa: E402
from statemachine.planner_greedy import GreedyPlanner  # noqa: E402
from statemachine.settings import EngineSettings  # noqa: E402
from statemachine.states import RunStatus  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- durability:start -->", "<!-- durability:end -->"
TARGETS = Targets.model_validate_json((DEMO_DIR / "demo_targets.json").read_text())
SETTINGS = EngineSettings(fill_poll_s=0.01, fill_timeout_s=5)
GREEDY = GreedyPlanner()


class Interrupted(Exception):
    pass


class Hooks:
    """Raise at the n-th checkpoint, or note when the first checkpoint is reached."""

    def __init__(self, crash_at: int | None = None) -> None:
        self.crash_at, self.seen, self.first_at = crash_at, 0, None

    def point(self, name: str) -> None:
        if name != "checkpoint":
            return
        self.seen += 1
        if self.first_at is None:
            self.first_at = time.perf_counter()
        if self.crash_at == self.seen:
            raise Interrupted


def _engine(uow: Callable, alias: str, hooks: Hooks | None = None, owner: str | None = None) -> Engine:
    broker = SimulatedBroker(MemoryAccount(), alias=alias)
    return Engine(uow, broker, lambda name: GREEDY, SystemClock(), SETTINGS, hooks=hooks, owner=owner)


class Counting:
    """Wraps a unit-of-work factory: counts units of work opened and commits (a checkpoint's
    ``save`` commits once, whether through ``commit`` or on the driver)."""

    def __init__(self, factory: Callable) -> None:
        self.factory, self.opened, self.commits = factory, 0, 0

    def __call__(self) -> Any:
        u = self.factory()
        self.opened += 1
        commit = u.commit

        def counted() -> None:
            self.commits += 1
            commit()

        u.commit = counted
        save = u.save

        def saved(cp: Any) -> Any:
            before = self.commits
            out = save(cp)
            if self.commits == before:  # committed on the driver (adapters/db/checkpoint.py), not by commit()
                self.commits += 1
            return out

        u.save = saved
        return u


def engine_runs(factories: dict[str, Callable], n: int) -> tuple[dict[str, list[float]], tuple[int, int]]:
    """``n`` timed runs of each variant (after two warm-ups), interleaved so that a change in the
    machine's load hits every variant alike; and one database run's (transactions, commits)."""
    times: dict[str, list[float]] = {k: [] for k in factories}
    counts = (0, 0)
    order = list(factories.items())
    shuffle = random.Random(18)
    for i in range(n + 2):
        shuffle.shuffle(order)  # no variant always runs after the same one (warm or cold caches)
        for label, factory in order:
            alias = f"bench-{label}-{i}"
            if label == "memory":
                # a new store each run: the in-memory tables check uniqueness by scanning, so one store
                # growing over the runs would make the no-persistence baseline slower run by run
                factory = MemoryStore()
            uow = Counting(factory)
            eng = _engine(uow, alias)
            t0 = time.perf_counter()
            run = eng.run(eng.start(account=alias, targets=TARGETS).id)
            dt = time.perf_counter() - t0
            assert run.status is RunStatus.SUCCEEDED, run.error
            if i >= 2:  # two warm-up runs
                times[label].append(dt)
                if label != "memory":
                    counts = (uow.opened, uow.commits)
    return times, counts


def dbos_runs(sys_url: str, n: int) -> list[float]:
    from dbos import DBOS, SetWorkflowID

    current: dict[str, Engine] = {}

    @DBOS.step()
    def engine_step(run_id: str) -> dict:
        eng = current["engine"]
        run = eng.get(run_id)
        outcome = eng._steps()[run.state](run)
        eng._commit(run, outcome, None)
        return outcome.outputs

    @DBOS.workflow()
    def rebalance(run_id: str) -> str:
        for _ in range(9):
            engine_step(run_id)
        return current["engine"].get(run_id).status.value

    DBOS(config={"name": "durability-bench", "system_database_url": sys_url, "log_level": "WARNING",
                 "console_log_level": "WARNING"})
    DBOS.launch()
    try:
        times = []
        for i in range(n + 2):
            alias = f"dbos-{i}"
            eng = _engine(MemoryStore(), alias)  # a new store each run, as for "memory" (engine_runs)
            current["engine"] = eng
            wid = f"{alias}-{uuid.uuid4().hex[:8]}"
            t0 = time.perf_counter()
            run = eng.start(account=alias, targets=TARGETS)
            with SetWorkflowID(wid):
                status = rebalance(run.id)
            dt = time.perf_counter() - t0
            assert status == "SUCCEEDED", status
            if i >= 2:
                times.append(dt)
        assert len(DBOS.list_workflow_steps(wid)) == 9  # DBOS recorded each step's result
        return times
    finally:
        DBOS.destroy(destroy_registry=True)


def resume_in_process(db: Database, n: int, tag: str) -> list[float]:
    out = []
    for i in range(n):
        alias = f"resume-{tag}-{i}"
        crashing = _engine(db.unit_of_work, alias, Hooks(crash_at=1))
        run = crashing.start(account=alias, targets=TARGETS)
        with contextlib.suppress(Interrupted):
            crashing.run(run.id)
        hooks = Hooks()
        fresh = _engine(db.unit_of_work, alias, hooks)
        fresh.broker = crashing.broker  # the same account
        t0 = time.perf_counter()
        assert fresh.resume(run.id).status is RunStatus.SUCCEEDED
        assert hooks.first_at is not None
        out.append(hooks.first_at - t0)
    return out


def resume_cli(url: str, n: int, tmp: Path, tag: str) -> list[float]:
    db = Database(url, auto_migrate=True)
    with db.unit_of_work() as uow:
        uow.add_targets(TARGETS, datetime.now(UTC))
        uow.commit()
    out = []
    try:
        for i in range(n):
            d = tmp / f"cli-{tag}-{i}"
            d.mkdir()
            env = {**os.environ, "REBALANCE_DATABASE_URL": url,
                   "REBALANCE_SIM_ACCOUNT_PATH": str(d / "acct.json"),
                   "REBALANCE_ACCOUNT_ALIAS": f"cli-{tag}-{i}", "REBALANCE_KILL_SWITCH_FILE": str(d / "KILL"),
                   "REBALANCE_FILL_POLL_S": "0.05", "PYTHONPATH": str(ROOT)}
            SimAccount.demo(d / "acct.json")
            cmd = [sys.executable, str(ROOT / "run_rebalance.py"), "--log-level", "WARNING"]
            killed = subprocess.run([*cmd, "run"], env={**env, "REBALANCE_CRASH_AT": "checkpoint@1"}, cwd=d,
                                    capture_output=True, text=True, timeout=120)
            assert killed.returncode == -signal.SIGKILL, killed.stderr[-1000:]
            with db.unit_of_work() as uow:
                (run,) = uow.find_runs(account=env["REBALANCE_ACCOUNT_ALIAS"], statuses=["RUNNING"])
            t0 = datetime.now(UTC)
            res = subprocess.run([*cmd, "resume", run.id], env=env, cwd=d, capture_output=True, text=True,
                                 timeout=120)
            assert res.returncode == 0, res.stderr[-1000:]
            with db.unit_of_work() as uow:
                nxt = next(t for t in uow.transitions(run.id) if t.seq == run.seq + 1)
            out.append((nxt.at - t0).total_seconds())
        return out
    finally:
        db.dispose()


def _pg_admin(url: str) -> psycopg.Connection | None:
    try:
        return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True,
                               connect_timeout=3)
    except psycopg.Error as exc:
        print(f"PostgreSQL not available ({exc}); PostgreSQL rows skipped", file=sys.stderr)
        return None


def _pg_url(base: str, name: str) -> str:
    head = base.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0]
    return f"{head}/{name}"


def med(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30, help="timed runs per variant (after 2 warm-ups)")
    ap.add_argument("--resumes", type=int, default=5, help="crash-and-resume cycles per database")
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres",
                    help="PostgreSQL admin URL")
    ap.add_argument("--out", type=Path, default=DOC)
    args = ap.parse_args()
    t_start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="durability-bench-"))
    backends: dict[str, str] = {"SQLite": f"sqlite:///{tmp / 'engine.db'}"}
    dbos_backends: dict[str, str] = {"SQLite": f"sqlite:///{tmp / 'dbos.sqlite'}"}
    admin = _pg_admin(args.pg)
    created: list[str] = []
    if admin is not None:
        for kind in ("engine", "dbos"):
            name = f"rb_bench_{kind}_{uuid.uuid4().hex[:8]}"
            admin.execute(f'CREATE DATABASE "{name}"')
            created.append(name)
        backends["PostgreSQL"] = _pg_url(args.pg, created[0])
        dbos_backends["PostgreSQL"] = _pg_url(args.pg, created[1])
    results: dict[str, Any] = {}
    dbs = {label: Database(url, auto_migrate=True) for label, url in backends.items()}
    try:
        factories: dict[str, Callable] = {"memory": MemoryStore(),
                                          **{label: db.unit_of_work for label, db in dbs.items()}}
        times, counts = engine_runs(factories, args.runs)
        results.update(times)
        for label, db in dbs.items():
            results[f"{label} resume (in process)"] = resume_in_process(db, args.resumes, label)
            results[f"{label} resume (CLI)"] = resume_cli(backends[label], args.resumes, tmp, label)
            results[f"DBOS {label}"] = dbos_runs(dbos_backends[label], args.runs)
            print(f"{label} done", file=sys.stderr)
    finally:
        for db in dbs.values():
            db.dispose()
        if admin is not None:
            for name in created:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
    elapsed = time.monotonic() - t_start
    section = render(results, counts, args, elapsed)
    write_section(args.out, START, END, section)
    print(section)


def render(r: dict[str, Any], counts: tuple[int, int], args: argparse.Namespace, elapsed: float) -> str:
    base = med(r["memory"])
    opened, commits = counts
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cmd = "    /work/bench-venv/bin/python bench/durability.py"
    cmd += f" --runs {args.runs}" if args.runs != 30 else ""
    cmd += f" --resumes {args.resumes}" if args.resumes != 5 else ""
    if args.pg != "postgresql://postgres@127.0.0.1:5432/postgres":
        cmd += " --pg <a local cluster's URL, fsync=on>"
    lines = [
        "## Durability: the cost of checkpoints",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by",
        "",
        cmd,
        "",
        f"in {elapsed:.0f} s on {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {load:.1f} at the end (a shared machine: compare ratios "
        f"within one run, not absolute numbers across runs). {args.runs} timed runs per variant after two "
        f"warm-ups; medians. A run is the full nine-step rebalance of the demo account (3 sells, 4 buys, "
        f"immediate fills) against an in-memory simulated account, so only the persistence differs.",
        "",
        "| variant | median run (ms) | vs no persistence | extra per transition (ms) |",
        "|---|---:|---:|---:|",
        f"| engine, no persistence (in-memory UnitOfWork) | {base:.1f} | 1.00x | - |",
    ]
    for label in ("SQLite", "PostgreSQL"):
        if label not in r:
            continue
        m = med(r[label])
        d = med(r[f"DBOS {label}"])
        lines.append(f"| engine, {label} | {m:.1f} | {m / base:.2f}x | {(m - base) / 9:.2f} |")
        lines.append(f"| DBOS 3.x workflow of the same nine steps, {label} system database | {d:.1f} | "
                     f"{d / base:.2f}x | {(d - base) / 9:.2f} |")
    lines += [
        "",
        f"`extra per transition` is the run's extra time over no persistence divided by its nine "
        f"transitions. The engine's run opens {opened} units of work, {commits} of them committing: one "
        f"per transition (start included), one per order intent and one per send (7 orders; each order's "
        f"broker answer and fills ride with the next of these), the other two read: `start()` the thresholds "
        f"in force, `run()` the run at its entry (docs/durability.md, \"Transactions per run\"). With the "
        f"default `REBALANCE_DURABILITY=effects`, 9 of the commits are fsynced before they return (the "
        f"creation, the 7 send counters, the end) and each makes the ones before it durable (docs/durability.md, "
        f"\"Durable before every effect\"). DBOS stores "
        f"each step's result and the workflow's status, but nothing inside a step: it has no order intents, so a "
        f"crash inside the sell or buy step would re-send its orders.",
        "",
        "Resume after a crash: time from starting `resume` to the next committed transition "
        f"(the run was interrupted at its first checkpoint, FETCHED; the next step is the drift check). "
        f"{args.resumes} cycles per database, medians (min-max).",
        "",
        "| database | `run_rebalance.py resume` (process start included) | in process (`Engine.resume`) |",
        "|---|---:|---:|",
    ]
    for label in ("SQLite", "PostgreSQL"):
        if f"{label} resume (CLI)" not in r:
            continue
        c, p = r[f"{label} resume (CLI)"], r[f"{label} resume (in process)"]
        lines.append(f"| {label} | {med(c):.0f} ms ({min(c) * 1000:.0f}-{max(c) * 1000:.0f}) | "
                     f"{med(p):.1f} ms ({min(p) * 1000:.1f}-{max(p) * 1000:.1f}) |")
    if "PostgreSQL" not in r:
        lines += ["", "PostgreSQL was not reachable: its rows are missing."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
