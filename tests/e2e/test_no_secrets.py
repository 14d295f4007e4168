"""No secret (app key, app secret, token, full account number) in logs, database rows or output."""

from __future__ import annotations

import json
import re

from sqlalchemy import create_engine, inspect, text

from adapters.kis_sim.simulator import TEST_APPKEY, TEST_APPSECRET
from adapters.sim.account import SimAccount
from tests.e2e.cli_helpers import DEMO_TARGETS, Cli

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")


def test_a_full_kis_run_leaves_no_secret_anywhere(tmp_path):
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'secrets.db'}", REBALANCE_BROKER="kis-sim",
              REBALANCE_LOG_LEVEL="DEBUG", REBALANCE_LOG_FORMAT="json")
    SimAccount.demo(cli.account)
    acct = SimAccount(cli.account).read()
    full_account = acct["cano"]
    assert cli("targets", "set", str(DEMO_TARGETS)).returncode == 0
    res = cli("run", "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    run_id = json.loads(res.stdout)["run"]["id"]
    shown = cli("show", run_id)
    texts = {"stdout": res.stdout, "stderr": res.stderr, "show": shown.stdout + shown.stderr}
    engine = create_engine(cli.db_url)
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).fetchall()
            texts[f"table {table}"] = "\n".join(repr(tuple(r)) for r in rows)
    engine.dispose()
    assert len(texts["table orders"]) > 100 and "rebalance.engine" in texts["stderr"]
    for where, body in texts.items():
        for secret in (TEST_APPKEY, TEST_APPSECRET, full_account):
            assert secret not in body, f"{where} holds a secret"
        assert not JWT.search(body), f"{where} holds a token"
    # every JSON log line carries the run id once the run exists
    lines = [json.loads(line) for line in res.stderr.splitlines() if line.startswith("{")]
    engine_lines = [e for e in lines if e["logger"].startswith("rebalance.engine")]
    assert engine_lines and all(e["run_id"] == run_id for e in engine_lines)
