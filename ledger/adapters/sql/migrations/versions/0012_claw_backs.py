"""claw-backs: what a paid claim owes back, who owes it, and how it is settled

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

Issue 13 §5: a claim in ``clawback`` now has a claw-back (``ledger.claims.clawbacks``):
``claim_clawbacks`` holds its debtor, amount due, state and settled figures, one row per
claim; ``claim_clawback_actions`` every step (requested, recovered, offset, offsets planned
against a later payout and applied or cancelled, write-off proposed, declined, approved)
with who acted and when. ``claims.offset_fen`` is what a claim's payout keeps back for the
claw-backs its person owes, recorded before the bank is asked.

Claims already in ``clawback`` get their claw-back here, so no debt recorded before this
revision goes missing: a claim voided after its payout is owed by its hospital
(``invoice-voided``); a post-payment finding made before findings named who owes is
``audit-finding``, owed by the person the claim paid (the money went to them; the office
may record a recovery from the hospital, or write it off). Each is requested by whoever
moved the claim into ``clawback`` (from the audit trail), at that moment, and the claim's
audit trail says it was opened by this migration. A finding that named its code (as findings
do from this revision on) keeps it and its debtor: a database downgraded and upgraded again
opens the same claw-backs, though what was settled of them is gone with the tables.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

#: as ledger.claims.clawbacks.RETURN_WORKING_DAYS when this revision was written
_RETURN_WORKING_DAYS = 20
_VOIDED_WORDS = "the hospital voided the invoice after the payout"
#: who owes for each code a finding may have recorded (ledger.claims.clawback_reasons when this revision was written)
_FINDING_DEBTORS = {"duplicate-charging": "hospital", "unbundling": "hospital", "item-substitution": "hospital",
                    "false-billing": "hospital", "over-treatment": "hospital", "repeat-prescriptions": "person",
                    "not-entitled": "person", "paid-elsewhere": "person", "overpaid": "person"}


def upgrade() -> None:
    op.create_table(
        'claim_clawbacks',
        sa.Column('id', sa.String(length=24), nullable=False),
        sa.Column('claim_id', sa.String(length=24), nullable=False),
        sa.Column('payer_id', sa.String(length=32), nullable=False),
        sa.Column('fingerprint', sa.LargeBinary(length=32), nullable=False),
        sa.Column('issuer', sa.String(length=12), nullable=False),
        sa.Column('person', sa.LargeBinary(length=32), nullable=False),
        sa.Column('debtor', sa.String(length=8), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('note', sa.String(length=500), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('amount_due_fen', sa.BigInteger(), nullable=False),
        sa.Column('recovered_fen', sa.BigInteger(), nullable=False),
        sa.Column('offset_fen', sa.BigInteger(), nullable=False),
        sa.Column('written_off_fen', sa.BigInteger(), nullable=False),
        sa.Column('pending_offset_fen', sa.BigInteger(), nullable=False),
        sa.Column('due_working_days', sa.Integer(), nullable=False),
        sa.Column('requested_by', sa.String(length=80), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('write_off_proposed_by', sa.String(length=80), nullable=True),
        sa.Column('write_off_reason', sa.String(length=500), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_clawbacks')),
        sa.UniqueConstraint('claim_id', name=op.f('uq_claim_clawbacks_claim_id')),
    )
    with op.batch_alter_table('claim_clawbacks') as batch_op:
        batch_op.create_index('ix_claim_clawbacks_issuer', ['issuer', 'requested_at'], unique=False)
        batch_op.create_index('ix_claim_clawbacks_person', ['person', 'state'], unique=False)
        batch_op.create_index('ix_claim_clawbacks_state', ['state', 'requested_at'], unique=False)

    op.create_table(
        'claim_clawback_actions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('clawback_id', sa.String(length=24), nullable=False),
        sa.Column('event', sa.String(length=24), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('actor', sa.String(length=80), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('reference', sa.String(length=64), nullable=True),
        sa.Column('payout', sa.String(length=24), nullable=True),
        sa.Column('note', sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_clawback_actions')),
    )
    with op.batch_alter_table('claim_clawback_actions') as batch_op:
        batch_op.create_index('ix_claim_clawback_actions_clawback_id', ['clawback_id'], unique=False)
        batch_op.create_index('uq_claim_clawback_actions_payout', ['payout', 'clawback_id', 'event'], unique=True,
                              sqlite_where=sa.text('payout IS NOT NULL'),
                              postgresql_where=sa.text('payout IS NOT NULL'))
        batch_op.create_index('uq_claim_clawback_actions_reference', ['clawback_id', 'event', 'reference'],
                              unique=True, sqlite_where=sa.text('reference IS NOT NULL'),
                              postgresql_where=sa.text('reference IS NOT NULL'))

    with op.batch_alter_table('claims') as batch_op:
        batch_op.add_column(sa.Column('offset_fen', sa.BigInteger(), nullable=True))

    _open_earlier_clawbacks()


def _open_earlier_clawbacks() -> None:
    """A claw-back for every claim that is ``clawback`` already (see the module docstring)."""
    conn = op.get_bind()
    claims = conn.execute(sa.text(
        "SELECT id, payer_id, fingerprint, issuer, person, amount_fen, decision, post_audit, updated_at "
        "FROM claims WHERE state = 'clawback' ORDER BY created_at")).all()
    now = datetime.now(UTC)
    for c in claims:
        finding = c.post_audit == 'finding'
        moved = conn.execute(sa.text(
            "SELECT actor, at FROM audit_log WHERE subject = :claim AND action IN "
            "('claim.clawback', 'claim.voided', 'claim.post-audit.finding') ORDER BY id DESC LIMIT 1"),
            {"claim": c.id}).first()
        actor = moved.actor if moved is not None else "system:migration-0012"
        at = moved.at if moved is not None else (c.updated_at or now)
        if finding:
            found = json.loads(c.decision).get("postAuditFinding") or {}
            note = found.get("reason") or "post-payment audit finding"
            code = str(found.get("code") or "")
            reason = code if code in _FINDING_DEBTORS else "audit-finding"
            debtor = _FINDING_DEBTORS.get(reason, "person")
        else:
            note, reason, debtor = _VOIDED_WORDS, "invoice-voided", "hospital"
        cb_id = "cbk_" + hashlib.sha256(f"ebill claw-back of {c.id}".encode()).hexdigest()[:20]
        conn.execute(sa.text(
            "INSERT INTO claim_clawbacks (id, claim_id, payer_id, fingerprint, issuer, person, debtor, reason, note, "
            "state, amount_due_fen, recovered_fen, offset_fen, written_off_fen, pending_offset_fen, due_working_days, "
            "requested_by, requested_at, updated_at) VALUES (:id, :claim, :payer, :fp, :issuer, :person, :debtor, "
            ":reason, :note, 'requested', :amount, 0, 0, 0, 0, :days, :actor, :at, :now)"),
            {"id": cb_id, "claim": c.id, "payer": c.payer_id, "fp": c.fingerprint, "issuer": c.issuer,
             "person": c.person, "debtor": debtor, "reason": reason, "note": note[:500], "amount": c.amount_fen,
             "days": _RETURN_WORKING_DAYS, "actor": actor[:80], "at": at, "now": now})
        conn.execute(sa.text(
            "INSERT INTO claim_clawback_actions (clawback_id, event, amount_fen, actor, at, note) "
            "VALUES (:id, 'requested', :amount, :actor, :at, :note)"),
            {"id": cb_id, "amount": c.amount_fen, "actor": actor[:80], "at": at, "note": note[:500]})
        detail = {"clawback": cb_id, "amountDueFen": c.amount_fen, "debtor": debtor, "reason": reason,
                  "openedBy": "migration 0012"}
        conn.execute(sa.text("INSERT INTO audit_log (at, actor, action, subject, detail) "
                             "VALUES (:at, 'system:migration-0012', 'clawback.requested', :claim, :detail)"),
                     {"at": now, "claim": c.id, "detail": json.dumps(detail, sort_keys=True)})


def downgrade() -> None:
    # the claims keep their state ``clawback``; what was settled of them is lost with the tables
    with op.batch_alter_table('claims') as batch_op:
        batch_op.drop_column('offset_fen')
    with op.batch_alter_table('claim_clawback_actions') as batch_op:
        batch_op.drop_index('uq_claim_clawback_actions_reference', sqlite_where=sa.text('reference IS NOT NULL'),
                            postgresql_where=sa.text('reference IS NOT NULL'))
        batch_op.drop_index('uq_claim_clawback_actions_payout', sqlite_where=sa.text('payout IS NOT NULL'),
                            postgresql_where=sa.text('payout IS NOT NULL'))
        batch_op.drop_index('ix_claim_clawback_actions_clawback_id')
    op.drop_table('claim_clawback_actions')
    with op.batch_alter_table('claim_clawbacks') as batch_op:
        batch_op.drop_index('ix_claim_clawbacks_state')
        batch_op.drop_index('ix_claim_clawbacks_person')
        batch_op.drop_index('ix_claim_clawbacks_issuer')
    op.drop_table('claim_clawbacks')
