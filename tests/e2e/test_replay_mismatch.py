"""A resumed run whose recorded steps were altered is refused by the replay check through both
interfaces: ``resume`` exits 5 with the message, the HTTP resume endpoint answers 409."""

from __future__ import annotations

import signal

from sqlalchemy import update

from adapters.db import tables
from adapters.db.connect import Database
from adapters.http.api import API
from adapters.sim.account import SimAccount
from tests.e2e.cli_helpers import DEMO_TARGETS, Cli
from tests.e2e.http_helpers import AUTH, client, make_app
from tests.e2e.test_http_api import interrupted_run


def _alter_step_2(db_url: str, run_id: str) -> None:
    db = Database(db_url)
    try:
        tr = tables.run_transitions
        with db.engine.begin() as conn:
            res = conn.execute(update(tr).where(tr.c.run_id == run_id, tr.c.seq == 2).values(trigger="plan_sells"))
            assert res.rowcount == 1
    finally:
        db.dispose()


def test_cli_resume_of_an_altered_run_exits_5(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    cli = Cli(tmp_path, url)
    SimAccount.demo(cli.account)
    assert cli("targets", "set", str(DEMO_TARGETS)).returncode == 0
    killed = cli("run", crash_at="checkpoint:SELL_PLANNED")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    run_id = cli.json("status")["runs"][0]["id"]
    _alter_step_2(url, run_id)
    res = cli("resume", run_id)
    assert res.returncode == 5, (res.stdout, res.stderr)
    text = " ".join((res.stdout + res.stderr).split())
    assert f"run {run_id} cannot be replayed: step 2" in text
    assert "plan_sells FETCHED -> DRIFT_CHECKED" in text
    assert cli.json("status")["runs"][0]["status"] == "RUNNING"  # refused, not touched


def test_http_resume_of_an_altered_run_is_409(tmp_path):
    url = f"sqlite:///{tmp_path / 'api.db'}"
    app = make_app(tmp_path, url)
    run_id = interrupted_run(app, "SELL_VALIDATED")
    _alter_step_2(url, run_id)
    with client(app) as c:
        r = c.post(f"{API}/runs/{run_id}/resume", headers=AUTH)
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "ReplayMismatch" and body["run_id"] == run_id and body["step"] == 2
    assert body["recorded"] == "plan_sells FETCHED -> DRIFT_CHECKED"
