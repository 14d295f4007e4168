"""The shapes the entry points answer with: plain JSON-ready dicts built from records. The CLI's
``--json`` output and the HTTP API's bodies are these (the golden tests hold them)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from statemachine.machine import mermaid
from statemachine.models import Thresholds
from statemachine.ports import ConfigRow
from statemachine.records import HistoryRecord, PlanAttemptRecord, RunRecord, StrategyDecision
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
    return {"id": d.id, "decided_at": d.decided_at.isoformat(), "decided_by": d.decided_by,
            **d.targets.model_dump(mode="json", exclude={"decided_at"})}


def decision_recorded(d: StrategyDecision) -> dict[str, Any]:
    return {"id": d.id, "mp_id": d.targets.mp_id, "decided_at": d.decided_at.isoformat()}


def llm_cost(attempts: Iterable[PlanAttemptRecord]) -> dict[str, Any]:
    """The LLM's tokens and estimated price summed over planning attempts (a run's, a month's).

    Each LLM attempt stores ``meta["cost"]`` (adapters/gemini/cost.py: tokens and the estimate in
    integer millionths of a USD); the deterministic planners store none and count as zero. ``usd``
    is ``usd_micros`` in dollars, for reading; ``unpriced_attempts`` made calls to a model the
    price table does not list (their tokens are counted, their price is not)."""
    rows = [a.meta["cost"] for a in attempts if isinstance(a.meta.get("cost"), dict)]
    micros = sum(int(r.get("usd_micros") or 0) for r in rows)
    return {
        "llm_attempts": len(rows),
        "prompt_tokens": sum(int(r.get("prompt_tokens") or 0) for r in rows),
        "output_tokens": sum(int(r.get("output_tokens") or 0) for r in rows),
        "total_tokens": sum(int(r.get("total_tokens") or 0) for r in rows),
        "usd_micros": micros,
        "usd": round(micros / 1_000_000, 6),
        "unpriced_attempts": sum(1 for r in rows if not r.get("priced")),
        "models": sorted({str(r["model"]) for r in rows if r.get("model")}),
    }


def history_rows(rows: list[HistoryRecord],
                 costs: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The stored rows; ``costs`` (run id -> :func:`llm_cost`) adds each run's ``llm_cost``."""
    out = []
    for h in rows:
        row = h.model_dump(mode="json")
        if costs is not None:
            row["llm_cost"] = costs.get(h.run_id) or llm_cost([])
        out.append(row)
    return out


def monthly_llm_cost(rows: Iterable[tuple[str, list[PlanAttemptRecord]]]) -> list[dict[str, Any]]:
    """``(month 'YYYY-MM', attempts)`` pairs -> one :func:`llm_cost` line per month, newest first."""
    by_month: dict[str, list[PlanAttemptRecord]] = {}
    runs: dict[str, int] = {}
    for month, attempts in rows:
        by_month.setdefault(month, []).extend(attempts)
        runs[month] = runs.get(month, 0) + 1
    return [{"month": m, "runs": runs[m], **llm_cost(by_month[m])} for m in sorted(by_month, reverse=True)]


def run_row(run: RunRecord, hist: HistoryRecord | None,
            attempts: list[PlanAttemptRecord] | None = None) -> dict[str, Any]:
    """A run's summary with its history figures once it finished (drift before and after, trades, cost)
    and, given its planning attempts, the LLM's tokens and estimated price (``llm_cost``)."""
    row = run_summary(run)
    if hist is not None:
        row.update(drift_before=(hist.drift_before or {}).get("total_abs_drift"),
                   drift_after=(hist.drift_after or {}).get("total_abs_drift"),
                   trades=len(hist.trades), total_cost=hist.total_cost)
    if attempts is not None:
        row["llm_cost"] = llm_cost(attempts)
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
