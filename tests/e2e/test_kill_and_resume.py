"""Kill a real `run` process with SIGKILL at every checkpoint and order boundary, then `resume`:
the same final holdings, each order accepted exactly once, the same history row."""

from __future__ import annotations

import signal

import pytest

from adapters.sim_account import SimAccount
from tests.e2e.cli_helpers import DEMO_TARGETS, Cli

CHECKPOINTS = [f"checkpoint@{k}" for k in range(1, 10)]
ORDER_POINTS = ["order:intent_committed@1", "order:accepted_before_record@1", "order:sent_committed@1",
                "order:accepted_before_record@5", "order:intent_committed@6"]


def _outcome(cli: Cli, run_id: str) -> dict:
    view = cli.json("show", run_id)
    h = view["history"]
    trades = sorted((t["side"], t["ticker"], t["quantity"]) for t in h["trades"])
    return {"status": h["status"], "trades": trades, "total_cost": h["total_cost"],
            "positions": SimAccount(cli.account).positions(), "cash": SimAccount(cli.account).cash(),
            "drift_after": round(h["drift_after"]["total_abs_drift"], 6)}


def _fresh(tmp_path, db_url, name) -> Cli:
    d = tmp_path / name
    d.mkdir()
    cli = Cli(d, db_url, REBALANCE_ACCOUNT_ALIAS=f"acct-{name}"[:60])
    SimAccount.demo(cli.account)
    assert cli("targets", "set", str(DEMO_TARGETS)).returncode == 0
    return cli


@pytest.fixture
def reference(tmp_path, db_url):
    cli = _fresh(tmp_path, db_url, "reference")
    res = cli("run", "--json")
    assert res.returncode == 0, res.stderr
    import json

    run_id = json.loads(res.stdout)["run"]["id"]
    return _outcome(cli, run_id)


def test_kill_at_every_checkpoint_and_order_boundary_then_resume(tmp_path, db_url, reference):
    for point in CHECKPOINTS + ORDER_POINTS:
        cli = _fresh(tmp_path, db_url, point.replace(":", "_").replace("@", "_"))
        killed = cli("run", crash_at=point)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-2000:])
        active = [r for r in cli.json("status")["runs"] if r["account"] == cli.env["REBALANCE_ACCOUNT_ALIAS"]]
        if point == CHECKPOINTS[-1]:  # killed right after the final commit: nothing left to resume
            assert active == []
            run_id = next(h["run_id"] for h in cli.json("history")["history"]
                          if h["account"] == cli.env["REBALANCE_ACCOUNT_ALIAS"])
        else:
            assert len(active) == 1, point
            run_id = active[0]["id"]
        resumed = cli("resume", "--all-interrupted")
        assert resumed.returncode == 0, (point, resumed.stdout, resumed.stderr[-3000:])
        again = cli("resume", "--all-interrupted")  # safe to run again and again
        assert again.returncode == 0 and "0 interrupted" in again.stdout
        got = _outcome(cli, run_id)
        assert got == reference, point
        orders = SimAccount(cli.account).orders()
        keys = [(o["side"], o["ticker"]) for o in orders]
        assert len(keys) == len(set(keys)) == len(reference["trades"]), (point, keys)
