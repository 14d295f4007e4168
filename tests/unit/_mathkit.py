"""Small builders for the rebalance-math unit tests (targets, snapshots, planning contexts)."""

from __future__ import annotations

from typing import Any

from statemachine.drift import drift_report
from statemachine.models import Holding, Plan, PlanningContext, PlanOrder, Side, Snapshot, Targets, Thresholds


def targets(mp: dict[str, float], sub_mp: dict[str, dict[str, float]], **kw: Any) -> Targets:
    return Targets.model_validate({"mp": mp, "sub_mp": sub_mp, **kw})


def snapshot(cash: int, holdings: dict[str, tuple[int, int]], prices: dict[str, int] | None = None,
             orderable: dict[str, int] | None = None) -> Snapshot:
    """``holdings``: ticker -> (quantity, price); ``orderable`` overrides orderable quantities."""
    orderable = orderable or {}
    return Snapshot(cash=cash, prices=prices or {}, holdings=[
        Holding(ticker=t, name=f"ETF {t}", quantity=q, orderable_quantity=orderable.get(t, q), price=p)
        for t, (q, p) in holdings.items()])


def context(side: Side, snap: Snapshot, tg: Targets, th: Thresholds | None = None,
            **kw: Any) -> PlanningContext:
    th = th or Thresholds()
    return PlanningContext(side=side, snapshot=snap, targets=tg, thresholds=th,
                           drift=drift_report(snap, tg, th), **kw)


def plan(side: Side, **orders: int) -> Plan:
    """``plan(Side.SELL, t111111=200)``: ticker names are prefixed with ``t`` to be identifiers."""
    return Plan(side=side, planner="test",
                orders=[PlanOrder(ticker=k.removeprefix("t"), quantity=q) for k, q in orders.items()])


# Two classes and cash, one ticker each: Stocks 70 % (target 50), Bonds 20 % (target 40), cash 10 %.
SIMPLE_TARGETS = {"mp": {"Stocks": 50, "Bonds": 40, "Alternatives": 0, "Cash": 10},
                  "sub_mp": {"Stocks": {"111111": 1.0}, "Bonds": {"222222": 1.0}, "Cash": {"CASH": 1.0}}}


def simple() -> tuple[Snapshot, Targets]:
    return (snapshot(1_000_000, {"111111": (700, 10_000), "222222": (200, 10_000)}),
            Targets.model_validate(SIMPLE_TARGETS))
