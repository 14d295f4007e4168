"""A run's story as plain data: every transition with its time and duration, the plans and their
check results, the orders and fills. ``show``, ``--json`` and the HTTP API all use this."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .models import OrderRecord
from .records import HistoryRecord, PlanAttemptRecord, RunRecord, TransitionRecord
from .states import forced_targets

#: Output kinds ``lease:<epoch>``: who took a run's lease over to resume it, when, and who held it
#: before (written by ``Engine.resume``; no step produces or reads them).
LEASE_NOTE = "lease:"


def interruptions(outputs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The run's resumes by a new lease holder, oldest first: ``after_seq`` (the last step before the
    gap), ``at``, ``resumed_by``, ``previous_holder``, ``died`` (the previous holder still held the
    lease: its process died or was killed; else it had stopped and released it), ``gap_s`` (from the
    previous holder's last sign of life to the resume) and one ``message`` line."""
    notes = sorted((v for k, v in outputs.items() if k.startswith(LEASE_NOTE)), key=lambda v: v["epoch"])
    rows = []
    for n in notes:
        at, seen = datetime.fromisoformat(n["at"]), datetime.fromisoformat(n["previous_seen_at"])
        gap = max(0, round((at - seen).total_seconds()))
        died = bool(n.get("previous_owner"))
        what = f"process died (holder {n['previous_owner']})" if died else "stopped"
        rows.append({"after_seq": n["seq"], "state": n["state"], "at": n["at"], "resumed_by": n["owner"],
                     "previous_holder": n.get("previous_owner"), "died": died, "gap_s": gap, "epoch": n["epoch"],
                     "message": f"interrupted in {n['state']}: {what} / resumed by {n['owner']} after {gap} s"})
    return rows


def run_summary(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id, "account": run.account, "state": run.state.value, "status": run.status.value,
        "max_phase": run.max_phase, "planner": run.planner, "actor": run.actor, "checkpoint": run.seq,
        "sell_attempts": run.sell_attempts, "buy_attempts": run.buy_attempts,
        "thresholds": run.thresholds.model_dump(), "mp_id": run.targets.mp_id,
        "error": run.error, "blocked_reason": run.blocked_reason,
        "lease_owner": run.lease_owner,
        "lease_expires_at": run.lease_expires_at.isoformat() if run.lease_expires_at else None,
        "engine_version": run.engine_version, "checkpoint_format": run.checkpoint_format,
        "created_at": run.created_at.isoformat(), "updated_at": run.updated_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def timeline(run: RunRecord, transitions: list[TransitionRecord], attempts: list[PlanAttemptRecord],
             orders: list[OrderRecord], outputs: dict[str, dict[str, Any]],
             history: HistoryRecord | None = None) -> dict[str, Any]:
    rows = []
    for t in transitions:
        rows.append({"seq": t.seq, "at": t.at.isoformat(), "trigger": t.trigger, "from": t.source, "to": t.dest,
                     "status": t.status, "actor": t.actor, "reason": t.reason, "duration_ms": t.duration_ms})
    plans = []
    for a in attempts:
        plans.append({
            "side": a.side.value, "attempt": a.attempt, "planner": a.planner, "passed": a.passed, "error": a.error,
            "orders": [o.model_dump() for o in a.plan.orders] if a.plan else [],
            "checks": [c.model_dump() for c in a.checks],
            "meta": {k: v for k, v in a.meta.items() if k not in ("prompt", "reply")},
            "prompt": a.meta.get("prompt"), "reply": a.meta.get("reply"),
        })
    return {
        "run": run_summary(run),
        "allowed_force_targets": forced_targets(run.state),
        "transitions": rows,
        "plans": plans,
        "orders": [o.model_dump(mode="json") for o in orders],
        "drift_before": outputs.get("drift_before"),
        "drift_after": outputs.get("drift_after"),
        "sell_fills": outputs.get("sell_fills"),
        "buy_fills": outputs.get("buy_fills"),
        "cash": {k: v for k, v in (outputs.get("cash") or {}).items() if k in ("orderable_cash", "projected")},
        "blocked": outputs.get("blocked"),
        "interruptions": interruptions(outputs),
        "history": history.model_dump(mode="json") if history else None,
    }
