"""Rule checks R1-R5 (docs/domain.md section 3) as pure functions.

Each check returns :class:`CheckResult` rows: one per failure (rule, ticker, the numbers and a
sentence), or a single passing row. :func:`check_plan` runs all five; a plan passes when no row
failed. The same rows go back to the planner on a retry, into ``show`` and into the API.

Every check works at planning prices and planning targets (``ctx.drift``: the target value
``t_i`` of each ticker as of the snapshot the plan was made from), in integer KRW, so a planner
and the checks agree to the won.

Decisions where docs/domain.md section 3, read literally, contradicts itself (so that no plan could
pass in some ordinary accounts):

* **R2** ("within tolerance of the target") cannot hold for a buy the cash cannot pay for, or a
  sell larger than the orderable quantity, while R5 demands that ticker be in the plan. R2 is
  therefore: never past the target by more than the tolerance; and short of it by more than the
  tolerance only when the plan cannot take one more share of that ticker (sells: the whole
  orderable quantity is ordered; buys: one more share with fees does not fit the orderable cash
  less the buffer).
* **R4** measures the absolute drift of the securities, leaving out the ``CASH`` row: a sale moves
  value into cash and a buy moves it out, so counting the cash row would make every sale into
  over-target cash (the normal case: proceeds wait for the buy side) look like no improvement, and
  fee rounding would fail it. It is measured against the planning targets (the fees of the plan
  shrink T by a few won; re-scaling every target by that is noise, not the plan's doing).
* **R5** ("unless no integer quantity brings it closer") counts only quantities the run may
  order: within R2's overshoot band, within the orderable quantity or the spare cash after the
  plan, at least ``ctx.min_trade_value`` KRW (dust is never required), and untargeted holdings
  only when ``ctx.sell_untargeted``. Its set of tickers is R1's eligible set.

Why one module (a little over 300 lines): the step predicates at the top (:func:`eligible`,
:func:`step_fits`, :func:`step_helps`, :func:`tolerance_krw`...) are the same rules asked of one
share instead of a whole plan; the planners use them so that what they build is exactly what the
checks accept. Split apart, the two halves could drift out of agreement by a won.
"""

from __future__ import annotations

import math
from collections import Counter

from .drift import drift_report, quantities
from .fees import FeeModel
from .models import CASH_TICKER, OTHER, CheckResult, Plan, PlanningContext, Side, TickerDrift
from .projection import apply_plan, plan_cost
from .units import share_of

TOL_EPSILON_KRW = 1e-6


def tolerance_pct(price: int, total: int) -> float:
    """R2's band: max(1.0 pp, one share's value as pp of T)."""
    return max(1.0, share_of(price, total))


def tolerance_krw(price: int, total: int) -> float:
    """R2's band in KRW: max(1 % of T, one share's value)."""
    return max(total / 100.0, float(price))


def buy_budget(ctx: PlanningContext) -> int:
    """What a buy plan may spend: orderable cash less the configured buffer."""
    return max(0, (ctx.orderable_cash or 0) - ctx.cash_buffer)


def eligible(ctx: PlanningContext, ticker: str, side: Side) -> bool:
    """R1's test: off target in ``side``'s direction and its class or its own drift exceeded;
    or untargeted and held (sell only)."""
    row = ctx.drift.ticker(ticker)
    if row is None or ticker == CASH_TICKER:
        return False
    if row.asset_class == OTHER:
        return side is Side.SELL and row.quantity > 0
    off = row.value > row.target_value if side is Side.SELL else row.value < row.target_value
    cls = ctx.drift.cls(row.asset_class)
    return off and ((cls is not None and cls.exceeded) or row.exceeded)


def orderable(ctx: PlanningContext, ticker: str) -> int:
    return sum(h.orderable_quantity for h in ctx.snapshot.holdings if h.ticker == ticker)


def first_step(ctx: PlanningContext, price: int) -> int:
    """The smallest order of a ticker not yet in the plan: one share, or the dust floor."""
    return max(1, math.ceil(ctx.min_trade_value / price)) if price > 0 else 1


def step_fits(ctx: PlanningContext, fees: FeeModel, ticker: str, side: Side, planned: int, step: int,
              spare: int) -> bool:
    """Could the plan order ``step`` more shares of ``ticker`` (orderable quantity or spare cash)?"""
    if side is Side.SELL:
        return orderable(ctx, ticker) - planned >= step
    if ticker in ctx.sold_tickers:
        return False
    price = ctx.snapshot.price(ticker) or 0
    if price <= 0:
        return False
    before = planned * price + fees.cost(ticker, Side.BUY, planned * price) if planned else 0
    after = (planned + step) * price
    return after + fees.cost(ticker, Side.BUY, after) - before <= spare


