"""person categories up to 32 characters

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

``persons.category`` holds a :class:`ledger.rules.PersonCategory`; the categories beyond
employee, retired and resident (``assistance``, ``severe-disability``, ``special-relief``)
need more than the 16 characters the column had (``severe-disability`` is 17). Widening
a VARCHAR keeps every row as it is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('persons') as batch_op:
        batch_op.alter_column('category', existing_type=sa.String(length=16), type_=sa.String(length=32),
                              existing_nullable=False)


def downgrade() -> None:
    # the older schema cannot hold those persons; dropping enrolments would orphan their
    # claims and year-to-date figures, so the downgrade refuses instead
    longer = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM persons WHERE LENGTH(category) > 16")).scalar()
    if longer:
        raise RuntimeError(f"{longer} enrolled persons have a category longer than 16 characters "
                           "(e.g. severe-disability), which revision 0006 cannot hold; enrol them in another "
                           "category before downgrading")
    with op.batch_alter_table('persons') as batch_op:
        batch_op.alter_column('category', existing_type=sa.String(length=32), type_=sa.String(length=16),
                              existing_nullable=False)
