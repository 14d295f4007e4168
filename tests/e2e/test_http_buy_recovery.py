"""The buy-side recovery through the HTTP API (issue 22), on SQLite and PostgreSQL:
``POST /api/macro-trading/runs/{run_id}/retry-buys`` records the recovery edge now and drives the
run in the background; refusals answer 409 (not PARTIAL on its buy side, finished, another run
holds the account), a missing reason 422, no token 401."""

from __future__ import annotations

import pytest

from adapters.http.api import API
from tests.e2e.http_buy_recovery_helpers import SELLS, partial_run
from tests.e2e.http_helpers import AUTH, account, client, make_app, wait_finished


@pytest.fixture
def app(tmp_path, db_url):
    a = make_app(tmp_path, db_url)
    yield a
    a.db.dispose()


def test_retry_buys_endpoint_recovers_a_partial_run_and_refuses_the_rest(app):
    run_id = partial_run(app)
    with client(app) as c:
        url = f"{API}/runs/{run_id}/retry-buys"
        assert c.post(url, json={"reason": "x"}).status_code == 401
        r = c.post(url, json={"reason": " "}, headers=AUTH)
        assert r.status_code == 422 and r.json()["field"] == "reason"
        other = app.engine().start(account="demo", actor="cli")  # another run holds the account
        r = c.post(url, json={"reason": "x"}, headers=AUTH)
        assert r.status_code == 409 and r.json()["error"] == "LeaseHeld" and other.id in r.json()["message"]
        r = c.post(f"{API}/runs/{other.id}/retry-buys", json={"reason": "x"}, headers=AUTH)
        assert r.status_code == 409 and "only a PARTIAL run" in r.json()["message"]
        app.engine().abort(other.id, reason="clear the way", actor="test")
        r = c.post(url, json={"reason": "ticket OPS-22", "actor": "web"}, headers=AUTH)
        assert r.status_code == 202 and r.json()["run_id"] == run_id
        view = wait_finished(c, run_id)
        assert view["run"]["status"] == "SUCCEEDED"
        retried = [t for t in view["transitions"] if t["trigger"] == "retry_buys"]
        assert [(t["actor"], t["reason"]) for t in retried] == [("web", "ticket OPS-22")]
        hist = view["history"]
        assert hist["recovery"]["first_status"] == "PARTIAL"
        assert [a["outcome"] for a in hist["recovery"]["attempts"]] == ["SUCCEEDED"]
        r = c.post(url, json={"reason": "again"}, headers=AUTH)
        assert r.status_code == 409 and r.json()["error"] == "RunFinished"
    sent = [(o["side"], o["ticker"]) for o in account(app).orders()]
    assert len(sent) == len(set(sent)) and {t for s, t in sent if s == "sell"} == SELLS
