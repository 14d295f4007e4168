"""Leases: acquire (free, expired, held, stolen), the expiry boundary, renew, release, and the
epoch, which only a change of owner increments (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from statemachine.errors import LeaseHeld, RunNotFound
from statemachine.records import Fence
from tests.contract.helpers import RID, T0, TTL, Uow, acquire, get, new_run

EXPIRY = T0 + timedelta(seconds=TTL)  # new_run's lease ends here


def test_a_live_lease_is_not_taken(uow: Uow):
    a1 = new_run(uow)
    assert acquire(uow, "runner-b", T0 + timedelta(seconds=1)) is None
    run = get(uow)
    assert (run.fence, run.lease_expires_at) == (a1, EXPIRY)


def test_a_lease_expiring_exactly_now_is_still_held(uow: Uow):
    new_run(uow)
    assert acquire(uow, "runner-b", EXPIRY) is None
    assert acquire(uow, "runner-b", EXPIRY + timedelta(microseconds=1)) == Fence("runner-b", 2)
    assert get(uow).lease_expires_at == EXPIRY + timedelta(microseconds=1, seconds=TTL)


def test_the_owner_retakes_its_lease_keeping_the_epoch_expired_or_not(uow: Uow):
    a1 = new_run(uow)
    assert acquire(uow, "runner-a", T0 + timedelta(seconds=10)) == a1
    assert get(uow).lease_expires_at == T0 + timedelta(seconds=10 + TTL)
    late = T0 + timedelta(seconds=500)
    assert acquire(uow, "runner-a", late) == a1
    assert (get(uow).lease_epoch, get(uow).lease_expires_at) == (1, late + timedelta(seconds=TTL))


def test_a_free_lease_is_taken_with_a_new_epoch(uow: Uow):
    new_run(uow, owner=None, epoch=4)  # type: ignore[arg-type]
    assert get(uow).fence is None
    assert acquire(uow, "runner-b", T0) == Fence("runner-b", 5)
    assert get(uow).lease_expires_at == T0 + timedelta(seconds=TTL)


def test_steal_if_decides_about_the_current_holder(uow: Uow):
    new_run(uow)
    asked: list[str] = []

    def alive(owner: str) -> bool:
        asked.append(owner)
        return False

    with uow() as u:
        assert u.acquire_lease(RID, "runner-b", T0, TTL, steal_if=alive) is None
        u.commit()
    assert asked == ["runner-a"] and get(uow).fence == Fence("runner-a", 1)
    assert acquire(uow, "runner-b", T0, steal=True) == Fence("runner-b", 2)
    assert get(uow).fence == Fence("runner-b", 2)


def test_acquiring_a_missing_run_is_not_found(uow: Uow):
    with uow() as u, pytest.raises(RunNotFound):
        u.acquire_lease("nope", "runner-a", T0, TTL)


def test_renew_extends_the_lease_its_fence_holds_even_expired(uow: Uow):
    a1 = new_run(uow)
    late = EXPIRY + timedelta(seconds=30)  # expired, but nobody took it
    with uow() as u:
        assert u.renew_lease(RID, a1, late, TTL) is True
        u.commit()
    assert (get(uow).fence, get(uow).lease_expires_at) == (a1, late + timedelta(seconds=TTL))


def test_renew_fails_for_a_stale_fence_a_released_lease_or_a_missing_run(uow: Uow):
    a1 = new_run(uow)
    with uow() as u:
        assert u.renew_lease(RID, Fence("runner-a", 0), T0, TTL) is False
        assert u.renew_lease(RID, Fence("runner-b", 1), T0, TTL) is False
        assert u.renew_lease("nope", a1, T0, TTL) is False
        u.release_lease(RID, a1)
        assert u.renew_lease(RID, a1, T0, TTL) is False  # never takes a free lease
        u.commit()
    assert get(uow).fence is None


def test_release_frees_the_lease_and_keeps_the_epoch(uow: Uow):
    a1 = new_run(uow)
    with uow() as u:
        u.release_lease(RID, a1)
        u.commit()
    run = get(uow)
    assert (run.lease_owner, run.lease_expires_at, run.lease_epoch) == (None, None, 1)
    with uow() as u, pytest.raises(LeaseHeld, match="released since"):
        u.release_lease(RID, a1)


def test_release_with_a_stale_fence_changes_nothing(uow: Uow):
    new_run(uow)
    b2 = acquire(uow, "runner-b", EXPIRY + timedelta(seconds=1))
    with uow() as u, pytest.raises(LeaseHeld, match="held by runner-b") as err:
        u.release_lease(RID, Fence("runner-a", 1))
    assert err.value.fields == {"run_id": RID, "owner": "runner-b", "epoch": 2, "stale_epoch": 1}
    assert get(uow).fence == b2
