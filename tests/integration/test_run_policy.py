"""A live run under a policy (issue 20): ``run --policy band-edge`` plans to the band edge, its
plans pass R1-R5 against the policy's planning targets, and the run and its history row record the
policy. On the in-memory store, SQLite and PostgreSQL (the real migrations, 0007)."""

from __future__ import annotations

import json

import pytest

from adapters.sim.account import DEMO_DIR, SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.models import Side, Targets
from statemachine.planner_optimal import OptimalPlanner
from statemachine.policies import Policy
from statemachine.settings import EngineSettings
from statemachine.states import RunStatus
from tests.contract.helpers import STORES, open_store
from tests.fakes import FakeClock

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))


@pytest.fixture(params=STORES)
def db(request, tmp_path):
    yield from open_store(request, tmp_path)


def _engine(db, account, **settings) -> Engine:
    clock = FakeClock()
    account.clock = clock.now
    optimal = OptimalPlanner()
    return Engine(db.unit_of_work, SimulatedBroker(account), lambda name: optimal, clock,
                  EngineSettings(fill_timeout_s=2, fill_poll_s=0.5, **settings), owner="test-owner")


def _traded(db, run_id: str) -> int:
    with db.unit_of_work() as uow:
        return sum(o.amount for o in uow.orders(run_id) if o.filled_quantity > 0)


def test_band_edge_run_trades_less_and_records_its_policy(db, tmp_path):
    full_eng = _engine(db, SimAccount.demo(tmp_path / "a.json"))
    full = full_eng.run(full_eng.start(account="demo", targets=TARGETS, planner="optimal", max_phase=4).id)
    edge_eng = _engine(db, SimAccount.demo(tmp_path / "b.json"))
    policy = Policy(name="band-edge", edge_fraction=0.5)
    run = edge_eng.start(account="demo", targets=TARGETS, planner="optimal", policy=policy)
    assert run.policy == policy
    done = edge_eng.run(run.id)
    assert done.status is RunStatus.SUCCEEDED
    with db.unit_of_work() as uow:
        assert uow.get_run(run.id).policy == policy
        hist = uow.history_of(run.id)
        attempts = uow.plan_attempts(run.id)
        full_attempts = uow.plan_attempts(full.id)
    assert hist is not None and hist.policy == "band-edge:0.5"
    assert all(a.passed for a in attempts if a.plan is not None) and attempts

    def planned(atts) -> int:  # noqa: ANN001
        return sum(o.quantity for a in atts if a.passed and a.plan and a.plan.side is Side.SELL for o in a.plan.orders)

    assert 0 < planned(attempts) < planned(full_attempts)


def test_the_configured_policy_is_the_default_of_a_run(db, tmp_path):
    eng = _engine(db, SimAccount.demo(tmp_path / "a.json"), policy=Policy(name="cost-aware", drift_value_bps=80))
    run = eng.run(eng.start(account="demo", targets=TARGETS, planner="optimal").id)
    with db.unit_of_work() as uow:
        hist = uow.history_of(run.id)
    assert hist is not None and hist.policy == "cost-aware:80bp,min0"
    assert run.status is RunStatus.SUCCEEDED


def test_policy_parse() -> None:
    assert Policy.parse("band-edge").name == "band-edge"
    assert Policy.parse('{"name": "calendar", "frequency": "quarterly"}').label() == "calendar:quarterly"
    from statemachine.errors import DomainError

    with pytest.raises(DomainError, match="bad policy"):
        Policy.parse("sometimes")


def test_a_calendar_run_trades_to_the_targets_whatever_the_bands(db, tmp_path):
    from statemachine.models import Thresholds

    wide = Thresholds(mp=99.0, sub_mp=99.0)  # no band is ever exceeded
    eng = _engine(db, SimAccount.demo(tmp_path / "a.json"))
    plain = eng.run(eng.start(account="demo", targets=TARGETS, planner="optimal", thresholds=wide).id)
    assert plain.status is RunStatus.NOT_NEEDED
    eng2 = _engine(db, SimAccount.demo(tmp_path / "b.json"))
    run = eng2.run(eng2.start(account="demo", targets=TARGETS, planner="optimal", thresholds=wide,
                              policy=Policy(name="calendar")).id)
    assert run.status is RunStatus.SUCCEEDED
    assert _traded(db, run.id) > 0
    with db.unit_of_work() as uow:
        hist = uow.history_of(run.id)
    assert hist is not None and hist.policy == "calendar:monthly"
    after = hist.drift_after or {}
    assert after.get("total_abs_drift", 100.0) < (hist.drift_before or {}).get("total_abs_drift", 0.0)
