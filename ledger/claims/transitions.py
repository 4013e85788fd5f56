"""What each event writes: the claim's new figures, its year-to-date effect and its audit entry.

Each function takes a claim as it stands (read by the repository in the transaction that
will write the change, its row locked) and an event's facts, checks the move against
:data:`ledger.claims.states.TRANSITIONS` and returns a :class:`Change`. The repository
writes the change, its year-to-date effect and its audit entry in that one transaction;
it decides nothing itself. Times come in as arguments.

What a change is and how it counts towards the person's year: :mod:`ledger.claims.change`.
Reviewers, appeals and the post-payment audit: :mod:`ledger.claims.reviews`, whose functions
are named here too (``transitions.review``, ``transitions.appeal``, ``transitions.post_audit``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from ledger.claims.change import Change as Change
from ledger.claims.change import ClaimValues as ClaimValues
from ledger.claims.change import YearDelta as YearDelta
from ledger.claims.change import change_of, clawback_request
from ledger.claims.change import year_effect as year_effect
from ledger.claims.clawbacks import REASONS, Reason
from ledger.claims.model import Claim, ClaimDraft, StampCheck, Standing
from ledger.claims.policy import Filing, decide
from ledger.claims.reviews import ReviewVerdict as ReviewVerdict
from ledger.claims.reviews import appeal as appeal
from ledger.claims.reviews import post_audit as post_audit
from ledger.claims.reviews import review as review
from ledger.claims.reviews import review_round as review_round
from ledger.claims.stamps import (
    VOIDED_REFUSAL,
    Done,
    Lost,
    OnChain,
    Repair,
    Retry,
    Smaller,
    StampOp,
    StampResult,
    StampStatus,
    VoidedFirst,
    next_chain_claim_id,
)
from ledger.claims.states import (
    FINALISED_WHEN_RESERVED,
    PAID_STATES,
    RESERVED_AGAIN_AFTER_RELEASE,
    ClaimState,
    Event,
    Party,
    step,
)
from ledger.rules import YearToDate

#: how the stamper, the payout and the void watch sign the audit trail
STAMPER = "system:stamper"
PAYOUT = "system:payout"
#: how a refusal of the payout by the bank begins (the review queue says why the claim is back)
PAYOUT_REFUSED = "payout refused: "
#: longest refusal and reason stored with a claim
_REFUSAL_CHARS = 300


# ---------------------------------------------------------------------- filing


def file_claim(filing: Filing, year_to_date: YearToDate, *, now: datetime) -> tuple[ClaimDraft, Change]:
    """A new claim, decided by the payer's policy (:func:`ledger.claims.policy.decide`) with the
    person's year so far, and what storing it writes."""
    draft = decide(filing, year_to_date)
    return draft, filed(draft, now=now)


def filed(draft: ClaimDraft, *, now: datetime) -> Change:
    """A new claim as decided: waiting for its reservation, or decided at once (nothing to pay)."""
    event = {ClaimState.SUBMITTED: Event.FILED, ClaimState.NOTHING_PAYABLE: Event.FILED_NOTHING_PAYABLE,
             ClaimState.REFUSED: Event.FILED_NOTHING_LEFT, ClaimState.WAITING: Event.FILED_TO_WAIT}.get(draft.state)
    if event is None:
        raise ValueError(f"a claim is not filed as {draft.state}")
    state = step(None, event, by=Party.CLAIMANT)
    values = ClaimValues(state=state, chain_todo=StampOp.RESERVE if state is ClaimState.SUBMITTED else None,
                         decided_at=None if state in (ClaimState.SUBMITTED, ClaimState.WAITING) else now)
    detail = {"fingerprint": "0x" + draft.fingerprint.hex(), "person": "0x" + draft.person.hex(),
              "relation": draft.relation, "decidedFen": draft.decided_fen, "amountFen": draft.amount_fen,
              "flags": list(draft.flags), "refusal": draft.refusal}
    year = year_effect(before=None, after=state, old=(0, 0), new=(draft.deductible_used_fen, draft.amount_fen))
    return Change(draft.id, event, None, state, values, year, draft.actor, f"claim.{state}", detail)


