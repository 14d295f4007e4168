"""The Gemini planner's prompt: a system instruction and one user message per attempt.

Needs: a :class:`PlanningContext` (and the fee model, for the buy budget). Gives: plain text with
the holdings and prices, the orderable cash and its buffer (buys), the targets, the drift report,
the thresholds, the rules the plan will be checked against and, on a retry, the previous plan with
the rule failures that sank it. Deterministic: the same context gives the same text, so cassettes
and recorded prompts can be compared.
"""

from __future__ import annotations

import json

from statemachine.fees import FeeModel
from statemachine.models import CASH_TICKER, OTHER, CheckResult, Plan, PlanningContext, Side

SYSTEM_INSTRUCTION = """\
You are a portfolio manager rebalancing a Korean brokerage account (KRX ETFs, prices in KRW).
You produce ONE side of a rebalance at a time: either the SELL orders or the BUY orders.
Answer with a single JSON object and nothing else: no prose, no markdown fences.
Quantities are whole shares (JSON integers, at least 1). Use only the tickers listed in the data.
Every plan is checked by code before any order is sent; a plan that fails is sent back to you
with the failures, so follow the rules exactly."""

RULES = """\
Rules the plan is checked against (pp = percentage points of the account's total value T):
R1 eligibility: order a ticker only if it is off target in this side's direction (sell: overweight;
   buy: underweight) AND its class MP drift or its own Sub-MP drift reaches the threshold.
   Holdings with no target (class Other) may be sold in full.
R2 closeness: after the whole plan, at the listed prices, each ordered ticker must be within
   max(1.0 pp, one share's value / T x 100) of its global target, and must not overshoot past it
   by more than that tolerance.
R3 feasibility: positive integer quantities; each ticker at most once; sells <= orderable quantity;
   the buys' cost with fees <= the buy budget below; only listed tickers; never buy a ticker sold
   in this run.
R4 improvement: the total absolute drift after the plan must not be larger than before.
R5 coverage: every ticker that is eligible for this side must be in the plan, unless no whole
   number of shares brings it closer to its target."""


def _fmt_pct(x: float) -> str:
    return f"{x:.2f}"


def _holdings_table(ctx: PlanningContext) -> str:
    lines = ["ticker | name | class | quantity | orderable qty | price KRW | value KRW | target value KRW | "
             "gap KRW (value-target) | shares to target | global target % | global actual % | "
             "Sub-MP drift pp | Sub-MP threshold reached"]
    for row in ctx.drift.tickers:
        if row.ticker == CASH_TICKER:
            continue
        h = ctx.snapshot.holding(row.ticker)
        orderable = h.orderable_quantity if h else 0
        gap = row.value - row.target_value
        shares = f"{-gap / row.price:+.1f}" if row.price > 0 else "n/a"
        lines.append(" | ".join([
            row.ticker, row.name or "-", row.asset_class, str(row.quantity), str(orderable), f"{row.price:,}",
            f"{row.value:,}", f"{row.target_value:,}", f"{gap:+,}", shares, _fmt_pct(row.global_target_pct),
            _fmt_pct(row.global_actual_pct), f"{row.drift:+.2f}" if row.asset_class != OTHER else "n/a",
            "yes" if row.exceeded else "no",
        ]))
    return "\n".join(lines)


def _classes_table(ctx: PlanningContext) -> str:
    lines = ["class | target % | actual % | MP drift pp (target-actual; negative = overweight) | "
             "MP threshold reached"]
    for c in ctx.drift.classes:
        lines.append(f"{c.asset_class} | {_fmt_pct(c.target_pct)} | {_fmt_pct(c.actual_pct)} | "
                     f"{c.drift:+.2f} | {'yes' if c.exceeded else 'no'}")
    return "\n".join(lines)


