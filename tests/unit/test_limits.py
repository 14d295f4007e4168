"""L1 (maximum order value) and L2 (maximum turnover): both sides of each band edge."""

from __future__ import annotations

from statemachine.drift import drift_report
from statemachine.limits import TradingLimits, check_limits, expected_buy_value, limit_failures
from statemachine.models import Holding, Plan, PlanningContext, PlanOrder, Side, Snapshot, Targets, Thresholds

TARGETS = Targets(
    mp={"Stocks": 50, "Bonds": 50}, sub_mp={"Stocks": {"411420": 1.0}, "Bonds": {"453850": 1.0}}
)


def ctx(side: Side = Side.SELL) -> PlanningContext:
    snap = Snapshot(
        holdings=[
            Holding(ticker="411420", quantity=80, orderable_quantity=80, price=10_000),
            Holding(ticker="453850", quantity=20, orderable_quantity=20, price=10_000),
        ],
        cash=0,
    )  # T = 1,000,000; Stocks 80%, Bonds 20%
    return PlanningContext(
        side=side,
        snapshot=snap,
        targets=TARGETS,
        thresholds=Thresholds(),
        drift=drift_report(snap, TARGETS, Thresholds()),
        orderable_cash=300_000,
    )


def plan(side: Side, qty: int, ticker: str = "411420") -> Plan:
    return Plan(side=side, planner="t", orders=[PlanOrder(ticker=ticker, quantity=qty)])


def test_no_limits_no_rows():
    assert check_limits(ctx(), plan(Side.SELL, 30), TradingLimits(), account_total=1_000_000) == []


def test_max_order_value_edge():
    lim = TradingLimits(max_order_value_krw=300_000)
    ok = check_limits(ctx(), plan(Side.SELL, 30), lim, account_total=1_000_000)
    assert [r.passed for r in ok] == [True]
    bad = check_limits(ctx(), plan(Side.SELL, 31), lim, account_total=1_000_000)
    assert [(r.rule, r.ticker, r.passed) for r in bad] == [("L1", "411420", False)]
    assert bad[0].numbers["order_value"] == 310_000 and "310,000" in bad[0].message
    assert limit_failures(bad) == bad


def test_turnover_counts_sells_and_expected_buys():
    c = ctx()
    # selling 30 shares (300,000) leaves 300,000 cash; Bonds is 300,000 under target: expected buys 300,000
    assert expected_buy_value(c, 300_000) == 300_000
    t = 1_000_000
    at_cap = check_limits(c, plan(Side.SELL, 30), TradingLimits(max_turnover_percent=60), account_total=t)
    assert at_cap[0].passed and at_cap[0].numbers["turnover_pct"] == 60.0
    over = check_limits(c, plan(Side.SELL, 30), TradingLimits(max_turnover_percent=59.9), account_total=t)
    assert not over[0].passed and over[0].rule == "L2" and "59.9%" in over[0].message


def test_turnover_on_the_buy_side_adds_the_sells_done():
    c = ctx(Side.BUY)
    lim = TradingLimits(max_turnover_percent=50)
    ok = check_limits(c, plan(Side.BUY, 20, "453850"), lim, account_total=1_000_000, traded_before=300_000)
    assert ok[0].passed  # 300,000 + 200,000 = 50%
    bad = check_limits(c, plan(Side.BUY, 21, "453850"), lim, account_total=1_000_000, traded_before=300_000)
    assert not bad[0].passed and bad[0].numbers["traded_before"] == 300_000