# ---------------------------------------------------------------------- payers in order


def decided_after_earlier(s: Standing, filing: Filing, year_to_date: YearToDate, *,
                          now: datetime) -> tuple[ClaimDraft, Change] | None:
    """A waiting claim decided again with what the chain now shows of the earlier payers
    (``filing.earlier_payers``), or None while it must still wait.

    Raises :class:`~ledger.claims.states.TransitionRefused` for a claim that is not waiting.
    """
    draft = decide(filing, year_to_date)
    if draft.state is ClaimState.WAITING:
        step(s.state, Event.EARLIER_DECIDED, by=Party.STAMPER,
             refusal=f"claim {s.id} is {s.state}, not waiting for earlier payers")
        return None
    event = {ClaimState.SUBMITTED: Event.EARLIER_DECIDED,
             ClaimState.NOTHING_PAYABLE: Event.EARLIER_DECIDED_NOTHING_PAYABLE,
             ClaimState.REFUSED: Event.EARLIER_DECIDED_NOTHING_LEFT}[draft.state]
    submitted = draft.state is ClaimState.SUBMITTED
    values = ClaimValues(chain_todo=StampOp.RESERVE if submitted else None, decided_at=None if submitted else now,
                         amount_fen=draft.amount_fen, deductible_used_fen=draft.deductible_used_fen,
                         decided_fen=draft.decided_fen, decision=draft.decision, flags=list(draft.flags),
                         instant=draft.instant, reviews_needed=draft.reviews_needed, refusal=draft.refusal)
    earlier = filing.earlier_payers
    detail: dict[str, Any] = {"decidedFen": draft.decided_fen, "amountFen": draft.amount_fen,
                              "flags": list(draft.flags), "refusal": draft.refusal,
                              "earlierPayers": earlier.to_json() if earlier is not None else None}
    return draft, change_of(s, event, Party.STAMPER, values, actor=STAMPER, action="claim.decided-after-earlier",
                          detail=detail, refusal=f"claim {s.id} is {s.state}, not waiting for earlier payers",
                          names_state=False)


# ---------------------------------------------------------------------- the chain's answers


