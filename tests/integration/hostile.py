"""Helpers for the hostile-broker tests (issue 14): a simulated broker that spends the fake clock's
time the way a real one would, scripted lost replies, and the exactly-once checks."""

from __future__ import annotations

import json
from collections.abc import Callable

from adapters.sim.account import DEMO_DIR, SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.errors import OrderOutcomeUnknown
from statemachine.models import OrderRecord, Side, Targets
from statemachine.planner_greedy import GreedyPlanner
from statemachine.settings import EngineSettings
from tests.fakes import FakeClock

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
#: The engine settings of these tests: the defaults of the issue-14 fields, fast fills.
SETTINGS = dict(fill_timeout_s=2, fill_poll_s=0.5)


class HostileBroker(SimulatedBroker):
    """The in-process broker on a fake clock: a send whose reply never comes costs the client's
    whole send timeout; every other call a little latency. ``lose`` says, per send (numbered from 1
    with its side and ticker), whether the reply is dropped after the account took the order;
    ``before_send`` may change the account's faults just before a send."""

    def __init__(self, account: SimAccount, clock: FakeClock, *, send_timeout_s: float = 10.0,
                 lose: Callable[[int, Side, str], bool] | None = None,
                 before_send: Callable[[int, Side, str], None] | None = None, alias: str = "demo") -> None:
        super().__init__(account, alias=alias)
        self.clock = clock
        self.send_timeout_s = send_timeout_s
        self.lose = lose or (lambda n, side, ticker: False)
        self.before_send = before_send or (lambda n, side, ticker: None)
        self.sends = 0

    def place_order(self, side, ticker, quantity, order_type="01", price=0):
        self.sends += 1
        n = self.sends
        self.before_send(n, side, ticker)
        try:
            res = super().place_order(side, ticker, quantity, order_type, price)
        except OrderOutcomeUnknown:
            self.clock.advance(self.send_timeout_s)  # the client waited its whole timeout
            raise
        if self.lose(n, side, ticker):
            self.clock.advance(self.send_timeout_s)
            raise OrderOutcomeUnknown(f"no reply to the {side.value} order for {ticker} (dropped)", ticker=ticker)
        self.clock.advance(0.05)
        return res

    def daily_orders(self, day, ticker=None, side=None, odno=None, unfilled_only=False):
        self.clock.advance(0.1)
        return super().daily_orders(day, ticker=ticker, side=side, odno=odno, unfilled_only=unfilled_only)


def make_engine(db, broker, clock: FakeClock, owner: str = "owner-a", planner=None, hooks=None,
                **settings) -> Engine:
    planner = planner or GreedyPlanner()
    return Engine(db.unit_of_work, broker, lambda name: planner, clock,
                  EngineSettings(**{**SETTINGS, **settings}), owner=owner, hooks=hooks)


def new_account(path, clock: FakeClock, **faults) -> SimAccount:
    acc = SimAccount.demo(path)
    acc.clock = clock.now
    if faults:
        acc.set_faults(**faults)
    return acc


def orders_of(db, run_id: str) -> list[OrderRecord]:
    with db.unit_of_work() as uow:
        return uow.orders(run_id)


def history_of(db, run_id: str):
    with db.unit_of_work() as uow:
        return next((h for h in uow.history(limit=50) if h.run_id == run_id), None)


def settle(account: SimAccount, clock: FakeClock, seconds: float = 3600) -> list[dict]:
    """Let every delayed acceptance arrive and the list catch up; the account's whole order log."""
    clock.advance(seconds)
    account.set_faults(list_lag_s=0)
    return account.orders()


def assert_every_broker_order_recorded(db, run_id: str, account: SimAccount, clock: FakeClock) -> list[dict]:
    """Zero unrecorded broker orders: the account's own log and the run's order rows agree."""
    log = settle(account, clock)
    rows = orders_of(db, run_id)
    recorded = sorted(o.odno for o in rows if o.odno)
    assert sorted(o["odno"] for o in log) == recorded, ("a broker order the database does not know",
                                                          [o["odno"] for o in log], recorded)
    by_odno = {o["odno"]: o for o in log}
    for r in rows:
        if r.odno and by_odno[r.odno]["remaining"] == 0:
            assert r.filled_quantity == by_odno[r.odno]["filled_qty"], (r.odno, r.filled_quantity)
    return log


def assert_no_duplicates(log: list[dict]) -> None:
    keys = [(o["side"], o["ticker"]) for o in log]
    assert len(keys) == len(set(keys)), ("an order placed twice", sorted(keys))
