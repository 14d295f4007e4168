"""The buy-side recovery through the real command line (issue 22), on SQLite and PostgreSQL.

A `run` against the KIS protocol simulator sells, then every buy is refused by the broker: the run
ends PARTIAL (exit 10) with the proceeds in cash. Then:

* the automatic recovery (`run-if-due` with REBALANCE_BUY_RECOVERY_AUTO=true) is killed with
  SIGKILL in the middle of the recovery (after its edge, after the buy plan, with a buy accepted at
  the broker but not recorded, after a buy was recorded); `resume --all-interrupted` finishes it:
  SUCCEEDED, and the simulator's order log shows each sell once and each buy once;
* `retry RUN --buy-side` by hand does the same, and is refused with exit 4 once the run succeeded.
"""

from __future__ import annotations

import json
import signal

import pytest

from adapters.cli import exit_codes as ec
from adapters.db.connect import Database
from adapters.sim.account import SimAccount
from tests.e2e.cli_helpers import DEMO_TARGETS, Cli

SELLS = {"411420", "360750", "069500"}  # what the demo sells (tests/integration/test_engine_runs.py)
NOT_DUE = "0 0 1 1 *"  # run-if-due then only does the recovery pass
AUTO = {"REBALANCE_BUY_RECOVERY_AUTO": "true", "REBALANCE_BUY_RECOVERY_DELAY_S": "0"}


def _partial(tmp_path, db_url, name: str) -> tuple[Cli, str]:
    d = tmp_path / name.replace(":", "_").replace("@", "_")
    d.mkdir()
    cli = Cli(d, db_url, REBALANCE_ACCOUNT_ALIAS=f"acct-{d.name}"[:60], REBALANCE_BROKER="kis-sim")
    targets = json.loads(DEMO_TARGETS.read_text())
    buys = {t for weights in targets["sub_mp"].values() for t in weights if t != "CASH"} - SELLS
    SimAccount.demo(cli.account).set_faults(reject={t: "insufficient" for t in buys})
    assert cli("targets", "set", str(DEMO_TARGETS)).returncode == 0
    res = cli("run", "--json")
    assert res.returncode == ec.RUN_PARTIAL, res.stderr[-2000:]
    run = json.loads(res.stdout)["run"]
    assert (run["status"], run["state"]) == ("PARTIAL", "BOUGHT")
    acc = SimAccount(cli.account)
    assert {o["side"] for o in acc.orders()} == {"sell"}  # the buys never reached the order log
    acc.set_faults(reject={})
    return cli, run["id"]


def _check_recovered(cli: Cli, db_url: str, run_id: str, actor: str) -> None:
    sent = [(o["side"], o["ticker"]) for o in SimAccount(cli.account).orders()]
    assert len(sent) == len(set(sent)), sent  # each sell once, each buy once
    assert {t for s, t in sent if s == "sell"} == SELLS and any(s == "buy" for s, _ in sent)
    db = Database(db_url, auto_migrate=False)
    try:
        with db.unit_of_work() as uow:
            run = uow.get_run(run_id)
            h = uow.history_of(run_id)
    finally:
        db.dispose()
    assert run.status.value == "SUCCEEDED", run.error
    assert h is not None and h.status.value == "SUCCEEDED" and h.recovery is not None
    assert h.recovery.first_status.value == "PARTIAL"
    assert [(a.actor, a.outcome) for a in h.recovery.attempts] == [(actor, "SUCCEEDED")]
    assert sorted((t["side"], t["ticker"]) for t in h.trades) == sorted(sent)


#: kill point -> who finishes the recovery: the operator's `resume`, or the next scheduler pass
KILLS = {"checkpoint@1": "resume", "checkpoint@3": "scheduler", "order:accepted_before_record@1": "resume",
         "order:sent_committed@2": "scheduler"}


@pytest.mark.parametrize("point", list(KILLS))
def test_automatic_recovery_killed_midway_resumes_and_sends_nothing_twice(tmp_path, db_url, db, point):
    cli, run_id = _partial(tmp_path, db_url, point)
    killed = cli("run-if-due", "--cron", NOT_DUE, crash_at=point, **AUTO)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-3000:])
    with db.unit_of_work() as uow:
        assert uow.get_run(run_id).status.value == "RUNNING"  # interrupted inside the recovery
    if KILLS[point] == "resume":
        resumed = cli("resume", "--all-interrupted")
    else:  # the scheduler's next pass resumes its interrupted recovery
        resumed = cli("run-if-due", "--cron", NOT_DUE, **AUTO)
    assert resumed.returncode == ec.OK, resumed.stderr[-3000:]
    again = cli("run-if-due", "--cron", NOT_DUE, **AUTO)  # nothing left to recover
    assert again.returncode == ec.OK and "not due" in again.stdout, again.stderr[-2000:]
    _check_recovered(cli, db_url, run_id, "auto-recovery")


def test_retry_buy_side_by_hand_then_refused_once_succeeded(tmp_path, db_url, db):
    cli, run_id = _partial(tmp_path, db_url, "by-hand")
    missing = cli("retry", run_id, "--buy-side")
    assert missing.returncode == ec.BAD_INPUT and "needs a reason" in missing.stderr
    done = cli("retry", run_id, "--buy-side", "--reason", "ticket OPS-22", "--actor", "alice", "--json")
    assert done.returncode == ec.OK, done.stderr[-3000:]
    view = json.loads(done.stdout)
    assert any(t["trigger"] == "retry_buys" and t["actor"] == "alice" for t in view["transitions"])
    _check_recovered(cli, db_url, run_id, "alice")
    shown = cli("show", run_id)
    assert "retry_buys" in shown.stdout and "Buy-side recovery" in shown.stdout and "ticket OPS-22" in shown.stdout
    history = cli("history")
    assert f"{run_id}: buy-side recovery: first PARTIAL" in " ".join(history.stdout.split())
    refused = cli("retry", run_id, "--buy-side", "--reason", "again")
    assert refused.returncode == ec.FINISHED and "only a PARTIAL run" in refused.stderr
