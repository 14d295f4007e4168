"""The replay check (statemachine.engine.recovery): a run whose recorded steps the code's table cannot have
produced is refused on resume with ReplayMismatch (exit code 5, HTTP 409), naming the run, the step,
what the code expected and what was recorded; untouched runs resume as before."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, update

from adapters.db import tables
from adapters.sim.account import DEMO_DIR, SimAccount
from adapters.sim.broker import SimulatedBroker
from statemachine.engine import Engine
from statemachine.errors import ReplayMismatch
from statemachine.models import Targets
from statemachine.planner_greedy import GreedyPlanner
from statemachine.ports import NoHooks
from statemachine.settings import EngineSettings
from statemachine.states import RunStatus
from tests.fakes import FakeClock

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))


class _Stop(Exception):
    pass


class _StopAt:
    def __init__(self, state: str) -> None:
        self.name = f"checkpoint:{state}"

    def point(self, name: str) -> None:
        if name == self.name:
            raise _Stop(name)


def _interrupted(db, tmp_path, state: str = "SELL_VALIDATED") -> tuple[Engine, str]:
    account = SimAccount.demo(tmp_path / "account.json")
    clock = FakeClock()
    account.clock = clock.now
    greedy = GreedyPlanner()
    eng = Engine(db.unit_of_work, SimulatedBroker(account), lambda name: greedy, clock,
                 EngineSettings(fill_timeout_s=2, fill_poll_s=0.5), hooks=_StopAt(state), owner="o")
    run = eng.start(account="demo", targets=TARGETS)
    with pytest.raises(_Stop):
        eng.run(run.id)
    eng.hooks = NoHooks()
    return eng, run.id


def _sql(db, stmt) -> None:
    with db.engine.begin() as conn:
        assert conn.execute(stmt).rowcount == 1


def test_an_untouched_interrupted_run_resumes(db, tmp_path):
    eng, run_id = _interrupted(db, tmp_path)
    assert eng.check_resumable(run_id).id == run_id
    assert eng.resume(run_id).status is RunStatus.SUCCEEDED


def test_a_changed_transition_is_refused(db, tmp_path):
    eng, run_id = _interrupted(db, tmp_path)
    tr = tables.run_transitions
    _sql(db, update(tr).where(tr.c.run_id == run_id, tr.c.seq == 2).values(trigger="plan_sells"))
    before = eng.get(run_id)
    with pytest.raises(ReplayMismatch) as err:
        eng.resume(run_id)
    f = err.value.fields
    assert (f["run_id"], f["step"], f["recorded"]) == (run_id, 2, "plan_sells FETCHED -> DRIFT_CHECKED")
    assert "check_drift FETCHED -> DRIFT_CHECKED" in f["expected"]
    assert f"run {run_id}" in err.value.message and "step 2" in err.value.message
    assert err.value.exit_code == 5
    assert eng.get(run_id) == before  # nothing written, the lease not taken


def test_a_changed_destination_is_refused(db, tmp_path):
    eng, run_id = _interrupted(db, tmp_path)
    tr = tables.run_transitions
    _sql(db, update(tr).where(tr.c.run_id == run_id, tr.c.seq == 3).values(dest="SOLD"))
    with pytest.raises(ReplayMismatch) as err:
        eng.check_resumable(run_id)
    assert (err.value.fields["step"], err.value.fields["recorded"]) == (3, "plan_sells DRIFT_CHECKED -> SOLD")


def test_a_missing_step_is_refused(db, tmp_path):
    eng, run_id = _interrupted(db, tmp_path)
    tr = tables.run_transitions
    _sql(db, delete(tr).where(tr.c.run_id == run_id, tr.c.seq == 1))
    with pytest.raises(ReplayMismatch) as err:
        eng.resume(run_id)
    assert err.value.fields["step"] == 1 and err.value.fields["expected"] == "step number 1"


def test_a_deleted_output_is_refused(db, tmp_path):
    eng, run_id = _interrupted(db, tmp_path)
    so = tables.step_outputs
    _sql(db, delete(so).where(so.c.run_id == run_id, so.c.kind == "drift_before"))
    with pytest.raises(ReplayMismatch) as err:
        eng.resume(run_id)
    f = err.value.fields
    assert (f["step"], f["recorded"]) == (2, "none stored") and "drift_before" in f["expected"]


def test_an_output_of_no_recorded_step_is_refused(db, tmp_path):
    eng, run_id = _interrupted(db, tmp_path, state="DRIFT_CHECKED")
    so = tables.step_outputs
    _sql(db, update(so).where(so.c.run_id == run_id, so.c.kind == "drift_before").values(kind="cash"))
    with pytest.raises(ReplayMismatch) as err:
        eng.resume(run_id)
    assert "'cash'" in err.value.fields["recorded"]


def test_a_state_the_steps_do_not_lead_to_is_refused(db, tmp_path):
    eng, run_id = _interrupted(db, tmp_path)
    runs = tables.runs
    _sql(db, update(runs).where(runs.c.id == run_id).values(state="SOLD"))
    with pytest.raises(ReplayMismatch) as err:
        eng.resume(run_id)
    assert err.value.fields["recorded"] == "state SOLD on the run"
