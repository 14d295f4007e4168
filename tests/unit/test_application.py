"""The application layer (statemachine/application) on the in-memory unit of work: the use cases
the CLI, the HTTP API and the scheduler share, with a stand-in engine where one is needed."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.memory import MemoryStore
from adapters.memory.tables import row
from adapters.sim.account import DEMO_DIR
from statemachine.application import commands, queries
from statemachine.application.scheduled import Slot, scheduled_start
from statemachine.application.views import run_row
from statemachine.errors import LeaseHeld, RunNotFound, TargetsError, TransitionError
from statemachine.models import Targets, Thresholds
from statemachine.records import Fence, HistoryRecord, RunRecord
from statemachine.states import RunState, RunStatus
from tests.fakes import FakeClock

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
APP = Path(__file__).resolve().parents[2] / "statemachine" / "application"


def _run(rid: str = "r1", status: RunStatus = RunStatus.RUNNING, state: RunState = RunState.CREATED,
         lease_owner: str | None = "runner", expires: datetime | None = T0 + timedelta(seconds=60)) -> RunRecord:
    return RunRecord(id=rid, account="demo", state=state, status=status, seq=0, thresholds=Thresholds(),
                     targets=TARGETS, engine_version="test", checkpoint_format=1, lease_owner=lease_owner,
                     lease_expires_at=expires, lease_epoch=1, created_at=T0, updated_at=T0)


class StandInEngine:
    """The engine's public methods the use cases call, recording what they were asked."""

    def __init__(self, store: MemoryStore, fail_run: Exception | None = None) -> None:
        self.store, self.fail_run = store, fail_run
        self.calls: list[tuple[str, Any]] = []
        self.broker: Any = type("B", (), {"alias": "demo"})()
        self.resumable: RunRecord | None = None

    def start(self, **kw: Any) -> RunRecord:
        self.calls.append(("start", kw))
        run = _run("started")
        with self.store.unit_of_work() as u:
            u.add_run(run)
            u.commit()
        return run

    def run(self, run_id: str) -> RunRecord:
        self.calls.append(("run", run_id))
        if self.fail_run:
            raise self.fail_run
        done = _run(run_id, RunStatus.SUCCEEDED, RunState.BOUGHT, None, None)
        with self.store.unit_of_work() as u:  # the stand-in finishes the run without a lease
            u.tx.write("runs")[run_id] = row("runs", {**done.model_dump(mode="json"), "created_at": done.created_at,
                                                      "updated_at": done.updated_at, "lease_expires_at": None,
                                                      "finished_at": done.finished_at})
            u.commit()
        return done

    def get(self, run_id: str) -> RunRecord:
        with self.store.unit_of_work() as u:
            return u.get_run(run_id)

    def check_resumable(self, run_id: str) -> RunRecord:
        assert self.resumable is not None
        return self.resumable

    def resume(self, run_id: str) -> RunRecord:
        return self.run(run_id)

    def force(self, run_id: str, target: str, *, reason: str, actor: str) -> RunRecord:
        raise NotImplementedError

    def abort(self, run_id: str, *, reason: str, actor: str) -> RunRecord:
        raise NotImplementedError


# ----------------------------------------------------------------------------- thresholds, targets
def test_set_thresholds_keeps_the_value_left_out():
    store, clock = MemoryStore(), FakeClock(T0)
    assert queries.config(store.unit_of_work) == {"id": None, "mp_threshold_percent": Thresholds().mp,
                                                  "sub_mp_threshold_percent": Thresholds().sub_mp,
                                                  "updated_at": None, "recent": []}
    commands.set_thresholds(store.unit_of_work, clock, mp=4.0, sub_mp=6.0)
    clock.advance(60)
    new = commands.set_thresholds(store.unit_of_work, clock, sub_mp=8.0)
    assert (new.mp, new.sub_mp) == (4.0, 8.0)
    assert queries.thresholds(store.unit_of_work) == new
    cfg = queries.config(store.unit_of_work)
    assert (cfg["id"], cfg["mp_threshold_percent"], cfg["sub_mp_threshold_percent"]) == (2, 4.0, 8.0)
    assert cfg["updated_at"] == T0 + timedelta(seconds=60)
    assert [r["id"] for r in cfg["recent"]] == [2, 1]


