"""The ``accounts`` and ``portfolios`` tables (migration 0008): repositories over one SQLAlchemy
engine, the same on SQLite and PostgreSQL.

Each method is one short transaction of its own (accounts change rarely and never inside a run's
unit of work). Timestamps come from the clock port given at construction. What is written is an
:class:`statemachine.accounts.Account` that already passed its validation, so no secret can reach
a row through here: only variable names, a file path and a masked number.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from adapters.db import tables as t
from statemachine.accounts import Account, Credentials, check_portfolio_name, make_account
from statemachine.errors import AccountError, AccountExists, AccountNotFound
from statemachine.models import Targets, Thresholds
from statemachine.ports import Clock
from statemachine.records import StrategyDecision

#: The fields :meth:`AccountRepository.update` may change (the alias is the key; created_at stays).
UPDATABLE = frozenset({"broker", "masked_number", "credentials", "portfolio", "thresholds", "schedule_cron",
                       "sim_account_path", "enabled"})


def _row(a: Account) -> dict[str, Any]:
    c = a.credentials
    return {"alias": a.alias, "broker": a.broker, "masked_number": a.masked_number,
            "appkey_env": c.appkey_env, "appsecret_env": c.appsecret_env, "account_env": c.account_env,
            "credentials_file": c.file, "portfolio": a.portfolio,
            "thresholds": None if a.thresholds is None else a.thresholds.model_dump(),
            "schedule_cron": a.schedule_cron, "sim_account_path": a.sim_account_path, "enabled": a.enabled}


def _account(r: Any) -> Account:
    return Account(alias=r["alias"], broker=r["broker"], masked_number=r["masked_number"],
                   credentials=Credentials(appkey_env=r["appkey_env"], appsecret_env=r["appsecret_env"],
                                           account_env=r["account_env"], file=r["credentials_file"]),
                   portfolio=r["portfolio"],
                   thresholds=None if r["thresholds"] is None else Thresholds(**r["thresholds"]),
                   schedule_cron=r["schedule_cron"], sim_account_path=r["sim_account_path"],
                   enabled=bool(r["enabled"]), created_at=r["created_at"], updated_at=r["updated_at"])


class AccountRepository:
    """add / get / list / enable / disable / update of the ``accounts`` table."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def add(self, account: Account) -> Account:
        """Store a new account; an alias already taken is an :class:`AccountError`."""
        now = self.clock.now()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.accounts).values(**_row(account), created_at=now, updated_at=now))
        except IntegrityError:
            raise AccountExists(f"account '{account.alias}' exists (use update, enable or disable)",
                               field="alias") from None
        return account.model_copy(update={"created_at": now, "updated_at": now})

    def get(self, alias: str) -> Account:
        with self.engine.connect() as conn:
            r = conn.execute(select(t.accounts).where(t.accounts.c.alias == alias)).mappings().first()
        if r is None:
            raise AccountNotFound(f"no account '{alias}' (see: accounts list)", alias=alias)
        return _account(r)

    def find(self, alias: str) -> Account | None:
        try:
            return self.get(alias)
        except AccountNotFound:
            return None

    def list(self, enabled_only: bool = False) -> list[Account]:
        """Every account by alias (only the enabled ones with ``enabled_only``)."""
        q = select(t.accounts).order_by(t.accounts.c.alias)
        if enabled_only:
            q = q.where(t.accounts.c.enabled.is_(True))
        with self.engine.connect() as conn:
            return [_account(r) for r in conn.execute(q).mappings()]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.accounts)).scalar() or 0)

    def update(self, alias: str, **fields: Any) -> Account:
        """Change some fields; the result is validated as a whole before anything is written."""
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise AccountError(f"cannot update {', '.join(sorted(unknown))} (only {', '.join(sorted(UPDATABLE))})",
                               field=sorted(unknown)[0])
        cur = self.get(alias)
        merged = cur.model_dump(exclude={"created_at", "updated_at"})
        merged.update(fields)
        if isinstance(merged.get("credentials"), Credentials):
            merged["credentials"] = merged["credentials"].model_dump()
        if isinstance(merged.get("thresholds"), Thresholds):
            merged["thresholds"] = merged["thresholds"].model_dump()
        new = make_account(**merged)
        now = self.clock.now()
        values = _row(new)
        values.pop("alias")
        with self.engine.begin() as conn:
            res = conn.execute(update(t.accounts).where(t.accounts.c.alias == alias).values(**values, updated_at=now))
            if res.rowcount != 1:
                raise AccountNotFound(f"no account '{alias}' (see: accounts list)", alias=alias)
        return new.model_copy(update={"created_at": cur.created_at, "updated_at": now})

    def disable(self, alias: str) -> Account:
        return self.update(alias, enabled=False)

    def enable(self, alias: str) -> Account:
        return self.update(alias, enabled=True)


class PortfolioRepository:
    """Named targets, append-only: :meth:`set` adds a row; :meth:`get` is the newest of a name."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def set(self, name: str, targets: Targets) -> StrategyDecision:
        check_portfolio_name(name)
        now = self.clock.now()
        with self.engine.begin() as conn:
            res = conn.execute(insert(t.portfolios).values(
                name=name, mp_id=targets.mp_id, mp=targets.mp, sub_mp=targets.sub_mp, names=targets.names,
                created_at=now))
            new_id = res.inserted_primary_key[0] if res.inserted_primary_key else None
        return StrategyDecision(id=new_id, decided_at=now, targets=targets.model_copy(update={"decided_at": now}))

    def get(self, name: str) -> StrategyDecision:
        found = self.find(name)
        if found is None:
            raise AccountNotFound(f"no portfolio '{name}' (see: portfolios list)", portfolio=name)
        return found

    def find(self, name: str) -> StrategyDecision | None:
        p = t.portfolios.c
        q = select(t.portfolios).where(p.name == name).order_by(p.id.desc()).limit(1)
        with self.engine.connect() as conn:
            r = conn.execute(q).mappings().first()
        return None if r is None else _decision(r)

    def list(self) -> list[tuple[str, StrategyDecision]]:
        """Each portfolio's newest version, by name."""
        p = t.portfolios.c
        newest = select(func.max(p.id)).group_by(p.name).scalar_subquery()
        q = select(t.portfolios).where(p.id.in_(newest)).order_by(p.name)
        with self.engine.connect() as conn:
            return [(r["name"], _decision(r)) for r in conn.execute(q).mappings()]


def _decision(r: Any) -> StrategyDecision:
    created: datetime = r["created_at"]
    targets = Targets.model_validate({"mp_id": r["mp_id"], "mp": r["mp"], "sub_mp": r["sub_mp"],
                                      "names": r["names"] or {}, "decided_at": created})
    return StrategyDecision(id=r["id"], decided_at=created, targets=targets)
