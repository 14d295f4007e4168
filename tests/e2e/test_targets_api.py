"""The targets endpoints (the page's MP and Sub-MP tabs) on SQLite and PostgreSQL: the decision in
force, new decisions validated as ``targets set`` validates (422 naming the field, nothing written),
the history newest first with who decided and what changed; ``targets set --by``; migration 0006."""

from __future__ import annotations

import copy
import json

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from adapters.db.connect import Database, alembic_config
from adapters.sim.account import DEMO_DIR
from tests.e2e.http_helpers import API, AUTH, client, make_app

DEMO = json.loads((DEMO_DIR / "demo_targets.json").read_text())
T = f"{API}/targets"


@pytest.fixture
def app(tmp_path, db_url):
    a = make_app(tmp_path, db_url, targets=False)
    yield a
    a.db.dispose()


@pytest.fixture
def c(app):
    with client(app) as cl:
        cl.headers.update(AUTH)
        yield cl


def shifted(body: dict) -> dict:
    """The demo targets with 5 points moved between the first two classes."""
    b = copy.deepcopy(body)
    first, second = list(b["mp"])[:2]
    b["mp"][first] -= 5
    b["mp"][second] += 5
    return b


def test_no_targets_yet_is_409(c):
    r = c.get(T)
    assert r.status_code == 409 and r.json()["field"] == "targets"


def test_put_then_get_then_post_and_history_newest_first(c):
    r = c.put(T, json={**DEMO, "decided_by": "alice"})
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["decided_by"] == "alice" and first["mp"] == DEMO["mp"] and first["sub_mp"] == DEMO["sub_mp"]
    assert c.get(T).json() == first
    second_body = shifted(DEMO)
    r = c.post(T, json=second_body)  # no decided_by: the API caller is 'api'
    assert r.status_code == 201 and r.json()["decided_by"] == "api"
    now = c.get(T).json()
    assert now["id"] == r.json()["id"] != first["id"] and now["mp"] == second_body["mp"]

    h = c.get(f"{T}/history").json()
    assert h["total"] == 2 and [d["decided_by"] for d in h["decisions"]] == ["api", "alice"]
    newest, oldest = h["decisions"]
    a, b = list(DEMO["mp"])[:2]
    assert newest["changes"] == [{"field": f"mp.{a}", "before": DEMO["mp"][a], "after": DEMO["mp"][a] - 5},
                                 {"field": f"mp.{b}", "before": DEMO["mp"][b], "after": DEMO["mp"][b] + 5}]
    assert {ch["field"] for ch in oldest["changes"]} >= {f"mp.{k}" for k in DEMO["mp"]}  # the first: everything
    assert all(ch["before"] is None for ch in oldest["changes"])

    page = c.get(f"{T}/history", params={"limit": 1}).json()  # the page's last still diffs against the older
    assert [d["id"] for d in page["decisions"]] == [newest["id"]] and page["decisions"][0]["changes"] == newest[
        "changes"]
    page2 = c.get(f"{T}/history", params={"limit": 1, "offset": 1}).json()
    assert [d["id"] for d in page2["decisions"]] == [oldest["id"]] and page2["total"] == 2


def _bad(body_change):
    b = copy.deepcopy(DEMO)
    body_change(b)
    return b


def _first_class():
    return list(DEMO["mp"])[0]


def _first_ticker():
    c = next(k for k, v in DEMO["sub_mp"].items() if any(t != "CASH" for t in v))
    return c, next(t for t in DEMO["sub_mp"][c] if t != "CASH")


INVALID = {
    "mp sum": (lambda b: b["mp"].update({_first_class(): b["mp"][_first_class()] + 1}), "mp"),
    "negative": (lambda b: b["mp"].update({_first_class(): -1}), f"mp.{_first_class()}"),
    "unknown class": (lambda b: b["mp"].update({"Crypto": 0}), "mp.Crypto"),
    "malformed ticker": (lambda b: b["sub_mp"][_first_ticker()[0]].update({"ABC": 0}),
                         f"sub_mp.{_first_ticker()[0]}.ABC"),
    "sub weight not a number": (lambda b: b["sub_mp"][_first_ticker()[0]].update({_first_ticker()[1]: "x"}),
                                f"sub_mp.{_first_ticker()[0]}.{_first_ticker()[1]}"),
    "missing mp": (lambda b: b.pop("mp"), "mp"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_targets_are_422_naming_the_field_and_write_nothing(c, tmp_path, case):
    change, field = INVALID[case]
    r = c.put(T, json=_bad(change))
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field, r.json()
    assert c.get(f"{T}/history").json()["total"] == 0


def test_the_api_says_what_targets_set_says(c, tmp_path, app):
    """One validation: the CLI's message for a file is the API's message for the same body."""
    from statemachine.errors import TargetsError
    from statemachine.models import Targets

    body = _bad(INVALID["mp sum"][0])
    with pytest.raises(TargetsError) as cli_err:
        Targets.model_validate(body)
    assert c.put(T, json=body).json()["message"] == cli_err.value.message


def test_writing_targets_needs_the_token(app):
    with client(app, token=None) as anon:
        assert anon.put(T, json=DEMO).status_code == 403
    with client(app) as cl:
        assert cl.put(T, json=DEMO, headers={"Authorization": "Bearer wrong-token-000000000"}).status_code == 401


def test_cli_targets_set_records_who(tmp_path, db_url):
    from tests.e2e.cli_helpers import Cli

    cli = Cli(tmp_path, db_url)
    path = tmp_path / "t.json"
    path.write_text(json.dumps(DEMO))
    assert cli("targets", "set", str(path), "--by", "bob").returncode == 0
    assert cli("targets", "set", str(path)).returncode == 0
    shown = json.loads(cli("targets", "show", "--json").stdout)
    assert shown["decided_by"].startswith("cli")
    db = Database(db_url, auto_migrate=False)
    try:
        with db.unit_of_work() as uow:
            assert [d.decided_by for d in uow.decisions()] == [shown["decided_by"], "bob"]
    finally:
        db.dispose()


def test_migration_0006_adds_decided_by_and_goes_back(tmp_path, db_url):
    db = Database(db_url, auto_migrate=True)  # at head
    db.dispose()
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0005")
    eng = create_engine(db_url)
    try:
        with eng.begin() as conn:
            cols = list(conn.execute(text("SELECT * FROM ai_strategy_decisions")).keys())
            assert "decided_by" not in cols
            conn.execute(text("INSERT INTO ai_strategy_decisions (decided_at, mp_id, mp, sub_mp, names) "
                              "VALUES ('2026-11-30 00:00:00', 'OLD', '{}', '{}', '{}')"))
        command.upgrade(cfg, "0006")
        with eng.begin() as conn:
            rows = conn.execute(text("SELECT mp_id, decided_by FROM ai_strategy_decisions")).all()
        assert [tuple(r) for r in rows] == [("OLD", None)]
    finally:
        eng.dispose()
