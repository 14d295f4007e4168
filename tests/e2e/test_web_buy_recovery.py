"""The operator page's "Retry buy side…" button in a real Chromium (issue 22): shown for a PARTIAL
run stopped on its buy side, asks for a reason, and the run ends SUCCEEDED with the retry in its
timeline."""

from __future__ import annotations

import pytest

from adapters.http.api import API
from tests.e2e.http_buy_recovery_helpers import partial_run
from tests.e2e.test_web_page import app, browser, page, server, shot, use_token  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser


def test_retry_buy_side_button(page, app):  # noqa: F811 - the fixtures above
    run_id = partial_run(app)
    page.goto(f"/#runs/{run_id}")
    use_token(page)
    page.click("#op-retry-buys")
    page.wait_for_selector("#confirm-dialog[open]")
    page.click("#confirm-ok")
    assert page.inner_text("#confirm-error") == "A reason is required."
    page.fill("#confirm-reason", "proceeds idle since the rejects")
    shot(page, "retry-buys-confirm")
    page.click("#confirm-ok")
    page.wait_for_selector(f"#runs-table tr[data-run='{run_id}'][data-status=SUCCEEDED]")
    page.wait_for_selector("#run-detail .timeline tr:has-text('proceeds idle since the rejects')")
    assert page.locator("#op-retry-buys").count() == 0  # nothing left to retry
    assert page.request.get(f"{API}/runs/{run_id}").json()["run"]["status"] == "SUCCEEDED"
