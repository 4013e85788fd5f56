"""A reviewer's approval in part: some fee lines not approved, each with a coded reason.

A reviewer who finds some lines wrong (not medically necessary, billed twice, no
referral, …) approves the rest instead of rejecting the whole claim. What the claim then
pays is the payer's rules applied again to the invoice without those lines, with the
person's year as it stood without this claim (:func:`judge_in_part`): the deductible,
the ratio and the caps work as they would have, never more than the claim paid before.
Each line keeps its reason code (for reports) and its words (for the citizen). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from ledger.errors import FieldProblem, InvalidInput
from ledger.invoice import Invoice
from ledger.rules import EarlierLine, PersonCategory, RuleSet, YearToDate, adjudicate


class LineReason(StrEnum):
    """Why a reviewer did not approve a fee line (the API's codes)."""

    NOT_NECESSARY = "not-medically-necessary"
    NOT_COVERED = "not-covered"
    QUANTITY = "quantity-above-limit"
    UNBUNDLED = "unbundled"
    DUPLICATE = "duplicate-billing"
    NO_REFERRAL = "no-prescription-or-referral"
    DOCUMENTATION = "documentation-missing"
    PRICE = "price-above-standard"


#: each reason in words, as the citizen reads it
WORDS: Mapping[LineReason, str] = {
    LineReason.NOT_NECESSARY: "not medically necessary for this visit",
    LineReason.NOT_COVERED: "not covered by the scheme",
    LineReason.QUANTITY: "more than the allowed quantity",
    LineReason.UNBUNDLED: "part of a service billed as a whole (billed separately)",
    LineReason.DUPLICATE: "billed twice",
    LineReason.NO_REFERRAL: "no prescription or referral for it",
    LineReason.DOCUMENTATION: "the documents that support it are missing",
    LineReason.PRICE: "priced above the standard price",
}


@dataclass(frozen=True)
class LineVerdict:
    """One fee line (by its ``seq``) a reviewer did not approve, and why."""

    seq: int
    reason: LineReason
    note: str = ""


@dataclass(frozen=True)
class InPart:
    """An approval in part as judged: what the claim pays, its deductible, and its decision
    document with the reviewer's lines (``review``)."""

    amount_fen: int
    deductible_used_fen: int
    decision: dict[str, Any]


def judge_in_part(invoice: Invoice, verdicts: Sequence[LineVerdict], *, person: PersonCategory,
                  year_without_claim: YearToDate, ruleset: RuleSet, decision: Mapping[str, Any],
                  amount_fen: int, requested_fen: int, earlier: Sequence[EarlierLine] | None = None) -> InPart:
    """What a claim of ``amount_fen`` (decided by ``decision``) pays once the lines of
    ``verdicts`` are not approved: ``ruleset`` applied again to the invoice without them, with
    the person's year as it stood without this claim; never more than ``amount_fen``, nor
    than the patient paid (``requested_fen``). ``earlier``: the person's fee lines on other
    invoices, for the rule set's period limits.

    Raises :class:`InvalidInput` naming ``lines[i].seq`` for a line the invoice does not have
    or named twice, and ``lines`` when nothing would be left to pay (that is a rejection).
    """
    by_seq = {line.seq: line for line in invoice.fee_lines}
    problems: list[FieldProblem] = []
    seen: set[int] = set()
    for i, v in enumerate(verdicts):
        if v.seq not in by_seq:
            problems.append(FieldProblem(f"lines[{i}].seq", "unknown-line", f"the invoice has no fee line {v.seq}"))
        elif v.seq in seen:
            problems.append(FieldProblem(f"lines[{i}].seq", "duplicate", f"fee line {v.seq} is named twice"))
        seen.add(v.seq)
    if problems:
        raise InvalidInput(problems)
    kept = tuple(line for line in invoice.fee_lines if line.seq not in seen)
    if not kept:
        raise InvalidInput.single("lines", "nothing-approved", "no fee line would be approved: reject the claim "
                                                               "instead, with a reason")
    again = adjudicate(replace(invoice, fee_lines=kept), person=person, year_to_date=year_without_claim,
                       ruleset=ruleset, earlier=earlier)
    amount = min(again.reimbursable_fen, requested_fen, amount_fen)
    if amount == 0:
        raise InvalidInput.single("lines", "nothing-approved", "the lines left pay nothing: reject the claim "
                                                               "instead, with a reason")
    lines = [{"seq": v.seq, "itemCode": by_seq[v.seq].item_code, "amountFen": by_seq[v.seq].amount_fen,
              "reason": v.reason.value, "words": WORDS[v.reason], "note": v.note}
             for v in sorted(verdicts, key=lambda v: v.seq)]
    review = {"lines": lines, "amountBeforeFen": amount_fen, "amountFen": amount,
              "deductibleUsedFen": again.deductible_used_fen, "eligibleFen": again.eligible_fen}
    return InPart(amount, again.deductible_used_fen, {**decision, "review": review})