def test_set_targets_records_a_decision_at_the_clock():
    store, clock = MemoryStore(), FakeClock(T0)
    assert queries.latest_targets(store.unit_of_work) is None
    d = commands.set_targets(store.unit_of_work, clock, TARGETS)
    latest = queries.latest_targets(store.unit_of_work)
    assert latest is not None and (latest.id, latest.decided_at) == (d.id, T0) == (1, T0)
    assert latest.targets.model_dump(exclude={"decided_at"}) == TARGETS.model_dump(exclude={"decided_at"})


def test_drift_now_without_targets_refuses_before_making_a_broker():
    def no_broker():
        raise AssertionError("the broker was made")

    with pytest.raises(TargetsError, match="no targets yet"):
        queries.drift_now(MemoryStore().unit_of_work, no_broker, FakeClock(T0))


# ----------------------------------------------------------------------------- runs and history
def _history(u, rid: str, cost: int) -> None:
    u.add_history(HistoryRecord(run_id=rid, executed_at=T0, account="demo", status=RunStatus.SUCCEEDED,
                                mp_threshold_percent=3.0, sub_mp_threshold_percent=5.0,
                                drift_before={"total_abs_drift": 4.5}, drift_after={"total_abs_drift": 0.5},
                                trades=[{}, {}], total_cost=cost), fence=Fence("runner", 1))


def test_run_list_and_timeline_find_the_history_of_a_run_behind_a_thousand_newer_ones():
    store = MemoryStore()
    with store.unit_of_work() as u:
        u.add_run(_run("old", RunStatus.SUCCEEDED, RunState.BOUGHT))
        _history(u, "old", 7)
        for i in range(1001):
            u.add_run(_run(f"n{i}", RunStatus.SUCCEEDED, RunState.BOUGHT))
            _history(u, f"n{i}", i)
        u.commit()
    view = queries.run_timeline(store.unit_of_work, "old")
    assert view["history"] is not None and view["history"]["total_cost"] == 7
    detail = queries.run_detail(store.unit_of_work, "old")
    assert detail["visited"] == [] and "stateDiagram" in detail["mermaid"]
    [row] = [r for r in queries.list_runs(store.unit_of_work, limit=2000) if r["id"] == "old"]
    assert (row["drift_before"], row["drift_after"], row["trades"], row["total_cost"]) == (4.5, 0.5, 2, 7)
    with pytest.raises(RunNotFound):
        queries.run_timeline(store.unit_of_work, "nope")


def test_run_row_without_history_is_the_summary():
    row = run_row(_run(), None)
    assert row["id"] == "r1" and "total_cost" not in row


def test_run_statuses_are_the_active_runs_or_one_run():
    store = MemoryStore()
    with store.unit_of_work() as u:
        u.add_run(_run("done", RunStatus.SUCCEEDED))
        u.add_run(_run("active"))
        u.commit()
    assert [r["id"] for r in queries.run_statuses(store.unit_of_work)] == ["active"]
    assert [r["id"] for r in queries.run_statuses(store.unit_of_work, "done")] == ["done"]
    assert queries.active_run(store.unit_of_work, "demo") == "active"
    assert queries.active_run(store.unit_of_work, "other") is None


