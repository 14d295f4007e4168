"""the buy-side recovery of a PARTIAL run on its history row

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-01

``rebalancing_history.recovery`` (JSON, null for a run never retried): the run's first outcome
(status, error, total drift after) and every buy-side recovery attempt (when, who, why, how it
ended). The row's own status and drift_after stay the final ones (statemachine.buy_recovery).
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('rebalancing_history', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recovery', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rebalancing_history', schema=None) as batch_op:
        batch_op.drop_column('recovery')