def after_stamp(s: Standing, result: StampResult, *, now: datetime) -> Change:
    """What the chain's answer to a stamp (``result``, of the stamper's task on ``s``) changes.

    A confirmed reservation moves a new claim on (approved for instant payout, else to
    review; an appealed one back to review) and has a claim whose money is owed or paid
    finalised next; a refused finalisation because of a void releases the reservation and
    refuses the claim (a paid one owes a claw-back instead, see :func:`voided`).
    """
    task, out = result.task, result.outcome
    op = task.op
    note: dict[str, Any] = {"tx": result.tx, "block": result.block, "chainClaimId": "0x" + task.chain_claim_id.hex()}
    stamped = ClaimValues(stamp=op.stamped, stamp_tx=result.tx, stamp_block=result.block)
    if isinstance(out, Done) and op is StampOp.RESERVE:
        event = Event.RESERVED_INSTANT if s.state is ClaimState.SUBMITTED and s.instant else Event.RESERVED
        after = step(s.state, event, by=Party.STAMPER)
        # a retry's note ("not on chain yet") is over
        return change_of(s, event, Party.STAMPER, stamped | ClaimValues(
            chain_todo=StampOp.FINALIZE if after in FINALISED_WHEN_RESERVED else None, refusal=None),
            actor=STAMPER, action=f"claim.stamp.{op.stamped}", detail=note)
    if isinstance(out, Done):
        event = Event.FINALIZED if op is StampOp.FINALIZE else Event.RELEASED
        return change_of(s, event, Party.STAMPER, stamped | ClaimValues(chain_todo=None) | _reserve_again(s, op),
                       actor=STAMPER, action=f"claim.stamp.{op.stamped}", detail=note)
    if isinstance(out, Retry):
        return change_of(s, Event.STAMP_RETRY, Party.STAMPER, ClaimValues(refusal=out.reason[:_REFUSAL_CHARS]),
                       actor=STAMPER, action="claim.stamp.retry", detail=note)
    if isinstance(out, Smaller):
        values = ClaimValues(amount_fen=out.amount_fen, attempt=s.attempt + 1,
                             chain_claim_id=next_chain_claim_id(task.chain_claim_id, s.attempt + 1))
        return change_of(s, Event.AMOUNT_REDUCED, Party.STAMPER, values, actor=STAMPER, action="claim.amount.reduced",
                       detail={**note, "amountFen": out.amount_fen, "reason": out.reason})
    if isinstance(out, Lost):
        # the chain lost the reservation with its blocks: reserve it again under the same chain
        # claim id (then finalise it again); a release has nothing left to release
        values = ClaimValues(stamp=None, chain_todo=StampOp.RESERVE if op is StampOp.FINALIZE else None)
        values |= _reserve_again(s, op)
        return change_of(s, Event.STAMP_LOST, Party.STAMPER, values, actor=STAMPER,
                       action="claim.stamp.lost" if op is StampOp.FINALIZE else "claim.stamp.nothing-to-release",
                       detail=note)
    if isinstance(out, OnChain):
        values = ClaimValues(stamp=out.status, chain_todo=None, stamp_tx=result.tx, stamp_block=result.block)
        return change_of(s, Event.STAMP_AS_ON_CHAIN, Party.STAMPER, values, actor=STAMPER,
                       action="claim.stamp.as-on-chain", detail={**note, "reason": out.reason})
    detail = {**note, "reason": out.reason}
    refusal = ClaimValues(refusal=out.reason[:_REFUSAL_CHARS], decided_at=now)
    if isinstance(out, VoidedFirst):
        # a paid claim keeps its state: the void on chain makes it a claw-back (see voided)
        values = ClaimValues(chain_todo=StampOp.RELEASE) | (ClaimValues() if s.state in PAID_STATES else refusal)
        return change_of(s, Event.FINALIZE_VOIDED_FIRST, Party.STAMPER, values, actor=STAMPER,
                       action="claim.stamp.finalize-refused", detail=detail)
    if op is StampOp.RELEASE:   # the claim is decided already: its refusal or rejection stands
        # (an approval in part goes on: the chain holds the total, so the smaller reservation
        # cannot take what the one it could not release still holds)
        return change_of(s, Event.RELEASE_REFUSED, Party.STAMPER, ClaimValues(chain_todo=None) | _reserve_again(s, op),
                       actor=STAMPER, action="claim.stamp.release-refused", detail=detail)
    if s.state in PAID_STATES:
        # the bank paid it and the chain lost the stamp, and will not take it again (another
        # payer reserved the invoice meanwhile): a person must look
        refusal = ClaimValues(refusal=f"paid, but the chain lost this payment's stamp and refused it again: "
                                      f"{out.reason}"[:_REFUSAL_CHARS])
    return change_of(s, Event.CHAIN_REFUSED, Party.STAMPER, ClaimValues(chain_todo=None) | refusal, actor=STAMPER,
                   action=f"claim.stamp.{op}-refused", detail=detail)


def _reserve_again(s: Standing, op: StampOp) -> ClaimValues:
    """After the release of a claim approved in part (:data:`RESERVED_AGAIN_AFTER_RELEASE`), its
    smaller amount is reserved under the next chain claim id; nothing for any other claim."""
    if op is not StampOp.RELEASE or s.state not in RESERVED_AGAIN_AFTER_RELEASE:
        return ClaimValues()
    return ClaimValues(chain_todo=StampOp.RESERVE, attempt=s.attempt + 1,
                       chain_claim_id=next_chain_claim_id(s.chain_claim_id, s.attempt + 1))


