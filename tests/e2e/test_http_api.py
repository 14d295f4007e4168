"""The HTTP API end to end: bootstrap, a real database (SQLite and PostgreSQL), the simulated account."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.http.api import API
from adapters.runtime import SystemClock
from statemachine.engine import Engine
from statemachine.records import Fence
from statemachine.states import TRANSITIONS, RunState, RunStatus
from tests.e2e.http_helpers import AUTH, TOKEN, account, client, make_app, wait_finished

WRITES = [
    ("POST", f"{API}/rebalancing/config", {"mp_threshold_percent": 4.0}),
    ("POST", f"{API}/rebalance", {}),
    ("POST", f"{API}/rebalance/test", {"max_phase": 2}),
    ("POST", f"{API}/runs/RUN/resume", None),
    ("POST", f"{API}/runs/RUN/abort", {"reason": "test"}),
    ("POST", f"{API}/runs/RUN/force", {"target": "SOLD", "reason": "test"}),
    ("POST", f"{API}/runs/RUN/retry-buys", {"reason": "test"}),
]


@pytest.fixture
def app(tmp_path, db_url):
    a = make_app(tmp_path, db_url)
    yield a
    a.db.dispose()


@pytest.fixture
def c(app):
    with client(app) as cl:
        yield cl


@pytest.fixture
def lite(tmp_path):
    """SQLite only: for request-validation and auth matrices that no database changes."""
    a = make_app(tmp_path, f"sqlite:///{tmp_path / 'lite.db'}")
    yield a
    a.db.dispose()


@pytest.fixture
def lc(lite):
    with client(lite) as cl:
        yield cl


class CheckpointStop(Exception):
    pass


class StopAt:
    """Hooks that interrupt the engine right after a given checkpoint is committed."""

    def __init__(self, state: str) -> None:
        self.point_name = f"checkpoint:{state}"

    def point(self, name: str) -> None:
        if name == self.point_name:
            raise CheckpointStop(name)


def interrupted_run(app, state: str | None = None) -> str:
    """A run left RUNNING at ``state`` (or CREATED) with no lease, as after a crashed process."""
    base = app.engine()
    eng = Engine(
        base.uow,
        base.broker,
        base.planners,
        SystemClock(),
        base.settings,
        hooks=StopAt(state) if state else None,
        owner="crashed-process",
    )
    run = eng.start(account="demo", actor="test")
    if state:
        with pytest.raises(CheckpointStop):
            eng.run(run.id)
    else:
        with app.db.unit_of_work() as uow:
            uow.release_lease(run.id, Fence("crashed-process", run.lease_epoch))
            uow.commit()
    return run.id


# ---------------------------------------------------------------------------- thresholds
def test_config_defaults_then_append_only_rows(c, app):
    got = c.get(f"{API}/rebalancing/config").json()
    assert (got["id"], got["mp_threshold_percent"], got["sub_mp_threshold_percent"], got["recent"]) == (
        None,
        3.0,
        5.0,
        [],
    )
    r = c.post(f"{API}/rebalancing/config", json={"mp_threshold_percent": 2.5}, headers=AUTH)
    assert r.status_code == 200
    assert (r.json()["mp_threshold_percent"], r.json()["sub_mp_threshold_percent"]) == (2.5, 5.0)
    c.post(f"{API}/rebalancing/config", json={"sub_mp_threshold_percent": 7}, headers=AUTH)
    got = c.get(f"{API}/rebalancing/config").json()
    assert (got["mp_threshold_percent"], got["sub_mp_threshold_percent"]) == (2.5, 7.0)
    assert [(row["mp_threshold_percent"], row["sub_mp_threshold_percent"]) for row in got["recent"]] == [
        (2.5, 7.0),
        (2.5, 5.0),
    ]
    with app.db.unit_of_work() as uow:
        assert len(uow.config_rows()) == 2 and uow.latest_thresholds().sub_mp == 7.0


@pytest.mark.parametrize(
    "body,field",
    [
        ({"mp_threshold_percent": 101}, "mp_threshold_percent"),
        ({"mp_threshold_percent": -1}, "mp_threshold_percent"),
        ({"sub_mp_threshold_percent": "5"}, "sub_mp_threshold_percent"),
        ({"sub_mp_threshold_percent": True}, "sub_mp_threshold_percent"),
        ({"mp_threshold_percent": 3, "typo": 1}, "typo"),
        ({}, "body"),
    ],
)
def test_config_validation_is_422_naming_the_field(lc, lite, body, field):
    r = lc.post(f"{API}/rebalancing/config", json=body, headers=AUTH)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and r.json()["message"].startswith(field)
    with lite.db.unit_of_work() as uow:
        assert uow.config_rows() == []  # nothing written


# ---------------------------------------------------------------------------- security
@pytest.mark.parametrize("method,path,body", WRITES, ids=[w[1].rsplit("/", 1)[-1] for w in WRITES])
def test_writes_need_the_bearer_token(lc, lite, method, path, body):
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
    ):
        r = lc.request(method, path, json=body, headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in r.text
    with lite.db.unit_of_work() as uow:
        assert uow.config_rows() == [] and uow.find_runs() == []
    assert account(lite).orders() == []


def test_a_server_without_token_refuses_every_write(app):
    with client(app, token=None) as c:
        assert c.get("/api/info").json()["writes_enabled"] is False
        for method, path, body in WRITES:
            r = c.request(method, path, json=body, headers=AUTH)
            assert r.status_code == 403 and "REBALANCE_API_TOKEN" in r.json()["message"]
        assert c.get(f"{API}/rebalancing/config").status_code == 200  # reads stay open


def test_no_secret_in_any_response(c, app):
    run_id = c.post(f"{API}/rebalance/test", json={"max_phase": 5, "confirm": True}, headers=AUTH).json()["run"]["id"]
    cano = account(app).read()["cano"]
    bodies = [
        c.get(p).text
        for p in (
            "/api/info",
            f"{API}/rebalancing-status",
            f"{API}/rebalancing/config",
            f"{API}/rebalancing/history",
            f"{API}/runs",
            f"{API}/runs/{run_id}",
            "/api/state-machine",
            "/openapi.json",
        )
    ]
    bodies.append(c.post(f"{API}/rebalance", headers={"Authorization": "Bearer nope"}).text)
    for text in bodies:
        assert TOKEN not in text and cano not in text
    assert c.get("/api/info").json() == {
        "service": "kis-rebalancer",
        "engine_version": "0.1.0",
        "account": "demo",
        "broker": "sim",
        "writes_enabled": True,
        "lang": "auto",  # REBALANCE_LANG unset: the page follows the browser
    }


# ---------------------------------------------------------------------------- drift now
def test_status_needs_targets(tmp_path, db_url):
    a = make_app(tmp_path, db_url, targets=False)
    try:
        with client(a) as c:
            r = c.get(f"{API}/rebalancing-status")
            assert r.status_code == 409 and r.json()["field"] == "targets"
            r = c.post(f"{API}/rebalance/test", json={"max_phase": 2}, headers=AUTH)
            assert r.status_code == 409 and r.json()["error"] == "TargetsError"
    finally:
        a.db.dispose()


def test_status_reports_mp_and_sub_mp_drift_of_the_account(c, app):
    d = c.get(f"{API}/rebalancing-status").json()
    assert d["account"] == "demo" and d["mp_id"] == "MP-4" and d["needed"] is True
    assert d["total"] == 99_960_000 and d["cash"] == 20_000_000
    assert d["thresholds"] == {"mp": 3.0, "sub_mp": 5.0}
    stocks = next(x for x in d["classes"] if x["asset_class"] == "Stocks")
    assert (
        stocks["target_pct"] == 20
        and stocks["exceeded"] is True
        and stocks["drift"] == pytest.approx(-22.78, abs=0.01)
    )
    t360 = next(x for x in d["tickers"] if x["ticker"] == "360750")
    assert t360["exceeded"] is False and t360["drift"] == pytest.approx(2.64, abs=0.01)
    assert "MP Stocks -22.78pp" in d["exceeded"] and d["active_run_id"] is None
    # a higher threshold turns the 360750 band... still within, and Alternatives (+9.2pp) no longer exceeded
    c.post(f"{API}/rebalancing/config", json={"mp_threshold_percent": 10}, headers=AUTH)
    d = c.get(f"{API}/rebalancing-status").json()
    assert next(x for x in d["classes"] if x["asset_class"] == "Alternatives")["exceeded"] is False


# ---------------------------------------------------------------------------- the test endpoint
def test_phase_2_returns_the_drift_and_sends_nothing(c, app):
    before = account(app).positions()
    r = c.post(f"{API}/rebalance/test", json={"max_phase": 2}, headers=AUTH)
    assert r.status_code == 200, r.text
    v = r.json()
    assert (v["run"]["status"], v["run"]["state"], v["run"]["max_phase"]) == ("STOPPED", "DRIFT_CHECKED", 2)
    assert v["drift_before"]["needed"] is True and v["plans"] == [] and v["orders"] == []
    assert account(app).orders() == [] and account(app).positions() == before


@pytest.mark.parametrize("phase,state", [(3, "BUY_PLANNED"), (4, "BUY_VALIDATED")])
def test_phases_3_and_4_plan_and_check_without_orders(c, app, phase, state):
    v = c.post(f"{API}/rebalance/test", json={"max_phase": phase}, headers=AUTH).json()
    assert (v["run"]["status"], v["run"]["state"]) == ("STOPPED", state)
    sides = [(p["side"], p["passed"]) for p in v["plans"]]
    assert sides == [("sell", True), ("buy", True if phase == 4 else None)]
    assert {ch["rule"] for ch in v["plans"][0]["checks"]} == {"R1", "R2", "R3", "R4", "R5"}
    assert v["sell_fills"]["projected"] is True and all(
        f["status"] == "PROJECTED" for f in v["sell_fills"]["fills"]
    )
    assert v["orders"] == [] and account(app).orders() == []


def test_phase_5_really_trades(c, app):
    v = c.post(f"{API}/rebalance/test", json={"max_phase": 5, "confirm": True}, headers=AUTH).json()
    assert (v["run"]["status"], v["run"]["state"]) == ("SUCCEEDED", "BOUGHT")
    assert v["orders"] and all(o["status"] == "FILLED" for o in v["orders"])
    assert len(account(app).orders()) == len(v["orders"])
    assert "069500" not in account(app).positions()
    assert v["history"]["total_cost"] == sum(o["fees"] for o in v["orders"]) > 0
    assert v["drift_after"]["total_abs_drift"] < v["drift_before"]["total_abs_drift"] / 10
    again = c.post(f"{API}/rebalance/test", json={"max_phase": 2}, headers=AUTH).json()
    assert again["run"]["status"] == "NOT_NEEDED"


def test_kill_switch_aborts_the_test_run_before_it_reads_anything(c, app):
    (Path(app.settings.kill_switch_file)).write_text("stop")
    v = c.post(f"{API}/rebalance/test", json={"max_phase": 2}, headers=AUTH).json()
    assert (v["run"]["status"], v["run"]["state"]) == ("ABORTED", "CREATED")
    assert "kill switch" in v["transitions"][-1]["reason"] and v["transitions"][-1]["actor"] == "safety"
    assert account(app).read()["calls"].get("balance", 0) == 0


@pytest.mark.parametrize(
    "body", [{"max_phase": 0}, {"max_phase": 6}, {"max_phase": "2"}, {"max_phase": 2.5}, {}]
)
def test_test_endpoint_validates_max_phase(lc, body):
    r = lc.post(f"{API}/rebalance/test", json=body, headers=AUTH)
    assert r.status_code == 422 and r.json()["field"] == "max_phase"


# ---------------------------------------------------------------------------- background runs
def test_rebalance_runs_in_the_background_and_shows_in_history(c, app):
    r = c.post(f"{API}/rebalance", json={"actor": "alice"}, headers=AUTH)
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    view = wait_finished(c, run_id)
    assert view["run"]["status"] == "SUCCEEDED" and view["run"]["actor"] == "alice"
    listed = c.get(f"{API}/runs").json()["runs"]
    row = next(x for x in listed if x["id"] == run_id)
    assert row["trades"] == len(view["orders"]) and row["total_cost"] > 0
    assert row["drift_after"] < row["drift_before"]
    hist = c.get(f"{API}/rebalancing/history").json()["history"]
    assert [h["run_id"] for h in hist] == [run_id] and hist[0]["status"] == "SUCCEEDED"
    assert hist[0]["mp_threshold_percent"] == 3.0 and len(hist[0]["trades"]) == row["trades"]


def test_409_while_the_account_has_an_active_run(c, app):
    active = interrupted_run(app)
    for path, body in ((f"{API}/rebalance", {}), (f"{API}/rebalance/test", {"max_phase": 2})):
        r = c.post(path, json=body, headers=AUTH)
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "LeaseHeld" and r.json()["run_id"] == active
    assert c.get(f"{API}/rebalancing-status").json()["active_run_id"] == active


def test_runs_list_filter_and_detail_with_timeline_and_diagram(c, app):
    run_id = c.post(f"{API}/rebalance/test", json={"max_phase": 3}, headers=AUTH).json()["run"]["id"]
    assert [r["id"] for r in c.get(f"{API}/runs", params={"status": "STOPPED"}).json()["runs"]] == [run_id]
    assert c.get(f"{API}/runs", params={"status": "SUCCEEDED"}).json()["runs"] == []
    v = c.get(f"{API}/runs/{run_id}").json()
    assert [t["to"] for t in v["transitions"]] == [
        "CREATED",
        "FETCHED",
        "DRIFT_CHECKED",
        "SELL_PLANNED",
        "SELL_VALIDATED",
        "SOLD",
        "CASH_FETCHED",
        "BUY_PLANNED",
    ]
    assert v["transitions"][1]["from"] == "CREATED" and v["visited"][-1] == "BUY_PLANNED"
    assert "Class BUY_PLANNED s_active" in v["mermaid"] and "Class SOLD s_previous" in v["mermaid"]
    assert "Class BOUGHT s_default" in v["mermaid"]
    r = c.get(f"{API}/runs/no-such-run")
    assert r.status_code == 404 and r.json()["run_id"] == "no-such-run"


# ---------------------------------------------------------------------------- operators
def test_resume_an_interrupted_run(c, app):
    run_id = interrupted_run(app, "SELL_VALIDATED")
    r = c.post(f"{API}/runs/{run_id}/resume", headers=AUTH)
    assert r.status_code == 202, r.text
    view = wait_finished(c, run_id)
    assert view["run"]["status"] == "SUCCEEDED"
    assert len(account(app).orders()) == len(view["orders"])
    r = c.post(f"{API}/runs/{run_id}/resume", headers=AUTH)
    assert r.status_code == 409 and r.json()["error"] == "RunFinished"
    assert c.post(f"{API}/runs/nope/resume", headers=AUTH).status_code == 404


def test_resume_refuses_a_run_another_live_process_drives(c, app):
    base = app.engine()
    run = base.start(account="demo", actor="cli")  # this test process holds the lease, as a live CLI would
    r = c.post(f"{API}/runs/{run.id}/resume", headers=AUTH)
    assert r.status_code == 409 and r.json()["error"] == "LeaseHeld"
    assert c.get(f"{API}/runs/{run.id}").json()["run"]["state"] == "CREATED"


def test_abort_needs_a_reason_and_is_recorded(c, app):
    run_id = interrupted_run(app, "DRIFT_CHECKED")
    r = c.post(f"{API}/runs/{run_id}/abort", json={"reason": "  "}, headers=AUTH)
    assert r.status_code == 422 and r.json()["field"] == "reason"
    r = c.post(f"{API}/runs/{run_id}/abort", json={"reason": "market is wild", "actor": "bob"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["status"] == "ABORTED"
    last = c.get(f"{API}/runs/{run_id}").json()["transitions"][-1]
    assert (last["actor"], last["reason"], last["status"]) == ("bob", "market is wild", "ABORTED")
    r = c.post(f"{API}/runs/{run_id}/abort", json={"reason": "again"}, headers=AUTH)
    assert r.status_code == 409 and r.json()["error"] == "RunFinished"


def test_force_follows_only_operator_edges(c, app):
    run_id = interrupted_run(app, "DRIFT_CHECKED")
    r = c.post(f"{API}/runs/{run_id}/force", json={"target": "BOUGHT", "reason": "try"}, headers=AUTH)
    assert r.status_code == 409 and r.json()["allowed"] == ["SOLD", "ABORTED"]
    r = c.post(f"{API}/runs/{run_id}/force", json={"target": "NOWHERE", "reason": "try"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["field"] == "target"
    r = c.post(f"{API}/runs/{run_id}/force", json={"target": "SOLD"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["field"] == "reason"
    r = c.post(
        f"{API}/runs/{run_id}/force",
        json={"target": "SOLD", "reason": "sold by phone", "actor": "carol"},
        headers=AUTH,
    )
    assert r.status_code == 200 and (r.json()["state"], r.json()["status"]) == ("SOLD", "RUNNING")
    last = c.get(f"{API}/runs/{run_id}").json()["transitions"][-1]
    assert (last["trigger"], last["actor"], last["reason"]) == ("force_skip_sells", "carol", "sold by phone")
    assert c.post(f"{API}/runs/{run_id}/resume", headers=AUTH).status_code == 202
    assert wait_finished(c, run_id)["run"]["status"] in ("SUCCEEDED", "PARTIAL", "FAILED")
    assert all(o["side"] == "buy" for o in account(app).orders())  # the sell side was skipped


# ---------------------------------------------------------------------------- the table
def test_state_machine_is_the_table(c, app):
    m = c.get("/api/state-machine").json()
    assert m["states"] == [s.value for s in RunState] and m["statuses"] == [s.value for s in RunStatus]
    assert [(t["trigger"], t["source"], t["dest"], t["kind"]) for t in m["transitions"]] == [
        (t.trigger, t.source.value, t.dest.value, t.kind) for t in TRANSITIONS
    ]
    assert [(p["max_phase"], p["state"], p["sends_orders"]) for p in m["max_phase"]] == [
        (1, "FETCHED", False),
        (2, "DRIFT_CHECKED", False),
        (3, "BUY_PLANNED", False),
        (4, "BUY_VALIDATED", False),
        (5, "BOUGHT", True),
    ]
    assert m["mermaid"].count("s_active") == 1  # only the classDef: no state highlighted
    run_id = c.post(f"{API}/rebalance/test", json={"max_phase": 2}, headers=AUTH).json()["run"]["id"]
    assert (
        "Class DRIFT_CHECKED s_active"
        in c.get("/api/state-machine", params={"run_id": run_id}).json()["mermaid"]
    )
    assert c.get("/api/state-machine", params={"run_id": "nope"}).status_code == 404


def test_docs_page_and_schema(lc):
    c = lc
    docs = c.get("/docs")
    assert docs.status_code == 200 and "/static/vendor/swagger-ui-bundle.js" in docs.text
    assert "cdn." not in docs.text  # works without internet
    paths = c.get("/openapi.json").json()["paths"]
    assert {
        f"{API}/rebalancing/config",
        f"{API}/rebalance",
        f"{API}/rebalance/test",
        f"{API}/rebalancing-status",
        f"{API}/runs",
        f"{API}/runs/{{run_id}}",
        f"{API}/runs/{{run_id}}/resume",
        f"{API}/runs/{{run_id}}/abort",
        f"{API}/runs/{{run_id}}/force",
        "/api/state-machine",
    } <= set(paths)
    page = c.get("/")
    assert page.status_code == 200 and "Rebalancing Test" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert c.get("/static/vendor/mermaid.min.js").status_code == 200
