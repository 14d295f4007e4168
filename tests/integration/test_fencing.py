"""A runner frozen past its lease (issue 14, "Fencing"), in process, on SQLite and PostgreSQL.

Runner A is frozen in the middle of a send: its request has reached the broker (the order exists)
but A has not yet recorded the order number. Its lease expires; runner B takes the run over (a new
fencing epoch). B must not send the order again: it waits until A's send deadline plus the settle
window has passed (the broker's order list lags, so reconciling at once would find nothing), then
finds A's order by reconciliation and adopts it. When A wakes up, every write it tries (recording
its order number, adopting, committing a transition) is refused with LeaseHeld: B's rows stay as
B wrote them, and the broker holds exactly one order per planned order.

The lease is short (4 s, as in the observed failure), shorter than a send's deadline plus the
settle window. A SIGSTOP freezes a runner's heartbeat thread with it; in process, the heartbeat
threads are switched off (the ``frozen_heartbeats`` fixture) and the fake clock is moved past the
lease.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import date, timedelta

import pytest

from adapters.sim.account import DEMO_DIR, SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine import engine as engine_module
from statemachine.engine import Engine
from statemachine.errors import LeaseHeld, SafetyStop
from statemachine.models import BrokerOrder, OrderStatus, PlaceResult, Side, Targets
from statemachine.orders import OrderExecutor
from statemachine.planner_greedy import GreedyPlanner
from statemachine.ports import NoHooks
from statemachine.settings import EngineSettings
from statemachine.states import RunState, RunStatus
from tests.fakes import FakeClock

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
TTL = 4.0
SETTINGS = EngineSettings(lease_ttl_s=TTL, fill_timeout_s=2, fill_poll_s=0.5, send_timeout_s=10,
                          settle_window_s=30)
LAG_S = 25.0  # the order list shows A's order this long after it was placed (< 10 + 30)


class FreezesMidSend(SimulatedBroker):
    """The first order reaches the broker; then the sender freezes until ``wake`` is set, as a
    process stopped between sending and reading the reply."""

    def __init__(self, account: SimAccount) -> None:
        super().__init__(account)
        self.frozen = threading.Event()
        self.wake = threading.Event()
        self.placed: list[str] = []

    def place_order(self, side: Side, ticker: str, quantity: int, order_type: str = "01",
                    price: int = 0) -> PlaceResult:
        res = super().place_order(side, ticker, quantity, order_type, price)
        self.placed.append(res.odno)
        if not self.frozen.is_set():
            self.frozen.set()
            assert self.wake.wait(60), "the test never woke runner A"
        return res


class LaggingList(SimulatedBroker):
    """The order list shows the orders placed by the frozen runner only ``LAG_S`` after they were placed."""

    def __init__(self, account: SimAccount, clock: FakeClock, hidden: list[str]) -> None:
        super().__init__(account)
        self.clock = clock
        self.hidden = hidden

    def daily_orders(self, day: date, ticker: str | None = None, side: Side | None = None,
                     odno: str | None = None, unfilled_only: bool = False) -> list[BrokerOrder]:
        rows = super().daily_orders(day, ticker, side, odno, unfilled_only)
        cutoff = self.clock.now() - timedelta(seconds=LAG_S)
        return [o for o in rows if o.odno not in self.hidden or o.placed_at <= cutoff]


@pytest.fixture(autouse=True)
def frozen_heartbeats(monkeypatch):
    """No background renewals: a frozen process renews nothing (the steps still renew their lease)."""
    monkeypatch.setattr(engine_module._Heartbeat, "_loop", lambda self: None)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def account(tmp_path, clock):
    acc = SimAccount.demo(tmp_path / "account.json")
    acc.clock = clock.now
    return acc


def engine(db, broker, clock, owner, planner=None):
    greedy = planner or GreedyPlanner()
    return Engine(db.unit_of_work, broker, lambda name: greedy, clock, SETTINGS, owner=owner)


def rows(db, run_id):
    with db.unit_of_work() as uow:
        return uow.get_run(run_id), uow.orders(run_id), uow.transitions(run_id), uow.outputs(run_id)


def in_thread(fn) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def target():
        try:
            out["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def test_a_frozen_sender_is_fenced_and_its_order_adopted_not_resent(db, account, clock, caplog):
    frozen = FreezesMidSend(account)
    a = engine(db, frozen, clock, "runner-a")
    run = a.start(account="demo", targets=TARGETS)
    thread, a_out = in_thread(lambda: a.run(run.id))
    assert frozen.frozen.wait(30), "runner A never sent"
    first = frozen.placed[0]
    _, orders, _, _ = rows(db, run.id)
    (pending,) = [o for o in orders if o.status is OrderStatus.INTENT]
    assert pending.sends == 1 and pending.send_started_at == clock.now() and pending.odno is None

    clock.advance(TTL + 1)  # A's lease expires while it is frozen
    takeover_at = clock.now()
    b = engine(db, LaggingList(account, clock, frozen.placed), clock, "runner-b")
    with caplog.at_level(logging.WARNING, logger="rebalance.engine"):
        done = b.resume(run.id)
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert b.get(run.id).fence is None and b.get(run.id).lease_epoch == 2  # B took it over, then released it
    waits = [r for r in caplog.records if "send in flight" in r.getMessage()]
    assert len(waits) == 1 and waits[0].levelno == logging.WARNING
    assert clock.now() >= pending.send_started_at + timedelta(seconds=SETTINGS.send_timeout_s
                                                              + SETTINGS.settle_window_s)
    assert clock.now() > takeover_at

    before = rows(db, run.id)
    adopted = next(o for o in before[1] if o.id == pending.id)
    assert adopted.odno == first and adopted.message == "adopted by reconciliation"
    assert adopted.status is OrderStatus.FILLED

    frozen.wake.set()  # A wakes up and tries to record its order number
    thread.join(30)
    assert not thread.is_alive()
    err = a_out.get("error")
    assert isinstance(err, LeaseHeld), a_out
    assert "lost the lease" in err.message and "took over (epoch 2" in err.message
    assert rows(db, run.id) == before  # A wrote nothing: B's run, orders, transitions, outputs intact

    placed = [(o["side"], o["ticker"]) for o in account.orders()]
    assert len(placed) == len(set(placed)), placed  # one broker order per planned order
    assert len(placed) == len(before[1])
    assert {o.odno for o in before[1]} == {o["odno"] for o in account.orders()}


class BlockingPlanner(GreedyPlanner):
    """Plans the sells only once ``go`` is set (a runner frozen in a step)."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.go = threading.Event()

    def plan(self, ctx):
        if ctx.side is Side.SELL and not self.started.is_set():
            self.started.set()
            assert self.go.wait(60)
        return super().plan(ctx)


