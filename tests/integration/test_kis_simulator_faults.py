"""The issue-14 faults of the simulated account as the KIS REST simulator serves them to KisBroker:
a delayed acceptance (the reply is dropped; the order arrives later), a lagging daily list, a
skewed broker clock (ORD_TMD and ord_tmd), and a balance answered without its rows."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kis_helpers import kis_config  # noqa: E402, I001

from adapters.kis.broker import KisBroker  # noqa: E402
from adapters.kis_sim.simulator import SimulatorConfig, SimulatorServer  # noqa: E402
from adapters.sim.account import SimAccount  # noqa: E402
from statemachine.errors import OrderOutcomeUnknown  # noqa: E402
from statemachine.models import Side  # noqa: E402
from tests.fakes import FakeClock  # noqa: E402


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def srv(tmp_path: Path, clock: FakeClock) -> Iterator[SimulatorServer]:
    SimAccount.demo(tmp_path / "acct.json")
    with SimulatorServer(tmp_path / "acct.json", SimulatorConfig(rate_limit_per_s=0, token_issue_min_interval_s=0),
                         clock=clock.now) as server:
        yield server


def _broker(srv: SimulatorServer, tmp_path: Path, clock: FakeClock) -> KisBroker:
    return KisBroker(kis_config(srv.url, tmp_path), httpx.Client(), now=clock.now, sleep=lambda s: None)


def test_delayed_acceptance_drops_the_reply_and_the_order_arrives_later(srv, tmp_path, clock):
    srv.account.set_faults(accept_delay_s=15)
    b = _broker(srv, tmp_path, clock)
    day = clock.now().date()
    with pytest.raises(OrderOutcomeUnknown):
        b.place_order(Side.BUY, "261240", 3)
    assert b.daily_orders(day, ticker="261240") == []  # not at the exchange yet
    assert srv.account.positions().get("261240") is None
    clock.advance(15)
    (o,) = b.daily_orders(day, ticker="261240")
    assert (o.quantity, o.filled_quantity) == (3, 3)
    assert srv.account.positions()["261240"] == 3


def test_list_lag_hides_young_orders(srv, tmp_path, clock):
    srv.account.set_faults(list_lag_s=20)
    b = _broker(srv, tmp_path, clock)
    day = clock.now().date()
    res = b.place_order(Side.SELL, "069500", 5)
    assert b.daily_orders(day, ticker="069500") == []
    assert srv.account.positions()["069500"] == 145  # the fill itself happened at once
    clock.advance(20)
    assert [o.odno for o in b.daily_orders(day, ticker="069500")] == [res.odno]


@pytest.mark.parametrize("skew", [-5, 7])
def test_the_broker_stamps_orders_with_its_own_clock(srv, tmp_path, clock, skew):
    srv.account.set_faults(clock_skew_s=skew)
    b = _broker(srv, tmp_path, clock)
    sent = clock.now()
    res = b.place_order(Side.BUY, "261240", 1)
    expected = (sent + timedelta(seconds=skew)).replace(microsecond=0)
    assert res.placed_at == expected  # ORD_TMD, HHMMSS in the broker's clock
    (o,) = b.daily_orders(sent.date(), ticker="261240")
    assert o.placed_at == expected