def requeued(check: StampCheck, repair: Repair, *, on_chain: StampStatus) -> Change:
    """A recorded stamp the chain lost, sent again as :func:`~ledger.claims.stamps.stamp_repair`
    decided (the chain claim id stays the same)."""
    after = step(check.state, Event.STAMP_REQUEUED, by=Party.STAMPER)
    detail = {"recorded": check.stamp, "block": check.stamp_block, "onChain": on_chain, "resend": repair.resend,
              "chainClaimId": "0x" + check.chain_claim_id.hex()}
    return Change(check.claim_id, Event.STAMP_REQUEUED, check.state, after,
                  ClaimValues(chain_todo=repair.resend, stamp=repair.stamp), YearDelta(0, 0), STAMPER,
                  "claim.stamp.lost", detail)


# ---------------------------------------------------------------------- the bank


def paid(s: Standing, *, reference: str, paid_at: datetime) -> Change:
    """The bank paid an approved claim (finalised on chain before the bank was asked)."""
    return change_of(s, Event.PAID, Party.PAYOUT, ClaimValues(payment_ref=reference, paid_at=paid_at), actor=PAYOUT,
                   action="claim.paid", detail={"reference": reference})


def payout_held(s: Standing, *, reason: str) -> Change:
    """The bank refused an approved claim's payout for good: back to review with its answer,
    for a person to sort out."""
    return change_of(s, Event.PAYOUT_HELD, Party.PAYOUT,
                   ClaimValues(refusal=f"{PAYOUT_REFUSED}{reason}"[:_REFUSAL_CHARS]), actor=PAYOUT,
                   action="claim.payout-held", detail={"reason": reason[:500]}, names_state=False)


# ---------------------------------------------------------------------- the hospital's void


def voided(c: Claim, *, void_on_chain: bool, now: datetime) -> Change | None:
    """What a void of the claim's invoice does to it (``void_on_chain``: stamped on chain, not
    only accepted here), or None while it must wait.

    - not finalised yet: refused, its reservation released (also one that may be on chain
      from a round cut short by a crash);
    - finalised on chain but not paid: the payout waits until the void is on chain, then the
      claim is refused and nothing is paid (the chain keeps the finalisation);
    - paid: once the void is on chain the money is owed back (``clawback``), and the decision
      records what the year was given back;
    - nothing payable: refused, its deductible given back.
    """
    s = c.standing
    paid_on_chain = c.state is ClaimState.PAID or (c.state is ClaimState.APPROVED
                                                  and c.stamp is StampStatus.FINALIZED)
    if paid_on_chain and not void_on_chain:
        return None
    reversed_ = {"deductibleUsedFen": c.deductible_used_fen, "reimbursedFen": c.amount_fen}
    detail: dict[str, Any] = {"reason": "InvoiceVoided" if void_on_chain else "void accepted",
                              "amountFen": c.amount_fen, "paymentRef": c.payment_ref, "reversed": reversed_}
    if c.state is ClaimState.PAID:
        event = Event.CLAWED_BACK
        values = ClaimValues(decision={**c.decision, "reversed": reversed_})
        if c.stamp is not StampStatus.FINALIZED:
            values["chain_todo"] = StampOp.RELEASE
    elif paid_on_chain:
        event = Event.VOIDED_BEFORE_PAYOUT
        values = ClaimValues(decided_at=now, refusal=f"{VOIDED_REFUSAL} before the payout: nothing was paid "
                                                     "(the chain had recorded the payment already)")
    else:
        event = Event.VOIDED
        # release what is reserved, or may be: a reservation sent in a round a crash cut short
        held = c.stamp is StampStatus.RESERVED or c.chain_todo is StampOp.RESERVE
        values = ClaimValues(refusal=VOIDED_REFUSAL, decided_at=now, chain_todo=StampOp.RELEASE if held else None)
    change = change_of(s, event, Party.STAMPER, values, actor=STAMPER, action="claim.voided", detail=detail)
    if event is Event.CLAWED_BACK:   # the hospital that voided it owes the money back
        why = REASONS[Reason.INVOICE_VOIDED].words
        change = replace(change, clawback=clawback_request(c, Reason.INVOICE_VOIDED, why, actor=STAMPER))
    return change
