"""a hospital's invoices newest first: index (issuer, id)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

The hospital's desk in the staff console lists a hospital's own invoices in upload order,
the latest first (``GET /v1/invoices?order=newest``), a page at a time below the last
invoice of the page before. ``id`` numbers invoices in upload order; with the issuer in
front, one hospital's page is a short backwards walk of this index, however many other
hospitals' invoices the store holds. Index only: no data changes.
"""

from __future__ import annotations

from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_invoices_issuer_id', 'invoices', ['issuer', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_invoices_issuer_id', table_name='invoices')
