"""A side's orders aggregated per ticker into the fills a step stores.
"""

from __future__ import annotations

from ..models import OrderRecord, OrderStatus
from ..step_records import Fill
from .common import is_orphan


def ticker_results(orders: list[OrderRecord]) -> dict[str, Fill]:
    """Aggregate a side's orders per ticker: intended, filled, amount, fees, status.

    A ticker's intent is its latest plan attempt's first order (a remainder re-send is part of it);
    what earlier attempts of the same ticker filled counts as intended and filled (it was done).
    Orders recorded for broker orders no intent owned add their fills, never their intent, and are
    listed under ``adopted_odnos``."""
    out: dict[str, dict] = {}
    latest: dict[str, int] = {}
    for o in orders:
        if not is_orphan(o):
            latest[o.ticker] = max(latest.get(o.ticker, 0), o.attempt)
    for o in sorted(orders, key=lambda r: (r.ticker, r.attempt, r.seq)):
        r = out.setdefault(o.ticker, {"ticker": o.ticker, "name": o.name, "side": o.side.value, "intended": 0,
                                      "filled": 0, "amount": 0, "fees": 0, "status": o.status.value,
                                      "odnos": [], "adopted_odnos": [], "_first": set()})
        r["name"] = r["name"] or o.name
        r["filled"] += o.filled_quantity
        r["amount"] += o.amount
        r["fees"] += o.fees
        if o.odno:
            r["odnos"].append(o.odno)
        if is_orphan(o):
            r["adopted_odnos"].append(o.odno)
            continue
        if o.attempt < latest[o.ticker]:
            r["intended"] += o.filled_quantity
        elif o.attempt not in r["_first"]:
            r["_first"].add(o.attempt)
            r["intended"] += o.quantity
        r["status"] = o.status.value
    for r in out.values():
        r.pop("_first")
        r["avg_price"] = round(r["amount"] / r["filled"], 2) if r["filled"] else 0.0
        if r["filled"] >= r["intended"] and (r["filled"] > 0 or r["intended"] > 0):
            r["status"] = OrderStatus.FILLED.value
        elif r["filled"] > 0:
            r["status"] = OrderStatus.PARTIAL.value
        if not r["adopted_odnos"]:
            r.pop("adopted_odnos")
    return {ticker: Fill.model_validate(r) for ticker, r in out.items()}
