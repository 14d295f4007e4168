"""Apply a plan or fills to a snapshot at given prices: what the account would look like."""

from __future__ import annotations

from collections.abc import Iterable

from .fees import FeeModel
from .models import Holding, PlanOrder, Side, Snapshot


def apply_trades(snapshot: Snapshot, trades: Iterable[tuple[Side, str, int, int]], fees: FeeModel,
                 names: dict[str, str] | None = None) -> tuple[Snapshot, int]:
    """Apply (side, ticker, quantity, price) trades; return the new snapshot and total fees."""
    holdings = {h.ticker: h for h in snapshot.holdings}
    cash = snapshot.cash
    total_fees = 0
    prices = dict(snapshot.prices)
    for side, ticker, qty, price in trades:
        if qty <= 0:
            continue
        amount = qty * price
        fee = fees.cost(ticker, side, amount)
        total_fees += fee
        h = holdings.get(ticker)
        if side is Side.SELL:
            if h is None:
                continue
            holdings[ticker] = h.model_copy(update={
                "quantity": max(0, h.quantity - qty),
                "orderable_quantity": max(0, h.orderable_quantity - qty),
            })
            cash += amount - fee
        else:
            if h is None:
                holdings[ticker] = Holding(ticker=ticker, name=(names or {}).get(ticker, ""),
                                           quantity=qty, orderable_quantity=qty, price=price)
            else:
                holdings[ticker] = h.model_copy(update={
                    "quantity": h.quantity + qty,
                    "orderable_quantity": h.orderable_quantity + qty,
                })
            cash -= amount + fee
    return snapshot.model_copy(update={"holdings": list(holdings.values()), "cash": max(cash, 0),
                                       "prices": prices}), total_fees


def apply_plan(snapshot: Snapshot, side: Side, orders: Iterable[PlanOrder], fees: FeeModel,
               names: dict[str, str] | None = None) -> tuple[Snapshot, int]:
    trades = []
    for o in orders:
        price = snapshot.price(o.ticker)
        if price is None:
            continue
        trades.append((side, o.ticker, o.quantity, price))
    return apply_trades(snapshot, trades, fees, names)


def plan_cost(snapshot: Snapshot, orders: Iterable[PlanOrder], fees: FeeModel) -> int:
    """Cash a buy plan needs: value plus fees, at planning prices."""
    total = 0
    for o in orders:
        price = snapshot.price(o.ticker) or 0
        amount = o.quantity * price
        total += amount + fees.cost(o.ticker, Side.BUY, amount)
    return total