def test_a_frozen_runner_cannot_commit_its_transition(db, account, clock):
    slow = BlockingPlanner()
    a = engine(db, SimulatedBroker(account), clock, "runner-a", planner=slow)
    run = a.start(account="demo", targets=TARGETS)
    thread, a_out = in_thread(lambda: a.run(run.id))
    assert slow.started.wait(30)
    assert a.get(run.id).state is RunState.DRIFT_CHECKED

    clock.advance(TTL + 1)
    b = engine(db, SimulatedBroker(account), clock, "runner-b")
    done = b.resume(run.id)
    assert done.status is RunStatus.SUCCEEDED and b.get(run.id).lease_epoch == 2
    before = rows(db, run.id)

    slow.go.set()  # A's plan is ready: its transition DRIFT_CHECKED -> SELL_PLANNED must not land
    thread.join(30)
    assert isinstance(a_out.get("error"), LeaseHeld), a_out
    assert rows(db, run.id) == before
    with db.unit_of_work() as uow:
        assert [p.planner for p in uow.plan_attempts(run.id)].count("greedy") == 2  # B's two, none of A's


def test_a_fenced_runner_cannot_adopt(db, account, clock):
    """A reconciles an UNKNOWN intent with the fence of its first tenure, after B took over."""
    broker = SimulatedBroker(account)
    a = engine(db, broker, clock, "runner-a")
    run = a.start(account="demo", targets=TARGETS)
    a_fence = a._fence(run.id)
    with db.unit_of_work() as uow:
        rec = uow.add_order(run_id=run.id, account="demo", side=Side.SELL, ticker="411420", name="", quantity=1,
                            attempt=1, seq=0, status=OrderStatus.UNKNOWN, created_at=clock.now(), fence=a_fence)
        uow.commit()
    placed = broker.place_order(Side.SELL, "411420", 1)  # A's lost-reply send did reach the broker

    clock.advance(TTL + 1)
    b = engine(db, broker, clock, "runner-b")
    b._take_lease(b.get(run.id))
    stale = OrderExecutor(db.unit_of_work, broker, clock, NoHooks(), SETTINGS, logging.LoggerAdapter(
        logging.getLogger("test"), {}), heartbeat=lambda: None, fence=a_fence)
    with pytest.raises(LeaseHeld, match="lost the lease"):
        stale._reconcile(run, rec)
    with db.unit_of_work() as uow:
        (kept,) = uow.orders(run.id)
    assert kept.status is OrderStatus.UNKNOWN and kept.odno is None  # nothing adopted by A

    fresh = OrderExecutor(db.unit_of_work, broker, clock, NoHooks(), SETTINGS, logging.LoggerAdapter(
        logging.getLogger("test"), {}), heartbeat=lambda: None, fence=b._fence(run.id))
    adopted, _ = fresh._reconcile(run, rec)
    assert adopted.odno == placed.odno  # the current holder adopts it


