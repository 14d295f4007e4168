"""A deterministic planner: round each eligible ticker to its target, trim buys to the cash.

Needs: a :class:`PlanningContext`. Sets: a :class:`Plan` that moves every eligible ticker to the
nearest whole share of its global target value; sells untargeted holdings in full (configurable);
buys are trimmed, from the ticker that would end furthest above its target (relative to it), until
their cost with fees fits the orderable cash less the buffer: a bisection on that level first,
then one share at a time.
"""

from __future__ import annotations

import math

from .fees import FeeModel
from .models import CASH_TICKER, OTHER, Plan, PlanningContext, PlanOrder, Side
from .rules import eligible


class GreedyPlanner:
    name = "greedy"

    def __init__(self, fees: FeeModel | None = None, sell_untargeted: bool = True) -> None:
        self.fees = fees or FeeModel()
        self.sell_untargeted = sell_untargeted

    def plan(self, ctx: PlanningContext) -> Plan:
        return self._sells(ctx) if ctx.side is Side.SELL else self._buys(ctx)

    def _sells(self, ctx: PlanningContext) -> Plan:
        orders = []
        for row in ctx.drift.tickers:
            if row.ticker == CASH_TICKER or not eligible(ctx, row.ticker, Side.SELL):
                continue
            h = ctx.snapshot.holding(row.ticker)
            if h is None or h.orderable_quantity <= 0 or row.price <= 0:
                continue
            if row.asset_class == OTHER:
                if not self.sell_untargeted:
                    continue
                qty, why = h.orderable_quantity, "untargeted holding: sell in full"
            else:
                qty = round((row.value - row.target_value) / row.price)
                cd = ctx.drift.cls(row.asset_class)  # a targeted row's class is always in the report
                class_part = f"class drift {cd.drift:+.2f}pp, " if cd is not None else ""
                why = (f"overweight by {row.value - row.target_value:,} KRW "
                       f"({class_part}Sub-MP drift {row.drift:+.2f}pp)")
            qty = min(qty, h.orderable_quantity)
            if qty > 0:
                orders.append(PlanOrder(ticker=row.ticker, name=row.name, quantity=qty, reason=why))
        return Plan(side=Side.SELL, orders=orders, planner=self.name)

    def _buys(self, ctx: PlanningContext) -> Plan:
        qty: dict[str, int] = {}
        rows = {}
        for row in ctx.drift.tickers:
            if row.ticker == CASH_TICKER or row.ticker in ctx.sold_tickers:
                continue
            if not eligible(ctx, row.ticker, Side.BUY) or row.price <= 0:
                continue
            q = round((row.target_value - row.value) / row.price)
            if q > 0:
                qty[row.ticker] = q
                rows[row.ticker] = row
        budget = max(0, (ctx.orderable_cash or 0) - ctx.cash_buffer)

        def orders() -> list[PlanOrder]:
            return [PlanOrder(ticker=t, name=rows[t].name, quantity=q,
                              reason=f"underweight by {rows[t].target_value - rows[t].value:,} KRW "
                                     f"(Sub-MP drift {rows[t].drift:+.2f}pp)")
                    for t, q in qty.items() if q > 0]

        def key(t: str, q: int) -> float:
            return (rows[t].value + q * rows[t].price - rows[t].target_value) / max(1, rows[t].target_value)

        def cost(t: str, q: int) -> int:
            amount = q * rows[t].price
            return amount + self.fees.cost(t, Side.BUY, amount) if q > 0 else 0

        # trim one share at a time from the ticker that would end furthest above its target; the
        # shares of one ticker that stay the worst are trimmed in one step (a share-by-share loop
        # with a full re-costing took minutes on large accounts)
        def total_at(level: float) -> tuple[int, dict[str, int]]:
            trimmed = {}
            for t, q in qty.items():
                r = rows[t]
                cap = math.floor((level * max(1, r.target_value) + r.target_value - r.value) / r.price)
                trimmed[t] = min(q, max(0, cap))
            return sum(cost(t, q) for t, q in trimmed.items()), trimmed

        spent = sum(cost(t, q) for t, q in qty.items())
        if qty and spent > budget:
            # bisect the level every ticker is trimmed down to, then finish share by share
            lo = min(key(t, 0) for t in qty) - 1.0
            hi = max(key(t, q) for t, q in qty.items())
            for _ in range(100):
                mid = (lo + hi) / 2
                if total_at(mid)[0] <= budget:
                    lo = mid
                else:
                    hi = mid
            spent, qty = total_at(hi)
            qty = {t: q for t, q in qty.items() if q > 0}
        while qty and spent > budget:
            ranked = sorted(qty, key=lambda t: key(t, qty[t]), reverse=True)
            worst = ranked[0]
            price = rows[worst].price
            runner_up = key(ranked[1], qty[ranked[1]]) if len(ranked) > 1 else -math.inf
            gap = (key(worst, qty[worst]) - runner_up) * max(1, rows[worst].target_value)
            still_worst = qty[worst] if runner_up == -math.inf else max(1, math.floor(gap / price) + 1)
            needed = max(1, math.ceil((spent - budget) / (price * (1 + self.fees.commission_rate) + 1)))
            drop = min(qty[worst], still_worst, needed)
            spent += cost(worst, qty[worst] - drop) - cost(worst, qty[worst])
            qty[worst] -= drop
            if qty[worst] <= 0:
                del qty[worst]
        return Plan(side=Side.BUY, orders=orders(), planner=self.name)
