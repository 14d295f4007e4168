"""Claims of scheduled slots (table ``schedule_claims``): a due time starts at most one run per
account, however many schedulers are running. The unique (account, due_at) constraint decides;
the loser sees the winner's row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from adapters.db import tables as t


@dataclass(frozen=True)
class Claim:
    account: str
    due_at: datetime
    claimed_by: str
    claimed_at: datetime
    run_id: str | None
    outcome: str | None


def claim_slot(
    engine: Engine, account: str, due_at: datetime, owner: str, now: datetime
) -> tuple[bool, Claim]:
    """Try to claim the slot; returns (won, the slot's claim row)."""
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(t.schedule_claims).values(
                    account=account, due_at=due_at, claimed_by=owner, claimed_at=now
                )
            )
        won = True
    except IntegrityError:
        won = False
    found = get_claim(engine, account, due_at)
    assert found is not None
    return won, found


def get_claim(engine: Engine, account: str, due_at: datetime) -> Claim | None:
    c = t.schedule_claims.c
    with engine.connect() as conn:
        row = (
            conn.execute(select(t.schedule_claims).where(and_(c.account == account, c.due_at == due_at)))
            .mappings()
            .first()
        )
    if row is None:
        return None
    return Claim(
        account=row["account"],
        due_at=row["due_at"],
        claimed_by=row["claimed_by"],
        claimed_at=row["claimed_at"],
        run_id=row["run_id"],
        outcome=row["outcome"],
    )


def record_outcome(
    engine: Engine, account: str, due_at: datetime, *, run_id: str | None = None, outcome: str | None = None
) -> None:
    c = t.schedule_claims.c
    values: dict[str, str] = {}
    if run_id is not None:
        values["run_id"] = run_id
    if outcome is not None:
        values["outcome"] = outcome[:2000]
    if not values:
        return
    with engine.begin() as conn:
        conn.execute(
            update(t.schedule_claims).where(and_(c.account == account, c.due_at == due_at)).values(**values)
        )


def claims(engine: Engine, account: str | None = None, limit: int = 50) -> list[Claim]:
    q = select(t.schedule_claims).order_by(t.schedule_claims.c.due_at.desc()).limit(limit)
    if account:
        q = q.where(t.schedule_claims.c.account == account)
    with engine.connect() as conn:
        return [
            Claim(
                account=r["account"],
                due_at=r["due_at"],
                claimed_by=r["claimed_by"],
                claimed_at=r["claimed_at"],
                run_id=r["run_id"],
                outcome=r["outcome"],
            )
            for r in conn.execute(q).mappings()
        ]
