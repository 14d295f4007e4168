"""The Accounts tab and the account switcher in a real Chromium: the all-accounts overview marks the
account that needs an operator, and switching to an account shows its facts and only its runs."""

from __future__ import annotations

import pytest

from adapters.accounts_runtime import app_for
from adapters.db.accounts import AccountRepository
from adapters.sim.account import SimAccount
from statemachine.accounts import make_account
from statemachine.application import commands
from statemachine.states import RunStatus
from tests.contract.helpers import run_record
from tests.e2e.test_web_page import app, browser, page, server, shot  # noqa: F401 - the fixtures

pytestmark = pytest.mark.browser


def _accounts(app, tmp_path):  # noqa: F811
    repo = AccountRepository(app.db.engine, app.clock)
    for alias in ("isa", "pension"):
        SimAccount.demo(tmp_path / f"{alias}.json")
        repo.add(make_account(alias=alias, masked_number="1234****-01",
                              sim_account_path=str(tmp_path / f"{alias}.json")))
    done = commands.start_and_drive(app_for(app.settings, "isa", db=app.db, clock=app.clock).engine(), max_phase=2,
                                    planner="greedy", actor="test")
    with app.db.unit_of_work() as u:
        u.add_run(run_record("20261124-010000-blockedw", owner=None, account="pension", status=RunStatus.BLOCKED,
                             created_at=app.clock.now()))
        u.commit()
    return done


def test_overview_and_switcher(app, page, tmp_path):  # noqa: F811
    done = _accounts(app, tmp_path)
    page.goto("/#accounts")
    table = page.locator("#accounts-table")
    table.locator("tr[data-account='pension']").wait_for()
    assert table.locator("tr[data-account='pension']").get_attribute("data-needs-operator") == "true"
    assert table.locator("tr[data-account='isa']").get_attribute("data-needs-operator") == "false"
    assert "BLOCKED" in table.locator("tr[data-account='pension'] td.operator").inner_text()
    assert "rebalance needed" in table.locator("tr[data-account='isa'] td.drift-verdict").inner_text()
    assert "needs an operator: pension" in page.locator("#accounts-note").inner_text()
    shot(page, "accounts-overview")

    options = page.locator("#account-switcher option").all_inner_texts()
    assert options == ["All accounts", "isa", "pension"]
    page.select_option("#account-switcher", "isa")
    page.wait_for_url("**/#accounts/isa")
    page.locator("#account-title").wait_for()
    assert page.locator("#account-title").inner_text() == "isa"
    runs = page.locator("#account-runs tbody tr[data-run]")
    runs.first.wait_for()
    assert runs.count() == 1 and runs.first.get_attribute("data-run") == done.id
    assert "1234****-01" in page.locator("#account-facts").inner_text()
    page.select_option("#account-switcher", "pension")
    page.locator("#account-problems").wait_for()
    assert "BLOCKED" in page.locator("#account-problems").inner_text()
    shot(page, "accounts-one")
    page.select_option("#account-switcher", "")
    page.wait_for_url("**/#accounts")
    page.locator("#accounts-table").wait_for()
    page.locator("#account-runs").wait_for(state="detached")
