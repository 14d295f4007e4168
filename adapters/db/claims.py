"""Claims of scheduled slots (table ``schedule_claims``): a due time starts at most one run per
account, however many schedulers are running. The unique (account, due_at) constraint decides;
the loser sees the winner's row.

The functions take the unit of work's connection (:class:`adapters.db.store.SqlUnitOfWork` calls
them); the insert runs in a savepoint, so the loser's IntegrityError rolls back only the
savepoint and the unit of work goes on. ``claims(bind)`` also takes an engine, for tests and
reports outside a unit of work.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from adapters.db import tables as t
from statemachine.ports import Claim

__all__ = ["Claim", "claim_slot", "claims", "get_claim", "record_outcome"]


def _claim(row: Any) -> Claim:
    return Claim(account=row["account"], due_at=row["due_at"], claimed_by=row["claimed_by"],
                 claimed_at=row["claimed_at"], run_id=row["run_id"], outcome=row["outcome"])


def claim_slot(conn: Connection, account: str, due_at: datetime, owner: str, now: datetime) -> tuple[bool, Claim]:
    """Try to claim the slot; returns (won, the slot's claim row)."""
    try:
        with conn.begin_nested():
            conn.execute(insert(t.schedule_claims).values(account=account, due_at=due_at, claimed_by=owner,
                                                          claimed_at=now))
        won = True
    except IntegrityError:
        won = False
    found = get_claim(conn, account, due_at)
    assert found is not None
    return won, found


def get_claim(conn: Connection, account: str, due_at: datetime) -> Claim | None:
    c = t.schedule_claims.c
    row = conn.execute(select(t.schedule_claims).where(and_(c.account == account, c.due_at == due_at))
                       ).mappings().first()
    return None if row is None else _claim(row)


def record_outcome(conn: Connection, account: str, due_at: datetime, *, run_id: str | None = None,
                   outcome: str | None = None) -> None:
    c = t.schedule_claims.c
    values: dict[str, str] = {}
    if run_id is not None:
        values["run_id"] = run_id
    if outcome is not None:
        values["outcome"] = outcome[:2000]
    if values:
        conn.execute(update(t.schedule_claims).where(and_(c.account == account, c.due_at == due_at))
                     .values(**values))


@contextmanager
def _connected(bind: Engine | Connection) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.connect() as conn:
        yield conn


def claims(bind: Engine | Connection, account: str | None = None, limit: int = 50) -> list[Claim]:
    q = select(t.schedule_claims).order_by(t.schedule_claims.c.due_at.desc()).limit(limit)
    if account:
        q = q.where(t.schedule_claims.c.account == account)
    with _connected(bind) as conn:
        return [_claim(r) for r in conn.execute(q).mappings()]
