"""stamps and claw-backs per issuing hospital

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

The contract keeps invoice records per (issuing hospital, fingerprint), and its
``ClawbackRequired`` and ``Reimbursement*`` events now name the hospital. The two
chain-derived tables follow: ``clawbacks`` is keyed by (fingerprint, issuer) and
``stamps`` records the issuer. Both are an index of the chain's events, so they are
emptied here and the indexer cursor is dropped: the chain worker reads the events
again from the deployment block on its next start (nothing of the hospitals' or the
payers' own records is touched).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table('clawbacks')
    op.create_table('clawbacks',
    sa.Column('fingerprint', sa.LargeBinary(length=32), nullable=False),
    sa.Column('issuer', sa.String(length=12), nullable=False),
    sa.Column('paid_fen', sa.BigInteger(), nullable=False),
    sa.Column('reserved_fen', sa.BigInteger(), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('fingerprint', 'issuer', name=op.f('pk_clawbacks'))
    )
    op.execute("DELETE FROM stamps")
    # recreate on SQLite: it cannot add a NOT NULL column without a default in place
    with op.batch_alter_table('stamps', recreate='always') as batch_op:
        batch_op.add_column(sa.Column('issuer', sa.String(length=12), nullable=False))
    op.execute("DELETE FROM chain_events")
    op.execute("DELETE FROM meta WHERE key LIKE 'indexer.%'")


def downgrade() -> None:
    with op.batch_alter_table('stamps', recreate='always') as batch_op:
        batch_op.drop_column('issuer')
    op.drop_table('clawbacks')
    op.create_table('clawbacks',
    sa.Column('fingerprint', sa.LargeBinary(length=32), nullable=False),
    sa.Column('paid_fen', sa.BigInteger(), nullable=False),
    sa.Column('reserved_fen', sa.BigInteger(), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('fingerprint', name=op.f('pk_clawbacks'))
    )
    op.execute("DELETE FROM meta WHERE key LIKE 'indexer.%'")
