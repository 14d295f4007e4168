import time

from statemachine.fees import FeeModel
from statemachine.models import Side
from statemachine.planner_greedy import GreedyPlanner
from statemachine.projection import plan_cost
from statemachine.rules import buy_budget, check_plan, failures
from tests.unit._mathkit import context, snapshot, targets


def test_trimming_buys_to_a_short_budget_is_quick_on_a_large_account():
    # 10 billion KRW to place in 1,000 KRW shares with a tenth of the cash: millions of shares to trim
    tg = targets({"Stocks": 50, "Bonds": 50},
                 {"Stocks": {"111111": 1.0}, "Bonds": {"222222": 0.5, "222223": 0.5}})
    snap = snapshot(10_000_000_000, {}, prices={"111111": 1_000, "222222": 1_300, "222223": 1_700})
    ctx = context(Side.BUY, snap, tg, orderable_cash=1_000_000_000)
    t0 = time.perf_counter()
    plan = GreedyPlanner(FeeModel()).plan(ctx)
    assert time.perf_counter() - t0 < 2.0
    cost = plan_cost(ctx.snapshot, plan.orders, FeeModel())
    assert buy_budget(ctx) - 2_000 < cost <= buy_budget(ctx)
    assert failures(check_plan(ctx, plan, FeeModel())) == []
