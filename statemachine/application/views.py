"""The shapes the entry points answer with: plain JSON-ready dicts built from records. The CLI's
``--json`` output and the HTTP API's bodies are these (the golden tests hold them)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from statemachine.machine import mermaid
from statemachine.models import Thresholds
from statemachine.ports import ConfigRow
from statemachine.records import HistoryRecord, RunRecord, StrategyDecision
from statemachine.states import RunState
from statemachine.timeline import run_summary


def thresholds_view(th: Thresholds) -> dict[str, Any]:
    return {"mp_threshold_percent": th.mp, "sub_mp_threshold_percent": th.sub_mp}


def config_view(rows: list[ConfigRow]) -> dict[str, Any]:
    """The row in force (the newest) and the recent rows, newest first; the defaults when none."""
    recent = [asdict(r) for r in rows]
    if recent:
        return {**recent[0], "recent": recent}
    return {"id": None, **thresholds_view(Thresholds()), "updated_at": None, "recent": []}


def targets_view(d: StrategyDecision) -> dict[str, Any]:
    return {"decided_at": d.decided_at.isoformat(), **d.targets.model_dump(mode="json", exclude={"decided_at"})}


def decision_recorded(d: StrategyDecision) -> dict[str, Any]:
    return {"id": d.id, "mp_id": d.targets.mp_id, "decided_at": d.decided_at.isoformat()}


def history_rows(rows: list[HistoryRecord]) -> list[dict[str, Any]]:
    return [h.model_dump(mode="json") for h in rows]


def run_row(run: RunRecord, hist: HistoryRecord | None) -> dict[str, Any]:
    """A run's summary with its history figures once it finished (drift before and after, trades, cost)."""
    row = run_summary(run)
    if hist is not None:
        row.update(drift_before=(hist.drift_before or {}).get("total_abs_drift"),
                   drift_after=(hist.drift_after or {}).get("total_abs_drift"),
                   trades=len(hist.trades), total_cost=hist.total_cost)
    return row


def visited(transitions: list[dict[str, Any]]) -> list[str]:
    """The states a timeline went through, in first-visit order."""
    seen: list[str] = []
    for t in transitions:
        if t["to"] not in seen:
            seen.append(t["to"])
    return seen


def with_diagram(view: dict[str, Any], state: RunState) -> dict[str, Any]:
    """A timeline with the states it visited and the diagram showing the run's place in it."""
    seen = visited(view["transitions"])
    view["visited"] = seen
    view["mermaid"] = mermaid(state, visited=seen)
    return view