# ----------------------------------------------------------------------------- resume here
def test_resume_here_refuses_a_blocked_run_and_a_live_lease():
    eng = StandInEngine(MemoryStore())
    now = T0 + timedelta(seconds=10)
    eng.resumable = _run(status=RunStatus.BLOCKED, state=RunState.SOLD)
    with pytest.raises(TransitionError, match="BLOCKED") as blocked:
        commands.check_resume_here(eng, "r1", driven_here=False, now=now, lease_is_dead=lambda o: False)
    assert blocked.value.fields["allowed"]
    eng.resumable = _run()
    with pytest.raises(LeaseHeld, match="being driven by runner"):
        commands.check_resume_here(eng, "r1", driven_here=False, now=now, lease_is_dead=lambda o: False)
    with pytest.raises(LeaseHeld):
        commands.check_resume_here(eng, "r1", driven_here=True, now=now, lease_is_dead=lambda o: True)
    # a dead holder, or an expired lease, does not stop a resume
    assert commands.check_resume_here(eng, "r1", driven_here=False, now=now, lease_is_dead=lambda o: True)
    later = T0 + timedelta(seconds=61)
    assert commands.check_resume_here(eng, "r1", driven_here=False, now=later, lease_is_dead=lambda o: False)


def test_start_and_drive_names_the_run_in_its_error():
    eng = StandInEngine(MemoryStore(), fail_run=TransitionError("broke"))
    with pytest.raises(TransitionError) as exc:
        commands.start_and_drive(eng, max_phase=2, planner="greedy", actor="api-test")
    assert exc.value.fields["run_id"] == "started"
    assert eng.calls[0] == ("start", {"account": "demo", "max_phase": 2, "planner": "greedy", "actor": "api-test",
                                      "targets": None, "policy": None})


# ----------------------------------------------------------------------------- scheduled start
def test_scheduled_start_claims_the_slot_once_and_records_the_outcome():
    store = MemoryStore()
    due = T0 + timedelta(hours=1)
    slot = Slot("demo", due, "10:00")
    first = StandInEngine(store)
    res = scheduled_start(store.unit_of_work, lambda: first, slot, owner="scheduler:a", now=due,
                          max_phase=5, planner="auto")
    assert res.outcome == "ran" and res.run is not None and res.run.status is RunStatus.SUCCEEDED
    with store.unit_of_work() as u:
        claim = u.get_claim("demo", due)
    assert claim is not None and (claim.claimed_by, claim.run_id, claim.outcome) == ("scheduler:a", "started",
                                                                                     "SUCCEEDED")

    second = StandInEngine(store)
    res = scheduled_start(store.unit_of_work, lambda: second, slot, owner="scheduler:b", now=due,
                          max_phase=5, planner="auto")
    assert res.outcome == "claimed" and "already claimed by scheduler:a (run started)" in res.message
    assert second.calls == []  # the loser started nothing


def test_scheduled_start_skips_while_the_account_is_busy():
    store = MemoryStore()
    with store.unit_of_work() as u:
        u.add_run(_run("busy"))
        u.commit()
    eng = StandInEngine(store)
    res = scheduled_start(store.unit_of_work, lambda: eng, Slot("demo", T0, "10:00"), owner="s", now=T0,
                          max_phase=5, planner="auto")
    assert res.outcome == "busy" and "run busy of demo is RUNNING" in res.message
    with store.unit_of_work() as u:
        assert u.claims() == []  # a busy account claims nothing


def test_scheduled_start_records_an_error_of_the_run():
    store = MemoryStore()
    eng = StandInEngine(store, fail_run=TransitionError("broker went away"))
    res = scheduled_start(store.unit_of_work, lambda: eng, Slot("demo", T0, "10:00"), owner="s", now=T0,
                          max_phase=5, planner="auto")
    assert res.outcome == "error" and res.message == "broker went away"
    with store.unit_of_work() as u:
        assert u.get_claim("demo", T0).outcome == "error: broker went away"  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- no I/O
def test_the_application_layer_imports_no_adapter():
    for path in APP.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] in {"__future__", "collections", "contextlib", "dataclasses",
                                              "datetime", "logging", "typing", "statemachine"}, (path, name)
