"""Counting a run's transactions (issue 18). The checkpoints are written on the driver's own cursor
(adapters/db/checkpoint.py), past SQLAlchemy's events, so the count is taken where every
transaction shows: on SQLite the statements the sqlite3 connections execute (``BEGIN``, ``COMMIT``,
``ROLLBACK``, seen by a trace callback); on PostgreSQL the server's own count,
``pg_stat_database.xact_commit`` / ``xact_rollback``, read once the engine's connections are closed
(a backend flushes its counters when it exits), next to SQLAlchemy's events for what goes through
it (the reads)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url


@dataclass
class TxCount:
    """What one SQLAlchemy engine's connections did since :meth:`attach`."""

    begins: int = 0
    commits: int = 0
    rollbacks: int = 0
    connects: int = 0  # new database connections (PostgreSQL: the driver's set-up is a transaction)

    sqlite: bool = False  # counted from the driver's statements (else from SQLAlchemy's events)

    def attach(self, engine: Engine) -> TxCount:
        """Attach to a disposed engine (its new connections are traced)."""
        self.sqlite = engine.dialect.name == "sqlite"
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)
        event.listen(engine.pool, "connect", self._connect)
        self._engine = engine
        return self

    def detach(self) -> None:
        event.remove(self._engine, "begin", self._begin)
        event.remove(self._engine, "commit", self._commit)
        event.remove(self._engine, "rollback", self._rollback)
        event.remove(self._engine.pool, "connect", self._connect)

    def _begin(self, _conn: object) -> None:
        if not self.sqlite:
            self.begins += 1

    def _commit(self, _conn: object) -> None:
        if not self.sqlite:
            self.commits += 1

    def _rollback(self, _conn: object) -> None:
        if not self.sqlite:
            self.rollbacks += 1

    def _connect(self, dbapi_conn: Any, _record: object) -> None:
        self.connects += 1
        if self.sqlite:
            dbapi_conn.set_trace_callback(self._statement)

    def _statement(self, sql: str) -> None:
        head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        if head == "BEGIN":
            self.begins += 1
        elif head in ("COMMIT", "END"):
            self.commits += 1
        elif head == "ROLLBACK":
            self.rollbacks += 1


class PgXacts:
    """The server's transaction counters of one database (``pg_stat_database``), read from another
    database of the same server (``postgres``), so the readings are not counted themselves."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.name = parsed.database
        self.conn = psycopg.connect(parsed.set(drivername="postgresql", database="postgres")
                                    .render_as_string(hide_password=False), autocommit=True)

    def read(self) -> tuple[int, int]:
        """(xact_commit, xact_rollback) as the server counts them now."""
        self.conn.execute("SELECT pg_stat_clear_snapshot()")
        row = self.conn.execute("SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = %s",
                                (self.name,)).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def settled(self, before: tuple[int, int], polls: int = 100) -> tuple[int, int]:
        """The counters' growth since ``before`` (a ``settled`` result, or (0, 0)) once the exited
        backends' counters have been flushed: three equal readings 0.2 s apart."""
        seen: list[tuple[int, int]] = []
        for _ in range(polls):
            now = self.read()
            seen = [*seen[-2:], (now[0] - before[0], now[1] - before[1])]
            if len(seen) == 3 and len(set(seen)) == 1:
                return seen[0]
            time.sleep(0.2)  # the exited backends flush their counters asynchronously
        raise AssertionError(f"pg_stat_database did not settle: last {seen}")

    def next_xid(self) -> int:
        """The cluster's next transaction id. Only a transaction that writes is given one, so its
        growth over a stretch with nothing else writing on the server counts the writing
        transactions (read-only ones, committed or not, take none). Reading it takes none either."""
        row = self.conn.execute("SELECT txid_snapshot_xmax(txid_current_snapshot())").fetchone()
        assert row is not None
        return int(row[0])

    def close(self) -> None:
        self.conn.close()
