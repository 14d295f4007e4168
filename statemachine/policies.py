"""Rebalancing policies, the same in a backtest and in a live run (docs/backtest.md).

A policy answers two questions, both pure:

* **when** (:func:`wants_rebalance`): given the day's drift report and a :class:`MarketView` (the
  trading days and the recent closes, which the caller reads from its calendar and price ports),
  should a rebalance run today?
* **how far** (:func:`planning_drift` and :func:`cost_aware_plan`): the policy reshapes the drift
  report the planners plan against (the *planning targets*, ``TickerDrift.target_value``); the
  planners (:mod:`statemachine.planner_optimal`, :mod:`statemachine.planner_greedy`) and the rule
  checks (:mod:`statemachine.rules`) are the live ones, unchanged.

Policies:

``threshold`` (default, today's behaviour)
    rebalance when a drift reaches its threshold; trade all the way to the targets.
``calendar``
    rebalance on the first trading day of each month (``frequency="monthly"``) or quarter
    (``"quarterly"``), whatever the drift; trade to the targets. Trading days come from the caller
    (the XKRX calendar adapter, ``adapters/scheduler/calendar.py``, or the price history's dates).
``band-edge`` (partial)
    trigger as ``threshold``; trade each ticker only back to ``edge_fraction`` of its band
    (1.0 = the band's edge, 0.5 = half-way between the edge and the target), not to the target.
``cost-aware``
    trigger as ``threshold``; a ticker whose order's modelled benefit (the drift it removes, in
    KRW, times ``drift_value_bps``) is worth less than its cost (commission and tax from the fee
    model, plus ``spread_bps`` of the amount) is left where it is, and orders below
    ``min_trade_value`` KRW are never made.
``volatility-aware``
    trigger as ``threshold`` but postpone while the realised volatility of the portfolio's tickers
    (annualised, over the last ``vol_window`` closes) is above ``vol_limit``; after
    ``max_postpone_days`` trading days of postponement it rebalances anyway.

The rule checks and the documented exception. Every policy's plan passes R1-R5 as
:func:`statemachine.rules.check_plan` runs them, against the planning context the policy built:
R1 (eligibility), R3 (feasibility) and R4 (improvement) are measured exactly as live; **R2
(closeness) and R5 (coverage) are measured against the policy's planning targets**. For
``band-edge`` that is the band edge instead of the target (the policy's point is to stop short);
for ``cost-aware`` a ticker left where it is has its planning target at its value, so R5 does not
require it. ``calendar`` plans with zero-wide bands (every ticker eligible, R1 and R5 measured
with thresholds 0): a calendar rebalance goes all the way back to the targets.
``threshold`` and ``volatility-aware`` change nothing.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .drift import drift_report
from .errors import DomainError
from .fees import FeeModel
from .models import CASH_TICKER, OTHER, DriftReport, Plan, PlanningContext, Side, Thresholds, TickerDrift

if TYPE_CHECKING:  # ports imports records, which import this module
    from .ports import Planner

POLICY_NAMES = ("threshold", "calendar", "band-edge", "cost-aware", "volatility-aware")
PolicyName = Literal["threshold", "calendar", "band-edge", "cost-aware", "volatility-aware"]


class Policy(BaseModel):
    """A policy and its parameters (the unused ones are ignored by the other policies)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: PolicyName = "threshold"
    frequency: Literal["monthly", "quarterly"] = "monthly"
    edge_fraction: float = Field(0.5, ge=0.0, le=1.0, description="band-edge: where inside the band to stop "
                                 "(1.0 = the edge, 0 = the target)")
    drift_value_bps: float = Field(50.0, ge=0.0, description="cost-aware: what removing 1 KRW of drift is worth, bp")
    spread_bps: float = Field(0.0, ge=0.0, description="cost-aware: modelled slippage on top of the fee model, bp")
    min_trade_value: int = Field(0, ge=0, description="cost-aware: no order worth less than this (KRW)")
    vol_window: int = Field(20, ge=2, description="volatility-aware: closes in the realised-vol window")
    vol_limit: float = Field(0.30, gt=0.0, description="volatility-aware: annualised vol above which to postpone")
    max_postpone_days: int = Field(10, ge=0, description="volatility-aware: trading days of postponement at most")

    @classmethod
    def parse(cls, text: str | None) -> Policy:
        """A policy from a setting or an option: a name (``band-edge``) or a JSON object
        (``{"name": "band-edge", "edge_fraction": 0.8}``). Raises :class:`DomainError`."""
        text = (text or "").strip()
        try:
            if text.startswith("{"):
                return cls.model_validate(json.loads(text))
            return cls.model_validate({"name": text or "threshold"})
        except (ValueError, ValidationError) as exc:
            raise DomainError(f"bad policy {text!r}: give one of {', '.join(POLICY_NAMES)} or a JSON object "
                              f"with 'name' and its parameters ({str(exc).splitlines()[-1].strip()})",
                              field="policy") from None

    def label(self) -> str:
        """What a run and its history row record: the name and the parameters that matter."""
        if self.name == "calendar":
            return f"calendar:{self.frequency}"
        if self.name == "band-edge":
            return f"band-edge:{self.edge_fraction:g}"
        if self.name == "cost-aware":
            return f"cost-aware:{self.drift_value_bps:g}bp,min{self.min_trade_value}"
        if self.name == "volatility-aware":
            return f"volatility-aware:{self.vol_window}d>{self.vol_limit:g},max{self.max_postpone_days}"
        return "threshold"


