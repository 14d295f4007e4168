"""``POST /api/backtest`` and the page's Backtest tab (issue 20)."""

from __future__ import annotations

import pytest

from adapters.backtest.data import synthetic_history, to_csv
from tests.e2e.http_helpers import client, make_app
from tests.e2e.test_web_page import browser, page, server, shot  # noqa: F401  (fixtures)


@pytest.fixture
def app(tmp_path):
    a = make_app(tmp_path, f"sqlite:///{tmp_path / 'rebalance.db'}")
    yield a
    a.db.dispose()


def test_synthetic_backtest_over_http(app) -> None:
    with client(app, token=None) as c:  # it changes nothing: no token needed
        res = c.post("/api/backtest", json={"synthetic_years": 1, "policy": {"name": "band-edge"}})
    assert res.status_code == 200, res.text
    doc = res.json()
    assert doc["synthetic"] is True and doc["policy"] == "band-edge:0.5"
    n = len(doc["chart"]["dates"])
    assert n == len(doc["chart"]["value"]) == len(doc["chart"]["max_abs_drift_pp"]) == 252
    assert sum(doc["chart"]["rebalanced"]) == doc["summary"]["rebalances"] == len(doc["rebalances"])


def test_uploaded_csv_and_its_errors(app) -> None:
    h = synthetic_history(0.3, {"069500": (0.05, 0.2), "114260": (0.03, 0.05)}, seed=2)
    targets = {"mp": {"Stocks": 60, "Bonds": 40, "Alternatives": 0, "Cash": 0},
               "sub_mp": {"Stocks": {"069500": 1.0}, "Bonds": {"114260": 1.0}}}
    with client(app, token=None) as c:
        ok = c.post("/api/backtest", json={"prices_csv": to_csv(h), "targets": targets, "policy": {"name": "calendar"}})
        bad = c.post("/api/backtest", json={"prices_csv": "date,ticker,close\n2024-01-02,ABC,1\n", "targets": targets})
        neither = c.post("/api/backtest", json={"targets": targets})
        policy = c.post("/api/backtest", json={"synthetic_years": 1, "policy": {"name": "sometimes"}})
    assert ok.status_code == 200, ok.text
    assert ok.json()["synthetic"] is False and ok.json()["summary"]["rebalances"] >= 3
    assert bad.status_code == 422 and "line 2" in bad.json()["message"]
    assert neither.status_code == 422
    assert policy.status_code == 422


@pytest.mark.browser
def test_backtest_tab_draws_the_chart(page) -> None:  # noqa: F811
    page.goto("/#backtest")
    page.fill("#bt-years", "1")
    page.select_option("#bt-policy", "threshold")
    page.click("#bt-run")
    page.wait_for_selector("#bt-svg")
    title = page.text_content("#bt-title") or ""
    assert "SYNTHETIC DATA" in title
    count = int(title.rsplit(": ", 1)[1].split(" ")[0])
    assert page.locator("#bt-svg .bt-rebalance").count() == count >= 1
    assert page.locator("#bt-summary tr").count() == 10
    shot(page, "backtest")
