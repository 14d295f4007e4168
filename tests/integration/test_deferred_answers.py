"""Issue 18 with the batched fill polling: a send's order number is committed with the run's next
write, but never later than the first listing of the side's fills that does not show the order final.
So before the executor waits between listings (or cancels), every order it sent has its order number
on disk: a crash in the wait leaves orders the resume polls by number, not lost replies."""

from __future__ import annotations

import json

from adapters.db.connect import Database
from adapters.sim.account import DEMO_DIR, SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.models import OrderStatus, Targets
from statemachine.planner_greedy import GreedyPlanner
from statemachine.settings import EngineSettings
from statemachine.states import RunStatus
from tests.fakes import FakeClock

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))


class StoredAtWait:
    """At every wait between listings: the run's sent orders as stored (sends, order number)."""

    def __init__(self, db: Database) -> None:
        self.db, self.run_id, self.seen = db, "", []

    def point(self, name: str) -> None:
        if name == "order:between_polls" and self.run_id:
            with self.db.unit_of_work() as uow:
                self.seen.append([(o.ticker, o.sends, o.odno) for o in uow.orders(self.run_id) if o.sends > 0])


def test_order_numbers_are_on_disk_before_the_fills_wait(db_url, tmp_path):
    db = Database(db_url, auto_migrate=True)
    try:
        clock = FakeClock()
        account = SimAccount.demo(tmp_path / "account.json")
        account.clock = clock.now
        account.set_faults(list_lag_s=3)  # the first listings do not show the orders: the executor waits
        hooks = StoredAtWait(db)
        greedy = GreedyPlanner()
        eng = Engine(db.unit_of_work, SimulatedBroker(account), lambda name: greedy, clock,
                     EngineSettings(fill_timeout_s=20, fill_poll_s=0.5), hooks=hooks, owner="test-owner")
        run = eng.start(account="demo", targets=TARGETS)
        hooks.run_id = run.id
        done = eng.run(run.id)
        assert done.status is RunStatus.SUCCEEDED
        assert hooks.seen, "the listings never waited: the test does not exercise the wait"
        for stored in hooks.seen:
            assert stored and all(odno for _, _, odno in stored), stored
        with db.unit_of_work() as uow:
            orders = uow.orders(run.id)
        assert len(orders) == 7 and all(o.status is OrderStatus.FILLED and o.odno and o.sends == 1
                                        for o in orders)
        assert sorted(o.odno for o in orders) == sorted(o["odno"] for o in account.orders())
    finally:
        db.dispose()
