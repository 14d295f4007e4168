"""the job queue of the workers (procrastinate) and the broker limits every worker shares

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

PostgreSQL only (on SQLite, the single-machine default, nothing to do: ``schedule`` drives every
account in one process, with the file token cache and the in-process limiter).

* procrastinate's own schema (its tables ``procrastinate_jobs``, ``procrastinate_workers``,
  ``procrastinate_events``, ``procrastinate_periodic_defers``, its types, functions and triggers),
  executed from the SQL the installed library ships (``procrastinate/sql/schema.sql``; the
  dependency is pinned to 3.10.x). A later procrastinate upgrade brings its own migration files
  (``procrastinate/sql/migrations``): apply them through a new Alembic revision.
* ``kis_rate_limits``: the next free request slot per app key (adapters.kis.shared_limits).
* ``kis_tokens``: the token cache per app key, the token sealed with a key derived from the app
  secret (which is never stored). Both keyed by a SHA-256 fingerprint of host and app key.
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _pg():
        return
    from procrastinate.schema import SchemaManager

    sql = SchemaManager.get_schema()
    # the raw driver connection: the schema is many statements, with % and : in function bodies
    cur = op.get_bind().connection.dbapi_connection.cursor()
    cur.execute(sql)
    op.create_table(
        'kis_rate_limits',
        sa.Column('key_id', sa.String(64), primary_key=True),
        sa.Column('next_at', sa.Float(precision=53), nullable=False),
    )
    op.create_table(
        'kis_tokens',
        sa.Column('key_id', sa.String(64), primary_key=True),
        sa.Column('token_sealed', sa.Text(), nullable=True),
        sa.Column('expires_at', sa.Float(precision=53), nullable=False, server_default='0'),
        sa.Column('last_issue_at', sa.Float(precision=53), nullable=False, server_default='0'),
    )


def downgrade() -> None:
    if not _pg():
        return
    op.drop_table('kis_tokens')
    op.drop_table('kis_rate_limits')
    bind = op.get_bind()
    for (sig,) in bind.exec_driver_sql(
            "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%%'").fetchall():
        bind.exec_driver_sql(f"DROP FUNCTION IF EXISTS {sig} CASCADE")
    for table in ('procrastinate_periodic_defers', 'procrastinate_events', 'procrastinate_jobs',
                  'procrastinate_workers'):
        bind.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
    for (typ,) in bind.exec_driver_sql(
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate%%' AND t.typtype IN ('e', 'c')"
    ).fetchall():
        bind.exec_driver_sql(f"DROP TYPE IF EXISTS {typ} CASCADE")
