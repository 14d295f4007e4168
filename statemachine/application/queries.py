"""Reading use cases: a run's timeline and detail, runs and their status, history, thresholds
and config rows, targets, and the account's drift now. Each opens one unit of work, reads and
returns; none writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from statemachine.account import read_account
from statemachine.application import UowFactory
from statemachine.application.views import (
    config_view,
    history_rows,
    llm_cost,
    monthly_llm_cost,
    run_row,
    with_diagram,
)
from statemachine.drift import drift_report
from statemachine.errors import TargetsError
from statemachine.models import Thresholds
from statemachine.ports import Broker, Clock, UnitOfWork
from statemachine.records import RunRecord, StrategyDecision
from statemachine.states import RunState, RunStatus
from statemachine.timeline import run_summary, timeline

LeaseProbe = Callable[[RunRecord], dict[str, Any]]
ACTIVE = [RunStatus.RUNNING.value, RunStatus.BLOCKED.value]


def _timeline(u: UnitOfWork, run_id: str) -> tuple[RunRecord, dict[str, Any]]:
    run = u.get_run(run_id)
    attempts = u.plan_attempts(run_id)
    view = timeline(run, u.transitions(run_id), attempts, u.orders(run_id), u.outputs(run_id), u.history_of(run_id))
    view["llm_cost"] = llm_cost(attempts)  # the run's LLM tokens and estimated price (each plan's in its meta)
    return run, view


def run_timeline(uow: UowFactory, run_id: str, lease: LeaseProbe | None = None) -> dict[str, Any]:
    """A run's story: transitions, plans and checks, orders and fills, and its history row once
    finished (looked up by the run's id); with ``lease``, the lease's view (live, stale, free). Raises RunNotFound."""
    with uow() as u:
        run, view = _timeline(u, run_id)
    if lease is not None:
        view["lease"] = lease(run)
    return view


def run_detail(uow: UowFactory, run_id: str, lease: LeaseProbe | None = None) -> dict[str, Any]:
    """:func:`run_timeline` with the states visited and the diagram of the run's place."""
    with uow() as u:
        run, view = _timeline(u, run_id)
    if lease is not None:
        view["lease"] = lease(run)
    return with_diagram(view, run.state)


def run_statuses(uow: UowFactory, run_id: str | None = None, limit: int = 200,
                 lease: LeaseProbe | None = None) -> list[dict[str, Any]]:
    """One run's summary, or the active and interrupted runs' (RUNNING, BLOCKED); with ``lease``,
    each with its lease's view (``lease``: live, stale - its holder died or stopped renewing -, free)."""
    with uow() as u:
        runs = [u.get_run(run_id)] if run_id else u.find_runs(statuses=ACTIVE, limit=limit)
    return [{**run_summary(r), **({"lease": lease(r)} if lease else {})} for r in runs]


def list_runs(uow: UowFactory, statuses: list[RunStatus] | None = None, limit: int = 50,
              lease: LeaseProbe | None = None) -> list[dict[str, Any]]:
    """Runs, newest first, each with its history figures once finished (and its lease's view)."""
    with uow() as u:
        runs = u.find_runs(statuses=[s.value for s in statuses] if statuses else None, limit=limit)
        rows = [run_row(r, u.history_of(r.id), u.plan_attempts(r.id)) for r in runs]
    if lease is not None:
        for r, row in zip(runs, rows, strict=True):
            row["lease"] = lease(r)
    return rows


def active_run(uow: UowFactory, account: str) -> str | None:
    """The account's active run (RUNNING or BLOCKED), if any."""
    with uow() as u:
        active = u.find_runs(account=account, statuses=ACTIVE, limit=1)
    return active[0].id if active else None


def history(uow: UowFactory, limit: int = 50) -> list[dict[str, Any]]:
    """Finished runs (table rebalancing_history), newest first, each with its run's LLM tokens and
    estimated price (``llm_cost``, summed from the run's planning attempts)."""
    with uow() as u:
        rows = u.history(limit=limit)
        return history_rows(rows, {h.run_id: llm_cost(u.plan_attempts(h.run_id)) for h in rows})


def llm_cost_by_month(uow: UowFactory, months: int = 3, scan: int = 5000) -> list[dict[str, Any]]:
    """The LLM's tokens and estimated price per calendar month (UTC, by the run's finish), newest
    first, over the last ``scan`` finished runs; at most ``months`` lines."""
    with uow() as u:
        rows = u.history(limit=scan)
        lines = monthly_llm_cost((h.executed_at.strftime("%Y-%m"), u.plan_attempts(h.run_id)) for h in rows)
    return lines[:months]


def thresholds(uow: UowFactory) -> Thresholds:
    """The thresholds in force (the newest row, or the defaults)."""
    with uow() as u:
        return u.latest_thresholds()


def config(uow: UowFactory, limit: int = 20) -> dict[str, Any]:
    """The thresholds row in force and the recent rows (see :func:`views.config_view`)."""
    with uow() as u:
        return config_view(u.config_rows(limit=limit))


def latest_targets(uow: UowFactory) -> StrategyDecision | None:
    with uow() as u:
        return u.latest_targets()


def drift_now(uow: UowFactory, make_broker: Callable[[], Broker], clock: Clock) -> dict[str, Any]:
    """The account now against the latest targets: MP and Sub-MP drift, whether to rebalance, and
    the account's active run. Raises TargetsError before any targets were recorded (and before
    the broker is made)."""
    with uow() as u:
        decision = u.latest_targets()
        th = u.latest_thresholds()
    if decision is None:
        raise TargetsError("no targets yet: record a strategy decision ('targets set FILE')", field="targets")
    broker = make_broker()
    report = drift_report(read_account(broker, decision.targets), decision.targets, th)
    return {
        **report.model_dump(mode="json"),
        "account": broker.alias,
        "mp_id": decision.targets.mp_id,
        "decided_at": decision.decided_at,
        "taken_at": clock.now(),
        "exceeded": report.exceeded(),
        "active_run_id": active_run(uow, broker.alias),
    }


def run_state(uow: UowFactory, run_id: str) -> RunState:
    """Where a run is (raises RunNotFound)."""
    with uow() as u:
        return u.get_run(run_id).state


def targets_history(uow: UowFactory, limit: int = 20, offset: int = 0) -> dict[str, Any]:
    """Strategy decisions newest first, a page of them, each with who made it and what it changed
    against the decision before it (:mod:`statemachine.targets_history`)."""
    from statemachine.application.views import targets_view
    from statemachine.targets_history import with_changes

    with uow() as u:
        rows = u.decisions(limit=limit + 1, offset=offset)  # one more: the page's last one's predecessor
        total = u.count_decisions()
    page, previous = rows[:limit], (rows[limit] if len(rows) > limit else None)
    return {"total": total, "limit": limit, "offset": offset,
            "decisions": [{**targets_view(d), "changes": changes} for d, changes in with_changes(page, previous)]}
