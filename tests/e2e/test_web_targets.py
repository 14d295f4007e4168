"""The page's MP and Sub-MP tabs in a real Chromium against a live server: view the decision in
force, edit it (valid: a new decision; invalid: the server's error shown at the field, nothing
written), and see the history with who changed what."""

from __future__ import annotations

import json

import pytest

from adapters.sim.account import DEMO_DIR
from tests.e2e.http_helpers import TOKEN, live_server, make_app
from tests.e2e.test_web_page import SHOTS, browser  # noqa: F401 - the module's Chromium fixture

pytestmark = pytest.mark.browser
DEMO = json.loads((DEMO_DIR / "demo_targets.json").read_text())


@pytest.fixture
def app(tmp_path):
    a = make_app(tmp_path, f"sqlite:///{tmp_path / 'rebalance.db'}")
    yield a
    a.db.dispose()


@pytest.fixture
def page(browser, app):  # noqa: F811
    with live_server(app) as base:
        context = browser.new_context(viewport={"width": 1360, "height": 1000}, base_url=base)
        p = context.new_page()
        errors: list[str] = []
        p.on("pageerror", lambda exc: errors.append(str(exc)))
        # a refused save is an answer the page shows, not a page error
        p.on("console", lambda m: errors.append(m.text)
             if m.type == "error" and "status of 422" not in m.text else None)
        p.set_default_timeout(15_000)
        yield p
        context.close()
        assert errors == [], errors


def login(page) -> None:
    page.goto("/")
    page.fill("#token-input", TOKEN)
    page.click("#token-save")
    page.wait_for_selector("#token-state:has-text('token set')")


def decisions(app):
    with app.db.unit_of_work() as uow:
        return uow.decisions()


def test_mp_tab_views_edits_and_shows_history(page, app):
    login(page)
    page.click("nav a[data-tab=mp]")
    page.wait_for_selector("#mp-current tr[data-cls=Stocks]")
    assert page.locator("#tab-mp").is_visible() and not page.locator("#tab-drift").is_visible()
    for cls, pct in DEMO["mp"].items():
        assert page.locator(f"#mp-current tr[data-cls={cls}] td.num").inner_text() == f"{pct:.2f}"
    assert page.locator("#mp-sum").inner_text().startswith("Sum: 100.00")

    # invalid: the hint says so at once, the server refuses and names the field, nothing is written
    page.fill("#mp-in-Stocks", "25")
    assert "must be 100" in page.locator("#mp-sum").inner_text()
    page.click("#mp-save")
    page.wait_for_selector("#mp-msg.error")
    assert "sums to 105, not 100" in page.locator("#mp-msg").inner_text()
    assert len(decisions(app)) == 1
    page.fill("#mp-in-Stocks", "-5")
    page.fill("#mp-in-Bonds", "75")
    page.click("#mp-save")
    page.wait_for_selector("#mp-in-Stocks.invalid")
    assert "'mp.Stocks' is negative" in page.locator("#mp-msg").inner_text()

    # valid: a new decision, by whom the form says, in force and first in the history
    page.fill("#mp-in-Stocks", "25")
    page.fill("#mp-in-Bonds", "45")
    page.fill("#mp-by", "alice")
    page.click("#mp-save")
    page.wait_for_selector("#mp-msg.ok")
    newest = decisions(app)[0]
    assert newest.decided_by == "alice" and newest.targets.mp["Stocks"] == 25 and newest.targets.mp["Bonds"] == 45
    assert newest.targets.sub_mp == DEMO["sub_mp"]  # the Sub-MP kept
    assert page.locator("#mp-current tr[data-cls=Stocks] td.num").inner_text() == "25.00"
    first = page.locator("#mp-history tbody tr").first
    assert first.get_attribute("data-id") == str(newest.id)
    text = first.inner_text()
    assert "alice" in text and "mp.Stocks: 20 → 25" in text and "mp.Bonds: 50 → 45" in text
    assert page.locator("#mp-history tbody tr").count() == 2
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "targets-mp.png"), full_page=True)


def test_sub_mp_tab_views_edits_and_shows_history(page, app):
    login(page)
    page.goto("/#submp")
    page.wait_for_selector("#submp-current tr[data-ticker='411420']")
    assert page.locator("#submp-current tbody tr").count() == sum(len(w) for w in DEMO["sub_mp"].values())

    stocks = page.locator("#submp-rows-Stocks tr.sub-row")
    # invalid: a malformed ticker, refused by the server with the field named
    page.click("#submp-add-Stocks")
    new = stocks.last
    new.locator(".sub-ticker").fill("ABC")
    new.locator(".sub-weight").fill("0")
    assert "not a 6-digit KRX code" in page.locator("#submp-hint").inner_text()
    page.click("#submp-save")
    page.wait_for_selector("#submp-msg.error")
    assert "malformed ticker 'ABC'" in page.locator("#submp-msg").inner_text()
    assert page.locator("#submp-rows-Stocks .sub-ticker.invalid").count() == 1
    assert len(decisions(app)) == 1

    # valid: replace it with a real code and move weight onto it
    new.locator(".sub-ticker").fill("069500")
    new.locator(".sub-weight").fill("0.1")
    new.locator(".sub-name").fill("KODEX 200")
    tickers = page.eval_on_selector_all("#submp-rows-Stocks .sub-ticker", "xs => xs.map(x => x.value)")
    stocks.nth(tickers.index("411420")).locator(".sub-weight").fill("0.4")  # 0.5 -> 0.4
    assert "sum 1.000" in page.locator("#submp-sum-Stocks").inner_text()
    page.fill("#submp-by", "bob")
    page.click("#submp-save")
    page.wait_for_selector("#submp-msg.ok")
    newest = decisions(app)[0]
    assert newest.decided_by == "bob"
    assert newest.targets.sub_mp["Stocks"] == {"411420": 0.4, "360750": 0.3, "458730": 0.2, "069500": 0.1}
    assert newest.targets.names["069500"] == "KODEX 200" and newest.targets.mp == DEMO["mp"]
    page.wait_for_selector("#submp-current tr[data-ticker='069500']")
    text = page.locator("#submp-history tbody tr").first.inner_text()
    assert "bob" in text and "sub_mp.Stocks.411420: 0.5 → 0.4" in text and "sub_mp.Stocks.069500: – → 0.1" in text
    page.screenshot(path=str(SHOTS / "targets-submp.png"), full_page=True)
