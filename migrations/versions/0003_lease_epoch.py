"""fencing epoch on runs, start of the last send on orders

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

``runs.lease_epoch`` is incremented by every lease acquisition by a new owner; every write about
a run is conditional on the writer's (owner, epoch). ``orders.send_started_at`` records when the
last send of an intent began: a runner taking a run over waits until that send's deadline plus
the settle window has passed before it reconciles. ``runs.lease_owner`` stays String(128): the
owner identity (host, boot id, PID namespace, pid, random suffix) is kept within it.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_epoch', sa.Integer(), nullable=False, server_default=sa.text('0')))
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('send_started_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('send_started_at')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('lease_epoch')
