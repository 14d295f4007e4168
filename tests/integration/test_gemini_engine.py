"""The engine with the Gemini planner replaying cassettes, over the simulated demo account and an
in-memory store: a rejected plan and its correction, three bad plans, the hand-over to optimal."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from statemachine.application import queries
from statemachine.models import Side
from statemachine.planner_greedy import GreedyPlanner
from statemachine.records import PlanAttemptRecord
from statemachine.states import RunState, RunStatus
from tests.gemini_helpers import (
    FAKE_KEY,
    demo_targets,
    engine_for,
    engine_planners,
    fast_settings,
    gemini_vcr,
    greedy_engine_plans,
    replay_client,
)


@contextmanager
def cassette(name: str) -> Iterator[Any]:
    with gemini_vcr("none").use_cassette(f"{name}.yaml") as cass:
        yield cass
    assert cass.all_played, f"{name}: {cass.play_count} of {len(cass)} interactions played"


def run_engine(tmp: Path, cassette_name: str, on_llm_failure: str = "fail", stand_in: bool = False,
               with_store: bool = False):  # type: ignore[no-untyped-def]
    settings = fast_settings()
    planners = engine_planners(replay_client(settings), settings, optimal_stand_in=stand_in)
    engine, store, account = engine_for(tmp, planners, on_llm_failure=on_llm_failure)
    with cassette(cassette_name):
        run = engine.run(engine.start(account="demo", targets=demo_targets(), planner="auto").id)
    with store.unit_of_work() as uow:
        attempts = uow.plan_attempts(run.id)
    if with_store:
        return run, attempts, account, store
    return run, attempts, account


def sells(attempts: list[PlanAttemptRecord]) -> list[PlanAttemptRecord]:
    return [a for a in attempts if a.side is Side.SELL]


def test_a_rejected_plan_is_corrected_on_retry_and_the_orders_execute(tmp_path: Path) -> None:
    run, attempts, account = run_engine(tmp_path, "engine_retry_then_execute")
    assert run.status is RunStatus.SUCCEEDED and run.state is RunState.BOUGHT
    s = sells(attempts)
    assert [(a.attempt, a.planner, a.passed) for a in s] == [(1, "gemini", False), (2, "gemini", True)]
    assert [(c.rule, c.ticker) for c in s[0].checks if not c.passed] == [("R2", "411420")]
    assert "PREVIOUS ATTEMPT (this is attempt 2)" in s[1].meta["prompt"]
    assert "R2 411420" in s[1].meta["prompt"]
    buys = [a for a in attempts if a.side is Side.BUY]
    assert [(a.attempt, a.planner, a.passed) for a in buys] == [(1, "gemini", True)]
    for a in attempts:
        assert a.meta["model"] == "gemini-3.1-pro-preview" and a.meta["api_version"] == "v1beta"
        assert a.meta["usage"]["total_token_count"] > 0 and a.meta["reply"] and "latency_ms" in a.meta
        assert FAKE_KEY not in str(a.meta)
    # the orders the account saw are exactly the validated plans (the greedy planner's, as recorded)
    expected = greedy_engine_plans(tmp_path / "expected")
    placed = [(o["side"], o["ticker"], o["qty"]) for o in account.orders()]
    assert placed == [("sell", o.ticker, o.quantity) for o in expected[Side.SELL].orders] + \
        [("buy", o.ticker, o.quantity) for o in expected[Side.BUY].orders]
    assert all(o["remaining"] == 0 and o["filled_qty"] == o["qty"] for o in account.orders())


def test_three_bad_plans_end_the_sell_side_failed(tmp_path: Path) -> None:
    run, attempts, account = run_engine(tmp_path, "engine_three_bad", on_llm_failure="fail")
    assert run.status is RunStatus.FAILED and run.state is RunState.SELL_PLANNED
    s = sells(attempts)
    assert [(a.attempt, a.planner, a.passed) for a in s] == [(1, "gemini", False), (2, "gemini", False),
                                                            (3, "gemini", False)]
    assert s[0].plan is None and "not a single JSON object" in (s[0].error or "")
    assert s[0].meta["reply"].startswith("Here is the sell plan:")  # kept though no plan exists
    assert s[1].plan is not None and [c.rule for c in s[1].checks if not c.passed] == ["R2"]
    assert s[2].plan is None and "'005930' is neither held nor in the targets" in (s[2].error or "")
    # each retry's prompt carried the previous failure back to the model
    assert "the reply is not a single JSON object" in s[1].meta["prompt"]
    assert "- R2 411420" in s[2].meta["prompt"]
    assert "failed the rule checks 3 times" in (run.error or "")
    assert account.orders() == []


def test_after_three_bad_plans_the_optimal_planner_takes_over(tmp_path: Path) -> None:
    """on_llm_failure=optimal; the greedy planner stands in for optimal (written elsewhere)."""
    run, attempts, account = run_engine(tmp_path, "engine_handover", on_llm_failure="optimal", stand_in=True)
    assert run.status is RunStatus.SUCCEEDED
    s = sells(attempts)
    assert [(a.attempt, a.planner, a.passed) for a in s] == [(1, "gemini", False), (2, "gemini", False),
                                                            (3, "gemini", False), (4, "greedy", True)]
    buys = [a for a in attempts if a.side is Side.BUY]
    assert [(a.planner, a.passed) for a in buys] == [("gemini", True)]
    assert len(account.orders()) == 7


def test_the_hand_over_records_why_when_the_optimal_planner_is_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "statemachine.planner_optimal", None)
    run, attempts, account = run_engine(tmp_path, "engine_three_bad", on_llm_failure="optimal")
    assert run.status is RunStatus.FAILED
    s = sells(attempts)
    assert [(a.attempt, a.planner) for a in s] == [(1, "gemini"), (2, "gemini"), (3, "gemini"),
                                                   (4, "optimal")]
    assert "optimal planner not available" in (s[3].error or "")
    assert "failed the rule checks 4 times" in (run.error or "")
    assert account.orders() == []


def test_the_runs_llm_cost_is_in_show_the_history_row_and_the_monthly_line(tmp_path: Path) -> None:
    """Tokens and estimated price per attempt (meta), per run (show --json's llm_cost), in the history
    row and in the month's line; the greedy stand-in's attempt counts zero."""
    run, attempts, _, store = run_engine(tmp_path, "engine_handover", on_llm_failure="optimal", stand_in=True,
                                         with_store=True)
    llm = [a for a in attempts if a.planner == "gemini"]
    assert len(llm) == 4 and all(a.meta["cost"]["model"] == "gemini-3.1-pro-preview" for a in llm)
    for a in llm:
        usage, cost = a.meta["usage"], a.meta["cost"]
        assert cost["prompt_tokens"] == usage["prompt_token_count"] > 0
        assert cost["output_tokens"] == usage["candidates_token_count"] + usage["thoughts_token_count"]
        assert cost["usd_micros"] == round(cost["prompt_tokens"] * 2.0 + cost["output_tokens"] * 12.0)
    assert all("cost" not in a.meta for a in attempts if a.planner == "greedy")
    view = queries.run_timeline(store.unit_of_work, run.id)
    total = view["llm_cost"]
    assert total["llm_attempts"] == 4 and total["models"] == ["gemini-3.1-pro-preview"]
    assert total["usd_micros"] == sum(a.meta["cost"]["usd_micros"] for a in llm) > 0
    assert total["total_tokens"] == sum(a.meta["usage"]["total_token_count"] for a in llm)
    assert [p["meta"]["cost"]["usd_micros"] for p in view["plans"] if p["planner"] == "gemini"] == \
        [a.meta["cost"]["usd_micros"] for a in llm]
    (row,) = queries.history(store.unit_of_work)
    assert row["run_id"] == run.id and row["llm_cost"] == total
    (month,) = queries.llm_cost_by_month(store.unit_of_work)
    assert month["runs"] == 1 and month["usd_micros"] == total["usd_micros"]
    assert month["month"] == row["executed_at"][:7]


def test_a_deterministic_run_has_no_llm_cost(tmp_path: Path) -> None:
    engine, store, _ = engine_for(tmp_path, lambda name: GreedyPlanner())
    run = engine.run(engine.start(account="demo", targets=demo_targets(), planner="greedy").id)
    cost = queries.run_timeline(store.unit_of_work, run.id)["llm_cost"]
    assert cost["llm_attempts"] == 0 and cost["usd_micros"] == 0 and cost["total_tokens"] == 0
    assert queries.history(store.unit_of_work)[0]["llm_cost"] == cost
