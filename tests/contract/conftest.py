"""The unit-of-work contract: every test here runs against the in-memory store (adapters.memory),
SQLite and PostgreSQL (skipped locally when no server can be had; required under CI=true)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.db.connect import Database
from adapters.memory import MemoryStore
from tests.contract.helpers import Uow


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def uow(request, tmp_path) -> Iterator[Uow]:
    """A factory of units of work over a fresh, empty store."""
    if request.param == "memory":
        yield MemoryStore().unit_of_work
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rebalance.db'}"
    else:
        server = request.getfixturevalue("pg_server")
        url = server.url(server.create_db(template=request.getfixturevalue("pg_template")))
    database = Database(url, auto_migrate=True)
    yield database.unit_of_work
    database.dispose()
