"""hospital keys over time: rotation and revocation

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08

Issue 15 (keys): a hospital's signing key can be rotated and an old key revoked
(``ebill hospital rotate-key`` / ``revoke-key``, ``/v1/hospitals/{id}/keys``). ``hospital_keys``
keeps every key a hospital had (``ledger.hospital_keys``): pending (made, not yet bound on
chain), current (the one that signs; still also ``hospitals.account``/``keystore``), retired,
revoking, revoked. Each hospital holding a key gets its key as ``current`` here, bound at its
registration if the store saw one (``added_at`` is left to the chain worker: the store never
recorded the contract's time). Hospitals mirrored from another service hold no key here and
get no row.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'hospital_keys',
        sa.Column('account', sa.String(length=42), nullable=False),
        sa.Column('institution_id', sa.String(length=12), nullable=False),
        sa.Column('keystore', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('added_at', sa.BigInteger(), nullable=True),
        sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoke_previous', sa.String(length=16), nullable=True),
        sa.Column('revoke_reason', sa.String(length=16), nullable=True),
        sa.Column('revoke_requested_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.BigInteger(), nullable=True),
        sa.Column('revoked_block', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('account', name=op.f('pk_hospital_keys')),
    )
    op.create_index('ix_hospital_keys_institution_id', 'hospital_keys', ['institution_id'], unique=False)
    op.create_index('uq_hospital_keys_current', 'hospital_keys', ['institution_id'], unique=True,
                    sqlite_where=sa.text("state = 'current'"), postgresql_where=sa.text("state = 'current'"))
    op.create_index('uq_hospital_keys_pending', 'hospital_keys', ['institution_id'], unique=True,
                    sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))
    op.create_index('ix_hospital_keys_todo', 'hospital_keys', ['state'], unique=False,
                    sqlite_where=sa.text("state IN ('pending', 'revoking')"),
                    postgresql_where=sa.text("state IN ('pending', 'revoking')"))
    conn = op.get_bind()
    hospitals = sa.table('hospitals', sa.column('institution_id', sa.String), sa.column('account', sa.String),
                         sa.column('keystore', sa.Text), sa.column('created_at', sa.DateTime(timezone=True)))
    keys = sa.table('hospital_keys', sa.column('account', sa.String), sa.column('institution_id', sa.String),
                    sa.column('keystore', sa.Text), sa.column('state', sa.String),
                    sa.column('created_at', sa.DateTime(timezone=True)))
    rows = [{"account": r.account, "institution_id": r.institution_id, "keystore": r.keystore, "state": "current",
             "created_at": r.created_at or datetime.now(UTC)}
            for r in conn.execute(sa.select(hospitals)) if r.keystore]
    if rows:
        conn.execute(keys.insert(), rows)


def downgrade() -> None:
    op.drop_index('ix_hospital_keys_todo', table_name='hospital_keys',
                  sqlite_where=sa.text("state IN ('pending', 'revoking')"),
                  postgresql_where=sa.text("state IN ('pending', 'revoking')"))
    op.drop_index('uq_hospital_keys_pending', table_name='hospital_keys',
                  sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))
    op.drop_index('uq_hospital_keys_current', table_name='hospital_keys',
                  sqlite_where=sa.text("state = 'current'"), postgresql_where=sa.text("state = 'current'"))
    op.drop_index('ix_hospital_keys_institution_id', table_name='hospital_keys')
    op.drop_table('hospital_keys')
