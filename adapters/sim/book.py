"""The simulated exchange's order book per ticker: a spread around the current price, a depth per
price level, the day's price limits, and which prices an order may carry.

State (keys of the account's JSON, all optional; without them the book is the old one-price market:
bid = ask = the current price, unlimited depth, so market orders fill at the current price):

* ``book``: {ticker or "*": {"spread_ticks": H, "depth": D}} - the best bid sits H ticks below the
  current price (the mid) and the best ask H ticks above; every price level holds D shares
  (0: unlimited). The book is stateless: each order meets the whole book (liquidity providers
  refill it), and walks it level by level, tick by tick.
* ``kinds``: {ticker: "etf" | "etn" | "stock"} - the tick table (statemachine.ticks); ETF by default.
* ``base_prices``: {ticker: KRW} - the previous close the daily limits derive from (default: the
  current price).

Limit orders (ORD_DVSN 00) fill only at or better than their price; what the book cannot fill at
that price stays open. Prices off the tick grid or outside the limits are refused with the broker's
errors (:data:`OFF_GRID`, :data:`ABOVE_UPPER`, :data:`BELOW_LOWER`; docs/kis.md section 9).
"""

from __future__ import annotations

from typing import Any

from statemachine.ticks import clamp, daily_limits, on_grid, round_to_tick, step_ticks

#: seen from the broker (community: client code matching "주식주문호가단위 오류입니다." / 40030000)
OFF_GRID = ("40030000", "주식주문호가단위 오류입니다.")
#: seen from the real broker (community enum: APBK0406 "주문가격이 상한가를 초과합니다")
ABOVE_UPPER = ("APBK0406", "주문가격이 상한가를 초과합니다")
#: the lower-limit twin; its code is unconfirmed (no public sample shows it)
BELOW_LOWER = ("APBK0407", "주문가격이 하한가 미만입니다")
MAX_LEVELS = 10_000


def kind(s: dict[str, Any], ticker: str) -> str:
    return str(s.get("kinds", {}).get(ticker, "etf"))


def params(s: dict[str, Any], ticker: str) -> tuple[int, int]:
    """(spread ticks on each side, shares per level) of ``ticker``'s book (0, 0: the old one-price market)."""
    book = s.get("book", {})
    p = book.get(ticker, book.get("*", {}))
    return int(p.get("spread_ticks", 0) or 0), int(p.get("depth", 0) or 0)


def limits(s: dict[str, Any], ticker: str) -> tuple[int, int]:
    """(lower, upper): +-30 % of the base price, on the grid."""
    base = int(s.get("base_prices", {}).get(ticker) or s["prices"].get(ticker) or 0)
    if base <= 0:
        return 0, 0
    return daily_limits(base, kind(s, ticker))


def top(s: dict[str, Any], ticker: str) -> tuple[int, int]:
    """(best bid, best ask) now."""
    mid = int(s["prices"].get(ticker) or 0)
    half, _ = params(s, ticker)
    if mid <= 0 or half <= 0:
        return mid, mid
    k = kind(s, ticker)
    lower, upper = limits(s, ticker)
    bid = step_ticks(round_to_tick(mid, k, "down"), -half, k)
    ask = step_ticks(round_to_tick(mid, k, "up"), half, k)
    return clamp(bid, lower, upper), clamp(ask, lower, upper)


def quote(s: dict[str, Any], ticker: str) -> dict[str, int]:
    bid, ask = top(s, ticker)
    lower, upper = limits(s, ticker)
    base = int(s.get("base_prices", {}).get(ticker) or s["prices"].get(ticker) or 0)
    return {"bid": bid, "ask": ask, "last": int(s["prices"].get(ticker) or 0), "lower": lower, "upper": upper,
            "base": base}


def price_refusal(s: dict[str, Any], ticker: str, order_type: str, price: int) -> tuple[str, str] | None:
    """Why a limit order's price is refused (off the grid, outside the limits), or None."""
    if order_type != "00":
        return None
    lower, upper = limits(s, ticker)
    if upper and price > upper:
        return ABOVE_UPPER
    if lower and price < lower:
        return BELOW_LOWER
    if not on_grid(price, kind(s, ticker)):
        return OFF_GRID
    return None


def levels(s: dict[str, Any], ticker: str, side: str, qty: int, limit: int | None) -> list[tuple[int, int]]:
    """The fills ``qty`` shares meet walking the book from its top: [(shares, price)], best first,
    none past ``limit`` (a limit order's price; None for a market order, which walks to the day's
    limit price, where the rest fills)."""
    bid, ask = top(s, ticker)
    _, depth = params(s, ticker)
    price = ask if side == "buy" else bid
    if price <= 0:
        return []
    k = kind(s, ticker)
    lower, upper = limits(s, ticker)
    out: list[tuple[int, int]] = []
    left = qty
    for _ in range(MAX_LEVELS):
        if limit is not None and (price > limit if side == "buy" else price < limit):
            break
        edge = (price >= upper if side == "buy" else price <= lower) if upper else False
        take = left if depth <= 0 or edge else min(depth, left)
        out.append((take, price))
        left -= take
        if left <= 0:
            break
        price = step_ticks(price, 1 if side == "buy" else -1, k)
    return out


def worst_price(s: dict[str, Any], ticker: str, side: str, qty: int, order_type: str, price: int) -> int:
    """The highest price a buy may pay (a limit's price; a market order's last level): what the
    exchange holds back from the cash while it is open."""
    if order_type == "00" and price:
        return int(price)
    fills = levels(s, ticker, side, qty, None)
    return fills[-1][1] if fills else int(s["prices"].get(ticker) or 0)


__all__ = ["ABOVE_UPPER", "BELOW_LOWER", "OFF_GRID", "kind", "levels", "limits", "params", "price_refusal", "quote",
           "top", "worst_price"]
