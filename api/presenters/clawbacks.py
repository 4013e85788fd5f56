"""Claw-backs as the API writes them (docs/claims-api.md, "Claw-backs"): what is owed, by whom, by
when, how much is settled and how, and every step with who acted and when."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ledger.claims.clawbacks import REASONS, ClawBack, ClawbackState
from ledger.workdays import WorkCalendar


def clawback_json(cb: ClawBack, *, calendar: WorkCalendar, now: datetime | None = None) -> dict[str, Any]:
    """A claw-back, its due date counted in working days from its request (as of ``now``)."""
    now = now or datetime.now(UTC)
    due_at = calendar.add(cb.requested_at, cb.due_working_days)
    return {
        "id": cb.id, "claim": cb.claim_id, "payer": cb.payer_id, "fingerprint": "0x" + cb.fingerprint.hex(),
        "issuer": cb.issuer, "hospitalName": cb.hospital_name, "invoiceCode": cb.invoice_code,
        "invoiceNumber": cb.invoice_number, "person": cb.person.hex(),
        "debtor": {"kind": cb.debtor.value, "id": cb.debtor_id},
        "reason": {"code": cb.reason.value, "words": REASONS[cb.reason].words}, "note": cb.note,
        "state": cb.state.value, "amountDueFen": cb.amount_due_fen, "recoveredFen": cb.recovered_fen,
        "offsetFen": cb.offset_fen, "writtenOffFen": cb.written_off_fen, "pendingOffsetFen": cb.pending_offset_fen,
        "outstandingFen": cb.outstanding_fen,
        "requestedAt": cb.requested_at.isoformat(), "requestedBy": cb.requested_by,
        "dueWorkingDays": cb.due_working_days, "dueAt": due_at.isoformat(),
        "overdue": cb.state is ClawbackState.REQUESTED and now > due_at,
        "writeOff": ({"proposedBy": cb.write_off_proposed_by, "reason": cb.write_off_reason}
                     if cb.write_off_proposed_by else None),
        "closedAt": cb.closed_at.isoformat() if cb.closed_at else None,
        "actions": [{"action": a.event.value, "amountFen": a.amount_fen, "actor": a.actor, "at": a.at.isoformat(),
                     "reference": a.reference, "payout": a.payout, "note": a.note or None} for a in cb.actions],
    }
