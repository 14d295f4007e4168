"""R1-R5, each with a passing and a failing case (account of ``simple()``: T = 10,000,000 KRW,
111111 at 70 % for a 50 % target, 222222 at 20 % for 40 %, cash 10 % for 10 %)."""

import pytest

from statemachine.fees import FeeModel
from statemachine.models import Side, Thresholds
from statemachine.rules import (
    check_plan,
    failures,
    r1_eligibility,
    r2_closeness,
    r3_feasibility,
    r4_improvement,
    r5_coverage,
    tolerance_pct,
)
from tests.unit._mathkit import context, plan, simple, snapshot, targets

FEES = FeeModel()


def failed(rows):
    return [(r.rule, r.ticker) for r in rows if not r.passed]


def sell_ctx(**kw):
    snap, tg = simple()
    return context(Side.SELL, snap, tg, **kw)


def buy_ctx(cash: int, **kw):
    """After selling 200 x 111111: both tickers on target except 222222, 20 pp under."""
    tg = simple()[1]
    snap = snapshot(cash, {"111111": (500, 10_000), "222222": (200, 10_000)})
    return context(Side.BUY, snap, tg, orderable_cash=cash, sold_tickers=["111111"], **kw)


def test_the_nearest_plans_pass_every_rule():
    assert failures(check_plan(sell_ctx(), plan(Side.SELL, t111111=200), FEES)) == []
    ctx = buy_ctx(3_000_000)
    assert failures(check_plan(ctx, plan(Side.BUY, t222222=200), FEES)) == []


# ----------------------------------------------------------------------------- R1
def test_r1_passes_an_overweight_ticker_with_its_class_exceeded():
    assert failed(r1_eligibility(sell_ctx(), plan(Side.SELL, t111111=200))) == []


def test_r1_refuses_selling_an_underweight_ticker():
    assert failed(r1_eligibility(sell_ctx(), plan(Side.SELL, t222222=10))) == [("R1", "222222")]


def test_r1_refuses_an_overweight_ticker_when_no_threshold_is_exceeded():
    th = Thresholds(mp=25, sub_mp=5)  # the 20 pp class drift is inside the band
    assert failed(r1_eligibility(sell_ctx(th=th), plan(Side.SELL, t111111=200))) == [("R1", "111111")]


def test_r1_lets_untargeted_holdings_be_sold_but_never_bought():
    tg = simple()[1]
    snap = snapshot(1_000_000, {"111111": (500, 10_000), "222222": (400, 10_000), "999999": (10, 1_000)})
    assert failed(r1_eligibility(context(Side.SELL, snap, tg), plan(Side.SELL, t999999=10))) == []
    ctx = context(Side.BUY, snap, tg, orderable_cash=1_000_000)
    assert failed(r1_eligibility(ctx, plan(Side.BUY, t999999=1))) == [("R1", "999999")]


# ----------------------------------------------------------------------------- R2
@pytest.mark.parametrize("qty, ok", [(200, True), (191, True), (209, True), (189, False), (211, False)])
def test_r2_band_is_one_point_of_t_around_the_target(qty, ok):
    # 1 pp of T = 100,000 KRW = 10 shares
    rows = failed(r2_closeness(sell_ctx(), plan(Side.SELL, t111111=qty), FEES))
    assert (rows == []) is ok


def test_r2_tolerates_one_share_when_a_share_is_worth_more_than_one_point():
    # 333333 costs 300,000 KRW (3 % of T) and targets 10 % = 1,000,000 KRW = 3.33 shares
    tg = targets({"Stocks": 10, "Cash": 90}, {"Stocks": {"333333": 1.0}, "Cash": {"CASH": 1.0}})
    snap = snapshot(10_000_000, {}, prices={"333333": 300_000})
    ctx = context(Side.BUY, snap, tg, orderable_cash=10_000_000)
    assert tolerance_pct(300_000, 10_000_000) == pytest.approx(3.0)
    assert failed(r2_closeness(ctx, plan(Side.BUY, t333333=3), FEES)) == []  # 1 pp short
    assert failed(r2_closeness(ctx, plan(Side.BUY, t333333=4), FEES)) == []  # 2 pp past: within one share
    assert failed(r2_closeness(ctx, plan(Side.BUY, t333333=5), FEES)) == [("R2", "333333")]  # 5 pp past


def test_r2_accepts_a_buy_the_cash_cannot_finish():
    ctx = buy_ctx(1_000_000)
    # 99 shares cost 990,145 KRW; the 100th does not fit: 10.1 pp short is as near as it can get
    assert failed(r2_closeness(ctx, plan(Side.BUY, t222222=99), FEES)) == []


def test_r2_refuses_stopping_short_while_the_cash_allows_more():
    ctx = buy_ctx(1_000_000)
    assert failed(r2_closeness(ctx, plan(Side.BUY, t222222=50), FEES)) == [("R2", "222222")]


def test_r2_accepts_a_sell_limited_by_the_orderable_quantity():
    snap, tg = simple()
    snap = snapshot(1_000_000, {"111111": (700, 10_000), "222222": (200, 10_000)}, orderable={"111111": 50})
    ctx = context(Side.SELL, snap, tg)
    assert failed(r2_closeness(ctx, plan(Side.SELL, t111111=50), FEES)) == []
    assert failed(r2_closeness(ctx, plan(Side.SELL, t111111=40), FEES)) == [("R2", "111111")]


