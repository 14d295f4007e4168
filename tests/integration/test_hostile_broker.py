"""Issue 14: a hostile broker between the engine and the account, on SQLite and PostgreSQL.

Each scenario was observed (or read from the code) and failed on the protocol before the fix;
each test below asserts zero duplicate orders and zero broker orders the database does not know
(the simulated account's own order log against the run's order rows):

1. an order that reaches the exchange after the client's 10 s send timeout;
2. a lost reply while the order list lags 20 s (buy side; sell side, including a re-send refused
   for lack of shares because the first send had sold them);
3. the broker's clock 5 s behind ours;
7. an operator re-plan after orders were sent: the new attempt's orders are its own;
and beyond the assumptions (docs/durability.md): skew beyond the tolerance, a list lagging past
the settle window, an order list that never answers - the run BLOCKS naming what it saw.
Scenario 6 (a balance that does not add up) is in test_balance_consistency.py.
"""

from __future__ import annotations

from statemachine.errors import OrderOutcomeUnknown, RetryableError
from statemachine.models import OrderStatus, Side
from statemachine.orders import ADOPTED, ORPHAN
from statemachine.states import RunState, RunStatus
from tests.fakes import FakeClock
from tests.integration.hostile import (
    TARGETS,
    HostileBroker,
    assert_every_broker_order_recorded,
    assert_no_duplicates,
    history_of,
    make_engine,
    new_account,
    orders_of,
)

REFERENCE = {"132030": 1185, "261240": 312, "357870": 95, "360750": 308, "411420": 714, "453850": 4039,
             "458730": 300}  # the demo account after a fault-free run (greedy planner)


def first(side: Side, ticker: str | None = None):
    """A ``lose``/``before_send`` predicate: the first send of ``side`` (on ``ticker``)."""
    seen: list[int] = []

    def pred(n: int, s: Side, t: str) -> bool:
        if s is side and (ticker is None or t == ticker) and (not seen or seen[0] == n):
            seen.append(n)
            return True
        return False

    return pred


def _done(db, tmp_path, clock, broker, account, **settings):
    eng = make_engine(db, broker, clock, **settings)
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    log = assert_every_broker_order_recorded(db, run.id, account, clock)
    return run, log, orders_of(db, run.id)


# -- 1. accepted after the send timeout --------------------------------------------------------------
def test_order_accepted_after_the_send_timeout_is_adopted_not_resent(db, tmp_path):
    clock = FakeClock()
    account = new_account(tmp_path / "acct.json", clock)
    late = first(Side.BUY)

    def delay_first_buy(n: int, side: Side, ticker: str) -> None:
        account.set_faults(accept_delay_s=15 if late(n, side, ticker) else 0)

    broker = HostileBroker(account, clock, before_send=delay_first_buy)
    run, log, orders = _done(db, tmp_path, clock, broker, account)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert_no_duplicates(log)
    assert account.positions() == REFERENCE
    (adopted,) = [o for o in orders if o.message == ADOPTED]
    assert adopted.side is Side.BUY and adopted.status is OrderStatus.FILLED and adopted.sends == 1


# -- 2. a lost reply while the list lags 20 s -----------------------------------------------------------
def test_lost_buy_reply_with_a_lagging_list_waits_for_the_list(db, tmp_path):
    clock = FakeClock()
    account = new_account(tmp_path / "acct.json", clock, list_lag_s=20)
    broker = HostileBroker(account, clock, lose=first(Side.BUY))
    run, log, orders = _done(db, tmp_path, clock, broker, account)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert_no_duplicates(log)
    assert account.positions() == REFERENCE
    assert [o.message for o in orders].count(ADOPTED) == 1


def test_lost_sell_reply_with_a_lagging_list_is_not_recorded_rejected(db, tmp_path):
    clock = FakeClock()
    account = new_account(tmp_path / "acct.json", clock, list_lag_s=20)
    broker = HostileBroker(account, clock, lose=first(Side.SELL, "069500"))
    run, log, orders = _done(db, tmp_path, clock, broker, account)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert_no_duplicates(log)
    assert account.positions() == REFERENCE
    sale = next(o for o in orders if o.ticker == "069500")
    assert sale.status is OrderStatus.FILLED and sale.message == ADOPTED
    trades = history_of(db, run.id).trades
    assert any(t["ticker"] == "069500" and t["side"] == "sell" and t["quantity"] == 150 for t in trades)