@dataclass
class MarketView:
    """What the caller knows of the market on the day: the sorted trading days (at least those of
    the current and the previous period) and, per ticker, the recent closes up to the day."""

    trading_days: Sequence[date] = ()
    closes: dict[str, Sequence[float]] = field(default_factory=dict)


@dataclass
class PolicyState:
    """What a policy remembers between days (volatility-aware: days postponed so far)."""

    postponed: int = 0


# ----------------------------------------------------------------------------- when
def first_trading_day(day: date, trading_days: Sequence[date], frequency: str) -> bool:
    """Is ``day`` the first trading day of its month (or quarter)?"""
    i = bisect.bisect_left(trading_days, day)
    if i >= len(trading_days) or trading_days[i] != day:
        return False
    if i == 0:
        return True
    prev = trading_days[i - 1]
    if frequency == "quarterly":
        return (prev.year, (prev.month - 1) // 3) != (day.year, (day.month - 1) // 3)
    return (prev.year, prev.month) != (day.year, day.month)


def realised_vol(closes: Sequence[float], window: int) -> float:
    """Annualised (252 days) standard deviation of the last ``window - 1`` daily log returns."""
    tail = [c for c in closes[-window:] if c > 0]
    if len(tail) < 3:
        return 0.0
    rets = [math.log(b / a) for a, b in zip(tail, tail[1:], strict=False)]
    mean = sum(rets) / len(rets)
    var = sum((r - mean) ** 2 for r in rets) / (len(rets) - 1)
    return math.sqrt(var * 252.0)


def portfolio_vol(view: MarketView, drift: DriftReport, window: int) -> float:
    """The weighted (by global target) realised vol of the targeted tickers."""
    num = den = 0.0
    for row in drift.tickers:
        if row.ticker == CASH_TICKER or row.global_target_pct <= 0:
            continue
        closes = view.closes.get(row.ticker)
        if not closes:
            continue
        num += row.global_target_pct * realised_vol(closes, window)
        den += row.global_target_pct
    return num / den if den else 0.0


def wants_rebalance(policy: Policy, day: date, drift: DriftReport, view: MarketView,
                    state: PolicyState, *, first: bool = False) -> tuple[bool, str]:
    """Should a rebalance run on ``day``? ``first``: the first day of a backtest (every policy
    rebalances then when a drift is exceeded, so all start from the targets). Returns the answer
    and the reason in a sentence."""
    if drift.total <= 0:
        return False, "empty account"
    if policy.name == "calendar":
        if first_trading_day(day, view.trading_days, policy.frequency) or (first and drift.needed):
            return True, f"first trading day of the {'quarter' if policy.frequency == 'quarterly' else 'month'}"
        return False, "not a calendar rebalance day"
    if not drift.needed:
        state.postponed = 0
        return False, "no drift reaches its threshold"
    if policy.name == "volatility-aware" and not first:
        vol = portfolio_vol(view, drift, policy.vol_window)
        if vol > policy.vol_limit and state.postponed < policy.max_postpone_days:
            state.postponed += 1
            return False, (f"postponed ({state.postponed}/{policy.max_postpone_days}): realised vol {vol:.1%} "
                           f"above {policy.vol_limit:.1%}")
        state.postponed = 0
        if vol > policy.vol_limit:
            return True, f"threshold exceeded; maximum postponement ({policy.max_postpone_days} days) reached"
    flagged = drift.exceeded()
    more = f" and {len(flagged) - 4} more" if len(flagged) > 4 else ""
    return True, "threshold exceeded: " + ", ".join(flagged[:4]) + more


# ----------------------------------------------------------------------------- how far
def _edge_krw(row: TickerDrift, drift: DriftReport, fraction: float) -> float:
    """Half-width of the ticker's band in KRW of T, times ``fraction``: its own Sub-MP band
    (points of its class, scaled to T) and its class's MP band, the tighter of the two."""
    cls = drift.cls(row.asset_class)
    class_pct = cls.target_pct if cls else 0.0
    sub_band = drift.thresholds.sub_mp * class_pct / 100.0  # pp of T
    mp_band = drift.thresholds.mp * row.target_weight / 100.0  # the class band's share of this ticker
    band = min(sub_band, mp_band) if mp_band > 0 else sub_band
    return fraction * band * drift.total / 100.0


def planning_drift(policy: Policy, drift: DriftReport) -> DriftReport:
    """The drift report the planners plan against under ``policy`` (only ``band-edge`` changes it:
    each security's planning target is the nearest point of its band, ``edge_fraction`` wide, to
    where it is now). Untargeted holdings and the cash row keep their targets."""
    if policy.name != "band-edge":
        return drift
    rows = []
    for row in drift.tickers:
        if row.ticker == CASH_TICKER or row.asset_class == OTHER:
            rows.append(row)
            continue
        e = _edge_krw(row, drift, policy.edge_fraction)
        t = row.target_value
        target = min(max(row.value, t - e), t + e)
        rows.append(row.model_copy(update={"target_value": int(round(target))}))
    return drift.model_copy(update={"tickers": rows})


def order_benefit(row: TickerDrift, side: Side, quantity: int, price: int, policy: Policy) -> float:
    """The modelled benefit (KRW) of an order: the absolute drift it removes against the true
    target, times ``drift_value_bps``."""
    sign = 1 if side is Side.BUY else -1
    true_target = row.target_value
    before = abs(row.value - true_target)
    after = abs(row.value + sign * quantity * price - true_target)
    return (before - after) * policy.drift_value_bps / 10_000.0


def order_cost(ticker: str, side: Side, amount: int, fees: FeeModel, policy: Policy) -> float:
    """The modelled cost (KRW) of an order: fees plus ``spread_bps`` of the amount."""
    return fees.cost(ticker, side, amount) + amount * policy.spread_bps / 10_000.0


def _freeze(ctx: PlanningContext, frozen: Sequence[str]) -> PlanningContext:
    """Leave ``frozen`` tickers where they are: their planning target is their value."""
    if not frozen:
        return ctx
    rows = [r.model_copy(update={"target_value": r.value}) if r.ticker in frozen else r for r in ctx.drift.tickers]
    return ctx.model_copy(update={"drift": ctx.drift.model_copy(update={"tickers": rows})})


def cost_aware_plan(planner: Planner, ctx: PlanningContext, fees: FeeModel,
                    policy: Policy) -> tuple[Plan, PlanningContext]:
    """Plan ``ctx`` with ``planner``; while an order's cost exceeds its benefit (measured against
    ``ctx.drift``'s targets), leave that ticker where it is and plan again. Returns the plan (its
    ``meta["policy_frozen"]`` lists the tickers left) and the context it was planned in."""
    truth = ctx.drift
    frozen: list[str] = []
    planned = ctx
    while True:
        plan = planner.plan(planned)
        bad = []
        for o in plan.orders:
            row = truth.ticker(o.ticker)
            price = ctx.snapshot.price(o.ticker) or 0
            if row is None or row.asset_class == OTHER:
                continue  # untargeted holdings are sold whatever it costs (the live rule)
            if order_cost(o.ticker, plan.side, o.quantity * price, fees, policy) > \
                    order_benefit(row, plan.side, o.quantity, price, policy):
                bad.append(o.ticker)
        if not bad:
            return plan.model_copy(update={"meta": {**plan.meta, "policy_frozen": frozen}}), planned
        frozen += sorted(set(bad) - set(frozen))
        planned = _freeze(ctx, frozen)


def policy_context(policy: Policy, ctx: PlanningContext, frozen: Sequence[str] = ()) -> PlanningContext:
    """The context a plan under ``policy`` is made in and checked against (R1-R5): calendar's
    zero-wide bands, band-edge's planning targets, cost-aware's minimum order and the tickers it
    left where they are (``frozen``, from the plan's ``meta["policy_frozen"]``)."""
    if policy.name == "calendar":
        # a calendar rebalance trades every ticker back to its target: every band is zero wide
        zero = Thresholds(mp=0.0, sub_mp=0.0)
        ctx = ctx.model_copy(update={"thresholds": zero, "drift": drift_report(ctx.snapshot, ctx.targets, zero)})
    ctx = ctx.model_copy(update={"drift": planning_drift(policy, ctx.drift)})
    if policy.name == "cost-aware":
        ctx = ctx.model_copy(update={"min_trade_value": max(ctx.min_trade_value, policy.min_trade_value)})
        ctx = _freeze(ctx, frozen)
    return ctx


def plan_side(planner: Planner, ctx: PlanningContext, fees: FeeModel, policy: Policy) -> tuple[Plan, PlanningContext]:
    """One side's plan under ``policy``; returns the plan and the context to check it against
    (:func:`policy_context` of the plan's ``policy_frozen``)."""
    ctx = policy_context(policy, ctx)
    if policy.name == "cost-aware":
        return cost_aware_plan(planner, ctx, fees, policy)
    return planner.plan(ctx), ctx


__all__ = [
    "POLICY_NAMES", "MarketView", "Policy", "PolicyState", "cost_aware_plan", "first_trading_day",
    "order_benefit", "order_cost", "plan_side", "planning_drift", "policy_context", "portfolio_vol", "realised_vol",
    "wants_rebalance",
]
