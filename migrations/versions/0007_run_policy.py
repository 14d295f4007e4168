"""the rebalancing policy of a run, on the run and on its history row

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-01

``runs.policy`` (JSON: the policy's name and parameters, statemachine.policies.Policy) and
``rebalancing_history.policy`` (its label, e.g. ``band-edge:0.5``). Null on rows written before:
those runs used the threshold policy, today's behaviour.
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy', sa.JSON(), nullable=True))
    with op.batch_alter_table('rebalancing_history', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rebalancing_history', schema=None) as batch_op:
        batch_op.drop_column('policy')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('policy')
