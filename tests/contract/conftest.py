"""The unit-of-work contract: every test here runs against the in-memory store (adapters.memory),
SQLite and PostgreSQL (skipped locally when no server can be had; required under CI=true)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.helpers import STORES, Uow, open_store


@pytest.fixture(params=STORES)
def uow(request, tmp_path) -> Iterator[Uow]:
    """A factory of units of work over a fresh, empty store."""
    for store in open_store(request, tmp_path):
        yield store.unit_of_work
