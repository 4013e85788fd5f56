"""What reviewers and the citizen do to a claim: a reviewer's verdict at the claim's stage (first
review, final review, an appeal heard by someone else), the citizen's one appeal, and the
post-payment auditor's verdict on a sampled, paid claim (a finding opens a claw-back).

Pure functions over a claim as it stands, each returning a :class:`~ledger.claims.change.Change`
(see :mod:`ledger.claims.transitions` for the rest of a claim's events; both are called as
``transitions.<event>`` by the repository).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ledger.claims.change import Change, ClaimValues, change_of, clawback_request
from ledger.claims.clawbacks import FINDINGS, REASONS, Reason
from ledger.claims.lines import InPart
from ledger.claims.model import Claim, Standing
from ledger.claims.sampling import PostAudit
from ledger.claims.stamps import StampOp, StampStatus, behind_chain, next_chain_claim_id
from ledger.claims.states import DUTIES, Bar, Event, Party, Stage, bar_of, review_stage, step
from ledger.errors import DutiesSeparated, InvalidInput, TransitionRefused


@dataclass(frozen=True)
class ReviewVerdict:
    """A reviewer's verdict to record beside the claim's change."""

    reviewer: str
    verdict: str
    reason: str
    round: int


# ---------------------------------------------------------------------- reviewers and the citizen


def review(s: Standing, *, earlier: Mapping[str, str], reviewer: str, verdict: str, reason: str,
           now: datetime, rejected_by: Collection[str] = (), in_part: InPart | None = None,
           on_chain: StampStatus | None = None) -> tuple[Change, ReviewVerdict]:
    """A reviewer's verdict on a claim in review, given the verdicts of this round so far
    (``earlier``: reviewer -> verdict) and who rejected it in earlier rounds (``rejected_by``).
    Approved once enough different reviewers approved; rejected at the first rejection (its
    reservation released).

    Who may act is :data:`~ledger.claims.states.DUTIES` at the claim's stage: the first
    review, then (above the final-review threshold) the final review by another reviewer;
    a reviewer who rejected the claim never decides its appeal.

    An approval ``in_part`` (:func:`ledger.claims.lines.judge_in_part`) decides the claim for
    what the approved lines pay: a smaller amount releases the reservation, then reserves the
    smaller amount again under a new chain claim id (see :func:`after_stamp`) before it is
    finalised; the person's year takes the new figures at once.

    Raises :class:`~ledger.claims.states.TransitionRefused` for a claim not in review, an
    approval in part that would not decide it (a first of two approvals) or whose
    reservation is changing on chain, and :class:`~ledger.errors.DutiesSeparated` for a
    reviewer the stage bars; also for a claim whose payment the chain finalised already
    (``on_chain``, the chain index's status of its stamp: a restore from an older backup lost its
    decision), which the stamper reconciles with the bank (:mod:`ledger.claims.reconcile`).
    """
    if behind_chain(s.state, s.stamp, on_chain):
        raise TransitionRefused(f"claim {s.id}'s payment was finalised on chain after the backup this database was "
                                "restored from; it is recorded from the bank's payment (or paid once) and can no "
                                "longer be reviewed", state=s.state, event=Event.REJECTED if verdict == "reject"
                                else Event.APPROVED, by=Party.REVIEWER)
    if in_part is not None and verdict != "approve":
        raise ValueError("only an approval is given in part")
    before = sum(1 for v in earlier.values() if v == "approve")
    approvals = before + (verdict == "approve")
    if verdict == "reject":
        event = Event.REJECTED
    elif approvals >= s.reviews_needed:
        event = Event.APPROVED if in_part is None else Event.APPROVED_IN_PART
    else:
        event = Event.APPROVAL_RECORDED
    after = step(s.state, event, by=Party.REVIEWER, refusal=f"claim {s.id} is {s.state}, not in review")
    if in_part is not None and event is not Event.APPROVED_IN_PART:
        raise TransitionRefused(f"claim {s.id} needs {s.reviews_needed} approvals: approve it in full for its final "
                                "review, or reject it; the final reviewer may approve it in part", state=s.state,
                                event=event, by=Party.REVIEWER)
    reduced = in_part is not None and in_part.amount_fen < s.amount_fen
    if reduced and not (s.stamp is StampStatus.RESERVED and s.chain_todo is None):
        raise TransitionRefused(f"claim {s.id}'s reservation is being changed on chain; try again in a moment",
                                state=s.state, event=event, by=Party.REVIEWER)
    stage = review_stage(approvals=before)
    duty = DUTIES[stage]
    if event not in duty.events:
        raise TransitionRefused(f"{event} cannot happen at the {stage} of claim {s.id}", state=s.state, event=event,
                                by=Party.REVIEWER)
    bar = bar_of(stage, reviewer, this_round=earlier, rejected_by=rejected_by)
    if bar is Bar.REJECTED_IT:
        raise DutiesSeparated(f"you rejected claim {s.id}; its appeal must be decided by another reviewer",
                              state=s.state, event=event, stage=stage, bar=bar)
    if bar is Bar.REVIEWED_THIS_ROUND:
        raise DutiesSeparated(f"you reviewed claim {s.id} already; a second approval must come from another "
                              "reviewer (maker-checker)", state=s.state, event=event, stage=stage, bar=bar)
    values = ClaimValues()
    if event is Event.REJECTED:
        values |= ClaimValues(rejection=reason, decided_at=now,
                      chain_todo=StampOp.RELEASE if s.stamp is StampStatus.RESERVED else None)
    elif event is Event.APPROVED or (event is Event.APPROVED_IN_PART and not reduced):
        # finalised on chain before the bank pays (a claim reserved again after lost blocks is
        # finalised once that reservation is back)
        values |= ClaimValues(decided_at=now, chain_todo=StampOp.FINALIZE
                      if s.stamp is StampStatus.RESERVED and s.chain_todo is None else s.chain_todo)
    elif event is Event.APPROVED_IN_PART:   # for less: the reservation is given back, then reserved again for less
        values |= ClaimValues(decided_at=now, chain_todo=StampOp.RELEASE)
    if in_part is not None:
        values |= ClaimValues(amount_fen=in_part.amount_fen, deductible_used_fen=in_part.deductible_used_fen,
                              decision=in_part.decision)
    round_ = review_round(s)
    detail: dict[str, Any] = {"reason": reason, "round": round_, "approvals": approvals,
                              "needed": s.reviews_needed, "state": after, "stage": stage}
    if in_part is not None:
        detail["inPart"] = in_part.decision["review"]
    change = change_of(s, event, Party.REVIEWER, values, actor=reviewer, action=f"claim.review.{verdict}",
                     detail=detail, names_state=False)
    return change, ReviewVerdict(reviewer, verdict, reason, round_)


def review_round(s: Standing) -> int:
    """The round of reviews a claim is in: 2 after an appeal, else 1."""
    return 2 if s.appealed else 1


def appeal(s: Standing, *, reason: str, actor: str, deductible_fen: int, amount_fen: int) -> Change:
    """A rejected claim back to review, once, with its amounts judged again: a reservation not
    released yet is kept; a released one is made again under a new chain claim id.

    Raises :class:`~ledger.claims.states.TransitionRefused` for a claim that is not rejected,
    or that was appealed before.
    """
    event = Event.APPEALED_BEFORE_RELEASE if s.chain_todo is StampOp.RELEASE else Event.APPEALED
    refusal = f"only a rejected claim can be appealed; claim {s.id} is {s.state}"
    step(s.state, event, by=Party.CLAIMANT, refusal=refusal)
    if s.appealed:
        raise TransitionRefused(f"claim {s.id} was appealed once already; a claim can be appealed only once",
                                state=s.state, event=event, by=Party.CLAIMANT)
    values = ClaimValues(appeal=reason, decided_at=None, deductible_used_fen=deductible_fen, amount_fen=amount_fen)
    if event is Event.APPEALED_BEFORE_RELEASE:   # not released yet: keep the reservation
        values |= ClaimValues(chain_todo=None)
    else:
        values |= ClaimValues(chain_todo=StampOp.RESERVE, attempt=s.attempt + 1,
                      chain_claim_id=next_chain_claim_id(s.chain_claim_id, s.attempt + 1))
    return change_of(s, event, Party.CLAIMANT, values, actor=actor, action="claim.appealed", detail={"reason": reason},
                   names_state=False)


# ---------------------------------------------------------------------- the post-payment audit


def post_audit(c: Claim, *, finding: bool, auditor: str, reason: str, approved_by: Collection[str],
               code: Reason | None = None) -> Change:
    """A post-payment auditor's verdict on a sampled, paid claim: nothing wrong (it stays
    paid), or a finding that asks its money back (a claw-back: the claim is ``clawback`` and
    gives the person's year back, as a void after the payout does). Once per claim. A finding
    names its ``code`` (:data:`~ledger.claims.clawbacks.FINDINGS`), which says who owes the
    money back; the change opens that claw-back.

    Raises :class:`~ledger.errors.InvalidInput` for a finding without a finding's code (or a
    clearance with one), :class:`~ledger.claims.states.TransitionRefused` for a claim that is
    not paid, not drawn, or audited already, and :class:`~ledger.errors.DutiesSeparated` for
    an auditor who approved its payment.
    """
    if finding and code not in FINDINGS:
        raise InvalidInput.single("code", "finding", "a finding names who owes the money back with one of: "
                                                     + ", ".join(FINDINGS))
    if not finding and code is not None:
        raise InvalidInput.single("code", "cleared", "a claim cleared by the audit asks nothing back: no code")
    s = c.standing
    event = Event.AUDIT_FOUND if finding else Event.AUDIT_CLEARED
    step(s.state, event, by=Party.REVIEWER, refusal=f"claim {s.id} is {s.state}: only a paid claim is audited "
                                                    "after the payout")
    if s.post_audit is not PostAudit.DUE:
        why = ("was not drawn for a post-payment audit" if s.post_audit is None
               else f"was audited already ({s.post_audit})")
        raise TransitionRefused(f"claim {s.id} {why}", state=s.state, event=event, by=Party.REVIEWER)
    stage = Stage.POST_PAYMENT_AUDIT
    if bar_of(stage, auditor, this_round={}, rejected_by=(), approved_by=approved_by) is Bar.APPROVED_IT:
        raise DutiesSeparated(f"you approved claim {s.id}; its post-payment audit must be done by someone else",
                              state=s.state, event=event, stage=stage, bar=Bar.APPROVED_IT)
    outcome = PostAudit.FINDING if finding else PostAudit.CLEARED
    detail: dict[str, Any] = {"reason": reason, "outcome": outcome, "stage": stage}
    values = ClaimValues(post_audit=outcome)
    if not finding:
        return change_of(s, event, Party.REVIEWER, values, actor=auditor, action=f"claim.post-audit.{outcome}",
                       detail=detail, names_state=False)
    assert code is not None
    debtor = REASONS[code].debtor
    reversed_ = {"deductibleUsedFen": s.deductible_used_fen, "reimbursedFen": s.amount_fen}
    finding_doc = {"reason": reason, "amountDueFen": s.amount_fen, "code": code.value, "debtor": debtor.value}
    detail |= {"amountDueFen": s.amount_fen, "reversed": reversed_, "code": code.value, "debtor": debtor.value}
    # the decision keeps what the finding asks back and what the year was given back (the citizen reads it)
    values |= ClaimValues(decision={**c.decision, "postAuditFinding": finding_doc, "reversed": reversed_})
    change = change_of(s, event, Party.REVIEWER, values, actor=auditor, action=f"claim.post-audit.{outcome}",
                     detail=detail, names_state=False)
    return replace(change, clawback=clawback_request(c, code, reason, actor=auditor))
