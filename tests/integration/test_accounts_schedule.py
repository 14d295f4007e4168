"""``schedule`` on SQLite drives every enabled account in one process, one after the other, and one
account's trouble (its broker rate-limited past its retries, a BLOCKED run, credentials that
cannot be resolved, a broken simulated account) never stops the others."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from adapters.config import Settings
from adapters.db.accounts import AccountRepository
from adapters.kis import bootstrap as kis_bootstrap
from adapters.scheduler.accounts import AccountsScheduler
from adapters.sim.account import DEMO_DIR, SimAccount
from statemachine.accounts import make_account
from statemachine.models import Targets
from statemachine.states import RunStatus
from statemachine.units import KST
from tests.contract.helpers import run_record
from tests.fakes import FakeClock

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
DUE = datetime(2026, 11, 25, 10, 0, tzinfo=KST)  # a Wednesday
CRON = "0 10 * * 1-5"


@pytest.fixture
def clock():
    return FakeClock(DUE)


@pytest.fixture
def settings(tmp_path):
    return Settings(broker="sim", sim_account_path=str(tmp_path / "sim" / "demo.json"), account_alias="demo",
                    fill_poll_s=0.01, fill_timeout_s=2.0, kill_switch_file=str(tmp_path / "KILL"),
                    schedule_cron=CRON)


def _sim(settings: Settings, alias: str, clock) -> Path:
    path = Path(settings.sim_account_path).parent / f"{alias}.json"
    SimAccount.demo(path, clock=clock.now)
    return path


@pytest.fixture
def sqlite_db(tmp_path):
    from adapters.db.connect import Database

    db = Database(f"sqlite:///{tmp_path / 'rebalance.db'}")
    yield db
    db.dispose()


def test_one_accounts_trouble_never_stops_the_others(sqlite_db, settings, clock, monkeypatch):
    db = sqlite_db
    monkeypatch.delenv("NOPE_APPKEY", raising=False)
    with db.unit_of_work() as u:
        u.add_targets(TARGETS, DUE - timedelta(days=1))
        u.add_run(run_record("20261124-010000-blocked", owner=None, account="c-blocked", status=RunStatus.BLOCKED,
                             created_at=DUE - timedelta(days=1)))
        u.commit()
    repo = AccountRepository(db.engine, clock)
    for alias in ("a-ok", "c-blocked", "e-ok"):
        _sim(settings, alias, clock)
        repo.add(make_account(alias=alias, broker="sim"))
    broken = _sim(settings, "f-broken", clock)
    broken.write_text("{ not json")  # the simulated account itself fails (an unexpected exception)
    repo.add(make_account(alias="f-broken", broker="sim"))
    limited = _sim(settings, "b-limited", clock)
    repo.add(make_account(alias="b-limited", broker="kis-sim"))
    repo.add(make_account(alias="d-nocreds", broker="kis-paper", credentials={
        "appkey_env": "NOPE_APPKEY", "appsecret_env": "NOPE_APPSECRET", "account_env": "NOPE_ACCOUNT"}))
    repo.add(make_account(alias="g-off", broker="sim", enabled=False))
    # the KIS simulator of b-limited answers every call with a rate limit (EGW00201) for a while
    url = kis_bootstrap._simulator_url(limited, settings.kis().sim_rps, clock, "always-open")
    assert url
    kis_bootstrap._servers[str(limited.resolve())].simulator.inject("rate_limit", times=200)

    sched = AccountsScheduler(settings=settings, db=db, clock=clock, planner="greedy")
    results = sched.tick_all(DUE + timedelta(seconds=1))

    assert list(results) == ["a-ok", "b-limited", "c-blocked", "d-nocreds", "e-ok", "f-broken"]  # g-off: disabled
    for ok in ("a-ok", "e-ok"):
        r = results[ok]
        assert r.outcome == "ran" and r.run is not None and r.run.status is RunStatus.SUCCEEDED, (ok, r)
        assert r.run.account == ok
    assert results["b-limited"].outcome == "error" and "EGW00201" in results["b-limited"].message
    assert results["c-blocked"].outcome == "busy" and "BLOCKED" in results["c-blocked"].message
    assert results["d-nocreds"].outcome == "error" and "NOPE_APPKEY" in results["d-nocreds"].message
    assert results["f-broken"].outcome == "error"
    assert set(sched.errors) == {"b-limited", "d-nocreds", "f-broken"}
    with db.unit_of_work() as u:
        assert not u.find_runs(account="g-off", limit=5)
        assert u.get_claim("a-ok", DUE) is not None and u.get_claim("e-ok", DUE) is not None


def test_accounts_are_read_again_on_every_pass(sqlite_db, settings, clock):
    db = sqlite_db
    with db.unit_of_work() as u:
        u.add_targets(TARGETS, DUE - timedelta(days=1))
        u.commit()
    repo = AccountRepository(db.engine, clock)
    _sim(settings, "a1", clock)
    repo.add(make_account(alias="a1", broker="sim"))
    sched = AccountsScheduler(settings=settings, db=db, clock=clock, planner="greedy", max_phase=2)
    assert list(sched.tick_all(DUE)) == ["a1"]
    _sim(settings, "a2", clock)
    repo.add(make_account(alias="a2", broker="sim", schedule_cron="30 10 * * 1-5"))
    repo.disable("a1")
    res = sched.tick_all(DUE + timedelta(minutes=30))
    assert list(res) == ["a2"] and res["a2"].outcome == "ran" and res["a2"].run is not None
    assert res["a2"].run.status is RunStatus.STOPPED  # its own schedule: due at 10:30


class _StopOnIdle(FakeClock):
    """A clock whose first wait between passes asks the scheduler to stop."""

    sched: AccountsScheduler | None = None

    def sleep(self, seconds: float) -> None:
        if self.sched is not None:
            self.sched.request_stop()
        super().sleep(seconds)


def test_serve_runs_each_due_account_then_stops_when_asked(sqlite_db, settings):
    db, clock = sqlite_db, _StopOnIdle(DUE + timedelta(seconds=5))
    with db.unit_of_work() as u:
        u.add_targets(TARGETS, DUE - timedelta(days=1))
        u.commit()
    repo = AccountRepository(db.engine, clock)
    for alias in ("a1", "a2"):
        _sim(settings, alias, clock)
        repo.add(make_account(alias=alias, broker="sim"))
    sched = AccountsScheduler(settings=settings, db=db, clock=clock, planner="greedy", max_phase=2)
    clock.sched = sched
    sched.serve(poll_s=1.0)
    assert sched.stopping
    with db.unit_of_work() as u:
        for alias in ("a1", "a2"):
            runs = u.find_runs(account=alias, limit=5)
            assert [r.status for r in runs] == [RunStatus.STOPPED], alias
            assert u.get_claim(alias, DUE) is not None
