"""Claims as the API writes them (docs/claims-api.md): a claim, a citizen's invoices, a citizen."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from ledger.app.claims import SLA_WORKING_DAYS
from ledger.app.claims.citizens import Citizen, InvoiceToClaim
from ledger.claims import Claim, PersonRecord, explain
from ledger.claims.languages import language_of
from ledger.claims.queue import why_in_review
from ledger.claims.states import ClaimState, review_stage, review_stages
from ledger.errors import NoRulesInForce
from ledger.workdays import WorkCalendar


def claim_json(c: Claim, *, calendar: WorkCalendar, now: datetime | None = None,
               enrolments: Mapping[bytes, PersonRecord] | None = None,
               labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A claim: its state, the decision line by line and in sentences, its stamp, payment,
    reviews and working-day SLA (as of ``now``).

    ``enrolments`` (the payer's record of the claim's person, given for this payer's reviewers
    only) adds ``insured``; ``labels`` (staff actors' credential labels) adds ``actorLabel`` and
    each review's ``reviewerLabel``."""
    now = now or datetime.now(UTC)
    end = c.decided_at or now
    sla = calendar.elapsed(c.created_at, end)
    labels = labels or {}
    doc = {
        "id": c.id, "submission": c.submission_id, "fingerprint": "0x" + c.fingerprint.hex(), "issuer": c.issuer,
        "hospitalName": c.hospital_name,
        "invoiceCode": c.invoice_code, "invoiceNumber": c.invoice_number, "person": c.person.hex(),
        "payer": c.payer_id, "actor": c.actor, "relation": c.relation, "state": c.state.value, "scheme": c.scheme,
        "requestedFen": c.requested_fen, "decidedFen": c.decided_fen, "amountFen": c.amount_fen,
        "instant": c.instant, "flags": list(c.flags), "decision": c.decision,
        "explanation": explain(c),
        "stamp": {"status": _value(c.stamp), "pending": _value(c.chain_todo), "tx": c.stamp_tx,
                  "block": c.stamp_block, "chainClaimId": "0x" + c.chain_claim_id.hex(), "attempt": c.attempt},
        "payment": {"reference": c.payment_ref, "paidAt": _iso(c.paid_at), "keptBackFen": c.offset_fen or 0,
                    "transferredFen": c.amount_fen - (c.offset_fen or 0)} if c.payment_ref else None,
        "review": {"reviews": [{"reviewer": r.reviewer, "reviewerLabel": labels.get(r.reviewer), "verdict": r.verdict,
                                "reason": r.reason, "round": r.round, "at": _iso(r.at)} for r in c.reviews],
                   "round": c.review_round, "approvals": c.approvals,
                   "stages": list(review_stages(c.reviews_needed)),
                   "stage": review_stage(approvals=c.approvals) if c.state is ClaimState.IN_REVIEW else None,
                   "reviewsNeeded": c.reviews_needed, "needsTwoReviewers": c.reviews_needed > 1},
        "refusal": c.refusal, "rejection": c.rejection, "appeal": c.appeal,
        "postAudit": _value(c.post_audit),
        "slaWorkingDays": round(sla, 2), "dueAt": _iso(calendar.add(c.created_at, SLA_WORKING_DAYS)),
        "overdue": c.decided_at is None and sla > SLA_WORKING_DAYS,
        "createdAt": _iso(c.created_at), "updatedAt": _iso(c.updated_at), "decidedAt": _iso(c.decided_at),
        "actorLabel": labels.get(c.actor),
    }
    if enrolments is not None:
        doc["insured"] = insured_json(enrolments.get(c.person))
    return doc


def insured_json(p: PersonRecord | None) -> dict[str, Any]:
    """Whom a claim is for, as the payer's enrolment holds it (``enrolled`` false: the payer has no
    record of the person)."""
    if p is None:
        return {"enrolled": False, "name": None, "category": None, "insuredRegion": None, "offsiteRegistered": None,
                "language": None}
    return {"enrolled": True, "name": p.name, "category": p.category, "insuredRegion": p.insured_region,
            "offsiteRegistered": p.offsite_registered, "language": language_of(p.language).value}


def queued_json(c: Claim, *, calendar: WorkCalendar, instant_max_fen: int,
                enrolments: Mapping[bytes, PersonRecord] | None = None,
                labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A claim in the review queue: :func:`claim_json` and ``why`` it is there (codes the console
    translates, each with its detail in words)."""
    return {**claim_json(c, calendar=calendar, enrolments=enrolments, labels=labels),
            "why": [r.to_json() for r in why_in_review(c, instant_max_fen=instant_max_fen)]}


def invoices_json(person: bytes, invoices: list[InvoiceToClaim], *, calendar: WorkCalendar) -> dict[str, Any]:
    """A person's invoices, each with whether it can be claimed, an estimate and its latest claim."""
    out = []
    for item in invoices:
        i = item.invoice
        out.append({
            "fingerprint": "0x" + i.fingerprint.hex(), "issuer": i.issuer, "hospitalName": i.hospital_name,
            "invoiceCode": i.invoice_code, "invoiceNumber": i.invoice_number, "issuedAt": i.issued_at,
            "visitType": i.visit_type, "totalFen": i.total_fen, "cashPaidFen": i.cash_paid_fen,
            "feeLineCount": i.fee_line_count,
            "state": "voided" if i.voided else "anchored" if i.anchored_block is not None else "stored",
            "claimable": item.claimable, "estimateFen": item.estimate_fen, "reason": item.reason,
            "rulesMissing": _rules_missing(item.rules_missing),
            "claim": claim_json(item.claim, calendar=calendar) if item.claim else None})
    return {"person": person.hex(), "invoices": out}


def _rules_missing(exc: NoRulesInForce | None) -> dict[str, str] | None:
    """What no rule set covers yet, as facts the app words in the citizen's language."""
    if exc is None:
        return None
    return {"visitType": exc.visit_type, "insuredStatus": exc.insured_status, "category": exc.category,
            "day": exc.day}


def citizen_json(c: Citizen, *, payer_id: str) -> dict[str, Any]:
    """``GET /v1/me`` for a citizen: their enrolment with this payer and their delegations."""
    rec = c.record
    return {"role": "citizen", "person": c.person.hex(), "name": rec.name if rec else "",
            "category": rec.category if rec else None, "insured": rec is not None, "payer": payer_id,
            "payerName": c.payer_name or payer_id,
            "delegations": [{"person": p.pseudonym.hex(), "name": p.name, "category": p.category,
                             "relation": rel} for p, rel in c.delegations]}


def _value(v: Any) -> str | None:
    return None if v is None else str(v.value)


def _iso(t: datetime | date | None) -> str | None:
    return t.isoformat() if t is not None else None
