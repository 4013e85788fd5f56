"""audit trail actors up to 80 characters

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

An actor is ``role:subject:key id`` (``ledger.app.access.Principal.actor``): the credentials
table allows a subject of 32 characters (an auditor's name, a payer id) and a key id of 24, so
an actor can be 65 characters and more, and the claims tables already keep 80. ``audit_log.actor``
had 64, so PostgreSQL would have refused the audit entry (and with it the act it records) of
such a credential.
Widening a VARCHAR keeps every row as it is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_log') as batch_op:
        batch_op.alter_column('actor', existing_type=sa.String(length=64), type_=sa.String(length=80),
                              existing_nullable=False)


def downgrade() -> None:
    # cutting an actor would make the trail say someone else acted: refuse instead
    longer = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM audit_log WHERE LENGTH(actor) > 64")).scalar()
    if longer:
        raise RuntimeError(f"{longer} audit entries name an actor longer than 64 characters, which revision 0012 "
                           "cannot hold; the audit trail is append-only, so the downgrade stops here")
    with op.batch_alter_table('audit_log') as batch_op:
        batch_op.alter_column('actor', existing_type=sa.String(length=80), type_=sa.String(length=64),
                              existing_nullable=False)
