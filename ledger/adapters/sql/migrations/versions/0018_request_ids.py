"""request ids kept with what a request asked the chain to do; arrival counters

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06

The request id of an HTTP request (``X-Request-Id``, sent by the client or made by the
service) is in its access log line; the chain transaction it causes happens later, in the
chain worker or the claims stamper. The uploads' invoices, the void requests and the claims'
submissions keep the id, so the log line of the anchoring, the void or the reservation names
the requests it carries. Nullable columns without a default: adding them rewrites no row
(SQLite and PostgreSQL alike), and rows from before stay NULL.

The arrival counters (``ledger.records.ARRIVALS``: invoices stored, invoices in a batch,
batches closed, voids requested) are kept from now on in the transactions that store what
they count, so ``GET /v1/health`` reads them instead of counting rows; they start from the
rows there are (one count each, once).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

_TABLES = ('invoices', 'voids', 'claim_submissions')


#: the arrival counters and the rows they start from
_ARRIVALS = {
    'store.invoices': "SELECT COUNT(*) FROM invoices",
    'store.invoices.batched': "SELECT COUNT(*) FROM invoices WHERE batch_root IS NOT NULL",
    'store.batches.sealed': "SELECT COUNT(*) FROM batches",
    'store.voids.requested': "SELECT COUNT(*) FROM voids",
}


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column('request_id', sa.String(length=64), nullable=True))
    bind = op.get_bind()
    counters = sa.table('counters', sa.column('name', sa.String), sa.column('count', sa.BigInteger),
                        sa.column('updated_at', sa.DateTime(timezone=True)))
    now = datetime.now(UTC)
    for name, query in _ARRIVALS.items():
        n = int(bind.execute(sa.text(query)).scalar_one())
        bind.execute(sa.delete(counters).where(counters.c.name == name))
        bind.execute(sa.insert(counters).values(name=name, count=n, updated_at=now))


def downgrade() -> None:
    counters = sa.table('counters', sa.column('name', sa.String))
    op.get_bind().execute(sa.delete(counters).where(counters.c.name.in_(list(_ARRIVALS))))
    for table in _TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column('request_id')
