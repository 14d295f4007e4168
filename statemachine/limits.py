"""Safety limits on a plan, checked with R1-R5 before any order is sent (pure functions).

* **L1 max order value**: no single order may be worth more than ``max_order_value_krw`` at
  planning prices.
* **L2 max turnover**: the value the whole run trades (sells plus buys, at planning prices or
  at the fill amounts already recorded) may not exceed ``max_turnover_percent`` of the account's
  total value ``T`` when the run started. On the sell side the buys are not planned yet, so their
  value is estimated as what the buys could spend: the underweight gaps of the targeted tickers,
  capped by the cash after the sells.

A failed limit is not a planning mistake the planner can fix (R2 and R5 want the full trade), so
the engine ends the side at once instead of asking for another attempt. ``None`` turns a limit
off. The rows carry the numbers so ``show`` and the API can explain the refusal.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .models import CheckResult, Plan, PlanningContext, Side
from .units import share_of

LIMIT_RULES = frozenset({"L1", "L2"})


class TradingLimits(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_turnover_percent: float | None = Field(None, gt=0, description="sells + buys, % of T at the start")
    max_order_value_krw: int | None = Field(None, gt=0, description="one order, KRW at planning prices")


#: the words of a run FAILED because its plan broke a limit (notices call it a guard stop)
REFUSED_BY_LIMITS = "refused by the safety limits"


def order_values(ctx: PlanningContext, plan: Plan) -> dict[str, int]:
    """Each order's value at planning prices (0 when the price is unknown: R3 reports that)."""
    return {o.ticker: o.quantity * (ctx.snapshot.price(o.ticker) or 0) for o in plan.orders}


def expected_buy_value(ctx: PlanningContext, sell_value: int) -> int:
    """What the buys after this sell plan could spend: underweight gaps, capped by cash after sells."""
    gaps = sum(max(0, r.target_value - r.value) for r in ctx.drift.tickers if r.ticker != "CASH")
    return max(0, min(gaps, ctx.snapshot.cash + sell_value))


def l1_max_order_value(ctx: PlanningContext, plan: Plan, limits: TradingLimits) -> list[CheckResult]:
    cap = limits.max_order_value_krw
    if cap is None:
        return []
    bad = [
        CheckResult(
            rule="L1",
            passed=False,
            ticker=t,
            message=(
                f"{plan.side.value} order for {t} is worth {v:,} KRW, more than the maximum "
                f"order value {cap:,} KRW"
            ),
            numbers={"order_value": v, "max_order_value_krw": cap},
        )
        for t, v in order_values(ctx, plan).items()
        if v > cap
    ]
    return bad or [CheckResult(rule="L1", passed=True, message=f"every order is at most {cap:,} KRW")]


def l2_max_turnover(
    ctx: PlanningContext, plan: Plan, limits: TradingLimits, *, account_total: int, traded_before: int
) -> list[CheckResult]:
    cap = limits.max_turnover_percent
    if cap is None:
        return []
    plan_value = sum(order_values(ctx, plan).values())
    rest = expected_buy_value(ctx, plan_value) if plan.side is Side.SELL else 0
    run_value = traded_before + plan_value + rest
    turnover = share_of(run_value, account_total) if account_total > 0 else float("inf")
    numbers: dict[str, float | int | str | None] = {
        "plan_value": plan_value,
        "traded_before": traded_before,
        "expected_buys": rest,
        "account_total": account_total,
        "turnover_pct": turnover,
        "max_turnover_percent": cap,
    }
    what = (
        f"sells {plan_value:,} + expected buys {rest:,}"
        if plan.side is Side.SELL
        else f"sells done {traded_before:,} + buys {plan_value:,}"
    )
    if turnover > cap:
        return [
            CheckResult(
                rule="L2",
                passed=False,
                message=(
                    f"the run would trade {run_value:,} KRW ({what}) = {turnover:.2f}% of "
                    f"the account ({account_total:,} KRW), more than the maximum turnover "
                    f"{cap:g}%"
                ),
                numbers=numbers,
            )
        ]
    return [
        CheckResult(
            rule="L2",
            passed=True,
            message=f"turnover {turnover:.2f}% within {cap:g}% ({what})",
            numbers=numbers,
        )
    ]


def check_limits(
    ctx: PlanningContext, plan: Plan, limits: TradingLimits, *, account_total: int, traded_before: int = 0
) -> list[CheckResult]:
    """L1 and L2 (rows only for the limits that are set)."""
    return [
        *l1_max_order_value(ctx, plan, limits),
        *l2_max_turnover(ctx, plan, limits, account_total=account_total, traded_before=traded_before),
    ]


def limit_failures(results: list[CheckResult]) -> list[CheckResult]:
    return [r for r in results if not r.passed and r.rule in LIMIT_RULES]
