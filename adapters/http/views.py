"""The request handlers' shared pieces: the app context, the token, the runs this server drives
in the background, and the reads several endpoints make (a run's detail, the account's active
run, the thresholds config). The use cases themselves are :mod:`statemachine.application`."""

from __future__ import annotations

from typing import Any

from adapters.bootstrap import App
from adapters.http.runner import BackgroundRuns
from adapters.liveness import lease_probe
from statemachine.application import queries


class Api:
    def __init__(self, app_ctx: App, token: str | None) -> None:
        self.ctx = app_ctx
        self.token = token
        self.runs = BackgroundRuns()

    @property
    def account(self) -> str:
        return self.ctx.broker().alias

    def detail(self, run_id: str) -> dict[str, Any]:
        view = queries.run_detail(self.ctx.db.unit_of_work, run_id, lease=lease_probe(self.ctx))
        view["driven_here"] = self.runs.driving(run_id)
        return view

    def active_run(self) -> str | None:
        return queries.active_run(self.ctx.db.unit_of_work, self.account)

    def config(self) -> dict[str, Any]:
        return queries.config(self.ctx.db.unit_of_work)
