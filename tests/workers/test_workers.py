"""Workers on the job queue (issue 19), on PostgreSQL, against the multi-account KIS simulator
with per-app-key limits (EGW00201, EGW00133) and the per-account order log.

* two worker processes drive 20 accounts: every account ends in a final status, no order twice
  in the simulator's log, no rate-limit or token refusal;
* a worker SIGKILLed in the middle of an account's sells: another worker finishes that run (the
  queue's stalled job retried, the run's lease taken over), each order once in the log;
* two schedulers enqueue each due account exactly once.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter

import psycopg
import pytest

from adapters.clock import SystemClock
from adapters.kis.shared_limits import libpq_url
from adapters.kis_sim.config import SimulatorConfig
from adapters.kis_sim.multi import MultiSimulatorServer, load_tenants, order_log
from statemachine.states import FINAL_STATUSES, RunStatus
from tests.workers.fleet import ROOT, make_fleet, sim_stats

pytestmark = [pytest.mark.pg, pytest.mark.timeout(240)]
SIM = SimulatorConfig(rate_limit_per_s=10, latency_s=0.01, token_issue_min_interval_s=60)


@pytest.fixture
def pg_url(pg_server, pg_template):
    return pg_server.url(pg_server.create_db(template=pg_template))


def _wait(cond, timeout: float, procs=()) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.25)
    return cond()


def _log(fleet, name: str) -> str:
    return (fleet.tmp / f"{name}.log").read_text()[-4000:]


def test_two_workers_drive_twenty_accounts(tmp_path, pg_url):
    fleet = make_fleet(pg_url, tmp_path, 20)
    with MultiSimulatorServer(fleet.manifest, SIM) as sim:
        enq = fleet.enqueue(SystemClock().now())
        assert sum(e.won for e in enq) == 20
        workers = [fleet.start_worker(fleet.env(sim.url), f"w{i}", "--burst") for i in range(2)]
        try:
            for w in workers:
                assert w.wait(timeout=150) == 0, _log(fleet, "w0") + _log(fleet, "w1")
        finally:
            for w in workers:
                if w.poll() is None:
                    w.kill()
        stats = sim_stats(sim.url)
    runs = fleet.runs()
    assert all(len(rs) == 1 and rs[0].status in FINAL_STATUSES for rs in runs.values()), runs
    assert all(rs[0].status is RunStatus.SUCCEEDED for rs in runs.values())
    assert fleet.duplicates() == {}
    for t in load_tenants(fleet.manifest):  # every account traded, each order once
        assert order_log(t["account_file"])
    assert stats["rate_limited"] == 0 and stats["token_refused"] == 0
    assert stats["tokens_issued"] == 20  # one per app key, however many workers touched it
    _no_secret_in_shared_tables(pg_url, fleet)
    jobs = {}  # both workers took jobs
    for name in ("w0", "w1"):
        jobs[name] = (fleet.tmp / f"{name}.log").read_text().count("ended with status: Success")
    assert sum(jobs.values()) == 20 and all(jobs.values()), jobs


def _no_secret_in_shared_tables(pg_url: str, fleet) -> None:
    """The token cache, the limiter and the queue hold no app key, secret, token or account number."""
    secrets = [v for t in load_tenants(fleet.manifest) for v in (t["appkey"], t["appsecret"], t["account"],
                                                                t["account"].replace("-", ""))]
    with psycopg.connect(libpq_url(pg_url)) as c:
        dumped = []
        for table in ("kis_tokens", "kis_rate_limits", "procrastinate_jobs", "schedule_claims", "accounts"):
            dumped += [repr(row) for row in c.execute(f"SELECT * FROM {table}")]  # noqa: S608 - fixed names
        assert len(c.execute("SELECT * FROM kis_tokens").fetchall()) == len(secrets) // 4
    text = "\n".join(dumped)
    assert not any(s in text for s in secrets)
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}", text)  # no JWT-shaped token


def test_a_worker_killed_mid_sells_is_finished_by_another(tmp_path, pg_url):
    fleet = make_fleet(pg_url, tmp_path, 1)
    alias, account_file = fleet.aliases[0], load_tenants(fleet.manifest)[0]["account_file"]
    with MultiSimulatorServer(fleet.manifest, SIM) as sim:
        fleet.enqueue(SystemClock().now())
        # SIGKILL right after the second sell's send is on disk (the demo account sells three)
        doomed = fleet.start_worker(fleet.env(sim.url, REBALANCE_CRASH_AT="order:sent_committed@2"), "doomed")
        assert doomed.wait(timeout=90) == -signal.SIGKILL, _log(fleet, "doomed")
        sells = [o for o in order_log(account_file) if o["side"] == "sell"]
        assert len(sells) == 2
        run = fleet.runs()[alias][0]
        assert run.status is RunStatus.RUNNING
        rescuer = fleet.start_worker(fleet.env(sim.url), "rescuer")
        try:
            assert _wait(lambda: fleet.runs()[alias][0].status in FINAL_STATUSES, 90), _log(fleet, "rescuer")
            rescuer.send_signal(signal.SIGTERM)  # graceful: idle, it leaves at once
            assert rescuer.wait(timeout=30) == 0, _log(fleet, "rescuer")
        finally:
            if rescuer.poll() is None:
                rescuer.kill()
        stats = sim_stats(sim.url)
    done = fleet.runs()[alias]
    assert len(done) == 1 and done[0].status is RunStatus.SUCCEEDED
    assert done[0].lease_epoch > run.lease_epoch  # taken over, not started again
    log = order_log(account_file)
    assert Counter((o["side"], o["ticker"]) for o in log).most_common(1)[0][1] == 1
    assert len([o for o in log if o["side"] == "sell"]) == 3 and any(o["side"] == "buy" for o in log)
    assert stats["rate_limited"] == 0 and stats["token_refused"] == 0
    assert "worker rescuer stopped" in _log(fleet, "rescuer")


def test_two_schedulers_enqueue_each_due_account_once(tmp_path, pg_url):
    fleet = make_fleet(pg_url, tmp_path, 20)
    import adapters.db.accounts as accounts_db
    from adapters.db.connect import Database

    db = Database(pg_url)
    repo = accounts_db.AccountRepository(db.engine, SystemClock())
    for a in fleet.aliases:
        repo.update(a, schedule_cron="0 10 * * *")
    db.dispose()
    # both at the same instant, inside the 10:00 KST slot's grace period
    env = fleet.env("http://127.0.0.1:9", REBALANCE_CLOCK_AT="2026-11-25T10:01:00+09:00")
    procs = [subprocess.Popen([sys.executable, str(ROOT / "run_rebalance.py"), "enqueue-due"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    with psycopg.connect(libpq_url(pg_url)) as c:
        jobs = Counter(r[0] for r in c.execute(
            "SELECT args->>'alias' FROM procrastinate_jobs WHERE task_name = 'rebalance_account'"))
        claims = c.execute("SELECT count(*), count(DISTINCT account) FROM schedule_claims").fetchone()
    assert jobs == Counter({a: 1 for a in fleet.aliases})
    assert claims == (20, 20)
    lines = [ln for out in outs for ln in out.splitlines() if ln.startswith("acct")]
    assert len(lines) == 40 and all(": due 2026-11-25T10:00:00+09:00 " in ln for ln in lines)
    assert sum("enqueued (job" in ln for ln in lines) == 20  # each alias won by one of the two
    assert sum("already enqueued by enqueuer:" in ln for ln in lines) == 20


def test_sigterm_finishes_the_step_and_another_worker_resumes(tmp_path, pg_url):
    fleet = make_fleet(pg_url, tmp_path, 1)
    alias, account_file = fleet.aliases[0], load_tenants(fleet.manifest)[0]["account_file"]
    slow = SIM.model_copy(update={"latency_s": 0.3})
    with MultiSimulatorServer(fleet.manifest, slow) as sim:
        fleet.enqueue(SystemClock().now())
        first = fleet.start_worker(fleet.env(sim.url), "first")
        try:
            assert _wait(lambda: len(order_log(account_file)) >= 1, 90), _log(fleet, "first")
            first.send_signal(signal.SIGTERM)
            assert first.wait(timeout=60) == 0, _log(fleet, "first")
        finally:
            if first.poll() is None:
                first.kill()
        stopped = fleet.runs()[alias][0]
        assert stopped.status is RunStatus.RUNNING and stopped.lease_owner is None  # at a checkpoint, released
        assert "stopped at checkpoint" in _log(fleet, "first")
        sent = len(order_log(account_file))
        assert 1 <= sent < 7  # the step in hand was finished, not the run
        second = fleet.start_worker(fleet.env(sim.url), "second")
        try:
            assert _wait(lambda: fleet.runs()[alias][0].status in FINAL_STATUSES, 90), _log(fleet, "second")
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(timeout=30)
            except subprocess.TimeoutExpired:
                second.kill()
    assert fleet.runs()[alias][0].status is RunStatus.SUCCEEDED
    assert fleet.duplicates() == {} and len(order_log(account_file)) == 7
