"""Rule checks R1-R5 (DOMAIN.md section 3) as pure functions.

Each check returns :class:`CheckResult` rows: one per failure (rule, ticker, the numbers and a
sentence), or a single passing row. :func:`check_plan` runs all five; a plan passes when no row
failed. The same rows go back to the planner on a retry, into ``show`` and into the API.
"""

from __future__ import annotations

from collections import Counter

from .drift import drift_report
from .fees import FeeModel
from .models import OTHER, CheckResult, Plan, PlanningContext, Side
from .projection import apply_plan, plan_cost
from .units import PCT_EPSILON, share_of

R4_EPSILON = 1e-6


def tolerance_pct(price: int, total: int) -> float:
    """R2's band: max(1.0 pp, one share's value as pp of T)."""
    return max(1.0, share_of(price, total))


def eligible(ctx: PlanningContext, ticker: str, side: Side) -> bool:
    """R1's test: off target in ``side``'s direction and its class or its own drift exceeded."""
    row = ctx.drift.ticker(ticker)
    if row is None:
        return False
    if row.asset_class == OTHER:
        return side is Side.SELL and row.quantity > 0
    off = row.value > row.target_value if side is Side.SELL else row.value < row.target_value
    cls = ctx.drift.cls(row.asset_class)
    return off and ((cls is not None and cls.exceeded) or row.exceeded)


def _ok(rule: str, message: str) -> list[CheckResult]:
    return [CheckResult(rule=rule, passed=True, message=message)]


def r1_eligibility(ctx: PlanningContext, plan: Plan) -> list[CheckResult]:
    bad = []
    for o in plan.orders:
        row = ctx.drift.ticker(o.ticker)
        if row is None or eligible(ctx, o.ticker, plan.side):
            continue  # unknown tickers are R3's
        cls = ctx.drift.cls(row.asset_class)
        direction = "overweight" if plan.side is Side.SELL else "underweight"
        bad.append(CheckResult(
            rule="R1", passed=False, ticker=o.ticker,
            message=(f"{o.ticker} is not eligible to {plan.side.value}: it must be {direction} with its "
                     f"class drift ({cls.drift if cls else 0:+.2f}pp, threshold {ctx.thresholds.mp}) or its "
                     f"Sub-MP drift ({row.drift:+.2f}pp, threshold {ctx.thresholds.sub_mp}) exceeded"),
            numbers={"value": row.value, "target_value": row.target_value, "class_drift": cls.drift if cls else None,
                     "sub_mp_drift": row.drift},
        ))
    return bad or _ok("R1", "every ordered ticker is eligible")


def r2_closeness(ctx: PlanningContext, plan: Plan, fees: FeeModel) -> list[CheckResult]:
    after, _ = apply_plan(ctx.snapshot, plan.side, plan.orders, fees, ctx.targets.names)
    total = ctx.snapshot.total
    bad = []
    for o in plan.orders:
        row = ctx.drift.ticker(o.ticker)
        price = ctx.snapshot.price(o.ticker)
        if row is None or price is None:
            continue
        tol = tolerance_pct(price, total)
        value_after = after.quantity(o.ticker) * price
        gap = share_of(value_after, total) - share_of(row.target_value, total)  # + = above target
        if abs(gap) <= tol + PCT_EPSILON:
            continue
        overshoot = gap < 0 if plan.side is Side.SELL else gap > 0
        what = "overshoots its target by" if overshoot else "stays off its target by"
        bad.append(CheckResult(
            rule="R2", passed=False, ticker=o.ticker,
            message=(f"{plan.side.value} {o.quantity} x {o.ticker} {what} {abs(gap):.2f}pp "
                     f"(tolerance {tol:.2f}pp): value after {value_after:,} KRW vs target {row.target_value:,} KRW"),
            numbers={"quantity": o.quantity, "value_after": value_after, "target_value": row.target_value,
                     "gap_pp": gap, "tolerance_pp": tol},
        ))
    return bad or _ok("R2", "every ordered ticker ends within tolerance of its target")


