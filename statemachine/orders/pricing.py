"""Where an order's price and division (ORD_DVSN) are decided: market (``01``, price 0, the default)
or a marketable limit (``00``): a buy at the best ask plus N ticks, a sell at the best bid minus N
ticks, moved onto the instrument's tick grid away from the book (buys up, sells down, so they stay
marketable) and clamped inside the day's price limits (:mod:`statemachine.ticks`).

When it is decided: at planning, once per plan attempt, from quotes read then. The terms are stored
with the plan attempt (``meta["order_terms"]``), which is committed before any order of it exists,
so every intent of the attempt - first send, re-send after a reconciliation found nothing, a partial
remainder, a resume in another process - is sent at the same price and division, and reconciliation
matches a broker order's price as well as its type.

Why the buy budget stays safe: a limit buy may cost up to its limit price, above the snapshot price
the planners and rules R1-R5 work with. :func:`limit_context` shrinks the budget they see by the
worst ratio of planning price to limit price over the tickers that may be bought (less one won per
ticker for the fee's rounding), so any plan that fits the shrunk budget at planning prices fits the
real budget at limit prices; :func:`limit_budget_check` then checks exactly that (quantity x limit
price + fees <= orderable cash - buffer) and refuses the plan otherwise. Sells need no such care:
buys are planned from the orderable cash read after every sell is resolved.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..fees import FeeModel
from ..models import CheckResult, Frozen, Plan, PlanningContext, Quote, Side
from ..rules import buy_budget
from ..ticks import clamp, daily_limits, on_grid, round_to_tick, step_ticks

MARKET, LIMIT = "01", "00"
OrderStyle = Literal["market", "limit"]


class OrderTerms(Frozen):
    """How one ticker's orders of a plan attempt are sent: division and price, with the quote
    they came from (for the record)."""

    ticker: str
    order_type: str = MARKET
    price: int = Field(0, ge=0)
    bid: int = 0
    ask: int = 0
    lower: int = 0
    upper: int = 0


def limits_of(quote: Quote, kind: str) -> tuple[int, int]:
    """The day's (lower, upper) limits: the broker's when it gives them, else +-30 % of its base."""
    if quote.lower > 0 and quote.upper > 0:
        return quote.lower, quote.upper
    base = quote.base or quote.last or max(quote.bid, quote.ask)
    return daily_limits(base, kind)


def limit_price(side: Side, quote: Quote, ticks: int, kind: str) -> int:
    """A marketable limit price: ask + ``ticks`` ticks for a buy, bid - ``ticks`` ticks for a sell
    (the last price when that side of the book is empty), on the grid, inside the limits."""
    lower, upper = limits_of(quote, kind)
    if side is Side.BUY:
        ref = quote.ask or quote.last or quote.bid
        price = step_ticks(round_to_tick(ref, kind, "up"), ticks, kind)
    else:
        ref = quote.bid or quote.last or quote.ask
        price = step_ticks(round_to_tick(ref, kind, "down"), -ticks, kind)
    return clamp(price, lower, upper)


def terms_for(side: Side, quotes: dict[str, Quote], ticks: int, fees: FeeModel) -> dict[str, OrderTerms]:
    """Limit terms for every quoted ticker."""
    out: dict[str, OrderTerms] = {}
    for t, q in quotes.items():
        kind = fees.instrument_type(t)
        lower, upper = limits_of(q, kind)
        p = limit_price(side, q, ticks, kind)
        assert on_grid(p, kind) or p in (lower, upper), (t, p)
        out[t] = OrderTerms(ticker=t, order_type=LIMIT, price=p, bid=q.bid, ask=q.ask, lower=lower, upper=upper)
    return out


def dump_terms(terms: dict[str, OrderTerms]) -> dict[str, Any]:
    return {t: v.model_dump(mode="json") for t, v in sorted(terms.items())}


def load_terms(meta: dict[str, Any] | None) -> dict[str, OrderTerms]:
    raw = (meta or {}).get("order_terms") or {}
    return {t: OrderTerms.model_validate(v) for t, v in raw.items()}


def limit_reserve(ctx: PlanningContext, terms: dict[str, OrderTerms]) -> int:
    """KRW to hold back from a buy budget so that a plan fitting the rest at planning prices fits
    the whole budget at the limit prices (see the module doc); 0 for sells or market orders."""
    if ctx.side is not Side.BUY or not terms:
        return 0
    budget = buy_budget(ctx)
    ratio = 1.0
    for t, term in terms.items():
        p = ctx.snapshot.price(t) or 0
        if term.order_type == LIMIT and p > 0 and term.price > p:
            ratio = min(ratio, p / term.price)
    if ratio >= 1.0:
        return 0
    shrunk = max(0, int(budget * ratio) - len(terms))
    return budget - shrunk


def limit_context(ctx: PlanningContext, terms: dict[str, OrderTerms]) -> PlanningContext:
    """The planning context a limit buy plan is made and checked in: its buffer grown by
    :func:`limit_reserve`."""
    extra = limit_reserve(ctx, terms)

    return ctx.model_copy(update={"cash_buffer": ctx.cash_buffer + extra}) if extra else ctx


def limit_budget_check(ctx: PlanningContext, real_buffer: int, plan: Plan, terms: dict[str, OrderTerms],
                       fees: FeeModel) -> list[CheckResult]:
    """R3 at the limit prices: the buys' worst-case cost (quantity x limit price + fees, per
    order) within the orderable cash less the configured buffer. Empty for sells and market plans."""
    if plan.side is not Side.BUY or not terms:
        return []
    cost = 0
    for o in plan.orders:
        term = terms.get(o.ticker)
        price = term.price if term and term.order_type == LIMIT else (ctx.snapshot.price(o.ticker) or 0)
        amount = o.quantity * price
        cost += amount + fees.cost(o.ticker, Side.BUY, amount)
    budget = max(0, (ctx.orderable_cash or 0) - real_buffer)
    numbers: dict[str, float | int | str | None] = {"cost_at_limit": cost, "orderable_cash": ctx.orderable_cash,
                                                    "buffer": real_buffer}
    if cost > budget:
        return [CheckResult(rule="R3", passed=False, numbers=numbers,
                            message=(f"buys cost {cost:,} KRW with fees at their limit prices, more than the "
                                     f"orderable cash {ctx.orderable_cash or 0:,} less the buffer {real_buffer:,}"))]
    return [CheckResult(rule="R3", passed=True, numbers=numbers,
                        message=f"buys fit the cash at their limit prices ({cost:,} KRW with fees)")]


__all__ = ["LIMIT", "MARKET", "OrderStyle", "OrderTerms", "dump_terms", "limit_budget_check", "limit_context",
           "limit_price", "limit_reserve", "limits_of", "load_terms", "terms_for"]
