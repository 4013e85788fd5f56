"""claims drawn for a post-payment audit

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

A share of the claims paid at once is drawn, when filed, for an audit after the payout
(``ledger.claims.sampling``). ``claims.post_audit`` is ``due`` for a drawn claim, then
``cleared`` or ``finding`` (its money asked back); NULL for the others, so existing claims
were never drawn. A partial index on the due ones serves the audit queue.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('claims') as batch_op:
        batch_op.add_column(sa.Column('post_audit', sa.String(length=8), nullable=True))
    op.create_index('ix_claims_post_audit_due', 'claims', ['created_at'], unique=False,
                    sqlite_where=sa.text("post_audit = 'due'"), postgresql_where=sa.text("post_audit = 'due'"))


def downgrade() -> None:
    op.drop_index('ix_claims_post_audit_due', table_name='claims',
                  sqlite_where=sa.text("post_audit = 'due'"), postgresql_where=sa.text("post_audit = 'due'"))
    with op.batch_alter_table('claims') as batch_op:
        batch_op.drop_column('post_audit')
