"""The accounts and portfolios repositories (adapters.db.accounts): the same contract on SQLite and
PostgreSQL, over the real migrations."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from adapters.db.accounts import AccountRepository, PortfolioRepository
from adapters.sim.account import DEMO_DIR
from statemachine.accounts import make_account
from statemachine.errors import AccountError, AccountNotFound
from statemachine.models import Targets, Thresholds
from tests.fakes import FakeClock

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
ENV = {"appkey_env": "ISA_KIS_APPKEY", "appsecret_env": "ISA_KIS_APPSECRET", "account_env": "ISA_KIS_ACCOUNT"}


@pytest.fixture
def clock():
    return FakeClock(T0)


@pytest.fixture
def repo(db, clock):
    return AccountRepository(db.engine, clock)


def test_add_get_list_round_trip(repo, clock):
    a = make_account(alias="isa", broker="kis-paper", masked_number="1234****-01", credentials=ENV,
                     portfolio="growth", thresholds={"mp": 2.5, "sub_mp": 4.0}, schedule_cron="0 10 * * 1-5")
    added = repo.add(a)
    assert added.created_at == T0 == added.updated_at
    clock.advance(60)
    repo.add(make_account(alias="general", broker="sim", credentials={"file": "/etc/kis/general.json"}))
    got = repo.get("isa")
    assert got == added
    assert got.credentials.appkey_env == "ISA_KIS_APPKEY" and got.thresholds == Thresholds(mp=2.5, sub_mp=4.0)
    assert repo.get("general").credentials.file == "/etc/kis/general.json"
    assert [x.alias for x in repo.list()] == ["general", "isa"]
    assert repo.count() == 2


def test_an_alias_is_unique(repo):
    repo.add(make_account(alias="isa"))
    with pytest.raises(AccountError, match="exists") as err:
        repo.add(make_account(alias="isa", broker="kis-sim"))
    assert err.value.fields["field"] == "alias"
    assert repo.get("isa").broker == "sim"


def test_disable_enable_and_enabled_only(repo, clock):
    for alias in ("a1", "a2", "a3"):
        repo.add(make_account(alias=alias))
    clock.advance(30)
    off = repo.disable("a2")
    assert not off.enabled and off.updated_at == clock.now() and off.created_at == T0
    assert [a.alias for a in repo.list(enabled_only=True)] == ["a1", "a3"]
    assert [a.alias for a in repo.list()] == ["a1", "a2", "a3"]
    assert repo.enable("a2").enabled
    assert [a.alias for a in repo.list(enabled_only=True)] == ["a1", "a2", "a3"]


def test_update_validates_the_whole_account_before_writing(repo, clock):
    repo.add(make_account(alias="isa", broker="kis-paper", credentials=ENV))
    clock.advance(5)
    new = repo.update("isa", portfolio="income", thresholds=Thresholds(mp=1.0, sub_mp=2.0), schedule_cron=None)
    assert repo.get("isa") == new and new.portfolio == "income" and new.thresholds == Thresholds(mp=1, sub_mp=2)
    with pytest.raises(AccountError):  # a KIS account without credentials
        repo.update("isa", credentials={})
    with pytest.raises(AccountError):  # a secret pasted where a name belongs
        repo.update("isa", credentials={**ENV, "appkey_env": "PSg5dTKNWmXiYzQ3vJbPLcRaHfE8oU1nDkA2"})
    with pytest.raises(AccountError, match="cannot update"):
        repo.update("isa", created_at=None)
    assert repo.get("isa") == new  # nothing written by the refusals


def test_missing_accounts_are_not_found(repo):
    with pytest.raises(AccountNotFound):
        repo.get("nope")
    with pytest.raises(AccountNotFound):
        repo.disable("nope")
    assert repo.find("nope") is None and repo.list() == [] and repo.count() == 0


def test_portfolios_are_append_only_and_the_newest_version_wins(db, clock):
    p = PortfolioRepository(db.engine, clock)
    assert p.find("growth") is None and p.list() == []
    p.set("growth", TARGETS)
    clock.advance(60)
    other = TARGETS.model_copy(update={"mp_id": "MP-9", "mp": {"Stocks": 60, "Bonds": 30, "Alternatives": 5,
                                                                "Cash": 5}})
    p.set("growth", other)
    p.set("income", TARGETS)
    got = p.get("growth")
    assert got.targets.mp_id == "MP-9" and got.targets.mp["Stocks"] == 60 and got.decided_at == clock.now()
    assert [(n, d.targets.mp_id) for n, d in p.list()] == [("growth", "MP-9"), ("income", "MP-4")]
    with pytest.raises(AccountNotFound):
        p.get("nope")
    with pytest.raises(AccountError):
        p.set("default", TARGETS)  # the name of the strategist's latest decision
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM portfolios")).scalar() == 3


def test_rows_hold_names_and_a_masked_number_only(db, repo):
    repo.add(make_account(alias="isa", broker="kis-real", masked_number="5000****-01", credentials=ENV))
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM accounts")).mappings().one()
    assert {k: row[k] for k in ("appkey_env", "appsecret_env", "account_env", "masked_number")} == {
        **ENV, "masked_number": "5000****-01"}
    assert row["credentials_file"] is None
