"""Composing one account's rebalance (adapters.accounts_runtime): credentials resolved from the
variables or the owner-only file an account names, its portfolio and thresholds used by its runs,
and the single-account environment set-up unchanged when no ``accounts`` rows exist."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from adapters.accounts_runtime import account_settings, app_for, resolve_credentials
from adapters.config import Settings
from adapters.db.accounts import AccountRepository, PortfolioRepository
from adapters.db.connect import current_revision, head_revision
from adapters.sim.account import DEMO_DIR, SimAccount
from statemachine.accounts import Credentials, make_account
from statemachine.application import commands
from statemachine.errors import AccountNotFound, CredentialsError, TargetsError
from statemachine.models import Targets, Thresholds
from statemachine.states import RunStatus
from tests.fakes import FakeClock

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
ENV = {"appkey_env": "ISA_KIS_APPKEY", "appsecret_env": "ISA_KIS_APPSECRET", "account_env": "ISA_KIS_ACCOUNT"}
VALUES = {"ISA_KIS_APPKEY": "PSfakeAppKey0000000000000000000000001", "ISA_KIS_APPSECRET": "fakeSecret" * 18,
          "ISA_KIS_ACCOUNT": "50001234-01"}


@pytest.fixture
def clock():
    return FakeClock(T0)


def settings_for(tmp_path, db_url: str) -> Settings:
    return Settings(broker="sim", sim_account_path=str(tmp_path / "sim" / "demo.json"), database_url=db_url,
                    account_alias="demo", fill_poll_s=0.01, fill_timeout_s=2.0,
                    kill_switch_file=str(tmp_path / "KILL"))


# ------------------------------------------------------------------------------------ credentials
def test_credentials_from_the_named_variables():
    c = resolve_credentials(Credentials(**ENV), VALUES)
    assert c.appkey.get_secret_value() == VALUES["ISA_KIS_APPKEY"]
    assert c.account.get_secret_value() == "50001234-01" and "5000" not in repr(c)
    with pytest.raises(CredentialsError, match="ISA_KIS_APPSECRET") as err:
        resolve_credentials(Credentials(**ENV), {**VALUES, "ISA_KIS_APPSECRET": " "})
    assert VALUES["ISA_KIS_APPKEY"] not in err.value.message


def _write(path, data, mode):
    path.write_text(json.dumps(data))
    os.chmod(path, mode)
    return path


def test_a_credentials_file_must_be_owner_only(tmp_path):
    data = {"appkey": VALUES["ISA_KIS_APPKEY"], "appsecret": VALUES["ISA_KIS_APPSECRET"], "account": "50001234-01"}
    f = _write(tmp_path / "isa.json", data, 0o644)
    with pytest.raises(CredentialsError, match=r"mode 0644.*chmod 600") as err:
        resolve_credentials(Credentials(file=str(f)))
    assert err.value.fields["field"] == "credentials_file"
    os.chmod(f, 0o640)
    with pytest.raises(CredentialsError, match="readable by others"):
        resolve_credentials(Credentials(file=str(f)))
    os.chmod(f, 0o600)
    assert resolve_credentials(Credentials(file=str(f))).appsecret.get_secret_value() == VALUES["ISA_KIS_APPSECRET"]


def test_a_bad_or_missing_credentials_file_is_named_never_echoed(tmp_path):
    with pytest.raises(CredentialsError, match="cannot be read"):
        resolve_credentials(Credentials(file=str(tmp_path / "none.json")))
    bad = _write(tmp_path / "bad.json", {"appkey": VALUES["ISA_KIS_APPKEY"]}, 0o600)
    with pytest.raises(CredentialsError, match="lacks appsecret, account") as err:
        resolve_credentials(Credentials(file=str(bad)))
    assert VALUES["ISA_KIS_APPKEY"] not in err.value.message
    bad.write_text("appkey=" + VALUES["ISA_KIS_APPKEY"])
    with pytest.raises(CredentialsError, match="not a JSON object") as err:
        resolve_credentials(Credentials(file=str(bad)))
    assert VALUES["ISA_KIS_APPKEY"] not in err.value.message


def test_a_kis_account_gets_its_own_credentials_environment_and_token_cache(tmp_path):
    s = Settings(broker="sim", account_alias="demo")
    a = make_account(alias="isa", broker="kis-real", credentials=ENV)
    scoped = account_settings(s, a, VALUES)
    ks = scoped.kis()
    assert scoped.broker == "kis" and scoped.account_alias == "isa" and ks.env == "real"
    assert ks.appkey is not None and ks.appkey.get_secret_value() == VALUES["ISA_KIS_APPKEY"]
    assert ks.token_cache_path.endswith("kis_token.isa.json")
    assert s.broker == "sim" and s.kis().appkey != ks.appkey  # the global settings are untouched
    paper = account_settings(s, make_account(alias="p", broker="kis-paper", credentials=ENV), VALUES)
    assert paper.kis().env == "paper"
    sim = account_settings(s, make_account(alias="g", broker="sim"))
    assert sim.broker == "sim" and sim.sim_account_path.endswith("g.json") and sim.kis().appkey is None
    ksim = account_settings(s, make_account(alias="k", broker="kis-sim", credentials=ENV), VALUES)
    assert ksim.broker == "kis-sim" and ksim.kis().appkey == ks.appkey and ksim.kis().env == "paper"


# ------------------------------------------------------------------------------------ running
def test_an_account_runs_toward_its_portfolio_with_its_thresholds(tmp_path, db, clock):
    s = settings_for(tmp_path, db.url)
    growth = TARGETS.model_copy(update={"mp_id": "GROWTH", "mp": {"Stocks": 40, "Bonds": 30,
                                                                  "Alternatives": 20, "Cash": 10}})
    PortfolioRepository(db.engine, clock).set("growth", growth)
    with db.unit_of_work() as u:  # the strategist's decision (the default portfolio) differs
        u.add_targets(TARGETS, T0)
        u.commit()
    repo = AccountRepository(db.engine, clock)
    repo.add(make_account(alias="isa", broker="sim", portfolio="growth", thresholds={"mp": 1.0, "sub_mp": 2.0}))
    a = app_for(s, "isa", db=db, clock=clock)
    assert a.settings.account_alias == "isa" and a.broker().alias == "isa"
    SimAccount.demo(a.settings.sim_account_path, clock=clock.now)
    eng = a.engine()
    run = commands.start_and_drive(eng, max_phase=2, planner="greedy", actor="test")
    assert run.account == "isa" and run.targets.mp_id == "GROWTH"
    assert run.thresholds == Thresholds(mp=1.0, sub_mp=2.0) and run.status is RunStatus.STOPPED
    repo.update("isa", portfolio=None, thresholds=None)  # read at each start: now the defaults
    run2 = commands.start_and_drive(a.engine(), max_phase=2, planner="greedy", actor="test")
    assert run2.targets.mp_id == "MP-4" and run2.thresholds == Thresholds()


def test_a_portfolio_without_targets_refuses_the_run(tmp_path, db, clock):
    AccountRepository(db.engine, clock).add(make_account(alias="isa", portfolio="empty"))
    a = app_for(settings_for(tmp_path, db.url), "isa", db=db, clock=clock)
    with pytest.raises(TargetsError, match="portfolios add empty"):
        commands.start_run(a.engine(), max_phase=2, planner="greedy", actor="test")


def test_an_unknown_alias_is_not_found(tmp_path, db, clock):
    with pytest.raises(AccountNotFound):
        app_for(settings_for(tmp_path, db.url), "nobody", db=db, clock=clock)


def test_the_single_account_environment_setup_runs_unchanged_after_the_migration(tmp_path, db, clock):
    """No accounts rows: the alias of REBALANCE_ACCOUNT_ALIAS, the latest decision, the global
    thresholds, the simulated account file of REBALANCE_SIM_ACCOUNT_PATH, a full run with orders."""
    assert current_revision(db.engine) == head_revision()
    s = settings_for(tmp_path, db.url)
    SimAccount.demo(s.sim_account_path, clock=clock.now)
    for alias in (None, "demo"):
        a = app_for(s, alias, db=db, clock=clock)
        assert a.settings is s and a.broker().alias == "demo"
    commands.set_targets(db.unit_of_work, clock, TARGETS)
    a = app_for(s, None, db=db, clock=clock)
    run = commands.start_and_drive(a.engine(), max_phase=5, planner="greedy", actor="test")
    assert run.account == "demo" and run.targets.mp_id == "MP-4" and run.thresholds == Thresholds()
    assert run.status is RunStatus.SUCCEEDED
    with db.engine.connect() as conn:
        accounts = conn.execute(text("SELECT account FROM orders WHERE run_id = :r"), {"r": run.id}).scalars().all()
    assert accounts and set(accounts) == {"demo"}