# ----------------------------------------------------------------------------- R3
def test_r3_passes_a_feasible_buy():
    assert failed(r3_feasibility(buy_ctx(3_000_000), plan(Side.BUY, t222222=200), FEES)) == []


@pytest.mark.parametrize("orders", [{"t111111": 701}, {"t123456": 1}, {"tCASH": 5}, {"t111111": 0}])
def test_r3_refuses_impossible_sells(orders):
    assert failed(r3_feasibility(sell_ctx(), plan(Side.SELL, **orders), FEES))


def test_r3_refuses_a_ticker_twice():
    p = plan(Side.SELL, t111111=100)
    p = p.model_copy(update={"orders": p.orders * 2})
    assert failed(r3_feasibility(sell_ctx(), p, FEES)) == [("R3", "111111")]


def test_r3_refuses_buys_beyond_the_cash_less_the_buffer():
    ctx = buy_ctx(2_000_300, cash_buffer=1_000)  # 200 shares cost 2,000,293 KRW with fees
    assert failed(r3_feasibility(ctx, plan(Side.BUY, t222222=200), FEES)) == [("R3", None)]
    ctx = buy_ctx(2_001_300, cash_buffer=1_000)
    assert failed(r3_feasibility(ctx, plan(Side.BUY, t222222=200), FEES)) == []


def test_r3_refuses_buying_back_what_this_run_sold():
    assert failed(r3_feasibility(buy_ctx(3_000_000), plan(Side.BUY, t111111=1), FEES)) == [("R3", "111111")]


# ----------------------------------------------------------------------------- R4
def test_r4_passes_a_plan_that_reduces_the_securities_drift():
    rows = r4_improvement(sell_ctx(), plan(Side.SELL, t111111=200), FEES)
    assert failed(rows) == [] and rows[0].numbers["after_krw"] < rows[0].numbers["before_krw"]


def test_r4_refuses_a_plan_that_adds_drift():
    # selling 400 turns 20 pp over into 20 pp under (no worse, R2's business); 410 is worse
    assert failed(r4_improvement(sell_ctx(), plan(Side.SELL, t111111=400), FEES)) == []
    assert failed(r4_improvement(sell_ctx(), plan(Side.SELL, t111111=410), FEES)) == [("R4", None)]


def test_r4_does_not_count_proceeds_waiting_in_over_target_cash():
    # cash already 10 pp over target: a sale moves value into cash, the buy side spends it later
    tg = targets({"Stocks": 50, "Bonds": 50}, {"Stocks": {"111111": 1.0}, "Bonds": {"222222": 1.0}})
    snap = snapshot(1_000_000, {"111111": (600, 10_000), "222222": (300, 10_000)})
    assert failed(r4_improvement(context(Side.SELL, snap, tg), plan(Side.SELL, t111111=100), FEES)) == []


# ----------------------------------------------------------------------------- R5
def test_r5_refuses_a_sell_plan_that_leaves_out_an_exceeded_ticker():
    assert failed(r5_coverage(sell_ctx(), plan(Side.SELL), FEES)) == [("R5", "111111")]


def test_r5_passes_when_no_share_would_bring_the_ticker_closer():
    # 111111 is 4,000 KRW over its target, and a share costs 10,000: selling one goes further off
    tg = targets({"Stocks": 50, "Bonds": 50}, {"Stocks": {"111111": 1.0}, "Bonds": {"222222": 1.0}})
    snap = snapshot(0, {"111111": (100, 10_000), "222222": (192, 5_208)})
    ctx = context(Side.SELL, snap, tg, th=Thresholds(mp=0, sub_mp=0))
    assert ctx.drift.ticker("111111").value - ctx.drift.ticker("111111").target_value < 5_000
    assert failed(r5_coverage(ctx, plan(Side.SELL), FEES)) == []


def test_r5_requires_a_buy_only_while_the_cash_pays_for_a_share():
    assert failed(r5_coverage(buy_ctx(1_000_000), plan(Side.BUY), FEES)) == [("R5", "222222")]
    assert failed(r5_coverage(buy_ctx(10_000), plan(Side.BUY), FEES)) == []  # 10,001 KRW with fees


def test_r5_does_not_require_dust_orders():
    ctx = buy_ctx(50_000, min_trade_value=100_000)  # 5 shares fit; 10 are the dust floor
    assert failed(r5_coverage(ctx, plan(Side.BUY), FEES)) == []
    ctx = buy_ctx(150_000, min_trade_value=100_000)
    assert failed(r5_coverage(ctx, plan(Side.BUY), FEES)) == [("R5", "222222")]


def test_r5_requires_untargeted_sales_unless_the_policy_keeps_them():
    tg = simple()[1]
    snap = snapshot(1_000_000, {"111111": (500, 10_000), "222222": (400, 10_000), "999999": (10, 1_000)})
    assert failed(r5_coverage(context(Side.SELL, snap, tg), plan(Side.SELL), FEES)) == [("R5", "999999")]
    ctx = context(Side.SELL, snap, tg, sell_untargeted=False)
    assert failed(r5_coverage(ctx, plan(Side.SELL), FEES)) == []
