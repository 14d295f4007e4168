"""The boundary check of the Gemini reply: every bad shape is a PlanningError with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.gemini.schema import (
    BuyPlanReply,
    SellPlanReply,
    parse_reply,
    reply_schema,
    response_json_schema,
    tradable_tickers,
)
from statemachine.drift import drift_report
from statemachine.errors import PlanningError
from statemachine.models import Side, Thresholds
from statemachine.planner_greedy import GreedyPlanner
from statemachine.rules import eligible
from tests.gemini_helpers import demo_context

KNOWN = {"411420", "360750", "069500"}


def order(**over: object) -> dict:
    return {"ticker": "411420", "name": "Stocks ETF 411420", "quantity": 10, "reason": "overweight", **over}


def sells(*orders: dict) -> str:
    return json.dumps({"sell_orders": list(orders)})


def reason_of(text: str | None, side: Side = Side.SELL) -> str:
    with pytest.raises(PlanningError) as info:
        parse_reply(text, side, KNOWN)
    return info.value.message


def test_a_valid_reply_becomes_plan_orders() -> None:
    orders = parse_reply(sells(order(), order(ticker="069500", quantity=150)), Side.SELL, KNOWN)
    assert [(o.ticker, o.quantity, o.reason) for o in orders] == [("411420", 10, "overweight"),
                                                                  ("069500", 150, "overweight")]


def test_an_empty_order_list_is_a_valid_reply() -> None:
    assert parse_reply('{"buy_orders": []}', Side.BUY, KNOWN) == []


@pytest.mark.parametrize("text", [None, "", "   \n"])
def test_an_empty_reply_fails(text: str | None) -> None:
    assert "empty reply" in reason_of(text)


@pytest.mark.parametrize("text", [
    "Here is the plan: " + sells(order()),
    "```json\n" + sells(order()) + "\n```",
    sells(order()) + "\nI hope this helps.",
])
def test_prose_or_fences_around_the_json_fail(text: str) -> None:
    msg = reason_of(text)
    assert "not a single JSON object" in msg and "no prose or markdown" in msg


@pytest.mark.parametrize("qty,expected", [
    (-5, "positive whole number"),
    (0, "positive whole number"),
    (2.5, "whole number of shares written as a JSON integer, got 2.5"),
    (10.0, "got 10.0"),
    ("10", "got '10'"),
    (True, "got True"),
])
def test_bad_quantities_fail_with_the_value(qty: object, expected: str) -> None:
    msg = reason_of(sells(order(quantity=qty)))
    assert expected in msg
    assert "quantity" in msg


def test_a_ticker_neither_held_nor_targeted_fails() -> None:
    msg = reason_of(sells(order(), order(ticker="005930")))
    assert "'005930' is neither held nor in the targets" in msg


def test_duplicate_tickers_fail() -> None:
    assert "411420 appears 2 times" in reason_of(sells(order(), order(quantity=3)))


def test_the_other_sides_key_fails_and_names_the_right_one() -> None:
    msg = reason_of(json.dumps({"buy_orders": [order()]}), Side.SELL)
    assert "'sell_orders' is missing" in msg and "'buy_orders' is not allowed" in msg


def test_missing_and_extra_fields_fail() -> None:
    bad = order(price=14000)
    del bad["quantity"]
    msg = reason_of(sells(bad))
    assert "'sell_orders[0].quantity' is missing" in msg
    assert "'sell_orders[0].price' is not allowed" in msg


def test_name_and_reason_are_optional() -> None:
    orders = parse_reply(sells({"ticker": "411420", "quantity": 3}), Side.SELL, KNOWN)
    assert [(o.ticker, o.quantity, o.name, o.reason) for o in orders] == [("411420", 3, "", "")]


def test_the_json_schema_sent_limits_tickers_and_quantities(tmp_path: Path) -> None:
    sell = demo_context(tmp_path / "s", Side.SELL)
    schema = response_json_schema(sell)
    assert schema["required"] == ["sell_orders"] and schema["additionalProperties"] is False
    arr = schema["properties"]["sell_orders"]
    item = arr["items"]
    eligible_sells = [r.ticker for r in sell.drift.tickers if eligible(sell, r.ticker, Side.SELL)]
    assert item["properties"]["ticker"]["enum"] == tradable_tickers(sell) == eligible_sells
    assert arr["maxItems"] == len(eligible_sells) > 0
    assert item["properties"]["quantity"]["minimum"] == 1 and item["properties"]["quantity"]["type"] == "integer"
    assert item["required"] == ["ticker", "quantity"] and item["additionalProperties"] is False
    buy = demo_context(tmp_path / "b", Side.BUY)
    buys = tradable_tickers(buy)
    assert buys and not set(buys) & set(buy.sold_tickers)
    assert all(eligible(buy, t, Side.BUY) for t in buys)
    assert list(response_json_schema(buy)["properties"]) == ["buy_orders"]
    # the greedy planner's plans (which pass R1-R5) fit the schema's enum and bounds
    for ctx in (sell, buy):
        allowed = set(tradable_tickers(ctx))
        plan = GreedyPlanner().plan(ctx)
        assert {o.ticker for o in plan.orders} <= allowed and all(o.quantity >= 1 for o in plan.orders)


def test_with_nothing_to_trade_the_schema_allows_only_an_empty_list(tmp_path: Path) -> None:
    ctx = demo_context(tmp_path, Side.SELL)
    calm = ctx.model_copy(update={"thresholds": Thresholds(mp=99, sub_mp=99)})
    calm = calm.model_copy(update={"drift": drift_report(calm.snapshot, calm.targets, calm.thresholds)})
    other = [r.ticker for r in calm.drift.tickers if r.asset_class == "Other"]
    schema = response_json_schema(calm)
    assert tradable_tickers(calm) == other
    assert schema["properties"]["sell_orders"]["maxItems"] == len(other)


@pytest.mark.parametrize("text", ["[]", '"sell"', "42"])
def test_json_that_is_not_an_object_fails(text: str) -> None:
    assert "must be a JSON object" in reason_of(text)


def test_the_schemas_are_the_seeds_shapes() -> None:
    assert reply_schema(Side.SELL) is SellPlanReply and reply_schema(Side.BUY) is BuyPlanReply
    props = SellPlanReply.model_json_schema()["$defs"]["OrderItem"]["properties"]
    assert list(props) == ["ticker", "name", "quantity", "reason"]
    assert props["quantity"]["type"] == "integer"
    # strict: the SDK's response.parsed (model_validate_json) is None for a string quantity
    with pytest.raises(ValueError):
        SellPlanReply.model_validate_json(sells(order(quantity="10")))


def test_a_ticker_without_a_price_is_not_tradable(tmp_path: Path) -> None:
    ctx = demo_context(tmp_path, Side.SELL)
    assert "411420" in tradable_tickers(ctx)
    holdings = [h.model_copy(update={"price": 0}) if h.ticker == "411420" else h for h in ctx.snapshot.holdings]
    prices = {t: p for t, p in ctx.snapshot.prices.items() if t != "411420"}
    unpriced = ctx.model_copy(update={"snapshot": ctx.snapshot.model_copy(update={"holdings": holdings,
                                                                                  "prices": prices})})
    assert "411420" not in tradable_tickers(unpriced)
    assert "411420" not in response_json_schema(unpriced)["properties"]["sell_orders"]["items"]["properties"][
        "ticker"]["enum"]
