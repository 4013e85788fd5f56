"""persons: insured region and off-site registration

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

Which rule set judges a claim follows the person's insured status (local, off-site
registered, off-site unregistered, emergency), decided from the payer's record of the
person (the region they are insured in, whether they registered for off-site care) and
the invoice's hospital. Persons enrolled before have neither: ``insured_region`` stays
NULL and ``offsite_registered`` false, so their care is judged as off-site unregistered,
as every inpatient bill was before, until the payer enrols them again with a region.
(0006 is written in parallel; the lead renumbers on merge.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('persons') as batch_op:
        batch_op.add_column(sa.Column('insured_region', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('offsite_registered', sa.Boolean(), server_default=sa.text('false'),
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('persons') as batch_op:
        batch_op.drop_column('offsite_registered')
        batch_op.drop_column('insured_region')
