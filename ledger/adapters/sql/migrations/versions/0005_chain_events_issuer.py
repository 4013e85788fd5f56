"""chain events name their hospital

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

``chain_events.issuer`` holds the event's ``institutionId``. The contract keeps invoices
per (issuing hospital, fingerprint), and so must every reading of its events: a hospital
that anchors a copy of another hospital's fingerprint and voids it voids its own copy,
never the invoice this store holds, so claims look for an ``InvoiceVoided`` of the same
fingerprint *and* issuer. The column is filled from the stored arguments; an index on
(name, fingerprint) serves those lookups.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('chain_events') as batch_op:
        batch_op.add_column(sa.Column('issuer', sa.String(length=12), nullable=True))
        batch_op.create_index('ix_chain_events_name_fingerprint', ['name', 'fingerprint'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE chain_events SET issuer = (args::json)->>'institutionId'")
    else:
        op.execute("UPDATE chain_events SET issuer = json_extract(args, '$.institutionId')")


def downgrade() -> None:
    with op.batch_alter_table('chain_events') as batch_op:
        batch_op.drop_index('ix_chain_events_name_fingerprint')
        batch_op.drop_column('issuer')
