"""The HTTP app wired like production (bootstrap, simulated account, real database), a client
with and without the token, and a live uvicorn server on an ephemeral loopback port."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from fastapi.testclient import TestClient

from adapters.bootstrap import App, bootstrap
from adapters.config import Settings
from adapters.http.api import API, create_app
from adapters.http.security import LOOPBACK_NAMES
from adapters.sim.account import DEMO_DIR, SimAccount
from statemachine.models import Targets

TOKEN = "test-token-7f3a9c2e51d84b06"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))


def make_app(tmp: Path, db_url: str, *, targets: bool = True, **overrides: Any) -> App:
    values: dict[str, Any] = dict(
        sim_account_path=str(tmp / "account.json"),
        kill_switch_file=str(tmp / "KILL"),
        account_alias="demo",
        fill_poll_s=0.05,
        fill_timeout_s=5,
    )
    settings = Settings(**{**values, **overrides})
    SimAccount.demo(settings.sim_account_path)
    app = bootstrap(settings, db_url=db_url)
    if targets:
        with app.db.unit_of_work() as uow:
            uow.add_targets(TARGETS, datetime.now(UTC))
            uow.commit()
    return app


def account(app: App) -> SimAccount:
    return SimAccount(app.settings.sim_account_path)


@contextmanager
def client(app: App, token: str | None = TOKEN) -> Iterator[TestClient]:
    with TestClient(create_app(app, token)) as c:
        yield c


def wait_finished(c: TestClient, run_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll a background run until no thread of the server drives it any more."""
    deadline = time.monotonic() + timeout
    while True:
        view = c.get(f"{API}/runs/{run_id}").json()
        if not view["driven_here"] and view["run"]["status"] != "RUNNING":
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {view['run']['status']} after {timeout}s")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(app: App, token: str | None = TOKEN) -> Iterator[str]:
    """uvicorn in a thread on 127.0.0.1 and an ephemeral port; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(app, token, allowed_hosts=LOOPBACK_NAMES),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
