"""leases carry a fencing token (epoch); lease names long enough for a payer's stamper

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-10

Several worker processes on one database elect a leader per lease (``ledger.leadership``):
on PostgreSQL by an advisory lock, on SQLite by the row's expiry. The row now keeps the
lease's epoch, a fencing token that grows at every change of holder; the store commits a
leader's writes only while its token is the lease's epoch. A released lease keeps its row
(and epoch) from now on, with an empty holder. Rows from before start at epoch 0: whoever
takes one next holds it with epoch 1.

A payer's stamper holds ``claims-stamper:<payer id>`` (payer ids have up to 32 characters):
the name column grows from 40 to 64.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('leases') as batch_op:
        batch_op.add_column(sa.Column('epoch', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.alter_column('name', existing_type=sa.String(length=40), type_=sa.String(length=64),
                              existing_nullable=False)


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM leases WHERE holder = '' OR length(name) > 40"))
    with op.batch_alter_table('leases') as batch_op:
        batch_op.alter_column('name', existing_type=sa.String(length=64), type_=sa.String(length=40),
                              existing_nullable=False)
        batch_op.drop_column('epoch')
