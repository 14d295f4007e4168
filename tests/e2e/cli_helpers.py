"""Run the real command line in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO_TARGETS = ROOT / "adapters" / "sim" / "demo_data" / "demo_targets.json"


class Cli:
    def __init__(self, tmp: Path, db_url: str, **env: str) -> None:
        self.tmp = tmp
        self.db_url = db_url
        self.account = tmp / "account.json"
        self.env = {**os.environ, "REBALANCE_SIM_ACCOUNT_PATH": str(self.account),
                    "REBALANCE_DATABASE_URL": db_url,
                    "REBALANCE_KILL_SWITCH_FILE": str(tmp / "KILL"), "REBALANCE_FILL_POLL_S": "0.05",
                    # a resume that takes over a run with a send in flight waits send timeout + settle
                    # window (40 s by default); the simulated broker answers at once and its list never lags
                    "REBALANCE_SEND_TIMEOUT_S": "1", "REBALANCE_SETTLE_WINDOW_S": "1",
                    "PYTHONPATH": str(ROOT), **env}
        self.env.pop("REBALANCE_CRASH_AT", None)

    def __call__(self, *args: str, crash_at: str | None = None, timeout: float = 120,
                 **env: str) -> subprocess.CompletedProcess[str]:
        e = dict(self.env, **env)
        if crash_at:
            e["REBALANCE_CRASH_AT"] = crash_at
        return subprocess.run([sys.executable, str(ROOT / "run_rebalance.py"), *args], env=e, cwd=self.tmp,
                              capture_output=True, text=True, timeout=timeout)

    def json(self, *args: str) -> dict:
        res = self(*args, "--json")
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)
