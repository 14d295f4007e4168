"""A real ``run_rebalance.py run`` frozen by SIGSTOP mid-send, taken over, then woken (issue 14).

The runner stops itself (``REBALANCE_CRASH_AT=stop:order:accepted_before_record@1``) right after
its first order reached the simulated broker and before it recorded the order number; every
thread, its heartbeat included, is frozen. Its 4 s lease expires. ``resume`` in a second process
judges the frozen owner alive (same host, boot and PID namespace, pid present), so it waits for the
lease to expire, takes the run over with a new epoch, waits until the frozen send's deadline plus
the settle window has passed, adopts the order by reconciliation and finishes the run. SIGCONT:
the first runner's write of its order number is fenced; it exits 75 writing nothing. The broker
holds each order once. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.cli import exit_codes as ec
from adapters.runtime import lease_is_dead
from adapters.sim.account import SimAccount
from statemachine.models import OrderStatus, Targets
from statemachine.states import RunStatus
from tests.e2e.cli_helpers import DEMO_TARGETS, ROOT, Cli

LEASE = 4.0
FAST = {"REBALANCE_LEASE_TTL_S": str(LEASE), "REBALANCE_SEND_TIMEOUT_S": "5", "REBALANCE_SETTLE_WINDOW_S": "15"}


@pytest.fixture
def cli(tmp_path, db_url, db):
    with db.unit_of_work() as uow:
        uow.add_targets(Targets.model_validate(json.loads(DEMO_TARGETS.read_text())), datetime.now(UTC))
        uow.commit()
    c = Cli(tmp_path, db_url, REBALANCE_ACCOUNT_ALIAS="acct", **FAST)
    SimAccount.demo(c.account)
    return c


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_sigstopped_sender_is_taken_over_fenced_and_not_resent(cli, db):
    runner = subprocess.Popen([sys.executable, str(ROOT / "run_rebalance.py"), "run"],
                              env={**cli.env, "REBALANCE_CRASH_AT": "stop:order:accepted_before_record@1"},
                              cwd=cli.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 60
        while _state(runner.pid) != "T":
            assert runner.poll() is None and time.monotonic() < end, runner.communicate()[1][-2000:]
            time.sleep(0.05)
        with db.unit_of_work() as uow:
            (run,) = uow.find_runs(account="acct", statuses=["RUNNING"])
            (pending,) = uow.orders(run.id)
        assert pending.status is OrderStatus.INTENT and pending.sends == 1 and pending.odno is None
        placed = SimAccount(cli.account).orders()
        assert len(placed) == 1  # the frozen runner's order reached the broker
        assert run.lease_epoch == 1 and not lease_is_dead(run.lease_owner)  # frozen is not dead

        time.sleep(LEASE + 0.5)  # the frozen heartbeat lets the lease expire
        res = cli("resume", run.id)
        assert res.returncode == ec.OK, res.stderr[-3000:]
        assert "send in flight" in res.stderr, res.stderr[-3000:]
        with db.unit_of_work() as uow:
            after, orders = uow.get_run(run.id), uow.orders(run.id)
        assert after.status is RunStatus.SUCCEEDED and after.lease_epoch == 2
        adopted = next(o for o in orders if o.id == pending.id)
        assert adopted.odno == placed[0]["odno"] and adopted.message == "adopted by reconciliation"

        os.kill(runner.pid, signal.SIGCONT)
        _, err = runner.communicate(timeout=60)
        assert runner.returncode == ec.BUSY, err[-3000:]
        assert "lost the lease" in " ".join(err.split())
        with db.unit_of_work() as uow:
            assert uow.get_run(run.id) == after and uow.orders(run.id) == orders  # the woken runner wrote nothing
        keys = [(o["side"], o["ticker"]) for o in SimAccount(cli.account).orders()]
        assert len(keys) == len(set(keys)) == len(orders), keys  # each order accepted once
    finally:
        if runner.poll() is None:
            os.kill(runner.pid, signal.SIGCONT)
            runner.kill()
            runner.communicate()
