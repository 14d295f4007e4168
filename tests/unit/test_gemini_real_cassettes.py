"""Cassettes a user recorded against the real API (tests/cassettes/gemini_real, see docs/gemini.md):
every recorded reply must become a plan or a failed attempt with a reason, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from statemachine.errors import PlanningError
from statemachine.models import Side
from tests.gemini_helpers import CASSETTES, demo_context, fast_settings, gemini_planner, gemini_vcr

REAL = CASSETTES / "gemini_real"


@pytest.mark.skipif(not (REAL / "valid_plan.yaml").exists(),
                    reason="no cassette recorded against the real API")
def test_a_real_sell_reply_is_a_plan_or_a_recorded_failure(tmp_path: Path) -> None:
    planner = gemini_planner(settings=fast_settings())
    with gemini_vcr("none", REAL).use_cassette("valid_plan.yaml"):
        try:
            plan = planner.plan(demo_context(tmp_path, Side.SELL))
        except PlanningError as exc:
            assert exc.message and planner.last_meta["error"] == exc.message
        else:
            assert plan.meta["model"] and plan.meta["usage"]
