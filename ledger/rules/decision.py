"""The outcome of adjudicating one invoice: values the claims service stores and shows.

A :class:`Decision` carries every figure the citizen's explanation needs (per line:
eligible, self-paid and the rules with their fen; per invoice: the deductible, ratio
and cap steps; the year-to-date figures before and after; the review flags), and
``to_json()`` gives a stable document with a fixed key set, lines in invoice order,
integers in fen, so a stored decision can be compared and replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.rules.earlier_payers import EarlierPayers
from ledger.rules.ruleset import PersonCategory


@dataclass(frozen=True, slots=True)
class YearToDate:
    """What this person already had this calendar year under this scheme, before the invoice."""

    deductible_used_fen: int = 0
    reimbursed_fen: int = 0

    def __post_init__(self) -> None:
        if self.deductible_used_fen < 0 or self.reimbursed_fen < 0:
            raise ValueError(f"year-to-date figures must be >= 0, got {self}")

    def to_json(self) -> dict[str, int]:
        return {"deductibleUsedFen": self.deductible_used_fen, "reimbursedFen": self.reimbursed_fen}


@dataclass(frozen=True, slots=True)
class EarlierLine:
    """One of the person's fee lines on another invoice (any hospital), for the period limits:
    what was supplied, when, and on which invoice."""

    issuer: str
    invoice_code: str
    invoice_number: str
    issued_at: str       # normal form (ledger.invoice.format_timestamp)
    service_date: str
    item_code: str       # as billed; normalised by the adjudication like the invoice's own
    quantity: str        # normal form

    @property
    def invoice_key(self) -> tuple[str, str, str]:
        return (self.issuer, self.invoice_code, self.invoice_number)


@dataclass(frozen=True, slots=True)
class Reason:
    """A rule that applied, how many fen it made self-paid (0 for flags), and why in words."""

    rule: str
    self_paid_fen: int
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "selfPaidFen": self.self_paid_fen, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class LineDecision:
    """One fee line's outcome: ``amount_fen == eligible_fen + self_paid_fen``."""

    seq: int
    item_code: str
    canonical_code: str
    amount_fen: int
    eligible_fen: int
    self_paid_fen: int
    reasons: tuple[Reason, ...]

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "itemCode": self.item_code, "canonicalCode": self.canonical_code,
                "amountFen": self.amount_fen, "eligibleFen": self.eligible_fen,
                "selfPaidFen": self.self_paid_fen, "reasons": [r.to_json() for r in self.reasons]}


@dataclass(frozen=True, slots=True)
class Flag:
    """A suspicion for a reviewer; it changes no amount."""

    rule: str
    seqs: tuple[int, ...]
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "seqs": list(self.seqs), "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Step:
    """One invoice-level step (deductible, ratio, annual cap) and the amount after it."""

    rule: str
    amount_fen: int
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "amountFen": self.amount_fen, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Decision:
    """The full, storable result of adjudicating one invoice under one rule set."""

    ruleset_id: str
    ruleset_version: int
    person: PersonCategory
    invoice_key: tuple[str, str, str]
    issue_date: str
    total_fen: int
    lines: tuple[LineDecision, ...]
    eligible_fen: int
    deductible_used_fen: int
    ratio_bp: int
    cap_remaining_fen: int
    reimbursable_fen: int
    steps: tuple[Step, ...]
    year_to_date_before: YearToDate
    year_to_date_after: YearToDate
    flags: tuple[Flag, ...]
    #: payers in order: the earlier payers' figures this decision was made with (None: no order)
    earlier_payers: EarlierPayers | None = None

    @property
    def needs_review(self) -> bool:
        return bool(self.flags)

    def to_json(self) -> dict[str, Any]:
        """Stable JSON document (fixed key set, lines in invoice order) for storage and the citizen."""
        doc = {
            "ruleset": {"id": self.ruleset_id, "version": self.ruleset_version},
            "person": self.person.value,
            "invoice": {"issuer": self.invoice_key[0], "invoiceCode": self.invoice_key[1],
                        "invoiceNumber": self.invoice_key[2], "issueDate": self.issue_date},
            "totalFen": self.total_fen,
            "lines": [line.to_json() for line in self.lines],
            "eligibleFen": self.eligible_fen,
            "deductibleUsedFen": self.deductible_used_fen,
            "ratioBp": self.ratio_bp,
            "capRemainingFen": self.cap_remaining_fen,
            "reimbursableFen": self.reimbursable_fen,
            "steps": [s.to_json() for s in self.steps],
            "yearToDateBefore": self.year_to_date_before.to_json(),
            "yearToDateAfter": self.year_to_date_after.to_json(),
            "flags": [f.to_json() for f in self.flags],
            "needsReview": self.needs_review,
        }
        if self.earlier_payers is not None:   # only for a payer in an order: other documents stay as they were
            doc["earlierPayers"] = self.earlier_payers.to_json()
        return doc