def test_a_takeover_with_no_send_in_flight_does_not_wait(db, account, clock, caplog):
    a = engine(db, SimulatedBroker(account), clock, "runner-a")
    run = a.start(account="demo", targets=TARGETS)
    clock.advance(TTL + 1)  # A died before running a step
    b = engine(db, SimulatedBroker(account), clock, "runner-b")
    t0 = clock.now()
    with caplog.at_level(logging.WARNING, logger="rebalance.engine"):
        done = b.resume(run.id)
    assert done.status is RunStatus.SUCCEEDED
    assert not [r for r in caplog.records if "send in flight" in r.getMessage()]
    assert clock.now() - t0 < timedelta(seconds=SETTINGS.send_timeout_s + SETTINGS.settle_window_s)


def test_renewals_keep_the_epoch_a_takeover_bumps_it(db, account, clock):
    a = engine(db, SimulatedBroker(account), clock, "runner-a")
    run = a.start(account="demo", targets=TARGETS)
    assert a.get(run.id).lease_epoch == 1
    for _ in range(3):
        clock.advance(TTL / 2)
        a._renew(a.get(run.id))
    assert a.get(run.id).lease_epoch == 1
    clock.advance(TTL + 1)
    b = engine(db, SimulatedBroker(account), clock, "runner-b")
    assert b._take_lease(b.get(run.id)).epoch == 2
    with pytest.raises(LeaseHeld, match="lost the lease"):
        a._renew(a.get(run.id))
    assert b.get(run.id).fence.epoch == 2


def test_an_operator_abort_fences_a_live_runner(db, account, clock):
    a = engine(db, SimulatedBroker(account), clock, "runner-a")
    run = a.start(account="demo", targets=TARGETS)
    op = engine(db, SimulatedBroker(account), clock, "operator")
    aborted = op.abort(run.id, reason="stop it", actor="alice")
    assert aborted.status is RunStatus.ABORTED and aborted.lease_epoch == 2 and aborted.lease_owner is None
    with pytest.raises(LeaseHeld, match="lost the lease"):
        a._renew(a.get(run.id))  # as before any send
    assert a.run(run.id).status is RunStatus.ABORTED  # sees the abort, runs no step
    a._record_error(a.get(run.id), RuntimeError("late"))  # logged, not written
    assert a.get(run.id).error == "aborted by alice: stop it"


def test_an_abort_is_refused_while_a_live_runner_has_a_send_in_flight(db, account, clock):
    """Fencing a runner between its send and the record of the broker's answer would leave a placed
    order known to no run: the abort says so and names the way out (the kill switch, or later)."""
    broker = FreezesMidSend(account)
    a = engine(db, broker, clock, "runner-a")
    run = a.start(account="demo", targets=TARGETS)
    thread, out = in_thread(lambda: a.run(run.id))
    assert broker.frozen.wait(30)  # A's first order is at the broker, its answer not recorded
    op = engine(db, SimulatedBroker(account), clock, "operator")
    with pytest.raises(LeaseHeld, match="send in flight .* kill switch"):
        op.abort(run.id, reason="stop it", actor="alice")
    held = op.get(run.id)
    assert (held.status, held.lease_owner, held.lease_epoch) == (RunStatus.RUNNING, "runner-a", 1)
    kill = {"on": False}

    def kill_switch(r):
        if kill["on"]:
            raise SafetyStop("kill switch is on", run_id=r.id)

    a.guards.append(kill_switch)
    kill["on"] = True
    broker.wake.set()
    thread.join(30)
    assert isinstance(out.get("error"), SafetyStop), out  # the runner stopped on the kill switch
    done, orders, _, _ = rows(db, run.id)
    assert done.status is RunStatus.ABORTED
    assert [o.odno for o in orders if o.odno] == broker.placed  # the order in flight was recorded
    assert len(account.orders()) == 1
