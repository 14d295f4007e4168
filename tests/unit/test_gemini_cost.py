"""Tokens and the estimated price of LLM attempts: per attempt (the planner's meta), summed per run
and per month (statemachine.application.views), with the price table a setting."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.config import GEMINI_DEFAULT_PRICES, GeminiSettings, ModelPrice
from adapters.gemini.cost import attempt_cost
from statemachine.application.views import llm_cost, monthly_llm_cost
from statemachine.models import Side
from statemachine.records import PlanAttemptRecord

USAGE = {"prompt_token_count": 1000, "candidates_token_count": 100, "thoughts_token_count": 128,
         "total_token_count": 1228}
AT = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)


def attempt(meta: dict[str, Any], planner: str = "gemini") -> PlanAttemptRecord:
    return PlanAttemptRecord(run_id="r", side=Side.SELL, attempt=1, planner=planner, plan=None, meta=meta,
                             created_at=AT)


def test_an_attempt_is_priced_from_its_usage_and_the_table() -> None:
    c = attempt_cost(USAGE, "gemini-3.1-pro-preview", GEMINI_DEFAULT_PRICES)
    # 1,000 x $2/M + (100 + 128 thinking) x $12/M = $0.002 + $0.002736, in millionths of a USD
    assert c["usd_micros"] == 2000 + 2736 and c["priced"] is True and c["currency"] == "USD"
    assert (c["prompt_tokens"], c["output_tokens"], c["total_tokens"]) == (1000, 228, 1228)
    assert c["model"] == "gemini-3.1-pro-preview"
    assert c["price_per_mtok"] == {"input_usd_per_mtok": 2.0, "output_usd_per_mtok": 12.0}


def test_an_unknown_model_is_counted_but_unpriced_and_no_usage_costs_nothing() -> None:
    c = attempt_cost(USAGE, "gemini-9-ultra", GEMINI_DEFAULT_PRICES)
    assert c["usd_micros"] is None and c["priced"] is False and c["total_tokens"] == 1228
    z = attempt_cost(None, "gemini-3.1-pro-preview", GEMINI_DEFAULT_PRICES)
    assert z["usd_micros"] == 0 and z["total_tokens"] == 0


def test_the_price_table_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBALANCE_GEMINI_PRICES", '{"m-1": {"input_usd_per_mtok": 1, "output_usd_per_mtok": 4}}')
    prices = GeminiSettings().prices
    assert prices == {"m-1": ModelPrice(input_usd_per_mtok=1, output_usd_per_mtok=4)}
    assert attempt_cost(USAGE, "m-1", prices)["usd_micros"] == 1000 + 228 * 4


def test_a_runs_cost_sums_its_llm_attempts_and_deterministic_planners_count_zero() -> None:
    a = attempt({"cost": attempt_cost(USAGE, "gemini-3.1-pro-preview", GEMINI_DEFAULT_PRICES)})
    b = attempt({"cost": attempt_cost(USAGE, "gemini-9-ultra", GEMINI_DEFAULT_PRICES)})
    greedy = attempt({"planner": "greedy"}, planner="greedy")
    total = llm_cost([a, a, b, greedy])
    assert total["llm_attempts"] == 3 and total["total_tokens"] == 3 * 1228
    assert total["usd_micros"] == 2 * 4736 and total["usd"] == 0.009472 and total["unpriced_attempts"] == 1
    assert total["models"] == ["gemini-3.1-pro-preview", "gemini-9-ultra"]
    assert llm_cost([greedy]) == {"llm_attempts": 0, "prompt_tokens": 0, "output_tokens": 0, "total_tokens": 0,
                                  "usd_micros": 0, "usd": 0.0, "unpriced_attempts": 0, "models": []}


def test_the_monthly_line_groups_runs_by_month_newest_first() -> None:
    a = attempt({"cost": attempt_cost(USAGE, "gemini-3.1-pro-preview", GEMINI_DEFAULT_PRICES)})
    lines = monthly_llm_cost([("2026-10", [a]), ("2026-11", [a, a]), ("2026-11", []), ("2026-10", [a])])
    assert [(m["month"], m["runs"], m["llm_attempts"], m["usd_micros"]) for m in lines] == [
        ("2026-11", 2, 2, 2 * 4736), ("2026-10", 2, 2, 2 * 4736)]
