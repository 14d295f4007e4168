"""A PARTIAL run on the app's simulated account for the HTTP and page tests of the buy-side recovery:
the demo's sells fill, every buy is refused by the broker."""

from __future__ import annotations

import json

from adapters.bootstrap import App
from adapters.sim.account import DEMO_DIR
from tests.e2e.http_helpers import account

SELLS = {"411420", "360750", "069500"}  # what the demo sells (tests/integration/test_engine_runs.py)


def partial_run(app: App) -> str:
    targets = json.loads((DEMO_DIR / "demo_targets.json").read_text())
    buys = {t for w in targets["sub_mp"].values() for t in w if t != "CASH"} - SELLS
    account(app).set_faults(reject={t: "insufficient" for t in buys})
    eng = app.engine()
    run = eng.run(eng.start(account="demo", actor="cli").id)
    account(app).set_faults(reject={})
    assert (run.status.value, run.state.value) == ("PARTIAL", "BOUGHT"), run.error
    return run.id
