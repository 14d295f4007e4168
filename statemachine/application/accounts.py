"""Accounts as the entry points show them (issue 19): one account's view, and the all-accounts
overview: per account its drift verdict (from its newest run's stored drift: the overview never
calls a broker, so it stays fast for hundreds of accounts), its last run and status, and whether
it needs an operator, with the reasons.

Pure: the caller hands in the accounts, a unit-of-work factory, the instant, and the problems it
found outside (credentials that cannot be resolved, an account the scheduler could not build).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from statemachine.accounts import Account
from statemachine.application import UowFactory
from statemachine.models import DriftReport
from statemachine.records import RunRecord
from statemachine.states import RunStatus
from statemachine.timeline import run_summary

#: Last-run statuses an operator must look at (BLOCKED waits for ``force``; the others ended short).
OPERATOR_STATUSES = frozenset({RunStatus.BLOCKED, RunStatus.FAILED, RunStatus.PARTIAL, RunStatus.ABORTED})


def account_view(a: Account) -> dict[str, Any]:
    """An account as JSON: names, paths and a masked number; there is nothing secret in it to leave out."""
    return {
        "alias": a.alias, "broker": a.broker, "masked_number": a.masked_number,
        "credentials": {"kind": a.credentials.kind, **a.credentials.model_dump(exclude_none=True)},
        "portfolio": a.portfolio, "follows": a.follows,
        "thresholds": None if a.thresholds is None else a.thresholds.model_dump(),
        "schedule_cron": a.schedule_cron, "sim_account_path": a.sim_account_path, "enabled": a.enabled,
        "created_at": a.created_at.isoformat() if a.created_at else None,
        "updated_at": a.updated_at.isoformat() if a.updated_at else None,
    }


def drift_verdict(outputs: Mapping[str, Any], run: RunRecord | None) -> dict[str, Any]:
    """The newest stored drift of the account's last run: after its orders if it has one, else
    before. ``verdict``: "rebalance needed", "within thresholds" or "unknown" (no run yet)."""
    if run is None:
        return {"verdict": "unknown", "as_of": None, "exceeded": [], "total_abs_drift": None, "source": None}
    source = "drift_after" if outputs.get("drift_after") else "drift_before" if outputs.get("drift_before") else None
    if source is None:
        return {"verdict": "unknown", "as_of": run.updated_at.isoformat(), "exceeded": [], "total_abs_drift": None,
                "source": None}
    payload = outputs[source]
    try:
        report = DriftReport.model_validate(payload)
        exceeded, needed, total = report.exceeded(), report.needed, report.total_abs_drift
    except Exception:  # noqa: BLE001 - an older payload shape: say what is known
        exceeded, needed, total = [], bool(payload.get("needed")), payload.get("total_abs_drift")
    return {"verdict": "rebalance needed" if needed else "within thresholds", "as_of": run.updated_at.isoformat(),
            "exceeded": exceeded, "total_abs_drift": total, "source": source}


def problems_of(run: RunRecord | None, now: datetime) -> list[str]:
    """Why the last run needs an operator (empty: it does not)."""
    if run is None:
        return []
    if run.status in OPERATOR_STATUSES:
        why = run.blocked_reason if run.status is RunStatus.BLOCKED else run.error
        return [f"last run {run.id} is {run.status.value}" + (f": {why}" if why else "")]
    if run.status is RunStatus.RUNNING and (run.lease_expires_at is None or run.lease_expires_at < now):
        return [f"run {run.id} is interrupted at {run.state.value} (no live lease): resume it"]
    return []


def overview(uow: UowFactory, accounts: list[Account], now: datetime,
             problems: Mapping[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """One row per account, in the order given."""
    rows = []
    for a in accounts:
        with uow() as u:
            runs = u.find_runs(account=a.alias, limit=1)
            run = runs[0] if runs else None
            outputs = u.outputs(run.id) if run is not None else {}
        found = [*(problems or {}).get(a.alias, []), *problems_of(run, now)]
        rows.append({
            "alias": a.alias, "broker": a.broker, "masked_number": a.masked_number, "enabled": a.enabled,
            "portfolio": a.portfolio, "follows": a.follows,
            "drift": drift_verdict(outputs, run),
            "last_run": None if run is None else {k: v for k, v in run_summary(run).items() if k in (
                "id", "state", "status", "max_phase", "error", "blocked_reason", "created_at", "updated_at",
                "finished_at")},
            "status": None if run is None else run.status.value,
            "needs_operator": bool(found),
            "problems": found,
        })
    return rows
