"""The broker's per-app-key limits hold across processes when they live in PostgreSQL.

Two processes read one simulated account (one app key) as fast as their limiter lets them: with
the PostgreSQL limiter and token cache the simulator, which enforces the broker's limits per app
key (EGW00201 above the rate, EGW00133 for a second token inside a minute), refuses nothing and
issued one token; with a limiter per process (the control, the token in the machine's file) it
answers rate-limit errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from adapters.kis.shared_limits import PgTokenStore, key_fingerprint, seal, unseal
from adapters.kis_sim.config import SimulatorConfig
from adapters.kis_sim.multi import MultiSimulatorServer, make_tenants
from adapters.sim.account import DEMO_DIR

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.pg
RATE = 4.0


@pytest.fixture
def pg_url(pg_server, pg_template):
    return pg_server.url(pg_server.create_db(template=pg_template))


def _two_children(sim_url: str, db_url: str, manifest: Path, mode: str, n: int) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "tests.workers.limits_child", sim_url, db_url, str(manifest),
                               str(n), mode, str(RATE)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    return [p.communicate(timeout=120)[0] for p in procs]


def _demo() -> dict:
    return json.loads((DEMO_DIR / "demo_account.json").read_text())


@pytest.mark.parametrize("mode", ["shared", "local"])
def test_the_limits_hold_across_two_processes_only_when_shared(tmp_path, pg_url, mode):
    manifest = make_tenants(tmp_path / "accounts", 1, _demo())
    cfg = SimulatorConfig(rate_limit_per_s=RATE, token_issue_min_interval_s=60)
    with MultiSimulatorServer(manifest, cfg) as sim:
        outs = _two_children(sim.url, pg_url, manifest, mode, 10)
        stats = httpx.get(sim.url + "/_sim/stats").json()["acct000"]
    if mode == "shared":
        assert all("ok 10" in o for o in outs), outs
        assert stats["rate_limited"] == 0
        assert stats["tokens_issued"] == 1 and stats["token_refused"] == 0
    else:  # the control: two per-process limiters together exceed the key's rate
        assert stats["rate_limited"] > 0


def test_the_token_row_holds_no_usable_token(pg_url):
    store = PgTokenStore(pg_url, "the-app-secret")
    kid = key_fingerprint("http://127.0.0.1:1", "the-app-key")
    with store.locked(kid):
        store.put(kid, {"token": "eyJtoken.payload.sig", "expires_at": 123.0, "last_issue_at": 100.0})
    import psycopg

    from adapters.kis.shared_limits import libpq_url

    with psycopg.connect(libpq_url(pg_url)) as c:
        rows = c.execute("SELECT key_id, token_sealed FROM kis_tokens").fetchall()
    assert rows and rows[0][0] == kid and "the-app-key" not in rows[0][0]
    assert "eyJtoken" not in rows[0][1]
    with store.locked(kid):
        assert store.get(kid)["token"] == "eyJtoken.payload.sig"
    assert unseal(rows[0][1], "another-secret", kid) is None
    assert unseal(seal("t", "s", kid), "s", kid) == "t"
