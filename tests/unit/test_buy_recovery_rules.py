"""The buy-side recovery's pure rules (statemachine.buy_recovery): which runs may be retried, the
proceeds left idle, the attempts and the history row's account of them; the recovery edges of the
table are taken by nothing but the recovery."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from statemachine import buy_recovery as br
from statemachine.errors import LeaseHeld, RunFinished, TransitionError
from statemachine.machine import RunMachine, force_edge
from statemachine.models import OrderRecord, OrderStatus, Side, Targets, Thresholds
from statemachine.records import HistoryRecord, RunRecord, TransitionRecord
from statemachine.states import TRANSITIONS, RunState, RunStatus, recovery_edge, recovery_sources
from statemachine.step_records import Fill, Fills

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
TARGETS = Targets.model_validate({"mp_id": "X", "mp": {"Stocks": 50, "Bonds": 50, "Alternatives": 0, "Cash": 0},
                                  "sub_mp": {"Stocks": {"411420": 1.0}, "Bonds": {"453850": 1.0},
                                             "Alternatives": {}, "Cash": {}}})


def run(status=RunStatus.PARTIAL, state=RunState.BUY_PLANNED, rid="r1") -> RunRecord:
    return RunRecord(id=rid, account="demo", state=state, status=status, seq=9, thresholds=Thresholds(),
                     targets=TARGETS, engine_version="t", checkpoint_format=1, created_at=T0, updated_at=T0)


def fills(*rows: tuple[str, int, int, OrderStatus], projected=False) -> Fills:
    return Fills(projected=projected, fills=[
        Fill(ticker=t, name="", side=Side.SELL, intended=i, filled=f, amount=f * 1000, fees=f, status=s, odnos=[],
             avg_price=1000.0) for t, i, f, s in rows])


SOLD = fills(("411420", 10, 10, OrderStatus.FILLED))


def step(seq, trigger, status, actor="engine", reason=None) -> TransitionRecord:
    return TransitionRecord(run_id="r1", seq=seq, trigger=trigger, source="X", dest="X", actor=actor, reason=reason,
                            at=T0 + timedelta(minutes=seq), status=status)


def test_the_recovery_edges_lead_from_the_buy_side_back_to_sold_and_nothing_else_takes_them():
    assert recovery_sources() == [RunState.BUY_PLANNED, RunState.BOUGHT]
    assert all(recovery_edge(s).dest is RunState.SOLD for s in recovery_sources())
    assert recovery_edge(RunState.SOLD) is None and recovery_edge(RunState.SELL_PLANNED) is None
    assert {t.trigger for t in TRANSITIONS if t.kind == "recovery"} == {br.RECOVERY_TRIGGER}
    with pytest.raises(TransitionError, match="recovery edge"):
        RunMachine(RunState.BOUGHT).fire(br.RECOVERY_TRIGGER)
    with pytest.raises(TransitionError):
        force_edge(RunState.BUY_PLANNED, "SOLD")  # not an operator edge: force cannot take it


def test_a_partial_run_on_its_buy_side_with_its_sells_filled_may_be_retried():
    for state in recovery_sources():
        assert br.refusal(run(state=state), SOLD) is None


@pytest.mark.parametrize("r,sells,cls,text", [
    (run(RunStatus.RUNNING), SOLD, TransitionError, "only a PARTIAL run"),
    (run(RunStatus.BLOCKED), SOLD, TransitionError, "only a PARTIAL run"),
    (run(RunStatus.SUCCEEDED, RunState.BOUGHT), SOLD, RunFinished, "only a PARTIAL run"),
    (run(RunStatus.FAILED), SOLD, RunFinished, "only a PARTIAL run"),
    (run(RunStatus.PARTIAL, RunState.SELL_VALIDATED), SOLD, TransitionError, "before its buy side"),
    (run(), None, TransitionError, "no executed sells"),
    (run(), fills(("411420", 10, 10, OrderStatus.PROJECTED), projected=True), TransitionError, "no executed sells"),
    (run(), fills(("411420", 10, 5, OrderStatus.PARTIAL)), TransitionError, r"sells did not finish \(411420 5 of 10"),
    (run(), fills(("411420", 10, 0, OrderStatus.REJECTED)), TransitionError, "sells did not finish"),
])
def test_refusals_name_why(r, sells, cls, text):
    err = br.refusal(r, sells)
    assert type(err) is cls and err.fields["run_id"] == "r1"
    assert re.search(text, err.message), err.message


def test_another_active_run_holds_the_account():
    err = br.refusal(run(), SOLD, [run(RunStatus.RUNNING, RunState.FETCHED, rid="r2")])
    assert isinstance(err, LeaseHeld) and "r2" in err.message
    assert br.refusal(run(), SOLD, [run()]) is None  # the run itself does not count


def test_unspent_proceeds_are_the_net_sale_proceeds_less_the_buys_filled():
    def buy(amount, fees, filled=1):
        return OrderRecord(id=1, run_id="r1", side=Side.BUY, ticker="453850", quantity=1, attempt=1,
                           status=OrderStatus.FILLED, filled_quantity=filled, amount=amount, fees=fees, created_at=T0)

    assert br.unspent_proceeds(SOLD, []) == 10_000 - 10
    assert br.unspent_proceeds(SOLD, [buy(4000, 5), buy(0, 0, filled=0)]) == 10_000 - 10 - 4005
    assert br.unspent_proceeds(SOLD, [buy(20_000, 5)]) == 0
    assert br.unspent_proceeds(None, []) == 0


def test_attempts_their_outcomes_and_the_history_account():
    steps = [step(0, "start", "RUNNING"), step(1, "buy_side_failed", "PARTIAL"),
             step(2, br.RECOVERY_TRIGGER, "RUNNING", br.AUTO_ACTOR, "auto 1"), step(3, "fetch_cash", "RUNNING"),
             step(4, "buy", "PARTIAL"), step(5, br.RECOVERY_TRIGGER, "RUNNING", "alice", "by hand"),
             step(6, "fetch_cash", "RUNNING")]
    got = br.attempts(steps)
    assert [(a.seq, a.actor, a.reason, a.outcome) for a in got] == [
        (2, br.AUTO_ACTOR, "auto 1", "PARTIAL"), (5, "alice", "by hand", None)]
    assert br.automatic_attempts(steps) == 1 and not br.exhausted(steps)
    assert br.exhausted([*steps[:5], step(5, br.EXHAUSTED_AUDIT, "PARTIAL", br.AUTO_ACTOR)])
    first = HistoryRecord(run_id="r1", executed_at=T0, account="demo", status=RunStatus.PARTIAL,
                          mp_threshold_percent=3, sub_mp_threshold_percent=5, drift_before=None,
                          drift_after={"total_abs_drift": 12.5}, trades=[], total_cost=0, error_message="buys failed")
    rec = br.history_recovery(steps[:5], first)
    assert (rec.first_status, rec.first_error, rec.first_total_abs_drift_after) == (RunStatus.PARTIAL,
                                                                                     "buys failed", 12.5)
    later = first.model_copy(update={"status": RunStatus.PARTIAL, "error_message": "rejected", "recovery": rec,
                                     "drift_after": {"total_abs_drift": 9.0}})
    kept = br.history_recovery(steps, later)  # the first outcome stays the first
    assert kept.first_error == "buys failed" and kept.first_total_abs_drift_after == 12.5
    assert len(kept.attempts) == 2
    assert br.history_recovery(steps[:2], first) is None  # never retried
