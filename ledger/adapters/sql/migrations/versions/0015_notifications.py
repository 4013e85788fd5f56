"""notifications: the outbox of messages at each step of a claim, and a person's language

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08

Issue 14 ("Notifications"): a citizen gets a message at each step of a claim (received, in
review, approved, paid, rejected, not paid, claw-back), written into ``notifications`` in
the transaction that writes the step (``ledger.claims.notices``), and sent by a delivery
adapter, which records how (``state`` pending → delivered | failed, ``channel``,
``reference``). ``persons.language`` is the language a person prefers their messages in
(``zh`` | ``en``); NULL for everyone enrolled before: they are written to in Chinese until
the payer enrols them again with a language, or they choose one in the app.

Claims decided before this revision sent no message and get none now: a message says what
just happened, and sending the history of every claim at once would say nothing true.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('persons') as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))
    op.create_table(
        'notifications',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('claim_id', sa.String(length=24), nullable=False),
        sa.Column('person', sa.LargeBinary(length=32), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('event', sa.String(length=40), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=40), nullable=True),
        sa.Column('reference', sa.String(length=80), nullable=True),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('error', sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    )
    with op.batch_alter_table('notifications') as batch_op:
        batch_op.create_index('ix_notifications_state', ['state', 'id'], unique=False)
        batch_op.create_index('ix_notifications_claim_id', ['claim_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notifications') as batch_op:
        batch_op.drop_index('ix_notifications_claim_id')
        batch_op.drop_index('ix_notifications_state')
    op.drop_table('notifications')
    with op.batch_alter_table('persons') as batch_op:
        batch_op.drop_column('language')
