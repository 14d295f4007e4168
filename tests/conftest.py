"""Shared fixtures: databases (SQLite and PostgreSQL, real migrations), the simulated account, an
engine wired like production but with a fast clock."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.db.connect import Database, upgrade  # noqa: E402
from tests.pg import PgServer  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run tests marked slow (or set REBALANCE_SLOW=1); CI runs their short forms")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow") or os.environ.get("REBALANCE_SLOW", "") in ("1", "true", "yes"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow or REBALANCE_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def pg_server():
    server = PgServer()
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and could not be had: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server):
    name = pg_server.create_db()
    url = pg_server.url(name)
    upgrade(url)
    return name


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rebalance.db'}"
    server = request.getfixturevalue("pg_server")
    template = request.getfixturevalue("pg_template")
    return server.url(server.create_db(template=template))


@pytest.fixture
def db(db_url):
    database = Database(db_url, auto_migrate=True)
    yield database
    database.dispose()


def pytest_sessionfinish(session, exitstatus):
    # A run that executes no test must fail (pytest exits 5 on its own; keep it non-zero).
    if exitstatus == 0 and session.testscollected == 0:
        session.exitstatus = 5
