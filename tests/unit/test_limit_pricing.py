"""The buy budget at limit prices (statemachine.orders.pricing): a plan that fits the budget the
planners see at planning prices fits the real budget at the limit prices, and the check refuses one
that does not."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from statemachine.fees import FeeModel
from statemachine.models import Plan, PlanOrder, Side
from statemachine.orders.pricing import LIMIT, OrderTerms, limit_budget_check, limit_context, limit_reserve
from statemachine.projection import plan_cost
from statemachine.rules import buy_budget
from tests.unit._mathkit import context, simple, snapshot

TICKERS = ("111111", "222222")


def ctx_with(cash: int, p1: int, p2: int, buffer: int = 0):
    tg = simple()[1]
    snap = snapshot(cash, {"111111": (10, p1), "222222": (10, p2)})
    return context(Side.BUY, snap, tg, orderable_cash=cash, cash_buffer=buffer)


def terms(l1: int, l2: int) -> dict[str, OrderTerms]:
    return {"111111": OrderTerms(ticker="111111", order_type=LIMIT, price=l1),
            "222222": OrderTerms(ticker="222222", order_type=LIMIT, price=l2)}


@given(cash=st.integers(min_value=0, max_value=10**9), p1=st.integers(min_value=100, max_value=500_000),
       p2=st.integers(min_value=100, max_value=500_000), up1=st.integers(min_value=0, max_value=2_000),
       up2=st.integers(min_value=0, max_value=2_000), buffer=st.integers(min_value=0, max_value=10**6),
       rate=st.sampled_from([0.000146527, 0.00015, 0.003]), cmin=st.sampled_from([0, 10, 1_000]),
       share1=st.floats(min_value=0, max_value=1))
def test_a_plan_fitting_the_shrunk_budget_fits_the_real_one_at_limit_prices(
        cash, p1, p2, up1, up2, buffer, rate, cmin, share1):
    fees = FeeModel(commission_rate=rate, commission_min=cmin)
    plain = ctx_with(cash, p1, p2, buffer)
    t = terms(p1 + up1, p2 + up2)
    shrunk = limit_context(plain, t)
    budget = buy_budget(shrunk)
    # the largest plan of this mix that the planners could make within the shrunk budget
    q1 = int(budget * share1 / (p1 * (1 + rate) + cmin + 1))
    left = budget - plan_cost(shrunk.snapshot, [PlanOrder(ticker="111111", quantity=q1)], fees) if q1 else budget
    q2 = max(0, int(left / (p2 * (1 + rate) + cmin + 1)))
    orders = [PlanOrder(ticker=tk, quantity=q) for tk, q in zip(TICKERS, (q1, q2), strict=True) if q > 0]
    plan = Plan(side=Side.BUY, planner="test", orders=orders)
    assert plan_cost(shrunk.snapshot, orders, fees) <= budget
    rows = limit_budget_check(plain, plain.cash_buffer, plan, t, fees)
    assert rows and all(r.passed for r in rows), rows


def test_no_reserve_for_market_orders_sells_or_limits_at_the_planning_price():
    plain = ctx_with(1_000_000, 10_000, 10_000)
    assert limit_reserve(plain, {}) == 0
    assert limit_reserve(plain, terms(10_000, 9_990)) == 0
    assert limit_reserve(plain.model_copy(update={"side": Side.SELL}), terms(11_000, 11_000)) == 0
    # 1 % above the planning price: about 1 % of the budget is held back
    assert 9_900 <= limit_reserve(plain, terms(10_100, 10_000)) <= 9_904


def test_the_check_refuses_buys_that_overrun_the_cash_at_limit_prices():
    fees = FeeModel()
    plain = ctx_with(1_000_000, 10_000, 10_000)
    plan = Plan(side=Side.BUY, planner="test", orders=[PlanOrder(ticker="111111", quantity=99)])
    assert plan_cost(plain.snapshot, plan.orders, fees) <= buy_budget(plain)  # fits at planning prices
    (row,) = limit_budget_check(plain, 0, plan, terms(10_200, 10_000), fees)
    assert not row.passed and row.rule == "R3" and row.numbers["cost_at_limit"] > 1_000_000
    assert "limit prices" in row.message
