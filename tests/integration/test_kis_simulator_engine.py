"""A full rebalance (the real Engine, an in-memory UnitOfWork) through KisBroker and the simulator."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kis_helpers import RealClock, kis_config  # noqa: E402, I001

from adapters.kis.broker import KisBroker  # noqa: E402
from adapters.memory import MemoryStore  # noqa: E402
from adapters.kis_sim.simulator import SimulatorConfig, SimulatorServer  # noqa: E402
from adapters.sim.account import DEMO_DIR, SimAccount  # noqa: E402
from statemachine.engine import Engine  # noqa: E402
from statemachine.models import OrderRecord, OrderStatus, Targets  # noqa: E402
from statemachine.planner_greedy import GreedyPlanner  # noqa: E402
from statemachine.settings import EngineSettings  # noqa: E402
from statemachine.states import RunStatus  # noqa: E402

N = 20  # requests per second enforced by the simulator (the real host's limit)


def run_engine(url: str, tmp_path: Path, rps: float = N) -> tuple[list[OrderRecord], object, KisBroker]:
    broker = KisBroker(kis_config(url, tmp_path, requests_per_second=rps), httpx.Client())
    broker.client.tokens.token()  # the token endpoint is not under the per-second limit
    store = MemoryStore()
    engine = Engine(
        store.unit_of_work,
        broker,
        lambda name: GreedyPlanner(),
        RealClock(),
        EngineSettings(fill_poll_s=0.05, fill_timeout_s=5),
    )
    targets = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
    run = engine.start(account=broker.alias, max_phase=5, planner="greedy", targets=targets)
    done = engine.run(run.id)
    with store.unit_of_work() as uow:
        return uow.orders(run.id), done, broker


def test_full_rebalance_stays_under_the_rate_limit(tmp_path: Path) -> None:
    """Never a rate-limit reply, and every call counted on both sides. How close the pacing comes to
    the bound is a speed figure, measured as a ratio in ``bench/broker.py`` (docs/benchmarks.md)."""
    SimAccount.demo(tmp_path / "acct.json")
    with SimulatorServer(
        tmp_path / "acct.json", SimulatorConfig(rate_limit_per_s=N, token_issue_min_interval_s=0)
    ) as srv:
        orders, run, broker = run_engine(srv.url, tmp_path)
        calls = sum(srv.simulator.calls.values())
        assert run.status is RunStatus.SUCCEEDED, run.error
        assert srv.simulator.rate_limited == 0  # never received EGW00201
        assert calls == sum(broker.calls.values())
        assert orders and all(o.status is OrderStatus.FILLED for o in orders)
        assert srv.account.positions().get("069500") is None  # the untargeted holding was sold


def test_lost_reply_during_a_run_is_reconciled_not_resent(tmp_path: Path) -> None:
    acct = SimAccount.demo(tmp_path / "acct.json")
    acct.set_faults(lose_reply_rate=1.0)  # every order is applied but its reply dropped
    with SimulatorServer(
        tmp_path / "acct.json", SimulatorConfig(rate_limit_per_s=0, token_issue_min_interval_s=0)
    ) as srv:
        orders, run, _ = run_engine(srv.url, tmp_path, rps=1000)
        assert run.status is RunStatus.SUCCEEDED, run.error
        sent = srv.simulator.calls["VTTC0011U"] + srv.simulator.calls["VTTC0012U"]
        assert sent == len(acct.orders()) == len(orders)  # one send per order, none doubled
        assert all(o.message == "adopted by reconciliation" for o in orders)


@pytest.mark.parametrize("fraction", [0.5])
def test_partial_fills_are_finished_or_cancelled(tmp_path: Path, fraction: float) -> None:
    acct = SimAccount.demo(tmp_path / "acct.json")
    acct.set_faults(partial_fill={"*": fraction})
    with SimulatorServer(
        tmp_path / "acct.json", SimulatorConfig(rate_limit_per_s=0, token_issue_min_interval_s=0)
    ) as srv:
        broker = KisBroker(kis_config(srv.url, tmp_path), httpx.Client())
        store = MemoryStore()
        engine = Engine(
            store.unit_of_work,
            broker,
            lambda name: GreedyPlanner(),
            RealClock(),
            EngineSettings(fill_poll_s=0.02, fill_timeout_s=0.1, partial_retries=0),
        )
        targets = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
        run = engine.run(engine.start(account=broker.alias, planner="greedy", targets=targets).id)
        assert run.status is RunStatus.PARTIAL
        assert all(o["remaining"] == 0 for o in acct.orders())  # every remainder cancelled and confirmed
        assert srv.simulator.calls["VTTC0013U"] >= 1