def step_helps(row: TickerDrift, side: Side, price: int, total: int, planned: int, step: int) -> bool:
    """Would ``step`` more shares bring the ticker strictly closer to its target, without going past
    it by more than R2's tolerance?"""
    sign = 1 if side is Side.BUY else -1
    v = row.value + sign * planned * price
    v2 = v + sign * step * price
    t = row.target_value
    return abs(v2 - t) < abs(v - t) and sign * (v2 - t) <= tolerance_krw(price, total) + TOL_EPSILON_KRW


def _ok(rule: str, message: str) -> list[CheckResult]:
    return [CheckResult(rule=rule, passed=True, message=message)]


def _planned(plan: Plan) -> Counter[str]:
    out: Counter[str] = Counter()
    for o in plan.orders:
        out[o.ticker] += o.quantity
    return out


def _spare(ctx: PlanningContext, plan: Plan, fees: FeeModel) -> int:
    if plan.side is Side.SELL:
        return 0
    return buy_budget(ctx) - plan_cost(ctx.snapshot, plan.orders, fees)


def r1_eligibility(ctx: PlanningContext, plan: Plan) -> list[CheckResult]:
    bad = []
    for o in plan.orders:
        row = ctx.drift.ticker(o.ticker)
        if row is None or o.ticker == CASH_TICKER or eligible(ctx, o.ticker, plan.side):
            continue  # unknown tickers are R3's
        cls = ctx.drift.cls(row.asset_class)
        direction = "overweight" if plan.side is Side.SELL else "underweight"
        if row.asset_class == OTHER:
            why = "an untargeted holding may only be sold"
        else:
            class_drift = cls.drift if cls else 0.0
            why = (f"it must be {direction} with its class drift ({class_drift:+.2f}pp, threshold "
                   f"{ctx.thresholds.mp}) or its Sub-MP drift ({row.drift:+.2f}pp, threshold "
                   f"{ctx.thresholds.sub_mp}) exceeded")
        bad.append(CheckResult(
            rule="R1", passed=False, ticker=o.ticker,
            message=f"{o.ticker} is not eligible to {plan.side.value}: {why}",
            numbers={"value": row.value, "target_value": row.target_value,
                     "class_drift": cls.drift if cls else None, "sub_mp_drift": row.drift},
        ))
    return bad or _ok("R1", "every ordered ticker is eligible")


def r2_closeness(ctx: PlanningContext, plan: Plan, fees: FeeModel) -> list[CheckResult]:
    total = ctx.snapshot.total
    planned = _planned(plan)
    spare = _spare(ctx, plan, fees)
    sign = 1 if plan.side is Side.BUY else -1
    bad = []
    for t, qty in planned.items():
        row = ctx.drift.ticker(t)
        price = ctx.snapshot.price(t)
        if row is None or not price or price <= 0 or t == CASH_TICKER:
            continue  # R3's
        tol = tolerance_krw(price, total)
        value_after = row.value + sign * qty * price
        past = sign * (value_after - row.target_value)  # > 0: past the target in the order's direction
        numbers = {"quantity": qty, "value_after": value_after, "target_value": row.target_value,
                   "gap_pp": share_of(value_after - row.target_value, total),
                   "tolerance_pp": tolerance_pct(price, total)}
        if past > tol + TOL_EPSILON_KRW:
            bad.append(CheckResult(
                rule="R2", passed=False, ticker=t, numbers=numbers,
                message=(f"{plan.side.value} {qty} x {t} overshoots its target by "
                         f"{share_of(past, total):.2f}pp "
                         f"(tolerance {tolerance_pct(price, total):.2f}pp): value after {value_after:,} KRW "
                         f"vs target {row.target_value:,} KRW")))
        elif -past > tol + TOL_EPSILON_KRW and step_fits(ctx, fees, t, plan.side, qty, 1, spare):
            bad.append(CheckResult(
                rule="R2", passed=False, ticker=t, numbers=numbers,
                message=(f"{plan.side.value} {qty} x {t} stays off its target by "
                         f"{share_of(-past, total):.2f}pp "
                         f"(tolerance {tolerance_pct(price, total):.2f}pp) although one more share could be "
                         f"ordered: value after {value_after:,} KRW vs target {row.target_value:,} KRW")))
    return bad or _ok("R2", "every ordered ticker ends within tolerance of its target, or as near as it can")


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
        if isinstance(o.quantity, bool) or not isinstance(o.quantity, int) or o.quantity <= 0:
            bad.append(CheckResult(rule="R3", passed=False, ticker=o.ticker,
                                   message=f"{o.ticker}: quantity {o.quantity} is not a positive integer",
                                   numbers={"quantity": o.quantity}))
            continue
        if o.ticker not in known or o.ticker == CASH_TICKER:
            bad.append(CheckResult(rule="R3", passed=False, ticker=o.ticker,
                                   message=f"{o.ticker} is neither held nor in the targets",
                                   numbers={}))
            continue
        price = ctx.snapshot.price(o.ticker)
        if price is None or price <= 0:
            bad.append(CheckResult(rule="R3", passed=False, ticker=o.ticker,
                                   message=f"{o.ticker} has no price", numbers={"price": price}))
        if plan.side is Side.SELL:
            can = orderable(ctx, o.ticker)
            if counts[o.ticker] == 1 and o.quantity > can:
                bad.append(CheckResult(
                    rule="R3", passed=False, ticker=o.ticker,
                    message=f"sell {o.quantity} x {o.ticker} exceeds the orderable quantity {can}",
                    numbers={"quantity": o.quantity, "orderable_quantity": can}))
        elif o.ticker in ctx.sold_tickers:
            bad.append(CheckResult(rule="R3", passed=False, ticker=o.ticker,
                                   message=f"{o.ticker} was sold in this run and may not be bought back",
                                   numbers={}))
    if plan.side is Side.BUY:
        cost = plan_cost(ctx.snapshot, plan.orders, fees)
        budget = buy_budget(ctx)
        if cost > budget:
            bad.append(CheckResult(
                rule="R3", passed=False, ticker=None,
                message=(f"buys cost {cost:,} KRW with fees, more than the orderable cash "
                         f"{ctx.orderable_cash or 0:,} KRW less the buffer {ctx.cash_buffer:,} KRW"),
                numbers={"cost": cost, "orderable_cash": ctx.orderable_cash, "buffer": ctx.cash_buffer}))
    return bad or _ok("R3", "quantities, tickers and cash are feasible")


