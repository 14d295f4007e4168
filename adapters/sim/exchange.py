"""The simulated exchange's matching rules over an account's state (the JSON dict of
:class:`adapters.sim.account.SimAccount`): whether an order is refused for cash or shares, its fill
(all of it, or the ``partial_fill`` fraction), and maturing - delayed acceptances arriving
(``accept_delay_s``) and open remainders filling after ``fill_remainder_after_s``.

Pure functions of the state and the clocks they are given; the account holds the file and its lock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from adapters.sim import book

DEFAULT_COMMISSION = 0.000146527


def reserved_cash(s: dict[str, Any]) -> int:
    """Cash held back for open buys: each open remainder at its limit price (a market order's at
    the current price)."""
    return sum(o["remaining"] * (int(o["price"]) if o.get("order_type") == "00" and o.get("price")
                                 else int(s["prices"].get(o["ticker"], 0)))
               for o in s["orders"] if o["side"] == "buy" and not o.get("pending"))


def refusal(s: dict[str, Any], side: str, ticker: str, qty: int, order_type: str,
            price: int) -> tuple[str, str] | None:
    """Why the exchange refuses the order now (price off the grid or outside the day's limits, cash
    or shares), or None."""
    if why := book.price_refusal(s, ticker, order_type, int(price)):
        return why
    if side == "buy":
        worst = book.worst_price(s, ticker, side, qty, order_type, int(price))
        fee = int(qty * worst * s.get("commission_rate", DEFAULT_COMMISSION))
        if qty * worst + fee > s["cash"] - reserved_cash(s):
            return "APBK0952", "주문가능금액을 초과 했습니다"
    else:
        h = s["holdings"].get(ticker, {"qty": 0})
        reserved = sum(o["remaining"] for o in s["orders"]
                       if o["ticker"] == ticker and o["side"] == "sell" and not o.get("pending"))
        if qty > h["qty"] - reserved:
            return "APBK0400", "주문 가능한 수량을 초과하였습니다."
    return None


def execute(s: dict[str, Any], order: dict[str, Any], broker_now: Callable[[], datetime]) -> None:
    """Fill an order that reached the exchange against the book (:mod:`adapters.sim.book`): a market
    order walks it until filled, a limit order no further than its price (the rest stays open); the
    ``partial_fill`` fault caps the shares that fill now."""
    pf = s["faults"].get("partial_fill", {})
    ratio = pf.get(order["ticker"], pf.get("*", 1.0))
    qty = order["qty"]
    cap = int(qty * float(ratio)) if ratio < 1 else qty
    match(s, order, cap, broker_now)


def match(s: dict[str, Any], order: dict[str, Any], cap: int, broker_now: Callable[[], datetime]) -> None:
    """Fill up to ``cap`` shares of ``order``'s remainder from the book, level by level."""
    want = min(cap, order["remaining"])
    if want <= 0:
        return
    limit = int(order["price"]) if order["order_type"] == "00" and order["price"] else None
    for shares, price in book.levels(s, order["ticker"], order["side"], want, limit):
        fill(s, order, shares, price, broker_now)


def fill(s: dict[str, Any], order: dict[str, Any], qty: int, price: int,
         broker_now: Callable[[], datetime]) -> None:
    """``qty`` of ``order`` fills at ``price``: holdings, cash (less the commission) and the order move."""
    if qty <= 0:
        return
    amount = qty * price
    fee = int(amount * s.get("commission_rate", DEFAULT_COMMISSION))
    t = order["ticker"]
    h = s["holdings"].setdefault(t, {"qty": 0, "avg_cost": 0.0})
    if order["side"] == "buy":
        cost = h["qty"] * h.get("avg_cost", 0.0) + amount
        h["qty"] += qty
        h["avg_cost"] = cost / h["qty"]
        s["cash"] -= amount + fee
    else:
        h["qty"] -= qty
        h["sold_today"] = True
        s["cash"] += amount - fee
    order["filled_qty"] += qty
    order["amount"] += amount
    order["fees"] += fee
    order["remaining"] -= qty
    order["filled_at"] = broker_now().isoformat()


def mature(s: dict[str, Any], now: datetime, broker_now: Callable[[], datetime]) -> bool:
    """Delayed acceptances arrive (``accept_delay_s``) and open remainders fill once
    ``fill_remainder_after_s`` has passed (if that fault is set). Returns whether anything changed."""
    changed = False
    for o in s["orders"]:
        if o.get("pending") and datetime.fromisoformat(o["arrive_at"]) <= now:
            why_not = refusal(s, o["side"], o["ticker"], o["qty"], o["order_type"], o["price"])
            o.pop("pending")
            o["arrived_at"] = o.pop("arrive_at")
            if why_not:
                o["rejected"], o["remaining"] = o["qty"], 0
                o["reject_code"] = why_not[0]
            else:
                execute(s, o, broker_now)
            changed = True
    after = s["faults"].get("fill_remainder_after_s")
    if after is None:
        return changed
    for o in s["orders"]:
        if o.get("pending"):
            continue
        arrived = datetime.fromisoformat(o.get("arrived_at") or o["placed_at"])
        if o["remaining"] > 0 and now - arrived >= timedelta(seconds=after):
            before = o["remaining"]
            match(s, o, o["remaining"], broker_now)  # a limit order only as far as its price allows
            changed = changed or o["remaining"] != before
    return changed
