"""The one table: states, edges, operator edges, max_phase, and the diagram generated from it."""

from __future__ import annotations

import pytest

from statemachine.errors import TransitionError
from statemachine.machine import RunMachine, force_edge, mermaid
from statemachine.states import (
    MAX_PHASE,
    TRANSITIONS,
    RunState,
    forced_targets,
    operator_edges,
    reached,
    stop_state,
)

NINE = ["FETCHED", "DRIFT_CHECKED", "SELL_PLANNED", "SELL_VALIDATED", "SOLD", "CASH_FETCHED", "BUY_PLANNED",
        "BUY_VALIDATED", "BOUGHT"]


def test_forward_path_walks_the_nine_states_in_order():
    m = RunMachine(RunState.CREATED)
    walked = []
    for trig in ["fetch", "check_drift", "plan_sells", "validate_sells", "sell", "fetch_cash", "plan_buys",
                 "validate_buys", "buy"]:
        walked.append(m.fire(trig).value)
    assert walked == NINE


def test_loop_back_edges_return_to_the_sides_planning_state():
    assert RunMachine("SELL_PLANNED").fire("reject_sells") is RunState.DRIFT_CHECKED
    assert RunMachine("BUY_PLANNED").fire("reject_buys") is RunState.CASH_FETCHED


def test_invalid_and_operator_triggers_are_refused_by_fire():
    with pytest.raises(TransitionError):
        RunMachine("FETCHED").fire("sell")
    with pytest.raises(TransitionError, match="operator edge"):
        RunMachine("SELL_VALIDATED").fire("force_sold_by_hand")


def test_force_follows_only_operator_edges():
    for t in (t for t in TRANSITIONS if t.kind == "operator"):
        assert force_edge(t.source, t.dest.value).dest is t.dest
    assert force_edge("SOLD", "aborted") is None  # abort is always allowed
    with pytest.raises(TransitionError) as e:
        force_edge("FETCHED", "BOUGHT")
    assert e.value.fields["allowed"] == forced_targets("FETCHED") == ["ABORTED"]
    assert {t.dest.value for t in operator_edges("SELL_VALIDATED")} == {"DRIFT_CHECKED", "CASH_FETCHED",
                                                                        "SELL_VALIDATED"}


@pytest.mark.parametrize("phase,state", [(1, "FETCHED"), (2, "DRIFT_CHECKED"), (3, "BUY_PLANNED"),
                                         (4, "BUY_VALIDATED"), (5, "BOUGHT")])
def test_max_phase_table(phase, state):
    assert stop_state(phase).value == state
    assert MAX_PHASE[phase].sends_orders is (phase == 5)


def test_max_phase_out_of_range():
    with pytest.raises(ValueError):
        stop_state(6)


def test_reached_orders_states():
    assert reached(RunState.SOLD, RunState.SELL_VALIDATED)
    assert not reached(RunState.FETCHED, RunState.SOLD)


def test_mermaid_names_all_nine_states_and_the_loop_backs():
    text = mermaid()
    assert "stateDiagram-v2" in [line.strip() for line in text.splitlines()]
    for s in NINE:
        assert f'state "{s}" as {s}' in text
    assert "SELL_PLANNED --> DRIFT_CHECKED: reject_sells (loop-back)" in text
    assert "BUY_PLANNED --> CASH_FETCHED: reject_buys (loop-back)" in text
    assert "force_sold_by_hand (operator)" in text
    assert mermaid("SOLD").count("s_active") == 2  # the classDef and the current state


def test_docs_page_is_generated_from_the_table():
    from pathlib import Path

    from statemachine.docs import markdown

    page = Path(__file__).resolve().parents[2] / "docs" / "state_machine.md"
    hint = "regenerate: python run_rebalance.py diagram --markdown > docs/state_machine.md"
    assert page.read_text() == markdown(), hint
