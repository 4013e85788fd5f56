"""the pseudonym pepper versioned: pepper_versions and person_pseudonyms

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08

Issue 15 (keys): the pepper can be rotated without losing who is who (``ledger.peppers``,
``ebill pepper rotate``). ``pepper_versions`` keeps the versions after the first (sealed under
the keystore passphrase; the first is ``EBILL_PEPPER``). ``person_pseudonyms`` keeps each known
person's pseudonym under every version and the pseudonym the person is known by here.

Until now there was one pepper, so every pseudonym this database holds is a version-1 one and
is the pseudonym its person is known by: each pseudonym found in persons, delegations (both
sides), claims, year-to-date figures and claw-backs is recorded here as its own person's
version-1 pseudonym. (A rotation derives every recorded person's next pseudonym from these.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

_KNOWN = """
INSERT INTO person_pseudonyms (pseudonym, person, version)
SELECT p, p, 1 FROM (
    SELECT pseudonym AS p FROM persons
    UNION SELECT holder FROM delegations
    UNION SELECT person FROM delegations
    UNION SELECT person FROM claims
    UNION SELECT pseudonym FROM person_years
    UNION SELECT person FROM claim_clawbacks
) AS known
"""


def upgrade() -> None:
    op.create_table(
        'person_pseudonyms',
        sa.Column('pseudonym', sa.LargeBinary(length=32), nullable=False),
        sa.Column('person', sa.LargeBinary(length=32), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('pseudonym', name=op.f('pk_person_pseudonyms')),
    )
    op.create_index('ix_person_pseudonyms_person', 'person_pseudonyms', ['person'], unique=False)
    op.create_index('ix_person_pseudonyms_version', 'person_pseudonyms', ['version'], unique=False)
    op.create_table(
        'pepper_versions',
        sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('pepper_id', sa.String(length=16), nullable=False),
        sa.Column('sealed', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint('version', name=op.f('pk_pepper_versions')),
        sa.UniqueConstraint('pepper_id', name=op.f('uq_pepper_versions_pepper_id')),
    )
    op.execute(_KNOWN)


def downgrade() -> None:
    op.drop_table('pepper_versions')
    op.drop_index('ix_person_pseudonyms_version', table_name='person_pseudonyms')
    op.drop_index('ix_person_pseudonyms_person', table_name='person_pseudonyms')
    op.drop_table('person_pseudonyms')
