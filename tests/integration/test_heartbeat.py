"""The heartbeat thread keeps a live runner's lease through a long step (an LLM call, say):
another engine cannot take the run over while it runs, though the step lasts longer than the
lease. Real clock and real threads; about 4 s per database."""

from __future__ import annotations

import json
import threading
import time

import pytest

from adapters.runtime import SystemClock
from adapters.sim.account import DEMO_DIR, SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.errors import LeaseHeld
from statemachine.models import Side, Targets
from statemachine.planner_greedy import GreedyPlanner
from statemachine.settings import EngineSettings
from statemachine.states import RunStatus

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
TTL = 1.5  # the heartbeat renews every max(0.5, TTL / 3) = 0.5 s


class SlowPlanner(GreedyPlanner):
    """Takes 3.5 s (more than twice the lease) to plan the sells."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()

    def plan(self, ctx):
        if ctx.side is Side.SELL:
            self.started.set()
            time.sleep(3.5)
        return super().plan(ctx)


def test_heartbeat_keeps_the_lease_through_a_step_longer_than_the_lease(db, tmp_path):
    account = SimAccount.demo(tmp_path / "account.json")
    slow = SlowPlanner()
    settings = EngineSettings(lease_ttl_s=TTL, fill_timeout_s=5, fill_poll_s=0.1)
    a = Engine(db.unit_of_work, SimulatedBroker(account), lambda n: slow, SystemClock(), settings, owner="a")
    run = a.start(account="demo", targets=TARGETS)
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(run=a.run(run.id)))
    thread.start()
    try:
        assert slow.started.wait(30)
        time.sleep(TTL + 1.0)  # well past the lease taken before the step began
        b = Engine(db.unit_of_work, SimulatedBroker(account), lambda n: GreedyPlanner(), SystemClock(),
                   settings, owner="b")
        with pytest.raises(LeaseHeld):
            b.resume(run.id)
    finally:
        thread.join(60)
    assert result["run"].status is RunStatus.SUCCEEDED
    assert len(account.orders()) == 7