def r3_feasibility(ctx: PlanningContext, plan: Plan, fees: FeeModel) -> list[CheckResult]:
    bad = []
    counts = Counter(o.ticker for o in plan.orders)
    known = set(ctx.targets.tickers()) | {h.ticker for h in ctx.snapshot.holdings}
    for t, n in counts.items():
        if n > 1:
            bad.append(CheckResult(rule="R3", passed=False, ticker=t,
                                   message=f"{t} appears {n} times; each ticker at most once",
                                   numbers={"count": n}))
    for o in plan.orders:
        if not isinstance(o.quantity, int) or o.quantity <= 0:
            bad.append(CheckResult(rule="R3", passed=False, ticker=o.ticker,
                                   message=f"{o.ticker}: quantity {o.quantity} is not a positive integer",
                                   numbers={"quantity": o.quantity}))
            continue
        if o.ticker not in known:
            bad.append(CheckResult(rule="R3", passed=False, ticker=o.ticker,
                                   message=f"{o.ticker} is neither held nor in the targets",
                                   numbers={}))
            continue
        if ctx.snapshot.price(o.ticker) is None:
            bad.append(CheckResult(rule="R3", passed=False, ticker=o.ticker,
                                   message=f"{o.ticker} has no price", numbers={}))
        if plan.side is Side.SELL:
            h = ctx.snapshot.holding(o.ticker)
            orderable = h.orderable_quantity if h else 0
            if o.quantity > orderable:
                bad.append(CheckResult(
                    rule="R3", passed=False, ticker=o.ticker,
                    message=f"sell {o.quantity} x {o.ticker} exceeds the orderable quantity {orderable}",
                    numbers={"quantity": o.quantity, "orderable_quantity": orderable}))
        elif o.ticker in ctx.sold_tickers:
            bad.append(CheckResult(rule="R3", passed=False, ticker=o.ticker,
                                   message=f"{o.ticker} was sold in this run and may not be bought back",
                                   numbers={}))
    if plan.side is Side.BUY:
        cost = plan_cost(ctx.snapshot, plan.orders, fees)
        budget = max(0, (ctx.orderable_cash or 0) - ctx.cash_buffer)
        if cost > budget:
            bad.append(CheckResult(
                rule="R3", passed=False, ticker=None,
                message=(f"buys cost {cost:,} KRW with fees, more than the orderable cash "
                         f"{ctx.orderable_cash or 0:,} KRW less the buffer {ctx.cash_buffer:,} KRW"),
                numbers={"cost": cost, "orderable_cash": ctx.orderable_cash, "buffer": ctx.cash_buffer}))
    return bad or _ok("R3", "quantities, tickers and cash are feasible")


def r4_improvement(ctx: PlanningContext, plan: Plan, fees: FeeModel) -> list[CheckResult]:
    after, _ = apply_plan(ctx.snapshot, plan.side, plan.orders, fees, ctx.targets.names)
    before = ctx.drift.total_abs_drift
    after_drift = drift_report(after, ctx.targets, ctx.thresholds).total_abs_drift
    if after_drift <= before + R4_EPSILON:
        return _ok("R4", f"total absolute drift {before:.2f}pp -> {after_drift:.2f}pp")
    return [CheckResult(rule="R4", passed=False,
                        message=f"total absolute drift grows from {before:.4f}pp to {after_drift:.4f}pp",
                        numbers={"before_pp": before, "after_pp": after_drift})]


def r5_coverage(ctx: PlanningContext, plan: Plan, fees: FeeModel) -> list[CheckResult]:
    in_plan = {o.ticker for o in plan.orders}
    spare = None
    if plan.side is Side.BUY:
        spare = max(0, (ctx.orderable_cash or 0) - ctx.cash_buffer) - plan_cost(ctx.snapshot, plan.orders, fees)
    bad = []
    for row in ctx.drift.tickers:
        t = row.ticker
        if t in in_plan or row.asset_class == "Cash" and t == "CASH" or not eligible(ctx, t, plan.side):
            continue
        if plan.side is Side.BUY and t in ctx.sold_tickers:
            continue
        price = ctx.snapshot.price(t)
        if not price:
            continue
        gap = abs(row.value - row.target_value)
        if row.asset_class == OTHER:
            closer = (ctx.snapshot.holding(t) or row).quantity > 0
        elif plan.side is Side.SELL:
            h = ctx.snapshot.holding(t)
            closer = bool(h and h.orderable_quantity > 0) and abs(row.value - price - row.target_value) < gap
        else:
            one = price + fees.cost(t, Side.BUY, price)
            closer = abs(row.value + price - row.target_value) < gap and (spare or 0) >= one
        if closer:
            bad.append(CheckResult(
                rule="R5", passed=False, ticker=t,
                message=(f"{t} is off its target by {row.value - row.target_value:+,} KRW with a threshold "
                         f"exceeded, and is missing from the {plan.side.value} plan"),
                numbers={"value": row.value, "target_value": row.target_value, "price": price}))
    return bad or _ok("R5", "every ticker that must trade is in the plan")


def check_plan(ctx: PlanningContext, plan: Plan, fees: FeeModel) -> list[CheckResult]:
    """Run R1-R5; the plan passes when no row has ``passed=False``."""
    return [
        *r1_eligibility(ctx, plan),
        *r2_closeness(ctx, plan, fees),
        *r3_feasibility(ctx, plan, fees),
        *r4_improvement(ctx, plan, fees),
        *r5_coverage(ctx, plan, fees),
    ]


def passed(results: list[CheckResult]) -> bool:
    return all(r.passed for r in results)


def failures(results: list[CheckResult]) -> list[CheckResult]:
    return [r for r in results if not r.passed]
