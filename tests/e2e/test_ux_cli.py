"""Issue 21 through the real command line: what a crash looks like to an operator (SQLite)."""

from __future__ import annotations

import signal

import pytest

from adapters.sim.account import SimAccount
from tests.e2e.cli_helpers import DEMO_TARGETS, Cli


@pytest.fixture
def cli(tmp_path):
    url = f"sqlite:///{tmp_path / 'ux.db'}"
    c = Cli(tmp_path, url, REBALANCE_ACCOUNT_ALIAS="acct", COLUMNS="120")
    assert c("targets", "set", str(DEMO_TARGETS)).returncode == 0
    SimAccount.demo(c.account)
    return c


def _killed(cli: Cli) -> dict:
    killed = cli("run", crash_at="checkpoint@3")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    [run] = cli.json("status")["runs"]
    return run


def test_status_after_kill_9_says_the_lease_is_stale_and_what_to_do(cli):
    run = _killed(cli)
    assert run["status"] == "RUNNING" and run["lease"]["state"] == "stale" and run["lease"]["dead"] is True
    assert run["lease"]["holder"] == run["lease_owner"] and run["lease"]["actions"] == ["resume", "force", "abort"]
    text = cli("status")
    assert text.returncode == 0
    line = next(x for x in text.stdout.splitlines() if x.startswith(f"{run['id']}:"))
    assert f"stale lease: holder {run['lease_owner']} last seen" in line and "resume / force / abort" in line