def _targets_text(ctx: PlanningContext) -> str:
    rows = []
    for c, weights in ctx.targets.sub_mp.items():
        parts = ", ".join(f"{t} {w * 100:.1f}%" for t, w in weights.items())
        rows.append(f"{c}: MP {ctx.targets.mp.get(c, 0.0):g}% of T; Sub-MP weights within the class: {parts}")
    return "\n".join(rows)


def _plan_json(plan: Plan) -> str:
    key = "sell_orders" if plan.side is Side.SELL else "buy_orders"
    body = {key: [{"ticker": o.ticker, "name": o.name, "quantity": o.quantity, "reason": o.reason}
                  for o in plan.orders]}
    return json.dumps(body, ensure_ascii=False)


def _failure_line(c: CheckResult) -> str:
    numbers = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in c.numbers.items())
    head = f"- {c.rule}{' ' + c.ticker if c.ticker else ''}: {c.message}"
    return head + (f" [{numbers}]" if numbers else "")


def previous_attempt_text(ctx: PlanningContext) -> str:
    """The retry section: what the last attempt proposed and why it was rejected ('' on attempt 1)."""
    if ctx.previous_plan is None and not ctx.previous_failures:
        return ""
    lines = [f"PREVIOUS ATTEMPT (this is attempt {ctx.attempt}); it was REJECTED:"]
    if ctx.previous_plan is not None:
        lines.append(f"Previous plan: {_plan_json(ctx.previous_plan)}")
    else:
        lines.append("Previous plan: none could be read from the reply.")
    lines.append("Failures:")
    lines += [_failure_line(c) for c in ctx.previous_failures] or ["- (no details recorded)"]
    lines.append("Fix every failure above; do not repeat the rejected plan.")
    return "\n".join(lines)


def build_prompt(ctx: PlanningContext, fees: FeeModel | None = None) -> str:
    """The user message for one attempt on one side."""
    fees = fees or FeeModel()
    side = ctx.side
    key = "sell_orders" if side is Side.SELL else "buy_orders"
    if side is Side.SELL:
        goal = ("Goal: generate SELL orders that reduce overweight holdings to their targets "
                "(and sell holdings that have no target).")
    else:
        goal = ("Goal: generate BUY orders that raise underweight holdings to their targets, "
                "within the buy budget.")
    t = ctx.drift.total
    parts = [
        goal,
        f"Account total value T: {t:,} KRW; cash deposit {ctx.snapshot.cash:,} KRW.",
        f"Thresholds: MP {ctx.thresholds.mp:g} pp, Sub-MP {ctx.thresholds.sub_mp:g} pp.",
        f"Fees: commission {fees.commission_rate * 100:.5f}% per order (minimum {fees.commission_min} KRW); "
        f"sell tax on ETFs {fees.tax_rates.get('etf', 0.0) * 100:g}%.",
    ]
    if side is Side.BUY:
        cash = ctx.orderable_cash or 0
        parts.append(f"Orderable cash: {cash:,} KRW; buffer kept back: {ctx.cash_buffer:,} KRW; buy budget "
                     f"(cost including fees must not exceed it): {max(0, cash - ctx.cash_buffer):,} KRW.")
        parts.append("Sold in this run (do not buy): " + (", ".join(ctx.sold_tickers) or "none") + ".")
    parts += [
        "",
        "TARGETS",
        _targets_text(ctx),
        "",
        "CLASS DRIFT (MP)",
        _classes_table(ctx),
        "",
        "HOLDINGS AND TARGETED TICKERS (drift = target - actual; negative = overweight)",
        _holdings_table(ctx),
        "",
        RULES,
    ]
    retry = previous_attempt_text(ctx)
    if retry:
        parts += ["", retry]
    parts += [
        "",
        f'Reply with exactly: {{"{key}": [{{"ticker": "...", "name": "...", "quantity": <integer>, '
        f'"reason": "..."}}]}}. An empty list means no {side.value} is needed.',
    ]
    return "\n".join(parts)
