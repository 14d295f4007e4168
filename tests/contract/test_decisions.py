"""The stores' strategy decisions (memory, SQLite, PostgreSQL): newest first, paginated, counted,
with who decided (migration 0006)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from adapters.sim.account import DEMO_DIR
from statemachine.models import Targets
from tests.contract.helpers import STORES, open_store

DEMO = json.loads((DEMO_DIR / "demo_targets.json").read_text())
T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


def _targets(**mp) -> Targets:
    return Targets.model_validate({**DEMO, "mp": {**DEMO["mp"], **mp}})


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    yield from open_store(request, tmp_path)


def test_stores_list_decisions_newest_first_with_who(store):
    with store.unit_of_work() as uow:
        assert uow.decisions() == [] and uow.count_decisions() == 0 and uow.latest_targets() is None
        uow.add_targets(_targets(Stocks=21, Bonds=49), T0, "alice")
        uow.add_targets(_targets(Stocks=22, Bonds=48), T0 + timedelta(minutes=1))
        uow.add_targets(_targets(Stocks=23, Bonds=47), T0 + timedelta(minutes=2), "web")
        uow.commit()
    with store.unit_of_work() as uow:
        all_ = uow.decisions()
        page = uow.decisions(limit=1, offset=1)
        assert uow.count_decisions() == 3
        assert uow.latest_targets() == all_[0]
    assert [(d.decided_by, d.targets.mp["Stocks"]) for d in all_] == [("web", 23), (None, 22), ("alice", 21)]
    assert [d.id for d in page] == [all_[1].id]
