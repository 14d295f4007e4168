"""A fleet of simulated accounts for the worker tests and bench/workers.py: ``n`` kis-sim accounts
(rows in ``accounts``, each with its own account file and simulated app key on one multi-account
KIS simulator enforcing per-key limits), the default portfolio's targets, worker processes
(``run_rebalance.py worker``), and the checks: every account's runs final, the simulator's order
log without duplicates, its rate-limit and token refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from adapters.clock import SystemClock
from adapters.db.accounts import AccountRepository
from adapters.db.connect import Database
from adapters.kis_sim.multi import load_tenants, make_tenants, order_log
from adapters.sim.account import DEMO_DIR
from adapters.workers.queue import Enqueued, enqueue_due, make_queue_app
from statemachine.accounts import make_account
from statemachine.models import Targets
from statemachine.states import FINAL_STATUSES

ROOT = Path(__file__).resolve().parents[2]
TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))


@dataclass
class Fleet:
    db_url: str
    manifest: Path
    tmp: Path

    @property
    def aliases(self) -> list[str]:
        return [t["alias"] for t in load_tenants(self.manifest)]

    def env(self, sim_url: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCE_")}
        env.update({
            "PYTHONPATH": str(ROOT), "REBALANCE_DATABASE_URL": self.db_url, "REBALANCE_BROKER": "kis-sim",
            "REBALANCE_KIS_SIM_URL": sim_url, "REBALANCE_KIS_SIM_RPS": "8",
            "REBALANCE_SIM_ACCOUNT_PATH": str(self.tmp / "sim" / "default.json"),
            "REBALANCE_KIS_TOKEN_CACHE_PATH": str(self.tmp / "token.json"),
            "REBALANCE_FILL_POLL_S": "0.05", "REBALANCE_FILL_TIMEOUT_S": "20",
            "REBALANCE_KILL_SWITCH_FILE": str(self.tmp / "KILL"), "REBALANCE_LEASE_TTL_S": "6",
            "REBALANCE_LOG_LEVEL": "INFO", "REBALANCE_PLANNER": "greedy",
        })
        env.update(extra)
        return env

    def start_worker(self, env: dict[str, str], name: str, *args: str) -> subprocess.Popen[str]:
        log = open(self.tmp / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        return subprocess.Popen([sys.executable, str(ROOT / "run_rebalance.py"), "worker", "--name", name,
                                 "--stalled-s", "4", "--sweep-s", "1", *args], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, text=True)

    def enqueue(self, due: datetime, owner: str = "test-enqueuer") -> list[Enqueued]:
        db = Database(self.db_url)
        try:
            return enqueue_due(make_queue_app(self.db_url), db, [(a, due) for a in self.aliases], owner=owner,
                               now=due)
        finally:
            db.dispose()

    def runs(self) -> dict[str, list[Any]]:
        db = Database(self.db_url)
        try:
            with db.unit_of_work() as u:
                return {a: u.find_runs(account=a, limit=100) for a in self.aliases}
        finally:
            db.dispose()

    def duplicates(self) -> dict[str, list[tuple[str, str]]]:
        """Per account, the (side, ticker) the broker accepted more than one order for (a
        rebalance of these accounts sends one market order per ticker and side)."""
        out = {}
        for t in load_tenants(self.manifest):
            seen = Counter((o["side"], o["ticker"]) for o in order_log(t["account_file"]))
            dup = [k for k, n in seen.items() if n > 1]
            if dup:
                out[t["alias"]] = dup
        return out

    def orders(self) -> int:
        return sum(len(order_log(t["account_file"])) for t in load_tenants(self.manifest))

    def all_final(self) -> bool:
        runs = self.runs()
        return all(rs and all(r.status in FINAL_STATUSES for r in rs) for rs in runs.values())


def make_fleet(db_url: str, tmp: Path, n: int) -> Fleet:
    manifest = make_tenants(tmp / "sim", n, json.loads((DEMO_DIR / "demo_account.json").read_text()))
    clock = SystemClock()
    db = Database(db_url)
    try:
        with db.unit_of_work() as u:
            u.add_targets(TARGETS, clock.now() - timedelta(days=1))
            u.commit()
        repo = AccountRepository(db.engine, clock)
        for t in load_tenants(manifest):
            repo.add(make_account(alias=t["alias"], broker="kis-sim", sim_account_path=t["account_file"]))
    finally:
        db.dispose()
    return Fleet(db_url, manifest, tmp)


def sim_stats(sim_url: str) -> dict[str, int]:
    per = httpx.get(sim_url + "/_sim/stats", timeout=10).json()
    keys = ("requests", "rate_limited", "token_refused", "tokens_issued")
    return {k: sum(v[k] for v in per.values()) for k in keys}
