"""DOMAIN.md 6.6: orders already open at the start. With ``open_orders_policy=cancel`` the run
cancels them first (order-rvsecncl), confirms each from the order list, records them, and plans on
a snapshot taken after the cancellation; a dry run cancels nothing; an unconfirmed cancel leaves
the run resumable before planning. (Before: the setting existed but was ignored.)"""

from __future__ import annotations

import json

import pytest

from adapters.sim.account import DEMO_DIR, SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.errors import RetryableError
from statemachine.models import Targets
from statemachine.planner_greedy import GreedyPlanner
from statemachine.settings import EngineSettings
from statemachine.states import RunState, RunStatus
from tests.fakes import FakeClock

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def account(tmp_path, clock):
    acc = SimAccount.demo(tmp_path / "account.json")
    acc.clock = clock.now
    acc.set_faults(partial_fill={"411420": 0.5})
    acc.place("sell", "411420", 100)  # 50 filled, 50 left open
    acc.set_faults(partial_fill={})
    return acc


def make_engine(db, broker, clock, **settings):
    greedy = GreedyPlanner()
    es = EngineSettings(**{"fill_timeout_s": 2, "fill_poll_s": 0.5, "open_orders_policy": "cancel",
                           **settings})
    return Engine(db.unit_of_work, broker, lambda name: greedy, clock, es, owner="owner")


def test_open_orders_are_cancelled_confirmed_and_recorded_before_planning(db, account, clock):
    eng = make_engine(db, SimulatedBroker(account), clock)
    run = eng.run(eng.start(account="demo", targets=TARGETS).id)
    assert run.status is RunStatus.SUCCEEDED, run.error
    first = account.orders()[0]
    assert (first["odno"], first["remaining"], first["cancelled"], first["filled_qty"]) == (
        "0000000001", 0, 50, 50)
    with db.unit_of_work() as uow:
        outputs = uow.outputs(run.id)
    assert outputs["cancelled_open_orders"]["orders"] == [
        {"odno": "0000000001", "ticker": "411420", "side": "sell", "quantity": 100, "cancelled": 50,
         "filled": 50}]
    assert outputs["snapshot"]["open_orders"] == []  # planned on the account after the cancellation
    held = {h["ticker"]: h for h in outputs["snapshot"]["holdings"]}
    assert held["411420"]["orderable_quantity"] == held["411420"]["quantity"]  # nothing reserved any more


def test_a_dry_run_cancels_nothing(db, account, clock):
    eng = make_engine(db, SimulatedBroker(account), clock)
    run = eng.run(eng.start(account="demo", targets=TARGETS, max_phase=3).id)
    assert run.status is RunStatus.FAILED and run.state is RunState.FETCHED
    assert "dry run" in run.error and "411420" in run.error
    assert account.orders()[0]["remaining"] == 50


class CancelIgnored(SimulatedBroker):
    """The broker accepts the cancel but the order stays open."""

    def cancel_order(self, odno, org_no, quantity):
        from statemachine.models import PlaceResult

        return PlaceResult(odno=odno, org_no=org_no)


def test_an_unconfirmed_cancel_stops_before_planning_and_resumes(db, account, clock):
    eng = make_engine(db, CancelIgnored(account), clock)
    run = eng.start(account="demo", targets=TARGETS)
    with pytest.raises(RetryableError) as e:
        eng.run(run.id)
    assert "0000000001" in e.value.message
    stuck = eng.get(run.id)
    assert stuck.status is RunStatus.RUNNING and stuck.state is RunState.CREATED
    done = make_engine(db, SimulatedBroker(account), clock).resume(run.id)
    assert done.status is RunStatus.SUCCEEDED