class ListLagsFor(HostileBroker):
    """The order list hides ``ticker``'s orders for ``lag_s`` seconds after they were placed."""

    def __init__(self, *args, ticker: str, lag_s: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ticker, self.lag_s = ticker, lag_s

    def daily_orders(self, day, ticker=None, side=None, odno=None, unfilled_only=False):
        rows = super().daily_orders(day, ticker=ticker, side=side, odno=odno, unfilled_only=unfilled_only)
        now = self.account.broker_now()
        return [o for o in rows if o.ticker != self.ticker or (now - o.placed_at).total_seconds() >= self.lag_s]


def test_sell_resend_refused_for_lack_of_shares_reconciles_instead_of_rejecting(db, tmp_path):
    """The list lags past the settle window for one ticker (50 s > 10 s timeout + 30 s window): the
    engine re-sends its sell after two empty readings, the broker refuses (the first send sold the
    shares), and the engine reconciles - never a final REJECTED, never a PARTIAL run, the sale in
    the history."""
    clock = FakeClock()
    account = new_account(tmp_path / "acct.json", clock)
    broker = ListLagsFor(account, clock, lose=first(Side.SELL, "069500"), ticker="069500", lag_s=50)
    run, log, orders = _done(db, tmp_path, clock, broker, account)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert_no_duplicates(log)
    assert account.positions() == REFERENCE
    sale = next(o for o in orders if o.ticker == "069500")
    assert sale.status is OrderStatus.FILLED and sale.sends == 2 and sale.message == ADOPTED
    assert sale.broker_code == "APBK0400"  # the refused re-send is on record
    trades = history_of(db, run.id).trades
    assert any(t["ticker"] == "069500" and t["quantity"] == 150 for t in trades)


# -- 3. the broker's clock behind ours ------------------------------------------------------------------
def test_broker_clock_five_seconds_behind_does_not_hide_the_order(db, tmp_path):
    clock = FakeClock()
    account = new_account(tmp_path / "acct.json", clock, clock_skew_s=-5)
    # the very first send (no offset known yet) and a later one (offset estimated from replies)
    lose_first = first(Side.SELL)
    lose_buy = first(Side.BUY)
    broker = HostileBroker(account, clock, lose=lambda n, s, t: lose_first(n, s, t) or lose_buy(n, s, t))
    run, log, orders = _done(db, tmp_path, clock, broker, account)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert_no_duplicates(log)
    assert account.positions() == REFERENCE
    assert [o.message for o in orders].count(ADOPTED) == 2


# -- beyond the assumptions: block, never resend ---------------------------------------------------------
def test_skew_beyond_the_tolerance_blocks_naming_the_candidate(db, tmp_path):
    clock = FakeClock()
    account = new_account(tmp_path / "acct.json", clock, clock_skew_s=-90)  # tolerance 60 s
    broker = HostileBroker(account, clock, lose=first(Side.SELL))
    eng = make_engine(db, broker, clock)
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    assert run.status is RunStatus.BLOCKED and run.state is RunState.SELL_VALIDATED
    log = account.orders()
    assert len(log) == 1 and broker.sends == 1  # never re-sent
    assert log[0]["odno"] in run.blocked_reason or log[0]["ticker"] in run.blocked_reason
    with db.unit_of_work() as uow:
        blocked = uow.outputs(run.id)["blocked"]
    assert [c["odno"] for c in blocked["candidates"]] == [log[0]["odno"]]
    assert "stamped more than 60s before the intent" in run.blocked_reason


def test_late_original_beyond_the_settle_window_is_recorded_and_blocks(db, tmp_path):
    """A buy whose acceptance comes 60 s late (past the 40 s the engine waits): it is re-sent, and
    the late original, when it shows, is recorded with its fill (history included) and blocks the
    run naming it - never ignored, never a third order."""
    clock = FakeClock()
    account = new_account(tmp_path / "acct.json", clock)
    account.update(lambda st: st.update(cash=200_000_000))  # the late original is affordable too
    late = first(Side.BUY)

    def delay_first_buy(n: int, side: Side, ticker: str) -> None:
        account.set_faults(accept_delay_s=60 if late(n, side, ticker) else 0)

    broker = HostileBroker(account, clock, before_send=delay_first_buy)
    eng = make_engine(db, broker, clock)
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    assert run.status is RunStatus.BLOCKED and run.state is RunState.BUY_VALIDATED, run.error
    log = assert_every_broker_order_recorded(db, run.id, account, clock)
    orders = orders_of(db, run.id)
    (orphan,) = [o for o in orders if (o.message or "").startswith(ORPHAN)]
    assert orphan.status is OrderStatus.FILLED and orphan.odno in run.blocked_reason
    trades = history_of(db, run.id)
    assert trades is None or any(t["odno"] == orphan.odno for t in trades.trades)
    buys = [o for o in log if o["side"] == "buy" and o["ticker"] == orphan.ticker]
    assert len(buys) == 2  # the original and one re-send; nothing more
    with db.unit_of_work() as uow:
        blocked = uow.outputs(run.id)["blocked"]
    assert [c["odno"] for c in blocked["candidates"]] == [orphan.odno]


def test_unknown_order_blocks_after_the_wait_limit_when_the_list_never_answers(db, tmp_path):
    clock = FakeClock()
    account = new_account(tmp_path / "acct.json", clock)
    broker = SendLostListDown(account, clock, lost_send=1)
    eng = make_engine(db, broker, clock)
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    assert run.status is RunStatus.BLOCKED, run.error
    assert "unknown" in run.blocked_reason and "never re-sent" in run.blocked_reason
    assert broker.sends == 1 and account.orders() == []
    (rec,) = orders_of(db, run.id)
    assert rec.status is OrderStatus.UNKNOWN and rec.sends == 1


# -- 7. chains per plan attempt ----------------------------------------------------------------------------
class SendLostListDown(HostileBroker):
    """Send number ``lost_send`` times out having placed nothing, and the order list for its ticker
    is down: the order stays unknown until the wait limit, and the run blocks."""

    def __init__(self, *args, lost_send: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lost_send = lost_send
        self.down_for: str | None = None

    def place_order(self, side, ticker, quantity, order_type="01", price=0):
        if self.sends + 1 == self.lost_send:
            self.sends += 1
            self.down_for = ticker
            self.clock.advance(self.send_timeout_s)
            raise OrderOutcomeUnknown(f"timeout sending {ticker}", ticker=ticker)
        return super().place_order(side, ticker, quantity, order_type, price)

    def daily_orders(self, day, ticker=None, side=None, odno=None, unfilled_only=False):
        if self.down_for and ticker == self.down_for:
            self.clock.advance(1)
            raise RetryableError("inquire-daily-ccld: gave up after 4 attempts")
        return super().daily_orders(day, ticker=ticker, side=side, odno=odno, unfilled_only=unfilled_only)


def test_replanned_order_for_a_ticker_already_sent_is_sent_again(db, tmp_path):
    """Attempt 1 sells 411420 (filled), is refused 360750 (REJECTED: final) and blocks on 069500.
    The operator re-plans: attempt 2 plans on the account after attempt 1's fills and sells 360750
    and 069500. Attempt 1's final 360750 order must not pass for attempt 2's, and attempt 1's fills
    stay recorded (results, history)."""
    clock = FakeClock()
    account = new_account(tmp_path / "acct.json", clock)
    account.set_faults(reject={"360750": "temporarily refused"})
    broker = SendLostListDown(account, clock, lost_send=3)  # 411420, 360750 (refused), 069500 (lost)
    eng = make_engine(db, broker, clock)
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    assert run.status is RunStatus.BLOCKED and run.state is RunState.SELL_VALIDATED, run.error
    assert "069500" in run.blocked_reason
    assert [(o.ticker, o.status) for o in orders_of(db, run.id)] == [
        ("411420", OrderStatus.FILLED), ("360750", OrderStatus.REJECTED), ("069500", OrderStatus.UNKNOWN)]
    broker.down_for = None  # the operator checked: nothing was placed for 069500; 360750 is orderable again
    account.set_faults(reject={})
    eng.force(run.id, RunState.DRIFT_CHECKED.value, reason="069500 checked by hand: nothing placed", actor="alice")
    done = eng.resume(run.id)
    assert done.status is RunStatus.SUCCEEDED, done.error
    log = assert_every_broker_order_recorded(db, run.id, account, clock)
    assert_no_duplicates(log)
    assert account.positions() == REFERENCE  # the same account as a run without faults
    orders = orders_of(db, run.id)
    a2 = {o.ticker: o for o in orders if o.attempt == 2 and o.side is Side.SELL}
    assert a2["360750"].status is OrderStatus.FILLED and a2["360750"].quantity == 292  # sent, not "done"
    assert "411420" not in a2  # planned on the account after attempt 1's sale: nothing left to sell
    with db.unit_of_work() as uow:
        fills = {f["ticker"]: f for f in uow.outputs(run.id)["sell_fills"]["fills"]}
    assert fills["411420"]["filled"] == 1286 and fills["411420"]["status"] == "FILLED"  # attempt 1's, visible
    assert fills["360750"]["filled"] == 292 and fills["360750"]["status"] == "FILLED"
    trades = history_of(db, run.id).trades
    assert {(t["ticker"], t["quantity"]) for t in trades if t["side"] == "sell"} == {
        ("411420", 1286), ("360750", 292), ("069500", 150)}
