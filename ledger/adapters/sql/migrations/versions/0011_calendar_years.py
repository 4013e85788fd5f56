"""the working-day calendar's loaded years

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

Working days know China's public holidays and make-up working days (issue 13 §4): each
year's State Council notice is stored in ``calendar_years`` with who loaded it from where,
so every API worker and instance counts with the same calendar and a year loaded with
``ebill calendar load`` reaches them all without a restart. The shipped years are loaded
by the service at its start (seed data, audited), not by this migration: a migration holds
no business data.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'calendar_years',
        sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('source', sa.String(length=200), nullable=False),
        sa.Column('published', sa.String(length=10), nullable=True),
        sa.Column('holidays', sa.Integer(), nullable=False),
        sa.Column('make_up_days', sa.Integer(), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('document', sa.Text(), nullable=False),
        sa.Column('loaded_from', sa.String(length=200), nullable=False),
        sa.Column('loaded_by', sa.String(length=80), nullable=False),
        sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('year', name=op.f('pk_calendar_years')),
    )


def downgrade() -> None:
    op.drop_table('calendar_years')
