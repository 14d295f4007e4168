"""Many runners at once, as real `run_rebalance.py run` processes against one database.

* One account, 8 runners started together: exactly one runs; the other 7 exit at once with
  exit code 75 and say which run holds the account (SQLite and PostgreSQL).
* A run whose process was SIGKILLed, 8 ``resume`` processes started together: exactly one takes
  it over, the other 7 exit 75; each order is placed once (SQLite and PostgreSQL).
* 8 accounts (own alias, own simulated account), 8 runners started together on PostgreSQL: all
  run at the same time and all succeed, each order placed once at its own account.

Timing is made deterministic, not guessed: each first sell fills half and holds the rest until
the test releases it, after checking what must be true while the runners are all alive.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from adapters.cli import exit_codes as ec
from adapters.db.connect import Database
from adapters.sim.account import SimAccount
from statemachine.models import Targets
from statemachine.states import RunStatus
from tests.e2e.cli_helpers import DEMO_TARGETS, ROOT, Cli

N = 8
# The first sell fills half at once and the rest only when the test releases it (see _release),
# so every runner starts, and every loser exits, while the winner still holds its account.
HOLD = {"partial_fill": {"411420": 0.5}, "fill_remainder_after_s": 3600}


def _release(cli: Cli) -> None:
    SimAccount(cli.account).set_faults(fill_remainder_after_s=0)


@pytest.fixture
def with_targets(db):
    with db.unit_of_work() as uow:
        uow.add_targets(Targets.model_validate(json.loads(DEMO_TARGETS.read_text())), datetime.now(UTC))
        uow.commit()


class Runners:
    """``run`` processes started at the same moment; each one's result and exit time (s)."""

    def __init__(self, clis: list[Cli], *args: str) -> None:
        cmd = [sys.executable, str(ROOT / "run_rebalance.py"), "--log-level", "WARNING", *(args or ("run",))]
        self.t0 = time.monotonic()
        procs = [subprocess.Popen(cmd, env={**c.env, "REBALANCE_FILL_TIMEOUT_S": "120"}, cwd=c.tmp,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in clis]
        self.procs = procs
        self.pool = ThreadPoolExecutor(len(procs))
        self.futures = [self.pool.submit(self._wait, p) for p in procs]

    def __enter__(self) -> Runners:
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:  # a failed assertion must not leave a held runner behind
            if p.poll() is None:
                p.kill()
        self.pool.shutdown()

    def _wait(self, p: subprocess.Popen) -> tuple[subprocess.CompletedProcess, float]:
        stdout, stderr = p.communicate(timeout=180)
        return subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr), time.monotonic() - self.t0

    def done(self) -> list[tuple[subprocess.CompletedProcess, float]]:
        return [f.result() for f in self.futures if f.done()]

    def results(self) -> list[tuple[subprocess.CompletedProcess, float]]:
        return [f.result() for f in self.futures]


def _until(cond, timeout: float = 90) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


def test_eight_runners_one_account_exactly_one_runs(tmp_path, db_url, db, with_targets):
    cli = Cli(tmp_path, db_url, REBALANCE_ACCOUNT_ALIAS="shared")
    SimAccount.demo(cli.account).set_faults(**HOLD)
    with Runners([cli] * N) as runners:
        _until(lambda: len(runners.done()) >= N - 1)
        losers = runners.done()
        time.sleep(0.5)
        assert len(runners.done()) == N - 1  # the winner still runs: the losers did not wait for it
        assert [r.returncode for r, _ in losers] == [ec.BUSY] * (N - 1), [r.stderr[-500:] for r, _ in losers]
        with db.unit_of_work() as uow:
            (run,) = uow.find_runs(account="shared")  # the losers created nothing
        message = f"error: account shared already has an active run ({run.id}); resume or abort it first"
        for r, _ in losers:
            assert " ".join(r.stderr.split()) == message, r.stderr  # one clear line (rich wraps it)
        _release(cli)
        results = runners.results()
    assert sorted(r.returncode for r, _ in results) == [ec.OK] + [ec.BUSY] * (N - 1)
    with db.unit_of_work() as uow:
        assert uow.get_run(run.id).status is RunStatus.SUCCEEDED
    keys = [(o["side"], o["ticker"]) for o in SimAccount(cli.account).orders()]
    assert len(keys) == len(set(keys)) == 7


def test_eight_resumes_of_a_dead_run_exactly_one_takes_over(tmp_path, db_url, db, with_targets):
    cli = Cli(tmp_path, db_url, REBALANCE_ACCOUNT_ALIAS="shared")
    SimAccount.demo(cli.account).set_faults(**HOLD)
    killed = cli("run", crash_at="checkpoint@3")  # SELL_PLANNED; the sells come next
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    with db.unit_of_work() as uow:
        (run,) = uow.find_runs(account="shared", statuses=["RUNNING"])
    with Runners([cli] * N, "resume", run.id) as runners:
        _until(lambda: len(runners.done()) >= N - 1)
        losers = runners.done()
        assert [r.returncode for r, _ in losers] == [ec.BUSY] * (N - 1), [r.stderr[-500:] for r, _ in losers]
        with db.unit_of_work() as uow:
            owner = uow.get_run(run.id).lease_owner
        assert owner != run.lease_owner  # taken over from the dead process, by the one still running
        for r, _ in losers:
            assert f"run {run.id} is being driven by {owner}" in " ".join(r.stderr.split()), r.stderr
        _release(cli)
        results = runners.results()
    assert sorted(r.returncode for r, _ in results) == [ec.OK] + [ec.BUSY] * (N - 1)
    keys = [(o["side"], o["ticker"]) for o in SimAccount(cli.account).orders()]
    assert len(keys) == len(set(keys)) == 7


@pytest.mark.pg
def test_eight_runners_eight_accounts_all_run_at_once_on_postgresql(tmp_path, pg_server, pg_template):
    db = Database(pg_server.url(pg_server.create_db(template=pg_template)))
    with db.unit_of_work() as uow:
        uow.add_targets(Targets.model_validate(json.loads(DEMO_TARGETS.read_text())), datetime.now(UTC))
        uow.commit()
    clis = []
    for i in range(N):
        d = tmp_path / f"a{i}"
        d.mkdir()
        cli = Cli(d, db.url, REBALANCE_ACCOUNT_ALIAS=f"acct-{i}")
        SimAccount.demo(cli.account).set_faults(**HOLD)
        clis.append(cli)
    with Runners(clis) as runners:

        def all_selling() -> bool:  # every run is in its sell step at the same time
            assert runners.done() == [], [r.stderr[-800:] for r, _ in runners.done()]
            with db.unit_of_work() as uow:
                runs = uow.find_runs(statuses=["RUNNING"])
            return sum(r.state.value == "SELL_VALIDATED" for r in runs) == N

        _until(all_selling)
        for cli in clis:
            _release(cli)
        results = runners.results()
    assert [r.returncode for r, _ in results] == [ec.OK] * N, [r.stderr[-800:] for r, _ in results]
    with db.unit_of_work() as uow:
        runs = [uow.find_runs(account=f"acct-{i}")[0] for i in range(N)]
    assert all(r.status is RunStatus.SUCCEEDED for r in runs)
    for cli in clis:
        keys = [(o["side"], o["ticker"]) for o in SimAccount(cli.account).orders()]
        assert len(keys) == len(set(keys)) == 7
    db.dispose()
