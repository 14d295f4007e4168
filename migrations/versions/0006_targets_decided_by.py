"""who made each strategy decision

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

``ai_strategy_decisions.decided_by`` (String(64), null for decisions recorded before it): the CLI
user or ``targets set --by``, the API caller (``decided_by`` of the request, else ``api``), the
page (``web``).
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ai_strategy_decisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decided_by', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('ai_strategy_decisions', schema=None) as batch_op:
        batch_op.drop_column('decided_by')