def securities_deviation(ctx: PlanningContext, side: Side, planned: Counter[str] | None = None) -> int:
    """Sum over the securities rows of |value - target value| in KRW, after ``planned`` shares."""
    planned = planned or Counter()
    sign = 1 if side is Side.BUY else -1
    total = 0
    for row in ctx.drift.tickers:
        if row.ticker == CASH_TICKER:
            continue
        value = row.value
        q = planned.get(row.ticker, 0)
        if q:
            value += sign * q * (ctx.snapshot.price(row.ticker) or 0)
        total += abs(value - row.target_value)
    return total


def r4_improvement(ctx: PlanningContext, plan: Plan, fees: FeeModel) -> list[CheckResult]:
    total = ctx.snapshot.total
    before = securities_deviation(ctx, plan.side)
    after = securities_deviation(ctx, plan.side, _planned(plan))
    numbers = {"before_krw": before, "after_krw": after, "before_pp": share_of(before, total),
               "after_pp": share_of(after, total)}
    if after <= before:
        return [CheckResult(rule="R4", passed=True, numbers=numbers,
                            message=(f"securities' absolute drift {share_of(before, total):.4f}pp -> "
                                     f"{share_of(after, total):.4f}pp"))]
    return [CheckResult(rule="R4", passed=False, numbers=numbers,
                        message=(f"securities' absolute drift grows from {share_of(before, total):.4f}pp to "
                                 f"{share_of(after, total):.4f}pp ({after - before:+,} KRW)"))]


def r5_coverage(ctx: PlanningContext, plan: Plan, fees: FeeModel) -> list[CheckResult]:
    planned = _planned(plan)
    spare = _spare(ctx, plan, fees)
    total = ctx.snapshot.total
    bad = []
    for row in ctx.drift.tickers:
        t = row.ticker
        if t in planned or not eligible(ctx, t, plan.side):
            continue
        if row.asset_class == OTHER and not ctx.sell_untargeted:
            continue
        price = ctx.snapshot.price(t)
        if not price or price <= 0:
            continue
        step = first_step(ctx, price)
        if (step_helps(row, plan.side, price, total, 0, step)
                and step_fits(ctx, fees, t, plan.side, 0, step, spare)):
            bad.append(CheckResult(
                rule="R5", passed=False, ticker=t,
                message=(f"{t} is off its target by {row.value - row.target_value:+,} KRW with a threshold "
                         f"exceeded, and is missing from the {plan.side.value} plan although {step} share(s) "
                         f"would bring it closer"),
                numbers={"value": row.value, "target_value": row.target_value, "price": price,
                         "shares": step}))
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


def drift_after(ctx: PlanningContext, plan: Plan, fees: FeeModel) -> float:
    """Total absolute drift (pp, every row) of the account after the plan, re-measured."""
    after, _ = apply_plan(ctx.snapshot, plan.side, plan.orders, fees, ctx.targets.names)
    return drift_report(after, ctx.targets, ctx.thresholds).total_abs_drift


__all__ = [
    "buy_budget", "check_plan", "drift_after", "eligible", "failures", "first_step", "orderable", "passed",
    "quantities", "r1_eligibility", "r2_closeness", "r3_feasibility", "r4_improvement", "r5_coverage",
    "securities_deviation", "step_fits", "step_helps", "tolerance_krw", "tolerance_pct",
]
