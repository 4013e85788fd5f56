"""Why a claim waits for a reviewer, and what a reviewer searches the queue by.

The machine audit (:func:`ledger.claims.policy.decide`) sends a claim to review instead of
paying it at once when a fraud rule flagged it or its amount is above the instant-payout
threshold; an appeal, a first approval awaiting its final review and a payout the bank
refused bring it back. :func:`why_in_review` names each of these for the queue, so a
reviewer sees at a glance what to look at. Pure: the claim and the policy's threshold
come in as arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ledger.claims.model import Claim
from ledger.claims.states import ClaimState, Stage, review_stage
from ledger.claims.transitions import PAYOUT_REFUSED


class Why(StrEnum):
    """A reason a claim is in the review queue (the API's and the console's codes)."""

    FLAGGED = "flagged"                          # a fraud rule raised a flag
    OVER_INSTANT = "over-instant-threshold"      # more than is paid at once without a person
    APPEAL = "appeal"                            # the citizen appealed a rejection
    FINAL_REVIEW = "final-review"                # approved once; another reviewer decides for good
    PAYOUT_HELD = "payout-held"                  # approved, but the bank refused the payout for good


@dataclass(frozen=True)
class Reason:
    """One reason, with what the reviewer needs to read it (a flag's rule and words, amounts)."""

    why: Why
    detail: str
    facts: tuple[tuple[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The reason as the API writes it: ``{"code", "detail", ...facts}``."""
        return {"code": self.why.value, "detail": self.detail, **dict(self.facts)}


def why_in_review(c: Claim, *, instant_max_fen: int) -> list[Reason]:
    """Why claim ``c`` is (or would be) in the review queue, most pressing first: an appeal, a
    refused payout and a final review before the machine audit's reasons (each flag in words,
    then an amount above ``instant_max_fen``)."""
    out: list[Reason] = []
    if c.appeal is not None:
        out.append(Reason(Why.APPEAL, f"the citizen appealed the rejection: {c.appeal}", (("reason", c.appeal),)))
    if c.refusal and c.refusal.startswith(PAYOUT_REFUSED):
        out.append(Reason(Why.PAYOUT_HELD, c.refusal, (("bank", c.refusal.removeprefix(PAYOUT_REFUSED)),)))
    if c.state is ClaimState.IN_REVIEW and review_stage(approvals=c.approvals) is Stage.FINAL_REVIEW:
        out.append(Reason(Why.FINAL_REVIEW, f"approved {c.approvals} of {c.reviews_needed} times: another "
                                            "reviewer decides it", (("approvals", c.approvals),
                                                                    ("needed", c.reviews_needed))))
    flags = {f.get("rule"): f for f in c.decision.get("flags", []) if isinstance(f, dict)}
    for rule in c.flags:
        flag = flags.get(rule, {})
        words = str(flag.get("detail") or rule)
        out.append(Reason(Why.FLAGGED, words, (("rule", rule), ("seqs", list(flag.get("seqs", []))))))
    if c.amount_fen > instant_max_fen:
        out.append(Reason(Why.OVER_INSTANT, f"¥{c.amount_fen / 100:,.2f} is above the ¥{instant_max_fen / 100:,.2f} "
                                            "paid at once", (("amountFen", c.amount_fen),
                                                             ("thresholdFen", instant_max_fen))))
    return out


@dataclass(frozen=True)
class QueueSearch:
    """What the review queue is narrowed to (every criterion given must match)."""

    claim_id: str | None = None          # the claim's id
    fingerprint: bytes | None = None     # the invoice's fingerprint ...
    invoice_number: str | None = None    # ... or its number (as printed)
    person: bytes | None = None          # the person's pseudonym
    hospital: str | None = None          # the issuing hospital's code, or a part of its name
    min_amount_fen: int | None = None
    flag: str | None = None              # a fraud rule's id

    @property
    def empty(self) -> bool:
        """True if nothing narrows the queue."""
        return all(v is None for v in self.__dict__.values())
