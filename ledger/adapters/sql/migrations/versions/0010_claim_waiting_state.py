"""claims may wait for earlier payers: a longer state column

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

Payers in order (issue 13 §3): a later payer's claim waits, as
``waiting-for-earlier-payers`` (26 characters), until the earlier payers have decided. The
state column held 16 characters; it now holds 32. No row changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('claims') as batch_op:
        batch_op.alter_column('state', existing_type=sa.String(length=16), type_=sa.String(length=32),
                              existing_nullable=False)


def downgrade() -> None:
    # a claim still waiting cannot be represented before this revision: it is refused, as a
    # void would refuse it (nothing was reserved or counted for it)
    op.execute("UPDATE claims SET state = 'refused', refusal = 'the service was downgraded while the claim waited "
               "for earlier payers' WHERE state = 'waiting-for-earlier-payers'")
    with op.batch_alter_table('claims') as batch_op:
        batch_op.alter_column('state', existing_type=sa.String(length=32), type_=sa.String(length=16),
                              existing_nullable=False)
