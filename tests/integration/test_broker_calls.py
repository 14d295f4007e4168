"""Broker calls per full run at the protocol minimum (issue 18): the real Engine through KisBroker
and the KIS simulator, whose request log counts every call. The minimum is counted as in
``bench/broker.py`` (docs/benchmarks.md): the balance once, one open-orders page, one send per
order, one daily-ccld listing per side, one orderable-cash read."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kis_helpers import RealClock, kis_config  # noqa: E402, I001

from adapters.kis.broker import KisBroker  # noqa: E402
from adapters.kis_sim.simulator import SimulatorConfig, SimulatorServer  # noqa: E402
from adapters.memory import MemoryStore  # noqa: E402
from adapters.sim.account import SimAccount  # noqa: E402
from bench.broker import minimum_calls, scenario  # noqa: E402
from statemachine.engine import Engine  # noqa: E402
from statemachine.models import OrderStatus, Side, Thresholds  # noqa: E402
from statemachine.planner_greedy import GreedyPlanner  # noqa: E402
from statemachine.settings import EngineSettings  # noqa: E402
from statemachine.states import RunStatus  # noqa: E402


@pytest.mark.parametrize("holdings", [5, 20])
def test_a_full_run_calls_the_broker_at_most_twice_above_the_minimum(tmp_path: Path, holdings: int) -> None:
    data, targets = scenario(holdings)
    SimAccount.create(tmp_path / "acct.json", data)
    cfg = SimulatorConfig(env="real", rate_limit_per_s=0, token_issue_min_interval_s=0)
    with SimulatorServer(tmp_path / "acct.json", cfg) as srv:
        broker = KisBroker(kis_config(srv.url, tmp_path, env="real", requests_per_second=1000), httpx.Client())
        broker.client.tokens.token()  # tokenP is not a broker call of the run
        before = sum(srv.simulator.calls.values())
        store = MemoryStore()
        engine = Engine(store.unit_of_work, broker, lambda name: GreedyPlanner(), RealClock(), EngineSettings())
        run = engine.start(account=broker.alias, planner="greedy", targets=targets,
                           thresholds=Thresholds(mp=1.0, sub_mp=1.0))
        run = engine.run(run.id)
        calls = sum(srv.simulator.calls.values()) - before
        with store.unit_of_work() as uow:
            orders = uow.orders(run.id)
        positions = srv.account.positions()
    assert run.status is RunStatus.SUCCEEDED, run.error
    sells = sum(1 for o in orders if o.side is Side.SELL)
    buys = sum(1 for o in orders if o.side is Side.BUY)
    assert sells and buys and all(o.status is OrderStatus.FILLED for o in orders)
    # the fills recorded are what the broker's books show
    for o in orders:
        start = data["holdings"][o.ticker]["qty"]
        assert positions.get(o.ticker, 0) == start + (o.filled_quantity if o.side is Side.BUY else -o.filled_quantity)
    minimum = minimum_calls(holdings, sells, buys, "real")
    assert calls <= minimum + 2, dict(srv.simulator.calls)
