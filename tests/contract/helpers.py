"""Records and steps shared by the contract tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from adapters.db.connect import Database
from adapters.memory import IntegrityError as MemoryIntegrityError
from adapters.memory import MemoryStore
from adapters.sim.account import DEMO_DIR
from statemachine.models import OrderRecord, OrderStatus, Side, Targets, Thresholds
from statemachine.ports import UnitOfWork
from statemachine.records import Fence, RunRecord
from statemachine.states import RunState, RunStatus

TARGETS = Targets.model_validate(json.loads((DEMO_DIR / "demo_targets.json").read_text()))
T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
TTL = 60.0
RID = "20261125-010000-aaaaaa"
Uow = Callable[[], AbstractContextManager[UnitOfWork]]
CONSTRAINT = (SqlIntegrityError, MemoryIntegrityError)  # a unique constraint refused the row
STORES = ["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.pg)]


def open_store(request: Any, tmp_path: Path) -> Iterator[MemoryStore | Database]:
    """A fresh, empty store of the kind ``request.param`` names (one of STORES), for a fixture."""
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rebalance.db'}"
    else:
        server = request.getfixturevalue("pg_server")
        url = server.url(server.create_db(template=request.getfixturevalue("pg_template")))
    database = Database(url, auto_migrate=True)
    yield database
    database.dispose()


def run_record(run_id: str = RID, *, owner: str | None = "runner-a", account: str = "demo",
               status: RunStatus = RunStatus.RUNNING, created_at: datetime = T0, epoch: int = 1) -> RunRecord:
    return RunRecord(id=run_id, account=account, state=RunState.CREATED, status=status, seq=0,
                     thresholds=Thresholds(), targets=TARGETS, engine_version="test", checkpoint_format=1,
                     lease_owner=owner, lease_expires_at=T0 + timedelta(seconds=TTL) if owner else None,
                     lease_epoch=epoch, created_at=created_at, updated_at=created_at)


def new_run(uow: Uow, owner: str = "runner-a", run_id: str = RID, **kw: object) -> Fence:
    """A committed RUNNING run whose lease ``owner`` holds at epoch 1 until T0 + TTL."""
    with uow() as u:
        u.add_run(run_record(run_id, owner=owner, **kw))  # type: ignore[arg-type]
        u.commit()
    return Fence(owner, 1)


def acquire(uow: Uow, owner: str, at: datetime, steal: bool = False, run_id: str = RID) -> Fence | None:
    with uow() as u:
        fence = u.acquire_lease(run_id, owner, at, TTL, steal_if=(lambda o: True) if steal else None)
        u.commit()
    return fence


def get(uow: Uow, run_id: str = RID) -> RunRecord:
    with uow() as u:
        return u.get_run(run_id)


def add_order(u: UnitOfWork, fence: Fence, *, ticker: str = "411420", seq: int = 0, account: str = "demo",
              created_at: datetime = T0, run_id: str = RID, side: Side = Side.SELL) -> OrderRecord:
    return u.add_order(run_id=run_id, account=account, side=side, ticker=ticker, name="x", quantity=3, attempt=1,
                       seq=seq, status=OrderStatus.INTENT, created_at=created_at, fence=fence)
