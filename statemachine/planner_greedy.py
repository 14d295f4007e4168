"""A deterministic planner: round each eligible ticker to its target, trim buys to the cash.

Needs: a :class:`PlanningContext`. Sets: a :class:`Plan` that moves every eligible ticker to the
nearest whole share of its global target value; sells untargeted holdings in full (configurable);
buys are trimmed one share at a time, from the ticker that would end furthest above its target,
until their cost with fees fits the orderable cash less the buffer.
"""

from __future__ import annotations

from .fees import FeeModel
from .models import CASH_TICKER, OTHER, Plan, PlanningContext, PlanOrder, Side
from .projection import plan_cost
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
                why = (f"overweight by {row.value - row.target_value:,} KRW "
                       f"(class drift {ctx.drift.cls(row.asset_class).drift:+.2f}pp, "
                       f"Sub-MP drift {row.drift:+.2f}pp)")
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

        while qty and plan_cost(ctx.snapshot, orders(), self.fees) > budget:
            worst = max(qty, key=lambda t: (rows[t].value + qty[t] * rows[t].price - rows[t].target_value) /
                        max(1, rows[t].target_value))
            qty[worst] -= 1
            if qty[worst] <= 0:
                del qty[worst]
        return Plan(side=Side.BUY, orders=orders(), planner=self.name)
