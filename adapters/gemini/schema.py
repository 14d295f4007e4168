"""The Gemini planner's reply: the seed's JSON shapes as strict pydantic models, and the boundary
check that turns a reply text into plan orders or a :class:`PlanningError` with a reason.

Shapes (the seed's "데이터 구조")::

    {"sell_orders": [{"ticker": "...", "name": "...", "quantity": 10, "reason": "..."}]}
    {"buy_orders":  [{"ticker": "...", "name": "...", "quantity": 10, "reason": "..."}]}

The models are strict (no "10" for 10, no 10.0 for 10, no extra keys), so the SDK's
``response.parsed`` is None for anything that does not fit. :func:`parse_reply` then says *why*,
in a sentence the next attempt's prompt carries back to the model. What it rejects:

* an empty reply, or text that is not one JSON object (prose around the JSON, markdown fences);
* the other side's key, a missing key, extra keys;
* a quantity that is a string, a fraction, zero or negative;
* a ticker that is neither held nor targeted, or one that appears twice.

The rule checks R1-R5 judge what passes here (budget, closeness, coverage...).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from statemachine.errors import PlanningError
from statemachine.models import PlanOrder, Side


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class OrderItem(_Strict):
    ticker: str = Field(description="6-digit KRX code, exactly as listed in the prompt")
    name: str = Field(description="the instrument's name as listed in the prompt")
    quantity: int = Field(description="whole shares, a positive integer")
    reason: str = Field(description="one sentence: why this ticker and this quantity")


class SellPlanReply(_Strict):
    sell_orders: list[OrderItem]


class BuyPlanReply(_Strict):
    buy_orders: list[OrderItem]


def reply_schema(side: Side) -> type[SellPlanReply] | type[BuyPlanReply]:
    return SellPlanReply if side is Side.SELL else BuyPlanReply


def _key(side: Side) -> str:
    return "sell_orders" if side is Side.SELL else "buy_orders"


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _schema_reason(exc: ValidationError, side: Side) -> str:
    rows = []
    for e in exc.errors()[:5]:
        where = _where(tuple(e["loc"]))
        kind = e["type"]
        if kind == "extra_forbidden":
            what = "is not allowed" + (f" (a {side.value} plan uses '{_key(side)}')"
                                       if where in ("sell_orders", "buy_orders") else "")
        elif kind == "missing":
            what = "is missing"
        elif where.endswith(".quantity"):
            what = f"must be a whole number of shares written as a JSON integer, got {e.get('input')!r}"
        else:
            what = f"{e['msg'].lower()}, got {e.get('input')!r}"
        rows.append(f"'{where}' {what}")
    more = f" (and {len(exc.errors()) - 5} more)" if len(exc.errors()) > 5 else ""
    return "the reply does not fit the schema: " + "; ".join(rows) + more


def parse_reply(text: str | None, side: Side, known_tickers: set[str]) -> list[PlanOrder]:
    """Turn the model's reply text into plan orders, or raise PlanningError naming the problem."""
    if text is None or not text.strip():
        raise PlanningError("the model returned an empty reply", reason="empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        snippet = text.strip()[:80].replace("\n", " ")
        raise PlanningError(f"the reply is not a single JSON object ({exc.msg} at char {exc.pos}); "
                            f"answer with the JSON only, no prose or markdown. It began: {snippet!r}",
                            reason="not_json") from None
    if not isinstance(data, dict):
        raise PlanningError(f"the reply must be a JSON object with the key '{_key(side)}', "
                            f"got a JSON {type(data).__name__}", reason="schema")
    try:
        reply = reply_schema(side).model_validate(data)
    except ValidationError as exc:
        raise PlanningError(_schema_reason(exc, side), reason="schema") from None
    items: list[OrderItem] = getattr(reply, _key(side))
    problems = []
    for i, o in enumerate(items):
        if o.quantity <= 0:
            problems.append(f"'{_key(side)}[{i}].quantity' for {o.ticker} is {o.quantity}; "
                            f"it must be a positive whole number of shares")
        if o.ticker not in known_tickers:
            problems.append(f"ticker {o.ticker!r} is neither held nor in the targets")
    for t, n in Counter(o.ticker for o in items).items():
        if n > 1:
            problems.append(f"ticker {t} appears {n} times; list each ticker once")
    if problems:
        raise PlanningError("the reply has invalid orders: " + "; ".join(problems), reason="orders")
    return [PlanOrder(ticker=o.ticker, name=o.name, quantity=o.quantity, reason=o.reason) for o in items]
