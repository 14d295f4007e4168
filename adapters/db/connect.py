"""Connecting: URL from ``--db`` or ``Settings.database_url`` (``REBALANCE_DATABASE_URL``, read by
:mod:`adapters.config`; default ``sqlite:///rebalance.db``),
SQLite in WAL mode with ``synchronous=FULL`` (every commit is on disk before it returns: an order
intent committed before its send survives a power cut, docs/durability.md; the checkpoint connection
alone commits at NORMAL a checkpoint not durable yet, ``adapters.db.checkpoint.Writer``), a busy timeout and
``BEGIN IMMEDIATE`` transactions, PostgreSQL through psycopg 3; migrations through Alembic only."""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from adapters.db.checkpoint import Writer
from adapters.db.store import SqlUnitOfWork
from statemachine.errors import AdapterError

if TYPE_CHECKING:
    from alembic.config import Config

DEFAULT_URL = "sqlite:///rebalance.db"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class DatabaseError(AdapterError):
    exit_code = 9


def database_url(explicit: str | None = None) -> str:
    """The SQLAlchemy URL for ``explicit`` (``--db`` or the settings' URL), or the default."""
    url = explicit or DEFAULT_URL
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"database URL is not valid: {safe_url(url)}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "isolation_level": None})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            # FULL, not NORMAL: under NORMAL a WAL commit is fsynced only at the next checkpoint, so a
            # power cut can forget the last commits, e.g. an intent committed just before its send
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if parsed.get_backend_name() == "postgresql":
        # no pool_pre_ping: it costs a round trip (and a server transaction) per unit of work; a
        # connection a server restart broke fails its statement, the pool is invalidated, and the
        # run stays at its last checkpoint for resume (docs/durability.md)
        return create_engine(url, connect_args={"connect_timeout": 10})
    raise DatabaseError(f"unsupported database backend '{parsed.get_backend_name()}' (use sqlite or postgresql)")


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The schema revision stored in the database (read without importing Alembic: start-up stays fast)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


_REV = re.compile(r"^(revision|down_revision)\s*=\s*['\"]?([\w]+)['\"]?", re.M)


def head_revision(url: str | None = None) -> str | None:
    """The newest migration: the one no other migration names as its down_revision."""
    revs, downs = set(), set()
    for f in (MIGRATIONS / "versions").glob("*.py"):
        for kind, value in _REV.findall(f.read_text()):
            if kind == "revision":
                revs.add(value)
            elif value != "None":
                downs.add(value)
    heads = revs - downs
    if len(heads) != 1:
        raise DatabaseError(f"migrations have {len(heads)} heads ({', '.join(sorted(heads))}); expected one")
    return heads.pop()


def upgrade(url: str, engine: Engine | None = None) -> str | None:
    """Run the migrations to head (PostgreSQL: under an advisory lock, so two upgrades never race)."""
    from alembic import command

    cfg = alembic_config(url)
    own = engine is None
    engine = engine or make_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(7240813)"))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach the database {safe_url(url)}: {_first_line(exc)}") from exc
    finally:
        if own:
            engine.dispose()
    return head_revision(url)


def _first_line(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", exc)) or type(exc).__name__
    return text_.strip().splitlines()[0]


class Database:
    """The store: hands out units of work over one SQLAlchemy engine."""

    def __init__(self, url: str, *, auto_migrate: bool | None = None, every_commit: bool = False) -> None:
        """``every_commit``: every checkpoint is durable before its save returns, also those the
        engine marks as not needing it yet (``Checkpoint.durable``; ``REBALANCE_DURABILITY``)."""
        self.url = url
        self.engine = make_engine(url)
        is_sqlite = self.engine.dialect.name == "sqlite"
        try:
            current = current_revision(self.engine)
        except OperationalError as exc:
            raise DatabaseError(f"cannot reach the database {safe_url(url)}: {_first_line(exc)}") from exc
        head = head_revision(url)
        if current != head:
            if auto_migrate if auto_migrate is not None else is_sqlite:
                upgrade(url, self.engine)
            else:
                raise DatabaseError(f"the database {safe_url(url)} is at schema {current or 'none'}, not {head}; "
                                    f"run: run_rebalance.py db upgrade --db URL")
        db = self.engine.url.database
        in_memory = self.engine.dialect.name == "sqlite" and (not db or db == ":memory:" or "mode=memory" in db)
        self.writer = None if in_memory else Writer(self.engine, every_commit=every_commit)

    def unit_of_work(self) -> AbstractContextManager[SqlUnitOfWork]:
        return SqlUnitOfWork(self.engine, self.writer)

    __call__ = unit_of_work

    def dispose(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.engine.dispose()
