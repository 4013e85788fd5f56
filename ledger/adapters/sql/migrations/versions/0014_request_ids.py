"""request ids kept with what a request asked the chain to do

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

The request id of an HTTP request (``X-Request-Id``, sent by the client or made by the
service) is in its access log line; the chain transaction it causes happens later, in the
chain worker or the claims stamper. The uploads' invoices, the void requests and the claims'
submissions keep the id, so the log line of the anchoring, the void or the reservation names
the requests it carries. Nullable columns without a default: adding them rewrites no row
(SQLite and PostgreSQL alike), and rows from before stay NULL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

_TABLES = ('invoices', 'voids', 'claim_submissions')


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column('request_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column('request_id')
