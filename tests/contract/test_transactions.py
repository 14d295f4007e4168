"""Commit and rollback: what a unit of work wrote is visible to others only once committed, and
gone when it rolls back or leaves without committing (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta

from statemachine.models import Thresholds
from statemachine.records import Fence
from tests.contract.helpers import RID, T0, TTL, Uow, add_order, get, new_run, run_record


def test_leaving_without_commit_discards_every_write(uow: Uow):
    a1 = new_run(uow)
    with uow() as u:
        u.update_run(RID, fence=a1, error="uncommitted")
        add_order(u, a1)
        u.put_output(RID, 1, "snapshot", {"a": 1}, fence=a1)
        u.add_thresholds(Thresholds(mp=1.0), T0)
        u.add_run(run_record("20261125-010000-bbbbbb", account="other"))
        assert u.get_run(RID).error == "uncommitted" and len(u.orders(RID)) == 1  # its own writes it sees
    with uow() as u:
        assert u.get_run(RID).error is None and u.orders(RID) == [] and u.outputs(RID) == {}
        assert u.latest_thresholds() == Thresholds() and [r.id for r in u.find_runs()] == [RID]


def test_rollback_discards_and_the_unit_of_work_goes_on(uow: Uow):
    a1 = new_run(uow)
    with uow() as u:
        u.update_run(RID, fence=a1, error="first")
        u.commit()
        u.update_run(RID, fence=a1, error="second")
        u.rollback()
        assert u.get_run(RID).error == "first"
        u.put_output(RID, 1, "snapshot", {"a": 1}, fence=a1)
        u.commit()
        u.update_run(RID, fence=a1, error="third")  # never committed
    run = get(uow)
    assert run.error == "first"
    with uow() as u:
        assert u.outputs(RID) == {"snapshot": {"a": 1}}


def test_an_uncommitted_lease_is_not_taken(uow: Uow):
    new_run(uow)
    with uow() as u:
        assert u.acquire_lease(RID, "runner-b", T0 + timedelta(seconds=TTL + 1), TTL) == Fence("runner-b", 2)
    assert get(uow).fence == Fence("runner-a", 1)


def test_others_never_see_uncommitted_writes(uow: Uow):
    """Another thread's read either waits for the writer (SQLite, memory) or sees the committed
    value (PostgreSQL); it never sees the uncommitted one."""
    a1 = new_run(uow)
    seen: list[str | None] = []
    reader = threading.Thread(target=lambda: seen.append(get(uow).error))
    with uow() as u:
        u.update_run(RID, fence=a1, error="uncommitted")
        reader.start()
        reader.join(0.5)
        u.rollback()
    reader.join(30)
    assert seen == [None]
    seen.clear()
    reader = threading.Thread(target=lambda: seen.append(get(uow).error))
    with uow() as u:
        u.update_run(RID, fence=a1, error="committed")
        u.commit()
    reader.start()
    reader.join(30)
    assert seen == ["committed"]
