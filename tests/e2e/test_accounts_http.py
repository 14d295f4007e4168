"""``/api/accounts``: list, add (token), detail, disable/enable (token), and the all-accounts overview
with each account's drift verdict, last run, status and whether it needs an operator."""

from __future__ import annotations

import pytest

from adapters.accounts_runtime import app_for
from adapters.db.accounts import AccountRepository
from adapters.sim.account import SimAccount
from statemachine.accounts import make_account
from statemachine.application import commands
from statemachine.states import RunStatus
from tests.contract.helpers import run_record
from tests.e2e.http_helpers import AUTH, client, make_app

FAKE_APPKEY = "PSg5dTKNWmXiYzQ3vJbPLcRaHfE8oU1nDkA2"


@pytest.fixture
def app(tmp_path, db_url):
    a = make_app(tmp_path, db_url)
    yield a
    a.db.dispose()


def test_without_accounts_rows_the_environment_account_is_listed(app):
    with client(app) as c:
        body = c.get("/api/accounts").json()
        assert body == {"accounts": [], "environment_account": "demo"}
        over = c.get("/api/accounts/overview").json()
        assert [r["alias"] for r in over["accounts"]] == ["demo"] and over["needs_operator"] == []
        assert over["accounts"][0]["drift"]["verdict"] == "unknown"


def test_add_needs_the_token_and_refuses_secrets_without_echoing_them(app):
    body = {"alias": "isa", "broker": "kis-paper", "masked_number": "1234****-01",
            "credentials": {"appkey_env": "ISA_APPKEY", "appsecret_env": "ISA_APPSECRET", "account_env": "ISA_ACC"},
            "thresholds": {"mp": 2.0, "sub_mp": 4.0}, "portfolio": "growth"}
    with client(app) as c:
        assert c.post("/api/accounts", json=body).status_code == 401
        bad = c.post("/api/accounts", json={**body, "credentials": {**body["credentials"], "appkey_env": FAKE_APPKEY}},
                     headers=AUTH)
        assert bad.status_code == 422 and bad.json()["field"] == "appkey_env" and FAKE_APPKEY not in bad.text
        extra = c.post("/api/accounts", json={**body, "credentials": {"appkey": FAKE_APPKEY}}, headers=AUTH)
        assert extra.status_code == 422 and FAKE_APPKEY not in extra.text
        full = c.post("/api/accounts", json={**body, "masked_number": "50001234-01"}, headers=AUTH)
        assert full.status_code == 422 and "50001234-01" not in full.text
        assert c.get("/api/accounts").json()["accounts"] == []
        res = c.post("/api/accounts", json=body, headers=AUTH)
        assert res.status_code == 201, res.text
        out = res.json()
        assert out["credentials"] == {"kind": "env", "appkey_env": "ISA_APPKEY", "appsecret_env": "ISA_APPSECRET",
                                      "account_env": "ISA_ACC", "file": None}
        assert out["thresholds"] == {"mp": 2.0, "sub_mp": 4.0} and out["follows"] == "growth"
        assert c.post("/api/accounts", json=body, headers=AUTH).status_code == 409
        listed = c.get("/api/accounts").json()
        assert [a["alias"] for a in listed["accounts"]] == ["isa"] and listed["environment_account"] is None


def test_detail_disable_enable_and_not_found(app):
    with client(app) as c:
        assert c.post("/api/accounts", json={"alias": "general"}, headers=AUTH).status_code == 201
        assert c.get("/api/accounts/nope").status_code == 404
        assert c.post("/api/accounts/nope/disable", headers=AUTH).status_code == 404
        assert c.post("/api/accounts/general/disable").status_code == 401
        assert c.post("/api/accounts/general/disable", headers=AUTH).json()["enabled"] is False
        assert c.get("/api/accounts", params={"enabled_only": True}).json()["accounts"] == []
        assert c.get("/api/accounts/general").json()["enabled"] is False
        assert c.post("/api/accounts/general/enable", headers=AUTH).json()["enabled"] is True


def test_the_overview_says_who_needs_an_operator(app, tmp_path):
    repo = AccountRepository(app.db.engine, app.clock)
    for alias in ("isa", "pension"):
        SimAccount.demo(tmp_path / f"{alias}.json")
        repo.add(make_account(alias=alias, sim_account_path=str(tmp_path / f"{alias}.json")))
    repo.add(make_account(alias="real", broker="kis-real", credentials={
        "appkey_env": "UNSET_APPKEY_X", "appsecret_env": "UNSET_SECRET_X", "account_env": "UNSET_ACC_X"}))
    isa = app_for(app.settings, "isa", db=app.db, clock=app.clock)
    done = commands.start_and_drive(isa.engine(), max_phase=2, planner="greedy", actor="test")
    with app.db.unit_of_work() as u:
        u.add_run(run_record("20261124-010000-blockedx", owner=None, account="pension", status=RunStatus.BLOCKED,
                             created_at=app.clock.now()))
        u.commit()
    with client(app) as c:
        over = c.get("/api/accounts/overview").json()
        by = {r["alias"]: r for r in over["accounts"]}
        assert over["needs_operator"] == ["pension", "real"]
        assert by["isa"]["status"] == "STOPPED" and by["isa"]["last_run"]["id"] == done.id
        assert by["isa"]["drift"]["verdict"] == "rebalance needed" and by["isa"]["drift"]["exceeded"]
        assert not by["isa"]["needs_operator"]
        assert by["pension"]["status"] == "BLOCKED" and "BLOCKED" in by["pension"]["problems"][0]
        assert "UNSET_APPKEY_X" in by["real"]["problems"][0] and by["real"]["status"] is None
        detail = c.get("/api/accounts/isa").json()
        assert detail["last_run"]["id"] == done.id and detail["status"] == "STOPPED"
