"""What a run leaves behind: transitions, step outputs, plan attempts, history; and the targets and
thresholds tables (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from statemachine.models import CheckResult, Side, Thresholds
from statemachine.records import HistoryRecord, PlanAttemptRecord, TransitionRecord
from statemachine.states import RunStatus
from tests.contract.helpers import CONSTRAINT, RID, T0, TARGETS, Uow, new_run

OTHER = "20261125-010000-bbbbbb"


def transition(seq: int, run_id: str = RID) -> TransitionRecord:
    return TransitionRecord(run_id=run_id, seq=seq, trigger=f"t{seq}", source="A", dest="B", actor="runner-a",
                            reason=None, at=T0 + timedelta(seconds=seq), duration_ms=seq, status="RUNNING")


def history(run_id: str, at_s: int, status: RunStatus = RunStatus.SUCCEEDED) -> HistoryRecord:
    return HistoryRecord(run_id=run_id, executed_at=T0 + timedelta(seconds=at_s), account="demo", status=status,
                         mp_threshold_percent=3.0, sub_mp_threshold_percent=5.0, drift_before={"x": 1.5},
                         drift_after=None, trades=[{"ticker": "411420", "qty": 3}], total_cost=120)


def test_transitions_by_checkpoint_of_their_run(uow: Uow):
    a1 = new_run(uow)
    b1 = new_run(uow, run_id=OTHER, account="other")
    with uow() as u:
        for seq in (2, 1, 3):
            u.add_transition(transition(seq), fence=a1)
        u.add_transition(transition(1, OTHER), fence=b1)
        u.commit()
    with uow() as u:
        assert u.transitions(RID) == [transition(1), transition(2), transition(3)]
        assert u.transitions(OTHER) == [transition(1, OTHER)]
        assert u.transitions("nope") == []
    with uow() as u, pytest.raises(CONSTRAINT):
        u.add_transition(transition(2), fence=a1)


def test_outputs_newest_of_each_kind_by_checkpoint(uow: Uow):
    a1 = new_run(uow)
    b1 = new_run(uow, run_id=OTHER, account="other")
    payload = {"cash": 5, "rows": [1, 2]}
    with uow() as u:
        u.put_output(RID, 1, "snapshot", payload, fence=a1)
        u.put_output(RID, 3, "plan", {"v": 3}, fence=a1)
        u.put_output(RID, 1, "plan", {"v": 1}, fence=a1)  # written later, an older checkpoint: not newest
        u.put_output(RID, 2, "snapshot", {"cash": 7}, fence=a1)
        u.put_output(OTHER, 9, "snapshot", {"cash": 0}, fence=b1)
        u.commit()
    payload["cash"] = 999  # the caller's dict is not the stored one
    with uow() as u:
        assert u.outputs(RID) == {"snapshot": {"cash": 7}, "plan": {"v": 3}}
        assert u.outputs(OTHER) == {"snapshot": {"cash": 0}}
        assert u.outputs("nope") == {}
        u.outputs(RID)["plan"]["v"] = 0  # nor is a read one
        assert u.outputs(RID)["plan"] == {"v": 3}
    with uow() as u, pytest.raises(CONSTRAINT):
        u.put_output(RID, 2, "snapshot", {"cash": 8}, fence=a1)  # one payload per (checkpoint, kind)


def attempt(side: Side, n: int, run_id: str = RID) -> PlanAttemptRecord:
    return PlanAttemptRecord(run_id=run_id, side=side, attempt=n, planner="greedy", plan=None,
                             checks=[CheckResult(rule="r", passed=True, message="ok", numbers={"a": 1})],
                             meta={"k": "v"}, created_at=T0 + timedelta(seconds=n))


def test_plan_attempts_added_in_order_and_updated(uow: Uow):
    a1 = new_run(uow)
    with uow() as u:
        u.add_plan_attempt(attempt(Side.SELL, 1), fence=a1)
        u.add_plan_attempt(attempt(Side.BUY, 1), fence=a1)
        u.add_plan_attempt(attempt(Side.SELL, 2), fence=a1)
        u.commit()
    with uow() as u:
        u.update_plan_attempt(RID, Side.SELL, 2, fence=a1, error="infeasible", passed=False)
        u.update_plan_attempt(RID, Side.BUY, 7, fence=a1, error="none such")  # no row: nothing, no error
        u.commit()
    with uow() as u:
        got = u.plan_attempts(RID)
        assert [(a.side, a.attempt) for a in got] == [(Side.SELL, 1), (Side.BUY, 1), (Side.SELL, 2)]
        assert got[0] == attempt(Side.SELL, 1) and got[1] == attempt(Side.BUY, 1)
        assert (got[2].error, got[2].passed, got[2].meta) == ("infeasible", False, {"k": "v"})
        assert u.plan_attempts("nope") == []
    with uow() as u, pytest.raises(CONSTRAINT):
        u.add_plan_attempt(attempt(Side.BUY, 1), fence=a1)


def test_history_is_one_row_per_run_newest_first(uow: Uow):
    a1 = new_run(uow)
    b1 = new_run(uow, run_id=OTHER, account="other")
    with uow() as u:
        u.add_history(history(RID, 10, RunStatus.FAILED), fence=a1)
        u.add_history(history(OTHER, 20), fence=b1)
        u.commit()
    with uow() as u:
        assert u.history() == [history(OTHER, 20), history(RID, 10, RunStatus.FAILED)]
        u.add_history(history(RID, 30), fence=a1)  # finished again: replaces its row
        u.commit()
    with uow() as u:
        assert u.history() == [history(RID, 30), history(OTHER, 20)]
        assert u.history(limit=1) == [history(RID, 30)]


def test_latest_targets_by_decision_time(uow: Uow):
    with uow() as u:
        assert u.latest_targets() is None
        first = u.add_targets(TARGETS, T0 + timedelta(hours=2))
        second = u.add_targets(TARGETS.model_copy(update={"mp_id": "OLD"}), T0)  # decided earlier
        u.commit()
    assert first.id is not None and second.id is not None and first.id != second.id
    assert first.decided_at == T0 + timedelta(hours=2) and first.targets == TARGETS
    with uow() as u:
        latest = u.latest_targets()
    assert latest is not None and (latest.id, latest.decided_at) == (first.id, T0 + timedelta(hours=2))
    assert latest.targets.mp == TARGETS.mp and latest.targets.sub_mp == TARGETS.sub_mp
    assert latest.targets.names == TARGETS.names and latest.targets.decided_at == T0 + timedelta(hours=2)
    with uow() as u:  # the same decision time: the one added last
        third = u.add_targets(TARGETS.model_copy(update={"mp_id": "NEW"}), T0 + timedelta(hours=2))
        u.commit()
    with uow() as u:
        latest = u.latest_targets()
    assert latest is not None and (latest.id, latest.targets.mp_id) == (third.id, "NEW")


def test_latest_thresholds_are_the_last_added(uow: Uow):
    with uow() as u:
        assert u.latest_thresholds() == Thresholds()
        u.add_thresholds(Thresholds(mp=1.0, sub_mp=2.0), T0 + timedelta(hours=1))
        u.add_thresholds(Thresholds(mp=4.0, sub_mp=6.5), T0)  # added last, whatever its time
        u.commit()
    with uow() as u:
        assert u.latest_thresholds() == Thresholds(mp=4.0, sub_mp=6.5)
