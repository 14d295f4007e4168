"""The fencing contract of a unit of work (memory, SQLite, PostgreSQL: see conftest.py).

* the lease epoch is incremented by every acquisition by a new owner (a takeover, a steal, the
  first take of a free lease) and kept by a renewal or a re-take by the same owner;
* every write about a run made with a stale (owner, epoch) raises LeaseHeld and writes nothing,
  whichever write method it is; the current holder's writes go through;
* a takeover waits for a fenced write in progress (never both writers).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from statemachine.errors import LeaseHeld
from statemachine.models import OrderStatus, Side
from statemachine.ports import UnitOfWork
from statemachine.records import Fence, HistoryRecord, PlanAttemptRecord, TransitionRecord
from statemachine.states import RunState, RunStatus
from tests.contract.helpers import RID, T0, TTL, Uow, acquire, get, new_run


# ------------------------------------------------------------------------------ the epoch
def test_epoch_increments_on_takeover_not_on_renewal(uow):
    a1 = new_run(uow)
    assert get(uow).lease_epoch == 1 and get(uow).fence == a1

    # renewals (and a re-take by the same owner) keep the epoch
    with uow() as u:
        assert u.renew_lease(RID, a1, T0 + timedelta(seconds=10), TTL)
        u.commit()
    assert acquire(uow, "runner-a", T0 + timedelta(seconds=20)) == a1
    assert get(uow).lease_epoch == 1

    # a live lease is not taken
    assert acquire(uow, "runner-b", T0 + timedelta(seconds=30)) is None
    assert get(uow).fence == a1

    # an expired lease is taken over: a new epoch; the old owner can no longer renew it
    late = T0 + timedelta(seconds=20 + TTL + 1)
    b2 = acquire(uow, "runner-b", late)
    assert b2 == Fence("runner-b", 2) and get(uow).fence == b2
    with uow() as u:
        assert not u.renew_lease(RID, a1, late, TTL)
        assert u.renew_lease(RID, b2, late, TTL)
        u.commit()
    assert get(uow).lease_epoch == 2

    # a free (released) lease taken by anyone, its former owner included: a new epoch
    with uow() as u:
        u.release_lease(RID, b2)
        u.commit()
    assert get(uow).fence is None and get(uow).lease_epoch == 2
    b3 = acquire(uow, "runner-b", late)
    assert b3 == Fence("runner-b", 3)

    # a steal (steal_if said the holder is dead) is a takeover too
    c4 = acquire(uow, "runner-c", late, steal=True)
    assert c4 == Fence("runner-c", 4) and get(uow).fence == c4


# ------------------------------------------------------------------------------ stale writes
def _setup_taken_over(uow: Uow) -> tuple[Fence, Fence, int]:
    """runner-a created the run and wrote an order and a plan attempt; then runner-b took it over."""
    a1 = new_run(uow)
    with uow() as u:
        order = u.add_order(run_id=RID, account="demo", side=Side.SELL, ticker="411420",
                            name="x", quantity=3, attempt=1, seq=0, status=OrderStatus.INTENT, created_at=T0,
                            fence=a1)
        u.add_plan_attempt(PlanAttemptRecord(run_id=RID, side=Side.SELL, attempt=1,
                                             planner="greedy", plan=None, created_at=T0), fence=a1)
        u.commit()
    b2 = acquire(uow, "runner-b", T0 + timedelta(seconds=TTL + 1))
    assert b2 == Fence("runner-b", 2)
    return a1, b2, order.id


def _state(uow: Uow) -> dict[str, Any]:
    with uow() as u:
        return {"run": u.get_run(RID), "orders": u.orders(RID),
                "transitions": u.transitions(RID), "outputs": u.outputs(RID),
                "attempts": u.plan_attempts(RID),
                "history": [h for h in u.history() if h.run_id == RID]}


def _writes(order_id: int) -> dict[str, Callable[[UnitOfWork, Fence], object]]:
    rid = RID
    at = T0 + timedelta(seconds=TTL + 5)
    return {
        "update_run": lambda u, f: u.update_run(rid, fence=f, error="stale", updated_at=at),
        "update_run_transition": lambda u, f: u.update_run(rid, fence=f, expect_seq=0, seq=1,
                                                           state=RunState.FETCHED, updated_at=at),
        "add_transition": lambda u, f: u.add_transition(TransitionRecord(
            run_id=rid, seq=1, trigger="fetch", source="CREATED", dest="FETCHED", actor=f.owner, at=at), fence=f),
        "put_output": lambda u, f: u.put_output(rid, 1, "snapshot", {"by": f.owner}, fence=f),
        "add_plan_attempt": lambda u, f: u.add_plan_attempt(PlanAttemptRecord(
            run_id=rid, side=Side.SELL, attempt=2, planner=f.owner, plan=None, created_at=at), fence=f),
        "update_plan_attempt": lambda u, f: u.update_plan_attempt(rid, Side.SELL, 1, fence=f, error=f.owner),
        "add_order": lambda u, f: u.add_order(run_id=rid, account="demo", side=Side.SELL, ticker="069500",
                                              name="y", quantity=1, attempt=1, seq=0, status=OrderStatus.INTENT,
                                              created_at=at, fence=f),
        "update_order_odno": lambda u, f: u.update_order(order_id, fence=f, status=OrderStatus.SENT,
                                                         odno="0000000042", org_no="00950", sent_at=at),
        "update_order_adopt": lambda u, f: u.update_order(order_id, fence=f, status=OrderStatus.SENT,
                                                          odno="0000000043", message="adopted by reconciliation"),
        "update_order_fill": lambda u, f: u.update_order(order_id, fence=f, status=OrderStatus.FILLED,
                                                         filled_quantity=3, amount=30000, avg_price=10000.0),
        "add_history": lambda u, f: u.add_history(HistoryRecord(
            run_id=rid, executed_at=at, account="demo", status=RunStatus.FAILED, mp_threshold_percent=3.0,
            sub_mp_threshold_percent=5.0, drift_before=None, drift_after=None, trades=[], total_cost=0), fence=f),
        "release_lease": lambda u, f: u.release_lease(rid, f),
    }


WRITES = list(_writes(0))


@pytest.mark.parametrize("write", WRITES)
def test_a_stale_epoch_writes_nothing_and_raises_lease_held(uow, write):
    a1, b2, order_id = _setup_taken_over(uow)
    before = _state(uow)
    with uow() as u:
        with pytest.raises(LeaseHeld) as err:
            _writes(order_id)[write](u, a1)
        u.commit()  # even a commit after the refusal stores nothing of it
    assert "lost the lease" in err.value.message and "took over (epoch 2" in err.value.message
    assert err.value.fields["epoch"] == 2 and err.value.fields["stale_epoch"] == 1
    assert _state(uow) == before


@pytest.mark.parametrize("write", WRITES)
def test_the_same_owner_with_an_old_epoch_is_refused_too(uow, write):
    """The epoch, not the owner string alone: runner-a, taken over and then back in charge of the
    run (a new epoch), still cannot write with the fence of its first tenure."""
    a1, b2, order_id = _setup_taken_over(uow)
    with uow() as u:
        u.release_lease(RID, b2)
        u.commit()
    a3 = acquire(uow, "runner-a", T0 + timedelta(seconds=TTL + 2))
    assert a3 == Fence("runner-a", 3)
    before = _state(uow)
    with uow() as u, pytest.raises(LeaseHeld):
        _writes(order_id)[write](u, a1)
    assert _state(uow) == before


@pytest.mark.parametrize("write", WRITES)
def test_the_current_holder_writes(uow, write):
    a1, b2, order_id = _setup_taken_over(uow)
    before = _state(uow)
    with uow() as u:
        _writes(order_id)[write](u, b2)
        u.commit()
    assert _state(uow) != before


def test_a_released_lease_fences_its_last_owner(uow):
    a1 = new_run(uow)
    with uow() as u:
        u.release_lease(RID, a1)
        u.commit()
    with uow() as u, pytest.raises(LeaseHeld, match="lost the lease"):
        u.update_run(RID, fence=a1, error="late")
    assert get(uow).error is None


# ------------------------------------------------------------------------------ atomicity
def test_a_takeover_waits_for_a_fenced_write_in_progress(uow):
    """The check and the write are one transaction holding the run's row (the store, in memory): a
    takeover that starts meanwhile waits for it, then takes the lease (the write landed before the
    takeover, never after)."""
    a1 = new_run(uow)
    took: dict = {}
    with uow() as u:
        u.put_output(RID, 1, "snapshot", {"by": "a"}, fence=a1)  # row locked from here
        thread = threading.Thread(target=lambda: took.update(
            fence=acquire(uow, "runner-b", T0 + timedelta(seconds=TTL + 1))))
        thread.start()
        thread.join(1.0)
        assert thread.is_alive() and not took  # the takeover waits for this transaction
        u.commit()
    thread.join(30)
    assert took["fence"] == Fence("runner-b", 2)
    with uow() as u:
        assert u.outputs(RID) == {"snapshot": {"by": "a"}}
        with pytest.raises(LeaseHeld):
            u.put_output(RID, 2, "cash", {"by": "a"}, fence=a1)  # after it: refused
