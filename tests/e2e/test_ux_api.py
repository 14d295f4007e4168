"""Issue 21 through the API and the CLI's readers: an interrupted run's orders and its dead lease."""

from __future__ import annotations

import pytest

from adapters.http.api import API
from adapters.liveness import lease_probe
from statemachine.application import queries
from tests.e2e.http_helpers import client, make_app
from tests.e2e.ux_helpers import killed_selling_run


@pytest.fixture
def app(tmp_path):
    a = make_app(tmp_path, f"sqlite:///{tmp_path / 'ux.db'}")
    yield a
    a.db.dispose()


def test_a_dead_holder_makes_a_stale_lease_in_the_run_view_and_the_list(app):
    run_id, owner = killed_selling_run(app)
    with client(app) as c:
        view = c.get(f"{API}/runs/{run_id}").json()
        listed = {r["id"]: r for r in c.get(f"{API}/runs").json()["runs"]}
    lease = view["lease"]
    assert (lease["state"], lease["holder"], lease["dead"], lease["expired"]) == ("stale", owner, True, False)
    assert lease["message"].startswith(f"stale lease: holder {owner} last seen ")
    assert lease["message"].endswith("— resume / force / abort") and lease["actions"] == ["resume", "force", "abort"]
    assert listed[run_id]["lease"]["state"] == "stale"
    assert [(o["status"], o["odno"]) for o in view["orders"]] == [("FILLED", "0000117001"), ("SENT", "0000117002")]


def test_a_live_holder_is_live(app):
    import os

    from tests.e2e.ux_helpers import dead_owner

    live = dead_owner().rsplit("|", 2)[0] + f"|{os.getppid()}|cafe0001"  # the test runner's parent: alive
    run_id, _ = killed_selling_run(app, owner=live)
    [row] = queries.run_statuses(app.db.unit_of_work, run_id, lease=lease_probe(app))
    assert row["lease"]["state"] == "live" and row["lease"]["actions"] == []


def test_a_trading_test_run_needs_confirm_and_starts_nothing_without_it(app):
    from tests.e2e.http_helpers import AUTH, account

    with client(app) as c:
        r = c.post(f"{API}/rebalance/test", json={"max_phase": 5}, headers=AUTH)
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["error"] == "ConfirmationRequired" and body["field"] == "confirm"
        assert "sends sell and buy orders" in body["message"] and '"confirm": true' in body["message"]
        assert c.get(f"{API}/runs").json()["runs"] == [] and account(app).orders() == []
        r = c.post(f"{API}/rebalance/test", json={"max_phase": 5, "confirm": "yes"}, headers=AUTH)
        assert r.status_code == 422 and r.json()["field"] == "confirm"
        r = c.post(f"{API}/rebalance/test", json={"max_phase": 2, "confirm": False}, headers=AUTH)
        assert r.status_code == 200 and r.json()["run"]["status"] == "STOPPED"  # reading phases need none


def test_a_malformed_json_body_says_so_with_the_position(app):
    from tests.e2e.http_helpers import AUTH

    with client(app) as c:
        r = c.post(f"{API}/rebalance/test", content=b'{"max_phase": 2,}',
                   headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 422
    body = r.json()
    assert body["message"].startswith("request body is not valid JSON: ") and "at character 16" in body["message"]
    assert (body["field"], body["position"]) == ("body", 16)
