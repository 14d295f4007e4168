"""The rows of the in-memory store and its transactions.

Tables hold rows as plain dicts, the way the SQL tables hold them: datetimes timezone-aware in UTC
(a naive one is refused), everything else JSON values copied on the way in (a caller mutating its
dict afterwards changes nothing stored). A row is never changed in place: an update puts a new dict,
so a shallow copy of a table is a snapshot of it.

A transaction starts from the committed tables and copies a table on its first write to it
(copy-on-write); :meth:`Transaction.commit` publishes its tables, :meth:`Transaction.rollback`
drops them. One lock per store serialises transactions from begin to end, as SQLite's
``BEGIN IMMEDIATE`` does for the SQL store, so nobody sees another's uncommitted writes.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any

Row = dict[str, Any]

# the columns holding datetimes, per table (the rest are JSON values)
DATETIMES = {
    "runs": {"lease_expires_at", "created_at", "updated_at", "finished_at"},
    "transitions": {"at"},
    "outputs": set(),
    "attempts": {"created_at"},
    "orders": {"send_started_at", "created_at", "sent_at", "updated_at"},
    "decisions": {"decided_at"},
    "config": {"updated_at"},
    "history": {"executed_at"},
    "claims": {"due_at", "claimed_at"},
}


class IntegrityError(Exception):
    """A unique constraint of the schema refused a row (the SQL store raises SQLAlchemy's
    ``IntegrityError`` there)."""


@dataclass
class Tables:
    runs: dict[str, Row] = field(default_factory=dict)  # by run id
    transitions: dict[int, Row] = field(default_factory=dict)  # the others by their own id
    outputs: dict[int, Row] = field(default_factory=dict)
    attempts: dict[int, Row] = field(default_factory=dict)
    orders: dict[int, Row] = field(default_factory=dict)
    decisions: dict[int, Row] = field(default_factory=dict)
    config: dict[int, Row] = field(default_factory=dict)
    history: dict[int, Row] = field(default_factory=dict)
    claims: dict[tuple[str, datetime], Row] = field(default_factory=dict)  # by (account, due_at)


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC)


def plain(value: Any) -> Any:
    """A value as a column stores it: a model as its JSON dump, an enum as its value, JSON copied."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (dict, list, tuple)):
        return json.loads(json.dumps(value))
    return value


def row(table: str, values: Row) -> Row:
    dts = DATETIMES[table]
    return {k: (utc(v) if k in dts else plain(v)) for k, v in values.items()}


class Transaction:
    """One transaction's view: the committed tables until it writes, its own copies after."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.tables = replace(db.committed)
        self._copied: set[str] = set()

    def write(self, table: str) -> dict[Any, Row]:
        """The table, copied on this transaction's first write to it."""
        if table not in self._copied:
            setattr(self.tables, table, dict(getattr(self.tables, table)))
            self._copied.add(table)
        rows: dict[Any, Row] = getattr(self.tables, table)
        return rows

    def commit(self) -> None:
        self.db.committed = self.tables
        self.rollback()

    def rollback(self) -> None:
        self.tables = replace(self.db.committed)
        self._copied.clear()


class Database:
    """The committed tables, the lock that serialises transactions, and the id sequences (which,
    as PostgreSQL's, never hand out a number twice, rolled back or not)."""

    def __init__(self) -> None:
        self.committed = Tables()
        self.lock = threading.RLock()
        self._ids = {f.name: itertools.count(1) for f in fields(Tables) if f.name not in ("runs", "claims")}

    def next_id(self, table: str) -> int:
        return next(self._ids[table])
