"""Leases and checkpoint versions through the real command line (SQLite and PostgreSQL).

* A run whose owner process died (SIGKILL: its lease still looks live by time) is taken over by
  ``resume`` at once, because ``lease_is_dead`` sees the process is gone.
* A run whose owner is alive (it is polling a slow fill) is not: ``resume`` exits 75 naming it.
* A lease held by another host is trusted until it expires, then taken over.
* A run written with another checkpoint format is refused by ``resume`` (exit 5, saying what to
  do), untouched, and can still be aborted as the message suggests.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from adapters.cli import exit_codes as ec
from adapters.db import tables as t
from adapters.runtime import lease_is_dead
from adapters.sim.account import SimAccount
from statemachine import CHECKPOINT_FORMAT, ENGINE_VERSION
from statemachine.models import Targets
from statemachine.states import RunState, RunStatus
from tests.e2e.cli_helpers import DEMO_TARGETS, ROOT, Cli


@pytest.fixture
def cli(tmp_path, db_url, db):
    with db.unit_of_work() as uow:
        uow.add_targets(Targets.model_validate(json.loads(DEMO_TARGETS.read_text())), datetime.now(UTC))
        uow.commit()
    c = Cli(tmp_path, db_url, REBALANCE_ACCOUNT_ALIAS="acct")
    SimAccount.demo(c.account)
    return c


def _set(db, run_id: str, **values) -> None:
    with db.engine.begin() as conn:
        conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(**values))


def _killed_run(cli: Cli, db, point: str = "checkpoint@3"):
    killed = cli("run", crash_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    with db.unit_of_work() as uow:
        (run,) = uow.find_runs(account="acct", statuses=["RUNNING"])
    return run


def test_dead_owner_is_taken_over_at_once(cli, db):
    run = _killed_run(cli, db)
    # its lease still looks live by time; only the owner's death tells
    assert run.lease_owner and run.lease_expires_at > datetime.now(UTC) + timedelta(seconds=30)
    assert lease_is_dead(run.lease_owner)
    res = cli("resume", run.id)
    assert res.returncode == ec.OK, res.stderr[-2000:]
    with db.unit_of_work() as uow:
        after = uow.get_run(run.id)
    assert after.status is RunStatus.SUCCEEDED and after.lease_owner is None


def test_live_owner_is_not_taken_over(cli, db):
    SimAccount(cli.account).set_faults(partial_fill={"411420": 0.5}, fill_remainder_after_s=3600)
    runner = subprocess.Popen([sys.executable, str(ROOT / "run_rebalance.py"), "run"],
                              env={**cli.env, "REBALANCE_FILL_TIMEOUT_S": "120"}, cwd=cli.tmp,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 60
        while True:  # until the runner polls its held fill
            with db.unit_of_work() as uow:
                runs = uow.find_runs(account="acct", statuses=["RUNNING"])
            if runs and runs[0].state is RunState.SELL_VALIDATED and uow_orders(db, runs[0].id):
                break
            assert runner.poll() is None and time.monotonic() < end, runner.communicate()[1][-2000:]
            time.sleep(0.2)
        run = runs[0]
        assert not lease_is_dead(run.lease_owner)
        res = cli("resume", run.id)
        assert res.returncode == ec.BUSY, res.stderr
        assert f"run {run.id} is being driven by {run.lease_owner}" in " ".join(res.stderr.split())
        res = cli("resume", "--all-interrupted")
        assert res.returncode == ec.BUSY and "being driven by" in " ".join(res.stderr.split())
        assert runner.poll() is None  # untouched, still running
        SimAccount(cli.account).set_faults(fill_remainder_after_s=0)
        _, err = runner.communicate(timeout=60)
        assert runner.returncode == ec.OK, err[-2000:]
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate()


def uow_orders(db, run_id: str) -> list:
    with db.unit_of_work() as uow:
        return uow.orders(run_id)


def test_lease_of_another_host_is_trusted_until_it_expires(cli, db):
    run = _killed_run(cli, db)
    _set(db, run.id, lease_owner="other-host:4242:abcdef",
         lease_expires_at=datetime.now(UTC) + timedelta(seconds=60))
    res = cli("resume", run.id)
    assert res.returncode == ec.BUSY and "other-host:4242:abcdef" in " ".join(res.stderr.split())
    _set(db, run.id, lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    res = cli("resume", run.id)
    assert res.returncode == ec.OK, res.stderr[-2000:]


def test_incompatible_checkpoint_format_is_refused_with_what_to_do(cli, db):
    run = _killed_run(cli, db, "checkpoint@5")
    assert (run.engine_version, run.checkpoint_format) == (ENGINE_VERSION, CHECKPOINT_FORMAT)
    _set(db, run.id, checkpoint_format=CHECKPOINT_FORMAT + 1, engine_version="9.9.9")
    before = SimAccount(cli.account).orders()
    res = cli("resume", run.id)
    assert res.returncode == ec.INCOMPATIBLE == 5
    message = " ".join(res.stderr.split())
    assert (f"run {run.id} was written with checkpoint format {CHECKPOINT_FORMAT + 1} (engine 9.9.9); "
            f"this engine reads format {CHECKPOINT_FORMAT}. Resume it with engine 9.9.9, or abort it and "
            f"start a new run" in message), message
    res = cli("resume", "--all-interrupted")
    assert res.returncode == ec.INCOMPATIBLE and "checkpoint format" in " ".join(res.stderr.split())
    with db.unit_of_work() as uow:
        same = uow.get_run(run.id)
    assert (same.state, same.seq, same.status) == (run.state, run.seq, RunStatus.RUNNING)  # untouched
    assert SimAccount(cli.account).orders() == before
    res = cli("abort", run.id, "--reason", "written by engine 9.9.9")
    assert res.returncode == ec.OK, res.stderr
    with db.unit_of_work() as uow:
        assert uow.get_run(run.id).status is RunStatus.ABORTED
