"""Why a claw-back is asked, and so who owes it: one debtor per reason code. Pure.

See :mod:`ledger.claims.clawbacks` for why each reason puts the debt on the hospital or on
the person the claim paid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Debtor(StrEnum):
    """Who must return the money."""

    HOSPITAL = "hospital"    # the invoice's issuing hospital
    PERSON = "person"        # the insured person the claim paid


class By(StrEnum):
    """Who causes an event of a claw-back."""

    STAMPER = "stamper"      # the void watch: a paid claim's invoice was voided
    AUDITOR = "auditor"      # a post-payment auditor's finding
    PAYOUT = "payout"        # the payout of a later claim of the person who owes
    OFFICE = "office"        # a member of the payer's claims office


class Reason(StrEnum):
    """Why the money is asked back (the code; :data:`REASONS` has the words and the debtor)."""

    INVOICE_VOIDED = "invoice-voided"
    DUPLICATE_CHARGING = "duplicate-charging"
    UNBUNDLING = "unbundling"
    ITEM_SUBSTITUTION = "item-substitution"
    FALSE_BILLING = "false-billing"
    OVER_TREATMENT = "over-treatment"
    REPEAT_PRESCRIPTIONS = "repeat-prescriptions"
    NOT_ENTITLED = "not-entitled"
    PAID_ELSEWHERE = "paid-elsewhere"
    OVERPAID = "overpaid"
    #: a finding recorded before findings named who owes (migration 0011): the person was paid, so the person
    AUDIT_FINDING = "audit-finding"


@dataclass(frozen=True)
class ReasonRule:
    """What a reason code means: who owes, who may give it, and in words."""

    debtor: Debtor
    by: By
    words: str


_H, _P, _A = Debtor.HOSPITAL, Debtor.PERSON, By.AUDITOR
#: every reason code, its debtor, who gives it and its words
REASONS: Mapping[Reason, ReasonRule] = {
    Reason.INVOICE_VOIDED: ReasonRule(_H, By.STAMPER, "the hospital voided the invoice after the payout"),
    Reason.DUPLICATE_CHARGING: ReasonRule(_H, _A, "an item was charged twice"),
    Reason.UNBUNDLING: ReasonRule(_H, _A, "one service was billed in parts to charge more"),
    Reason.ITEM_SUBSTITUTION: ReasonRule(_H, _A, "an item was billed as another (串换)"),
    Reason.FALSE_BILLING: ReasonRule(_H, _A, "care that was not given was charged, or the invoice was false"),
    Reason.OVER_TREATMENT: ReasonRule(_H, _A, "over-prescribing or off-label use"),
    Reason.REPEAT_PRESCRIPTIONS: ReasonRule(_P, _A, "the same drugs were collected at several hospitals beyond "
                                                    "the days' supply"),
    Reason.NOT_ENTITLED: ReasonRule(_P, _A, "the person was not entitled to this benefit"),
    Reason.PAID_ELSEWHERE: ReasonRule(_P, _A, "the same care was reimbursed by another payer or region"),
    Reason.OVERPAID: ReasonRule(_P, _A, "the office paid more than its rules pay"),
    Reason.AUDIT_FINDING: ReasonRule(_P, _A, "a post-payment audit found it wrong (recorded before findings named "
                                             "who owes)"),
}
#: the codes a post-payment audit finding may give (an uncoded one is no longer given)
FINDINGS: tuple[Reason, ...] = tuple(r for r, rule in REASONS.items()
                                     if rule.by is By.AUDITOR and r is not Reason.AUDIT_FINDING)
