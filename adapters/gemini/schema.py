"""The Gemini planner's reply: the seed's JSON shapes as strict pydantic models, and the boundary
check that turns a reply text into plan orders or a :class:`PlanningError` with a reason.

Shapes (the seed's "데이터 구조")::

    {"sell_orders": [{"ticker": "...", "name": "...", "quantity": 10, "reason": "..."}]}
    {"buy_orders":  [{"ticker": "...", "name": "...", "quantity": 10, "reason": "..."}]}

Two halves:

* :func:`response_json_schema` - what goes to the API as ``generationConfig.responseJsonSchema``:
  a plain JSON Schema dict built here (never a pydantic model as ``response_schema``: the SDK then
  sends ``additional_properties`` inside ``responseSchema``, which the live API answers with 400
  INVALID_ARGUMENT, googleapis/python-genai #1815). It uses only keywords the API documents for
  ``responseJsonSchema`` and makes bad plans unrepresentable where it can: ``quantity`` an integer
  with ``minimum: 1``, ``ticker`` an ``enum`` of the tickers this side may trade (R1's eligible
  set, :func:`tradable_tickers`), ``maxItems`` their number; ``name`` and ``reason`` optional.
* the pydantic models, which check the reply text at the boundary afterwards. They are strict (no
  "10" for 10, no 10.0 for 10, no extra keys); they never go on the wire. :func:`parse_reply` says
  *why* a reply does not fit, in a sentence the next attempt's prompt carries back. What it rejects:

* an empty reply, or text that is not one JSON object (prose around the JSON, markdown fences);
* the other side's key, a missing key, extra keys;
* a quantity that is a string, a fraction, zero or negative;
* a ticker that is neither held nor targeted, or one that appears twice.

The rule checks R1-R5 judge what passes here (budget, closeness, coverage...).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from statemachine.errors import PlanningError
from statemachine.models import PlanningContext, PlanOrder, Side
from statemachine.rules import eligible, orderable


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


TICKER_DESCRIPTION = "6-digit KRX code, one of the tickers this side may trade"
NAME_DESCRIPTION = "the instrument's name as listed in the prompt (optional)"
QUANTITY_DESCRIPTION = "whole shares, a positive integer within the ticker's allowed range"
REASON_DESCRIPTION = "one short sentence: why this ticker and this quantity (optional)"


class OrderItem(_Strict):
    ticker: str = Field(description=TICKER_DESCRIPTION)
    name: str = Field("", description=NAME_DESCRIPTION)
    quantity: int = Field(description=QUANTITY_DESCRIPTION)
    reason: str = Field("", description=REASON_DESCRIPTION)


class SellPlanReply(_Strict):
    sell_orders: list[OrderItem]


class BuyPlanReply(_Strict):
    buy_orders: list[OrderItem]


def reply_schema(side: Side) -> type[SellPlanReply] | type[BuyPlanReply]:
    return SellPlanReply if side is Side.SELL else BuyPlanReply


def _key(side: Side) -> str:
    return "sell_orders" if side is Side.SELL else "buy_orders"


def tradable_tickers(ctx: PlanningContext) -> list[str]:
    """The tickers this side may order (R1), in the drift report's order, with a price (R3): sells, the
    eligible holdings with an orderable quantity; buys, the eligible targets not sold in this run."""
    out = []
    for row in ctx.drift.tickers:
        t = row.ticker
        if not eligible(ctx, t, ctx.side) or (ctx.snapshot.price(t) or 0) <= 0:  # no price: R3 refuses it
            continue
        if ctx.side is Side.SELL and orderable(ctx, t) <= 0:
            continue
        if ctx.side is Side.BUY and t in ctx.sold_tickers:
            continue
        out.append(t)
    return out


def response_json_schema(ctx: PlanningContext) -> dict[str, Any]:
    """The JSON Schema sent as ``responseJsonSchema`` for ``ctx``'s side (see the module's docstring).
    With nothing to trade the list must be empty (``maxItems: 0``)."""
    tickers = tradable_tickers(ctx)
    ticker: dict[str, Any] = {"type": "string", "description": TICKER_DESCRIPTION}
    if tickers:
        ticker["enum"] = tickers
    item = {
        "type": "object",
        "properties": {
            "ticker": ticker,
            "name": {"type": "string", "description": NAME_DESCRIPTION},
            "quantity": {"type": "integer", "minimum": 1, "description": QUANTITY_DESCRIPTION},
            "reason": {"type": "string", "description": REASON_DESCRIPTION},
        },
        "required": ["ticker", "quantity"],
        "additionalProperties": False,
        "propertyOrdering": ["ticker", "name", "quantity", "reason"],
    }
    key = _key(ctx.side)
    return {
        "type": "object",
        "properties": {key: {"type": "array", "items": item, "maxItems": len(tickers)}},
        "required": [key],
        "additionalProperties": False,
    }


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


def parse_reply(text: str | None, side: Side, known_tickers: set[str],
                redact: Callable[[str], str] = lambda s: s) -> list[PlanOrder]:
    """Turn the model's reply text into plan orders, or raise PlanningError naming the problem.
    ``redact`` is applied to the whole text BEFORE any part of it is quoted (a key cut at the
    quote's end would match no redaction pattern afterwards)."""
    if text is None or not text.strip():
        raise PlanningError("the model returned an empty reply", reason="empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        snippet = redact(text).strip()[:80].replace("\n", " ")
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
