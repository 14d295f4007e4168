"""Marketable limit orders (issue 17): runs on the demo account against a simulated exchange with a
spread, in process and through the KIS simulator over HTTP.

* every order of a limit run is a limit order (ORD_DVSN 00) priced on the tick grid, inside the
  day's limits, at the planned terms (ask + N ticks, bid - N ticks);
* the simulator refuses prices off the grid or outside the limits with the broker's errors;
* a limit buy priced below the ask (its quote went stale) does not fill, is cancelled by the
  timeout path and recorded as such;
* a run killed at any order boundary and resumed sends no order twice (the crash matrix of
  tests/integration/test_lost_replies.py, on a limit run with a thin book: partial fills,
  remainders and cancels included);
* reconciliation matches the price: a same-ticker order at another price is not adopted.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kis_helpers import RealClock, kis_config  # noqa: E402, I001

from adapters.kis.broker import KisBroker  # noqa: E402
from adapters.kis_sim.simulator import SimulatorConfig, SimulatorServer  # noqa: E402
from adapters.memory import MemoryStore  # noqa: E402
from adapters.sim import book  # noqa: E402
from adapters.sim.account import DEMO_DIR, SimAccount, SimRejected  # noqa: E402
from adapters.sim.broker import SimulatedBroker  # noqa: E402
from statemachine.engine import Engine  # noqa: E402
from statemachine.errors import OrderRejected  # noqa: E402
from statemachine.models import OrderStatus, Quote, Side, Targets  # noqa: E402
from statemachine.orders.pricing import load_terms  # noqa: E402
from statemachine.planner_optimal import OptimalPlanner  # noqa: E402
from statemachine.settings import EngineSettings  # noqa: E402
from statemachine.states import RunStatus  # noqa: E402
from statemachine.step_records import StepOutputs  # noqa: E402
from statemachine.ticks import on_grid, step_ticks  # noqa: E402
from tests.contract.helpers import STORES, open_store  # noqa: E402
from tests.fakes import FakeClock  # noqa: E402
from tests.integration.test_lost_replies import CRASH_POINTS, CrashAt, Interrupted  # noqa: E402

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
SPREAD = 3  # ticks on each side of the current price


@pytest.fixture(params=STORES)
def db(request, tmp_path):
    yield from open_store(request, tmp_path)


def demo(tmp_path: Path, clock: FakeClock, name: str = "account.json", depth: int = 0) -> SimAccount:
    acc = SimAccount.demo(tmp_path / name)
    acc.set_book("*", spread_ticks=SPREAD, depth=depth)
    acc.clock = clock.now
    return acc


def engine(db, broker, clock, owner="first", hooks=None, **kw) -> Engine:
    optimal = OptimalPlanner()
    kw.setdefault("limit_ticks", 2)
    settings = EngineSettings(fill_timeout_s=2, fill_poll_s=0.5, order_style="limit", **kw)
    return Engine(db.unit_of_work, broker, lambda name: optimal, clock, settings, hooks=hooks, owner=owner)


def assert_on_grid_inside_limits(account: SimAccount) -> None:
    s = account.read()
    assert s["orders"]
    for o in s["orders"]:
        lower, upper = book.limits(s, o["ticker"])
        assert o["order_type"] == "00", o
        assert on_grid(o["price"], book.kind(s, o["ticker"])), o
        assert lower <= o["price"] <= upper, (o, lower, upper)


def test_a_limit_run_on_the_demo_account_prices_every_order_on_the_grid_inside_the_limits(db, tmp_path):
    clock = FakeClock()
    acc = demo(tmp_path, clock)
    eng = engine(db, SimulatedBroker(acc), clock)
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert_on_grid_inside_limits(acc)
    with db.unit_of_work() as uow:
        attempts = [a for a in uow.plan_attempts(run.id) if a.passed]
        orders = uow.orders(run.id)
    # each order went out at its attempt's stored terms: ask + 2 ticks (buys), bid - 2 ticks (sells)
    sent = {(o["side"], o["ticker"]): o["price"] for o in acc.orders()}
    s = acc.read()
    for a in attempts:
        terms = load_terms(a.meta)
        for o in a.plan.orders:
            bid, ask = book.top(s, o.ticker)
            kind = book.kind(s, o.ticker)
            want = step_ticks(ask, 2, kind) if a.side is Side.BUY else step_ticks(bid, -2, kind)
            assert terms[o.ticker].price == want == sent[(a.side.value, o.ticker)]
    # a limit order fills at the book, never worse than its price: buys at the ask, sells at the bid
    for o in orders:
        bid, ask = book.top(s, o.ticker)
        assert o.status is OrderStatus.FILLED and o.avg_price == (ask if o.side is Side.BUY else bid)


def test_a_limit_run_through_the_kis_simulator_over_http(tmp_path):
    acc = SimAccount.demo(tmp_path / "acct.json")
    acc.set_book("*", spread_ticks=SPREAD)
    with SimulatorServer(tmp_path / "acct.json",
                         SimulatorConfig(rate_limit_per_s=0, token_issue_min_interval_s=0)) as srv:
        broker = KisBroker(kis_config(srv.url, tmp_path, requests_per_second=1000), httpx.Client())
        q = broker.quote("453850")
        s = acc.read()
        lower, upper = book.limits(s, "453850")
        assert (q.bid, q.ask, q.lower, q.upper) == (*book.top(s, "453850"), lower, upper)
        store = MemoryStore()
        eng = Engine(store.unit_of_work, broker, lambda name: OptimalPlanner(), RealClock(),
                     EngineSettings(fill_poll_s=0.05, fill_timeout_s=5, order_style="limit", limit_ticks=1))
        run = eng.run(eng.start(account=broker.alias, targets=TARGETS).id)
        assert run.status is RunStatus.SUCCEEDED, run.error
        assert srv.simulator.calls["FHKST01010200"] >= 7  # every ticker quoted from the order book TR
    assert_on_grid_inside_limits(acc)


@pytest.mark.parametrize(("price_of", "code"), [
    (lambda lo, up: 9_902, "40030000"),  # 9,902 is off the 5-won ETF grid
    (lambda lo, up: step_ticks(up, 1, "etf"), "APBK0406"),
    (lambda lo, up: step_ticks(lo, -1, "etf"), "APBK0407"),
])
def test_the_simulator_refuses_prices_off_the_grid_or_outside_the_limits(tmp_path, price_of, code):
    acc = SimAccount.demo(tmp_path / "acct.json")
    lower, upper = book.limits(acc.read(), "453850")
    price = price_of(lower, upper)
    with pytest.raises(SimRejected) as refused:
        acc.place("buy", "453850", 1, "00", price)
    assert refused.value.code == code
    with SimulatorServer(tmp_path / "acct.json",
                         SimulatorConfig(rate_limit_per_s=0, token_issue_min_interval_s=0)) as srv:
        broker = KisBroker(kis_config(srv.url, tmp_path, requests_per_second=1000), httpx.Client())
        with pytest.raises(OrderRejected) as rejected:
            broker.place_order(Side.BUY, "453850", 1, "00", price)
        assert rejected.value.code == code and rejected.value.message
        # the limits themselves and a grid price between them are accepted
        for ok in (lower, upper, 9_905):
            broker.place_order(Side.BUY, "453850", 1, "00", ok)
    assert acc.orders() and all(o["price"] in (lower, upper, 9_905) for o in acc.orders())


class StaleQuotes(SimulatedBroker):
    """Quotes ``ticker`` 10 ticks below its real book: its limit buy ends up under the ask."""

    def __init__(self, account: SimAccount, ticker: str) -> None:
        super().__init__(account)
        self.stale = ticker

    def quote(self, ticker: str) -> Quote:
        q = super().quote(ticker)
        if ticker != self.stale:
            return q
        return q.model_copy(update={"bid": step_ticks(q.bid, -10, "etf"), "ask": step_ticks(q.ask, -10, "etf")})


def test_a_limit_buy_below_the_ask_does_not_fill_and_is_cancelled_by_the_timeout(db, tmp_path):
    clock = FakeClock()
    acc = demo(tmp_path, clock)
    eng = engine(db, StaleQuotes(acc, "453850"), clock)
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    assert run.status is RunStatus.PARTIAL  # the sells and the other buys filled
    (o,) = [o for o in acc.orders() if o["ticker"] == "453850"]  # not re-sent: nothing filled
    assert o["price"] < book.top(acc.read(), "453850")[1]
    assert (o["filled_qty"], o["cancelled"], o["remaining"]) == (0, o["qty"], 0)
    with db.unit_of_work() as uow:
        (rec,) = [r for r in uow.orders(run.id) if r.ticker == "453850"]
        fills = StepOutputs(uow.outputs(run.id)).fills(Side.BUY)
    assert rec.status is OrderStatus.CANCELLED and rec.filled_quantity == 0 and rec.odno == o["odno"]
    fill = next(f for f in fills.fills if f.ticker == "453850")
    assert fill.status is OrderStatus.CANCELLED and fill.filled == 0 and fill.intended == o["qty"]
    assert sum(o["remaining"] for o in acc.orders()) == 0  # nothing left open at the broker


def _limit_run(db, tmp_path, name: str, crash: CrashAt | None):
    clock = FakeClock()
    acc = demo(tmp_path, clock, f"{name}.json", depth=400)  # thin book: partial fills and remainders
    alias = f"acct-{name}"
    eng = engine(db, SimulatedBroker(acc, alias=alias), clock, hooks=crash, partial_retries=2)
    run = eng.start(account=alias, targets=TARGETS)
    try:
        done = eng.run(run.id)
    except Interrupted:
        done = engine(db, SimulatedBroker(acc, alias=alias), clock, owner="second",
                      partial_retries=2).resume(run.id)
    with db.unit_of_work() as uow:
        orders = uow.orders(run.id)
    return done, orders, acc


@pytest.mark.parametrize("point", CRASH_POINTS + ["order:between_polls"])
@pytest.mark.parametrize("nth", [1, 4])
def test_a_limit_run_killed_at_an_order_boundary_resumes_and_sends_nothing_twice(tmp_path, point, nth):
    store = MemoryStore()
    ref, ref_orders, ref_acc = _limit_run(store, tmp_path, "ref", None)
    crash = CrashAt(point, nth)
    done, orders, acc = _limit_run(store, tmp_path, "crashed", crash)
    assert crash.seen == nth, "the crash point was reached"
    assert done.status is ref.status, done.error
    log = [(o["side"], o["ticker"], o["qty"], o["price"], o["filled_qty"]) for o in acc.orders()]
    ref_log = [(o["side"], o["ticker"], o["qty"], o["price"], o["filled_qty"]) for o in ref_acc.orders()]
    assert log == ref_log  # the same orders, at the same prices, each sent once
    assert (acc.positions(), acc.cash()) == (ref_acc.positions(), ref_acc.cash())
    assert sorted(o.odno for o in orders) == sorted(o["odno"] for o in acc.orders())
    assert_on_grid_inside_limits(acc)


def test_reconciliation_adopts_only_an_order_at_the_intents_price(tmp_path):
    """Every reply is lost. Before the first intent is committed (two minutes earlier, on the
    broker's clock) a same-side, same-quantity order at another price fills (the account is given
    the shares it sells, so the engine's sale can fill too): without the price in
    the match it would be a candidate placed too early and block the run; with it, it is not ours."""
    store = MemoryStore()
    clock = FakeClock()
    acc = demo(tmp_path, clock)
    acc.set_faults(lose_reply_rate=1.0)

    class HandOrderFirst:
        done = False

        def point(self, name: str) -> None:
            if name != "order:intent_committed" or self.done:
                return
            self.done = True
            with store.unit_of_work() as uow:
                intent = [o for o in uow.orders(run.id)][-1]
            def more_shares(st: dict) -> None:  # the hand sale must leave the engine's sale its shares
                st["holdings"][intent.ticker]["qty"] += intent.quantity
            acc.update(more_shares)
            acc.clock = lambda: clock.now() - timedelta(seconds=120)
            bid, _ = book.top(acc.read(), intent.ticker)
            acc.place(intent.side.value, intent.ticker, intent.quantity, "00", step_ticks(bid, -5, "etf"))
            acc.clock = clock.now

    hooks = HandOrderFirst()
    eng = engine(store, SimulatedBroker(acc), clock, hooks=hooks)
    run = eng.start(account="demo", targets=TARGETS)
    done = eng.run(run.id)
    assert hooks.done and done.status is RunStatus.SUCCEEDED, done.error or done.blocked_reason
    with store.unit_of_work() as uow:
        first = sorted(uow.orders(run.id), key=lambda o: o.id)[0]
    hand, mine = [o for o in acc.orders() if o["ticker"] == first.ticker and o["side"] == first.side.value]
    assert first.message == "adopted by reconciliation" and first.odno == mine["odno"] != hand["odno"]
    assert hand["price"] != mine["price"]


def test_the_bench_scenario_limit_orders_cost_less_than_market_orders_on_a_thin_wide_book(tmp_path):
    """bench/limit_orders.py's own runs (docs/benchmarks.md): a 20-tick spread, 200 shares per level."""
    from bench.limit_orders import one_run

    market, limit = (one_run(tmp_path, style, 10, 200, 2) for style in ("market", "limit"))
    assert market.status == "SUCCEEDED" and market.filled == market.intended
    assert limit.cost < market.cost and limit.bps < market.bps
    assert 0 < limit.filled < limit.intended  # the price it refused to pay is the rest it did not buy
    deep_market, deep_limit = (one_run(tmp_path, style, 10, 0, 2) for style in ("market", "limit"))
    assert deep_market.cost == deep_limit.cost  # unlimited depth: both fill at the quote


# the broker's published field list of FHKST01010200 (open-trading-api, examples_llm/domestic_stock/
# inquire_asking_price_exp_ccn/chk_inquire_asking_price_exp_ccn.py), split into its two blocks
BOOK_FIELDS = (["aspr_acpt_hour"] + [f"askp{i}" for i in range(1, 11)] + [f"bidp{i}" for i in range(1, 11)]
               + [f"askp_rsqn{i}" for i in range(1, 11)] + [f"bidp_rsqn{i}" for i in range(1, 11)]
               + [f"askp_rsqn_icdc{i}" for i in range(1, 11)] + [f"bidp_rsqn_icdc{i}" for i in range(1, 11)]
               + ["total_askp_rsqn", "total_bidp_rsqn", "total_askp_rsqn_icdc", "total_bidp_rsqn_icdc",
                  "ovtm_total_askp_icdc", "ovtm_total_bidp_icdc", "ovtm_total_askp_rsqn", "ovtm_total_bidp_rsqn",
                  "ntby_aspr_rsqn", "new_mkop_cls_code"])
MATCH_FIELDS = ["antc_mkop_cls_code", "stck_prpr", "stck_oprc", "stck_hgpr", "stck_lwpr", "stck_sdpr", "antc_cnpr",
                "antc_cntg_vrss_sign", "antc_cntg_vrss", "antc_cntg_prdy_ctrt", "antc_vol", "stck_shrn_iscd",
                "vi_cls_code"]


@pytest.mark.parametrize("env", ["paper", "real"])
def test_the_order_book_tr_answers_the_brokers_fields_on_both_hosts(tmp_path, env):
    import re

    from adapters.kis_sim.simulator import TEST_APPKEY, TEST_APPSECRET

    acc = SimAccount.demo(tmp_path / "acct.json")
    acc.set_book("453850", spread_ticks=2, depth=300)
    with SimulatorServer(tmp_path / "acct.json", SimulatorConfig(env=env, rate_limit_per_s=0,
                                                                 token_issue_min_interval_s=0)) as srv:
        tok = httpx.post(srv.url + "/oauth2/tokenP", json={"grant_type": "client_credentials",
                                                           "appkey": TEST_APPKEY, "appsecret": TEST_APPSECRET})
        headers = {"authorization": f"Bearer {tok.json()['access_token']}", "appkey": TEST_APPKEY,
                   "appsecret": TEST_APPSECRET, "tr_id": "FHKST01010200", "custtype": "P"}
        url = srv.url + "/uapi/domestic-stock/v1/quotations/inquire-asking-price-exp-ccn"
        body = httpx.get(url, params={"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "453850"},
                         headers=headers).json()
        bad = httpx.get(url, params={"FID_COND_MRKT_DIV_CODE": "Q", "FID_INPUT_ISCD": "453850"},
                        headers=headers).json()
    assert body["rt_cd"] == "0" and bad["rt_cd"] != "0"
    book_out, match_out = body["output1"], body["output2"]
    assert list(book_out) == BOOK_FIELDS and list(match_out) == MATCH_FIELDS
    assert all(isinstance(v, str) for v in [*book_out.values(), *match_out.values()])
    numeric = [k for k in BOOK_FIELDS if k not in ("aspr_acpt_hour", "new_mkop_cls_code")]
    assert all(re.fullmatch(r"-?\d+", book_out[k]) for k in numeric)
    assert re.fullmatch(r"\d{6}", book_out["aspr_acpt_hour"])
    bid, ask = book.top(acc.read(), "453850")
    assert (int(book_out["bidp1"]), int(book_out["askp1"])) == (bid, ask) == (9_890, 9_910)
    assert [int(book_out[f"askp{i}"]) for i in (1, 2, 3)] == [9_910, 9_915, 9_920]
    assert book_out["askp_rsqn1"] == "300" and match_out["stck_prpr"] == "9900"


def test_limit_buys_spending_all_the_cash_still_fit_it_at_their_limit_prices(db, tmp_path):
    """No cash target, no cash buffer and buys priced 80 ticks (about 3 %) above the mid: the buys want
    every won. The planners plan at the snapshot prices inside a budget shrunk by the limit premium,
    so the R3 row at limit prices passes and the exchange never refuses a buy for cash (without the
    shrinking, that row refuses the plan three times: the run ends PARTIAL with the cash unspent)."""
    clock = FakeClock()
    acc = SimAccount.demo(tmp_path / "acct.json")
    acc.set_book("*", spread_ticks=60)
    acc.clock = clock.now
    eng = engine(db, SimulatedBroker(acc), clock, cash_buffer_percent=0.0, limit_ticks=20)
    all_in = TARGETS.model_copy(update={"mp": {"Stocks": 20, "Bonds": 55, "Alternatives": 25, "Cash": 0}})
    run = eng.run(eng.start(account="demo", targets=all_in).id)
    assert run.status is RunStatus.SUCCEEDED, run.error
    with db.unit_of_work() as uow:
        (buy,) = [a for a in uow.plan_attempts(run.id) if a.side is Side.BUY and a.passed]
        cash = StepOutputs(uow.outputs(run.id)).cash()
    terms = load_terms(buy.meta)
    at_limit = sum(o.quantity * terms[o.ticker].price for o in buy.plan.orders)
    assert at_limit > sum(o.quantity * cash.snapshot.price(o.ticker) for o in buy.plan.orders)
    assert at_limit <= cash.orderable_cash  # and the exchange agreed: every buy filled, none refused
    # at planning prices the cash would have bought about 3 % more: it was the binding limit
    assert at_limit * 1.02 > cash.orderable_cash
    (row,) = [c for c in buy.checks if "limit prices" in c.message]
    assert row.passed and row.numbers["cost_at_limit"] <= cash.orderable_cash
    assert all(o["rejected"] == 0 and o["filled_qty"] == o["qty"] for o in acc.orders())


def test_a_limit_dry_run_prices_its_plans_and_sends_nothing(db, tmp_path):
    clock = FakeClock()
    acc = demo(tmp_path, clock)
    eng = engine(db, SimulatedBroker(acc), clock)
    run = eng.run(eng.start(account="demo", targets=TARGETS, max_phase=4).id)
    assert run.status is RunStatus.STOPPED and acc.orders() == []
    with db.unit_of_work() as uow:
        attempts = uow.plan_attempts(run.id)
    assert {a.side for a in attempts} == {Side.SELL, Side.BUY}
    assert all(load_terms(a.meta) and all(t.order_type == "00" for t in load_terms(a.meta).values())
               for a in attempts)
