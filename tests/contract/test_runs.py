"""Runs: add, get, find, update with and without ``expect_seq`` (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from statemachine.errors import LeaseHeld, RunNotFound
from statemachine.models import Thresholds
from statemachine.records import Fence
from statemachine.states import RunState, RunStatus
from tests.contract.helpers import RID, T0, Uow, get, new_run, run_record


def test_a_run_reads_back_as_written(uow: Uow):
    run = run_record().model_copy(update={"finished_at": T0 + timedelta(seconds=9), "error": "e", "seq": 4})
    with uow() as u:
        u.add_run(run)
        u.commit()
    assert get(uow) == run
    assert get(uow).created_at.utcoffset() == timedelta(0)


def test_a_missing_run_is_not_found(uow: Uow):
    with uow() as u, pytest.raises(RunNotFound, match="no run with id 'nope'"):
        u.get_run("nope")


def test_one_active_run_per_account(uow: Uow):
    new_run(uow)
    with uow() as u, pytest.raises(LeaseHeld) as err:
        u.add_run(run_record("20261125-010000-bbbbbb", status=RunStatus.BLOCKED))
    assert err.value.fields == {"account": "demo", "run_id": RID}
    with uow() as u:
        u.add_run(run_record("20261125-010000-cccccc", status=RunStatus.FAILED))  # finished: allowed
        u.add_run(run_record("20261125-010000-dddddd", account="other"))  # another account: allowed
        u.commit()
    with uow() as u:
        assert sorted(r.id for r in u.find_runs()) == [RID, "20261125-010000-cccccc", "20261125-010000-dddddd"]


def test_a_finished_run_is_not_made_active_beside_another(uow: Uow):
    """The buy-side recovery makes a PARTIAL run RUNNING again: one active run per account still holds."""
    fence = new_run(uow, run_id="20261125-010000-pppppp", status=RunStatus.PARTIAL)
    new_run(uow, owner="runner-b")  # RID: the account's active run
    with uow() as u, pytest.raises(LeaseHeld):
        u.update_run("20261125-010000-pppppp", fence=fence, expect_seq=0, status=RunStatus.RUNNING)
    assert get(uow, "20261125-010000-pppppp").status is RunStatus.PARTIAL
    with uow() as u:
        u.update_run(RID, fence=Fence("runner-b", 1), status=RunStatus.ABORTED)
        u.commit()
    with uow() as u:  # the account is free: allowed
        u.update_run("20261125-010000-pppppp", fence=fence, expect_seq=0, status=RunStatus.RUNNING)
        u.commit()
    assert get(uow, "20261125-010000-pppppp").status is RunStatus.RUNNING


def test_a_run_id_is_taken_once(uow: Uow):
    new_run(uow)
    with uow() as u, pytest.raises(LeaseHeld):
        u.add_run(run_record(RID, account="other"))
    assert get(uow).account == "demo"


def test_find_runs_newest_first_filtered_and_limited(uow: Uow):
    ids = {"a": ("20261125-010000-aaaaaa", T0, RunStatus.FAILED, "demo"),
           "b": ("20261125-010000-bbbbbb", T0 + timedelta(seconds=5), RunStatus.SUCCEEDED, "demo"),
           "c": ("20261125-010000-cccccc", T0 + timedelta(seconds=5), RunStatus.RUNNING, "demo"),
           "d": ("20261125-010000-dddddd", T0 + timedelta(seconds=1), RunStatus.RUNNING, "other")}
    with uow() as u:
        for rid, at, status, account in ids.values():
            u.add_run(run_record(rid, created_at=at, status=status, account=account))
        u.commit()
    with uow() as u:
        # created_at descending, then id descending
        assert [r.id[-1] for r in u.find_runs()] == ["c", "b", "d", "a"]
        assert [r.id[-1] for r in u.find_runs(limit=2)] == ["c", "b"]
        assert [r.id[-1] for r in u.find_runs(account="demo")] == ["c", "b", "a"]
        assert [r.id[-1] for r in u.find_runs(statuses=["RUNNING"])] == ["c", "d"]
        assert [r.id[-1] for r in u.find_runs(account="demo", statuses=["FAILED", "SUCCEEDED"])] == ["b", "a"]
        assert u.find_runs(account="nobody") == []
        assert len(u.find_runs(account="", statuses=[])) == 4  # empty filters filter nothing


def test_update_run_stores_enums_and_models_as_values(uow: Uow):
    a1 = new_run(uow)
    at = T0 + timedelta(seconds=3)
    with uow() as u:
        u.update_run(RID, fence=a1, expect_seq=0, seq=1, state=RunState.FETCHED, status=RunStatus.BLOCKED,
                     thresholds=Thresholds(mp=1.5, sub_mp=2.5), blocked_reason="why", updated_at=at)
        u.commit()
    run = get(uow)
    assert (run.seq, run.state, run.status, run.blocked_reason) == (1, RunState.FETCHED, RunStatus.BLOCKED, "why")
    assert run.thresholds == Thresholds(mp=1.5, sub_mp=2.5) and run.updated_at == at
    assert run.created_at == T0 and run.fence == a1  # the rest untouched


def test_update_run_with_a_stale_checkpoint_writes_nothing(uow: Uow):
    a1 = new_run(uow)
    with uow() as u:
        u.update_run(RID, fence=a1, expect_seq=0, seq=1)
        u.commit()
    with uow() as u:
        with pytest.raises(LeaseHeld, match="moved on under this process") as err:
            u.update_run(RID, fence=a1, expect_seq=0, seq=2, error="late")
        u.commit()
    assert err.value.fields == {"run_id": RID}
    assert (get(uow).seq, get(uow).error) == (1, None)
    with uow() as u:  # without expect_seq the holder writes whatever the checkpoint
        u.update_run(RID, fence=a1, error="noted")
        u.commit()
    assert (get(uow).seq, get(uow).error) == (1, "noted")


def test_update_of_a_missing_run_is_not_found(uow: Uow):
    a1 = new_run(uow)
    with uow() as u, pytest.raises(RunNotFound):
        u.update_run("nope", fence=a1, error="x")
