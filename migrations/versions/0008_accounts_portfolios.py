"""accounts and portfolios (issue 19)

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-01

``accounts``: one row per account the engine rebalances (alias, broker, masked number, WHERE its
credentials come from: environment variable names or a file path, never a secret; the portfolio
it follows, its own thresholds and schedule or NULL for the global ones; enabled).
``portfolios``: named targets (MP + Sub-MP), append-only like ``ai_strategy_decisions``: the
newest row of a name is that portfolio. With no ``accounts`` rows nothing changes: the account
named by REBALANCE_ACCOUNT_ALIAS follows the strategist's latest decision as before.
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'accounts',
        sa.Column('alias', sa.String(length=64), nullable=False),
        sa.Column('broker', sa.String(length=16), nullable=False),
        sa.Column('masked_number', sa.String(length=32), nullable=True),
        sa.Column('appkey_env', sa.String(length=64), nullable=True),
        sa.Column('appsecret_env', sa.String(length=64), nullable=True),
        sa.Column('account_env', sa.String(length=64), nullable=True),
        sa.Column('credentials_file', sa.String(length=512), nullable=True),
        sa.Column('portfolio', sa.String(length=64), nullable=True),
        sa.Column('thresholds', sa.JSON(), nullable=True),
        sa.Column('schedule_cron', sa.String(length=120), nullable=True),
        sa.Column('sim_account_path', sa.String(length=512), nullable=True),
        sa.Column('enabled', sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('alias', name=op.f('pk_accounts')),
    )
    op.create_table(
        'portfolios',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('mp_id', sa.String(length=32), nullable=False),
        sa.Column('mp', sa.JSON(), nullable=False),
        sa.Column('sub_mp', sa.JSON(), nullable=False),
        sa.Column('names', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_portfolios')),
    )
    op.create_index('ix_portfolios_name_id', 'portfolios', ['name', 'id'])


def downgrade() -> None:
    op.drop_index('ix_portfolios_name_id', table_name='portfolios')
    op.drop_table('portfolios')
    op.drop_table('accounts')
