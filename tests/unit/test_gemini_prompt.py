"""The prompt carries the account, the targets, the drift, the rules and, on a retry, the failures."""

from __future__ import annotations

from pathlib import Path

from adapters.gemini.prompt import SYSTEM_INSTRUCTION, build_prompt, previous_attempt_text
from statemachine.models import CheckResult, Plan, PlanOrder, Side
from tests.gemini_helpers import demo_context


def test_a_sell_prompt_lists_every_ticker_with_its_numbers(tmp_path: Path) -> None:
    ctx = demo_context(tmp_path, Side.SELL)
    text = build_prompt(ctx)
    assert text.startswith("Goal: generate SELL orders")
    assert f"Account total value T: {ctx.drift.total:,} KRW" in text
    assert "Thresholds: MP 3 pp, Sub-MP 5 pp." in text
    for row in ctx.drift.tickers:
        if row.ticker != "CASH":
            assert f"\n{row.ticker} | {row.name} | {row.asset_class} | {row.quantity} |" in text
            assert f"{row.price:,}" in text
    assert ("411420 | Stocks ETF 411420 | Stocks | 2000 | 2000 | 14,000 | 28,000,000 | 9,996,000 | "
            "+18,004,000") in text
    assert "Stocks | 20.00 | 42.78 | -22.78 | yes" in text  # the class drift table
    assert "Stocks: MP 20% of T; Sub-MP weights within the class: 411420 50.0%" in text
    for rule in ("R1 eligibility", "R2 closeness", "R3 feasibility", "R4 improvement", "R5 coverage"):
        assert rule in text
    assert '{"sell_orders": [{"ticker": "...", "name": "...", "quantity": <integer>' in text
    assert "Orderable cash" not in text and "PREVIOUS ATTEMPT" not in text


def test_a_buy_prompt_gives_the_cash_budget_and_the_sold_tickers(tmp_path: Path) -> None:
    ctx = demo_context(tmp_path, Side.BUY)
    text = build_prompt(ctx)
    assert text.startswith("Goal: generate BUY orders")
    cash = ctx.orderable_cash or 0
    assert f"Orderable cash: {cash:,} KRW; buffer kept back: {ctx.cash_buffer:,} KRW" in text
    assert f"buy budget (cost including fees must not exceed it): {cash - ctx.cash_buffer:,} KRW" in text
    assert "Sold in this run (do not buy): 411420, 360750, 069500." in text
    assert '{"buy_orders": [' in text


def test_the_prompt_is_deterministic(tmp_path: Path) -> None:
    ctx = demo_context(tmp_path, Side.SELL)
    assert build_prompt(ctx) == build_prompt(ctx.model_copy())


def test_a_retry_carries_the_previous_plan_and_its_failures(tmp_path: Path) -> None:
    prev = Plan(side=Side.SELL, planner="gemini",
                orders=[PlanOrder(ticker="411420", name="Stocks ETF 411420", quantity=600, reason="trim")])
    fail = CheckResult(rule="R2", passed=False, ticker="411420",
                       message="sell 600 x 411420 stays off its target",
                       numbers={"gap_pp": 9.6123, "tolerance_pp": 1.0, "quantity": 600})
    ctx = demo_context(tmp_path, Side.SELL).model_copy(
        update={"attempt": 2, "previous_plan": prev, "previous_failures": [fail]})
    text = build_prompt(ctx)
    assert "PREVIOUS ATTEMPT (this is attempt 2); it was REJECTED:" in text
    assert ('Previous plan: {"sell_orders": [{"ticker": "411420", "name": "Stocks ETF 411420", '
            '"quantity": 600, "reason": "trim"}]}') in text
    assert ("- R2 411420: sell 600 x 411420 stays off its target "
            "[gap_pp=9.612, tolerance_pp=1, quantity=600]") in text
    assert text.index("PREVIOUS ATTEMPT") > text.index("R5 coverage")


def test_a_retry_after_an_unreadable_reply_says_so(tmp_path: Path) -> None:
    fail = CheckResult(rule="PLAN", passed=False,
                       message="the planner produced no plan: the reply is not a single JSON object")
    ctx = demo_context(tmp_path, Side.SELL).model_copy(update={"attempt": 3, "previous_failures": [fail]})
    text = previous_attempt_text(ctx)
    assert "Previous plan: none could be read from the reply." in text
    assert "- PLAN: the planner produced no plan: the reply is not a single JSON object" in text


def test_the_system_instruction_asks_for_json_only() -> None:
    assert "single JSON object and nothing else" in SYSTEM_INSTRUCTION
    assert "whole shares" in SYSTEM_INSTRUCTION
