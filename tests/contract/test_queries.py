"""What the entry points read and write through the unit of work (issue 15): the history row of
one run by key, the thresholds rows, and schedule slot claims, on SQLite, PostgreSQL and the
in-memory unit of work alike."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

import pytest

from adapters.db.connect import Database
from adapters.sim.account import DEMO_DIR
from statemachine.models import Targets, Thresholds
from statemachine.ports import UnitOfWork
from statemachine.records import Fence, HistoryRecord, RunRecord
from statemachine.states import RunState, RunStatus

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
Uow = Callable[[], AbstractContextManager[UnitOfWork]]




def _finished(u: UnitOfWork, i: int, status: RunStatus = RunStatus.SUCCEEDED) -> str:
    """A finished run (number ``i``) with its history row."""
    at = T0 + timedelta(minutes=i)
    rid = f"20261125-{i:06d}-aaaaaa"
    u.add_run(RunRecord(id=rid, account="demo", state=RunState.BOUGHT, status=status, seq=0,
                        thresholds=Thresholds(), targets=TARGETS, engine_version="test", checkpoint_format=1,
                        lease_owner="runner", lease_expires_at=at, lease_epoch=1, created_at=at, updated_at=at))
    u.add_history(HistoryRecord(run_id=rid, executed_at=at, account="demo", status=status,
                                mp_threshold_percent=3.0, sub_mp_threshold_percent=5.0, drift_before=None,
                                drift_after=None, trades=[], total_cost=i), fence=Fence("runner", 1))
    return rid


def test_history_of_finds_a_run_past_the_first_thousand(uow):
    with uow() as u:
        ids = [_finished(u, i) for i in range(1, 1006)]
        u.commit()
    with uow() as u:
        first, last = u.history_of(ids[0]), u.history_of(ids[-1])
        assert len(u.history(limit=1000)) == 1000  # what a scan of the newest 1,000 rows would see
        assert ids[0] not in {h.run_id for h in u.history(limit=1000)}
        missing = u.history_of("20261125-999999-zzzzzz")
    assert first is not None and first.run_id == ids[0] and first.total_cost == 1
    assert last is not None and last.run_id == ids[-1] and last.total_cost == 1005
    assert missing is None


def test_config_rows_newest_first(uow):
    with uow() as u:
        assert u.config_rows() == []
        u.add_thresholds(Thresholds(mp=4.0, sub_mp=6.0), T0)
        u.add_thresholds(Thresholds(mp=2.5, sub_mp=6.0), T0 + timedelta(hours=1))
        u.commit()
    with uow() as u:
        rows = u.config_rows()
        assert [r.mp_threshold_percent for r in u.config_rows(limit=1)] == [2.5]
    assert [(r.mp_threshold_percent, r.sub_mp_threshold_percent) for r in rows] == [(2.5, 6.0), (4.0, 6.0)]
    assert rows[0].updated_at.replace(tzinfo=UTC) == T0 + timedelta(hours=1)
    assert rows[0].id > rows[1].id


def test_one_claimer_wins_a_slot_and_the_loser_can_go_on(uow):
    due = T0 + timedelta(hours=1)
    with uow() as u:
        won, claim = u.claim_slot("demo", due, "scheduler:a", T0)
        u.commit()
    assert won and claim.claimed_by == "scheduler:a" and claim.run_id is None
    with uow() as u:
        won, claim = u.claim_slot("demo", due, "scheduler:b", T0 + timedelta(seconds=1))
        assert not won and claim.claimed_by == "scheduler:a"
        # the lost claim did not spoil the unit of work: it still writes and commits
        u.add_thresholds(Thresholds(mp=4.0, sub_mp=6.0), T0)
        u.record_outcome("demo", due, run_id="run-1")
        u.commit()
    with uow() as u:
        assert u.latest_thresholds().mp == 4.0
        won_other, _ = u.claim_slot("other", due, "scheduler:b", T0)  # slots are per account
        u.commit()
    assert won_other


def test_record_outcome_and_list_claims(uow):
    d1, d2 = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    with uow() as u:
        assert u.get_claim("demo", d1) is None
        u.claim_slot("demo", d1, "scheduler:a", T0)
        u.claim_slot("demo", d2, "scheduler:a", T0)
        u.record_outcome("demo", d1, run_id="run-1")
        u.record_outcome("demo", d1, outcome="x" * 2500)
        u.record_outcome("demo", d2)  # nothing to write
        u.commit()
    with uow() as u:
        c1 = u.get_claim("demo", d1)
        listed = u.claims()
        assert u.claims(account="nobody") == [] and len(u.claims(limit=1)) == 1
    assert c1 is not None and c1.run_id == "run-1" and c1.outcome == "x" * 2000
    assert [c.due_at.replace(tzinfo=UTC) for c in listed] == [d2, d1]
    assert listed[0].run_id is None and listed[0].outcome is None


@pytest.mark.pg
def test_two_processes_racing_for_a_slot_on_postgresql_have_one_winner(request):
    """Two open units of work on PostgreSQL: the second insert waits for the first transaction and
    then loses, seeing the winner's row (on SQLite transactions never overlap)."""
    server = request.getfixturevalue("pg_server")
    url = server.url(server.create_db(template=request.getfixturevalue("pg_template")))
    a, b = Database(url, auto_migrate=True), Database(url, auto_migrate=True)
    due = T0 + timedelta(hours=1)
    results: dict[str, bool] = {}
    with a.unit_of_work() as ua:
        results["a"] = ua.claim_slot("demo", due, "scheduler:a", T0)[0]

        def other() -> None:
            with b.unit_of_work() as ub:
                won, claim = ub.claim_slot("demo", due, "scheduler:b", T0)
                results["b"] = won
                results["b_sees_a"] = claim.claimed_by == "scheduler:a"
                ub.commit()

        t = threading.Thread(target=other)
        t.start()
        t.join(0.5)
        assert t.is_alive()  # waiting on the first transaction
        ua.commit()
        t.join(10)
    a.dispose()
    b.dispose()
    assert results == {"a": True, "b": False, "b_sees_a": True}
