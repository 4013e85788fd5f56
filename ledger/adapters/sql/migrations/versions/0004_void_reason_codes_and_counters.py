"""void reason codes; event counters

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

- ``voids.reason_code``: the code stamped on chain as the void's ``bytes32 reason``; the
  hospital's free text stays in ``voids.reason`` (now up to 500 characters) and never
  goes on chain. A void requested before this revision whose text is exactly a code gets
  that code (the old API stamped the text on chain, so the chain already says so); any
  other gets ``other``.
- ``counters``: named event counts (forged codes presented to the public verifier),
  incremented in batches instead of one audit row per request.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('voids') as batch_op:
        batch_op.add_column(sa.Column('reason_code', sa.String(length=32), server_default='other', nullable=False))
        batch_op.alter_column('reason', existing_type=sa.String(length=200), type_=sa.String(length=500),
                              existing_nullable=False)
    # the codes of ledger.voids.VoidReason when this revision was written (a migration does
    # not import the live enum: it must keep meaning what it meant)
    op.execute("UPDATE voids SET reason_code = reason WHERE reason IN ('refund', 'resettled', 'issued-in-error', "
               "'duplicate', 'amount-error', 'patient-details-error', 'other')")
    op.create_table('counters',
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_counters'))
    )
    # the audit rows the public verifier wrote per forged code become counts
    op.execute("INSERT INTO counters (name, count, updated_at) "
               "SELECT action || ':' || subject, COUNT(*), MAX(at) FROM audit_log "
               "WHERE action = 'verify.refused' GROUP BY action, subject")
    op.execute("DELETE FROM audit_log WHERE action = 'verify.refused'")


def downgrade() -> None:
    op.drop_table('counters')
    with op.batch_alter_table('voids') as batch_op:
        batch_op.alter_column('reason', existing_type=sa.String(length=500), type_=sa.String(length=200),
                              existing_nullable=False)
        batch_op.drop_column('reason_code')
