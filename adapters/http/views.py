"""What the endpoints read: the account now, a run's story with its place in the diagram, the
thresholds in force. Plain functions over the composition root's pieces."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.bootstrap import App
from adapters.http.runner import BackgroundRuns
from adapters.runtime import lease_is_dead
from statemachine.machine import mermaid
from statemachine.models import Snapshot, Targets, Thresholds
from statemachine.ports import Broker
from statemachine.records import RunRecord
from statemachine.states import RunStatus
from statemachine.timeline import timeline


def read_account(broker: Broker, targets: Targets) -> Snapshot:
    """The account now, with prices of targeted tickers it does not hold (as the engine reads it)."""
    snap = broker.balance()
    missing = [t for t in targets.tickers() if snap.price(t) is None]
    if missing:
        snap = snap.model_copy(update={"prices": {**snap.prices, **broker.prices(missing)}})
    return snap


def _visited(transitions: list[dict[str, Any]]) -> list[str]:
    seen: list[str] = []
    for t in transitions:
        if t["to"] not in seen:
            seen.append(t["to"])
    return seen


def lease_is_live(run: RunRecord, now: datetime) -> bool:
    """Another process holds the run's lease and looks alive (so a resume would be refused)."""
    if not run.lease_owner or run.lease_expires_at is None:
        return False
    return run.lease_expires_at > now and not lease_is_dead(run.lease_owner)


class Api:
    """The request handlers' shared pieces: the app context, the token guard, background runs."""

    def __init__(self, app_ctx: App, token: str | None) -> None:
        self.ctx = app_ctx
        self.token = token
        self.runs = BackgroundRuns()

    @property
    def account(self) -> str:
        return self.ctx.broker().alias

    def detail(self, run_id: str) -> dict[str, Any]:
        with self.ctx.db.unit_of_work() as uow:
            run = uow.get_run(run_id)
            hist = next((h for h in uow.history(limit=1000) if h.run_id == run_id), None)
            view = timeline(
                run,
                uow.transitions(run_id),
                uow.plan_attempts(run_id),
                uow.orders(run_id),
                uow.outputs(run_id),
                hist,
            )
        visited = _visited(view["transitions"])
        view["visited"] = visited
        view["mermaid"] = mermaid(run.state, visited=visited)
        view["driven_here"] = self.runs.driving(run_id)
        return view

    def active_run(self) -> str | None:
        with self.ctx.db.unit_of_work() as uow:
            active = uow.find_runs(
                account=self.account, statuses=[RunStatus.RUNNING.value, RunStatus.BLOCKED.value], limit=1
            )
        return active[0].id if active else None

    def config(self) -> dict[str, Any]:
        with self.ctx.db.unit_of_work() as uow:
            rows = uow.config_rows(limit=20)
        if rows:
            return {**rows[0], "recent": rows}
        d = Thresholds()
        return {
            "id": None,
            "mp_threshold_percent": d.mp,
            "sub_mp_threshold_percent": d.sub_mp,
            "updated_at": None,
            "recent": [],
        }
