"""Workers benchmark (issue 19): N simulated accounts on one PostgreSQL, driven by 1, 2 and 4 worker
processes (``run_rebalance.py worker``) pulling from the job queue, against the multi-account KIS
simulator with per-app-key limits (EGW00201 above ``--rate`` requests/s per key, EGW00133 for a
second token within a minute) and ``--latency`` seconds on every /uapi reply.

For each worker count: a fresh database (migrated) and fresh account files; the workers are
started and registered first, then one job per account is enqueued (``enqueue_due``) and the clock
runs until every account's run is final. Reported: accounts per hour, the scaling ratio against
linear (``rate_k / (k * rate_1)``), the simulator's rate-limit and token refusals, duplicate orders
in its per-account order logs (more than one order for a side and ticker), accounts not final.

Writes its section of docs/benchmarks.md between ``<!-- workers:start -->`` and
``<!-- workers:end -->``. Usage::

    .venv/bin/python bench/workers.py [--accounts 200] [--workers 1,2,4] [--latency 0.15] [--rate 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from adapters.clock import SystemClock  # noqa: E402
from adapters.db.connect import upgrade  # noqa: E402
from adapters.kis.shared_limits import libpq_url  # noqa: E402
from adapters.kis_sim.config import SimulatorConfig  # noqa: E402
from adapters.kis_sim.multi import MultiSimulatorServer  # noqa: E402
from bench.sections import write_section  # noqa: E402
from statemachine.states import FINAL_STATUSES  # noqa: E402
from tests.pg import PgServer  # noqa: E402
from tests.workers.fleet import make_fleet, sim_stats  # noqa: E402

START, END = "<!-- workers:start -->", "<!-- workers:end -->"


def _registered(db_url: str) -> int:
    with psycopg.connect(libpq_url(db_url)) as c:
        row = c.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
    return int(row[0]) if row else 0


def _final(db_url: str) -> int:
    with psycopg.connect(libpq_url(db_url)) as c:
        rows = c.execute("SELECT status FROM runs").fetchall()
    return sum(r[0] in {s.value for s in FINAL_STATUSES} for r in rows)


def one(server: PgServer, n: int, k: int, cfg: SimulatorConfig, timeout_s: float) -> dict[str, float]:
    db_url = server.url(server.create_db())
    upgrade(db_url)
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as d:
        fleet = make_fleet(db_url, Path(d), n)
        with MultiSimulatorServer(fleet.manifest, cfg) as sim:
            env = fleet.env(sim.url, REBALANCE_LOG_LEVEL="WARNING")
            procs = [fleet.start_worker(env, f"w{i}") for i in range(k)]
            try:
                end = time.monotonic() + 60
                while _registered(db_url) < k and time.monotonic() < end:
                    time.sleep(0.2)
                t0 = time.monotonic()
                fleet.enqueue(SystemClock().now())
                end = t0 + timeout_s
                while _final(db_url) < n and time.monotonic() < end:
                    time.sleep(0.5)
                elapsed = time.monotonic() - t0
                final = _final(db_url)
            finally:
                for p in procs:
                    p.send_signal(signal.SIGTERM)
                for p in procs:
                    try:
                        p.wait(timeout=60)
                    except Exception:  # noqa: BLE001
                        p.kill()
            stats = sim_stats(sim.url)
        dups = sum(len(v) for v in fleet.duplicates().values())
        orders = fleet.orders()
    return {"workers": k, "accounts": n, "final": final, "elapsed_s": elapsed, "per_hour": final / elapsed * 3600,
            "rate_limited": stats["rate_limited"], "token_refused": stats["token_refused"],
            "tokens": stats["tokens_issued"], "requests": stats["requests"], "duplicates": dups, "orders": orders}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--latency", type=float, default=0.15, help="seconds on every /uapi reply")
    ap.add_argument("--rate", type=float, default=10.0, help="simulator: requests per second per app key")
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    a = ap.parse_args()
    cfg = SimulatorConfig(rate_limit_per_s=a.rate, latency_s=a.latency, token_issue_min_interval_s=60)
    server = PgServer()
    server.start()
    rows = []
    try:
        for k in (int(x) for x in a.workers.split(",")):
            r = one(server, a.accounts, k, cfg, a.timeout)
            rows.append(r)
            print(r, flush=True)
            server.drop_all()
    finally:
        server.stop()
    base = rows[0]["per_hour"] / rows[0]["workers"]
    lines = ["| workers | accounts final | elapsed s | accounts/hour | vs linear | EGW00201 | EGW00133 | tokens "
             "issued | duplicate orders | orders |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['workers']} | {r['final']}/{r['accounts']} | {r['elapsed_s']:.1f} | {r['per_hour']:.0f} | "
                     f"{r['per_hour'] / (base * r['workers']):.2f}x | {r['rate_limited']} | {r['token_refused']} | "
                     f"{r['tokens']} | {r['duplicates']} | {r['orders']} |")
    cmd = "python bench/workers.py " + " ".join(sys.argv[1:])
    body = (f"## Workers: accounts per hour with 1, 2, 4 worker processes\n\n"
            f"Command: `{cmd.strip()}` (defaults: 200 accounts, workers 1,2,4, latency 0.15 s, 10 req/s per key)\n\n"
            f"Machine: {os.cpu_count()} CPU(s), {platform.python_implementation()} {platform.python_version()}, "
            f"PostgreSQL on 127.0.0.1; simulator: {a.rate:g} requests/s per app key, {a.latency:g} s latency "
            f"per call, one token a minute per key; clients at 8 requests/s per key (margin 25%).\n\n"
            + "\n".join(lines) + "\n\n"
            "How to read it: each account's run is about 13 broker calls (balance, prices, orders, fill polls), "
            "so with a slow broker a worker mostly waits on the network and more workers overlap those waits; "
            "the rest (CPU, PostgreSQL commits, fill-poll waits) is shared by the machine's "
            "cores. On 2 cores the ratio holds while the broker's latency dominates; with a fast broker the "
            "workers become CPU-bound and 4 workers on 2 cores cannot exceed about 2x one worker. EGW00201 / "
            "EGW00133 count the simulator's refusals (the limits are per app key, shared through PostgreSQL); "
            "duplicate orders count a second order for the same side and ticker in an account's order log.\n\n")
    write_section(a.out, START, END, body)
    print(body)


if __name__ == "__main__":
    main()
