"""rule sets administered in the database

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

A payer's rule sets move from files inside the installed package into ``rule_sets``:
every version as imported (never edited), its state (proposed, active, retired,
withdrawn) and who imported, approved and retired it. The shipped sets are imported at
first start by the service (as seed data, audited), not by this migration: a migration
holds no business data.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'rule_sets',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('payer', sa.String(length=32), nullable=False),
        sa.Column('scheme', sa.String(length=64), nullable=False),
        sa.Column('effective_from', sa.String(length=10), nullable=False),
        sa.Column('effective_to', sa.String(length=10), nullable=True),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=200), nullable=False),
        sa.Column('document', sa.Text(), nullable=False),
        sa.Column('imported_by', sa.String(length=80), nullable=False),
        sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('approved_by', sa.String(length=80), nullable=True),
        sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('retired_by', sa.String(length=80), nullable=True),
        sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', 'version', name=op.f('pk_rule_sets')),
    )
    op.create_index('ix_rule_sets_state', 'rule_sets', ['state'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_rule_sets_state', table_name='rule_sets')
    op.drop_table('rule_sets')
