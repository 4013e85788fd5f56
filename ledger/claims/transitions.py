"""What each event writes: the claim's new figures, its year-to-date effect and its audit entry.

Each function takes a claim as it stands (read by the repository in the transaction that
will write the change, its row locked) and an event's facts, checks the move against
:data:`ledger.claims.states.TRANSITIONS` and returns a :class:`Change`. The repository
writes the change, its year-to-date effect and its audit entry in that one transaction;
it decides nothing itself. Times come in as arguments.

The year-to-date rule is one line: a claim counts towards the person's year (its
deductible used and its amount) exactly while it is in a counting state
(:data:`~ledger.claims.states.COUNTING_STATES`), so every change adds what it counts
after less what it counted before (:func:`year_effect`): a rejection, a refusal or a
claw-back gives the year back, an appeal takes it again, a smaller reservation takes less.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple, TypedDict

from ledger.claims.clawbacks import FINDINGS, REASONS, Reason, Request
from ledger.claims.lines import InPart
from ledger.claims.model import Claim, ClaimDraft, StampCheck, Standing
from ledger.claims.policy import Filing, decide
from ledger.claims.sampling import PostAudit
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
    behind_chain,
    next_chain_claim_id,
)
from ledger.claims.states import (
    COUNTING_STATES,
    DUTIES,
    FINALISED_WHEN_RESERVED,
    PAID_STATES,
    RESERVED_AGAIN_AFTER_RELEASE,
    Bar,
    ClaimState,
    Event,
    Party,
    Stage,
    bar_of,
    review_stage,
    step,
)
from ledger.errors import DutiesSeparated, InvalidInput, TransitionRefused
from ledger.rules import YearToDate

#: how the stamper, the payout and the void watch sign the audit trail
STAMPER = "system:stamper"
PAYOUT = "system:payout"
#: how a refusal of the payout by the bank begins (the review queue says why the claim is back)
PAYOUT_REFUSED = "payout refused: "
#: longest refusal and reason stored with a claim
_REFUSAL_CHARS = 300


class ClaimValues(TypedDict, total=False):
    """The columns a change writes (a key that is absent is left as it is)."""

    state: ClaimState
    chain_todo: StampOp | None
    stamp: StampStatus | None
    stamp_tx: str | None
    stamp_block: int | None
    refusal: str | None
    rejection: str
    appeal: str
    decided_at: datetime | None
    amount_fen: int
    deductible_used_fen: int
    attempt: int
    chain_claim_id: bytes
    decision: dict[str, Any]
    payment_ref: str
    paid_at: datetime
    post_audit: PostAudit
    # a waiting claim decided once the earlier payers did (payers in order)
    decided_fen: int
    flags: list[str]
    instant: bool
    reviews_needed: int


class YearDelta(NamedTuple):
    """What to add to the person's year-to-date figures (negative: given back)."""

    deductible_fen: int
    reimbursed_fen: int


@dataclass(frozen=True)
class Change:
    """One event applied to one claim: what the repository writes, in one transaction."""

    claim_id: str
    event: Event
    before: ClaimState | None     # None: the claim is being filed
    after: ClaimState
    values: ClaimValues
    year: YearDelta
    actor: str
    action: str                   # the audit entry's action, e.g. ``claim.approved``
    detail: dict[str, Any]
    #: the claw-back a move into ``clawback`` opens (:mod:`ledger.claims.clawbacks`), in the same transaction
    clawback: Request | None = None


@dataclass(frozen=True)
class ReviewVerdict:
    """A reviewer's verdict to record beside the claim's change."""

    reviewer: str
    verdict: str
    reason: str
    round: int


def year_effect(*, before: ClaimState | None, after: ClaimState, old: tuple[int, int],
                new: tuple[int, int]) -> YearDelta:
    """What a change from ``before`` with figures ``old`` (deductible, amount) to ``after`` with
    ``new`` does to the person's year."""
    d0, a0 = old if before in COUNTING_STATES else (0, 0)
    d1, a1 = new if after in COUNTING_STATES else (0, 0)
    return YearDelta(d1 - d0, a1 - a0)


def _change(s: Standing, event: Event, by: Party, values: ClaimValues, *, actor: str, action: str,
            detail: dict[str, Any], refusal: str | None = None, names_state: bool = True) -> Change:
    """The change ``event`` makes to ``s``: the state from the table, the year from the figures.
    The audit action is ``action``, or (``names_state``) the new state's when the state changed."""
    after = step(s.state, event, by=by, refusal=refusal)
    if after is not s.state:
        values["state"] = after
        if names_state:
            action = f"claim.{after}"
    old = (s.deductible_used_fen, s.amount_fen)
    new = (values.get("deductible_used_fen", s.deductible_used_fen), values.get("amount_fen", s.amount_fen))
    return Change(s.id, event, s.state, after, values, year_effect(before=s.state, after=after, old=old, new=new),
                  actor, action, detail)


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
    return draft, _change(s, event, Party.STAMPER, values, actor=STAMPER, action="claim.decided-after-earlier",
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
        return _change(s, event, Party.STAMPER, stamped | ClaimValues(
            chain_todo=StampOp.FINALIZE if after in FINALISED_WHEN_RESERVED else None, refusal=None),
            actor=STAMPER, action=f"claim.stamp.{op.stamped}", detail=note)
    if isinstance(out, Done):
        event = Event.FINALIZED if op is StampOp.FINALIZE else Event.RELEASED
        return _change(s, event, Party.STAMPER, stamped | ClaimValues(chain_todo=None) | _reserve_again(s, op),
                       actor=STAMPER, action=f"claim.stamp.{op.stamped}", detail=note)
    if isinstance(out, Retry):
        return _change(s, Event.STAMP_RETRY, Party.STAMPER, ClaimValues(refusal=out.reason[:_REFUSAL_CHARS]),
                       actor=STAMPER, action="claim.stamp.retry", detail=note)
    if isinstance(out, Smaller):
        values = ClaimValues(amount_fen=out.amount_fen, attempt=s.attempt + 1,
                             chain_claim_id=next_chain_claim_id(task.chain_claim_id, s.attempt + 1))
        return _change(s, Event.AMOUNT_REDUCED, Party.STAMPER, values, actor=STAMPER, action="claim.amount.reduced",
                       detail={**note, "amountFen": out.amount_fen, "reason": out.reason})
    if isinstance(out, Lost):
        # the chain lost the reservation with its blocks: reserve it again under the same chain
        # claim id (then finalise it again); a release has nothing left to release
        values = ClaimValues(stamp=None, chain_todo=StampOp.RESERVE if op is StampOp.FINALIZE else None)
        values |= _reserve_again(s, op)
        return _change(s, Event.STAMP_LOST, Party.STAMPER, values, actor=STAMPER,
                       action="claim.stamp.lost" if op is StampOp.FINALIZE else "claim.stamp.nothing-to-release",
                       detail=note)
    if isinstance(out, OnChain):
        values = ClaimValues(stamp=out.status, chain_todo=None, stamp_tx=result.tx, stamp_block=result.block)
        return _change(s, Event.STAMP_AS_ON_CHAIN, Party.STAMPER, values, actor=STAMPER,
                       action="claim.stamp.as-on-chain", detail={**note, "reason": out.reason})
    detail = {**note, "reason": out.reason}
    refusal = ClaimValues(refusal=out.reason[:_REFUSAL_CHARS], decided_at=now)
    if isinstance(out, VoidedFirst):
        # a paid claim keeps its state: the void on chain makes it a claw-back (see voided)
        values = ClaimValues(chain_todo=StampOp.RELEASE) | (ClaimValues() if s.state in PAID_STATES else refusal)
        return _change(s, Event.FINALIZE_VOIDED_FIRST, Party.STAMPER, values, actor=STAMPER,
                       action="claim.stamp.finalize-refused", detail=detail)
    if op is StampOp.RELEASE:   # the claim is decided already: its refusal or rejection stands
        # (an approval in part goes on: the chain holds the total, so the smaller reservation
        # cannot take what the one it could not release still holds)
        return _change(s, Event.RELEASE_REFUSED, Party.STAMPER, ClaimValues(chain_todo=None) | _reserve_again(s, op),
                       actor=STAMPER, action="claim.stamp.release-refused", detail=detail)
    if s.state in PAID_STATES:
        # the bank paid it and the chain lost the stamp, and will not take it again (another
        # payer reserved the invoice meanwhile): a person must look
        refusal = ClaimValues(refusal=f"paid, but the chain lost this payment's stamp and refused it again: "
                                      f"{out.reason}"[:_REFUSAL_CHARS])
    return _change(s, Event.CHAIN_REFUSED, Party.STAMPER, ClaimValues(chain_todo=None) | refusal, actor=STAMPER,
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
    change = _change(s, event, Party.REVIEWER, values, actor=reviewer, action=f"claim.review.{verdict}",
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
    return _change(s, event, Party.CLAIMANT, values, actor=actor, action="claim.appealed", detail={"reason": reason},
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
        return _change(s, event, Party.REVIEWER, values, actor=auditor, action=f"claim.post-audit.{outcome}",
                       detail=detail, names_state=False)
    assert code is not None
    debtor = REASONS[code].debtor
    reversed_ = {"deductibleUsedFen": s.deductible_used_fen, "reimbursedFen": s.amount_fen}
    finding_doc = {"reason": reason, "amountDueFen": s.amount_fen, "code": code.value, "debtor": debtor.value}
    detail |= {"amountDueFen": s.amount_fen, "reversed": reversed_, "code": code.value, "debtor": debtor.value}
    # the decision keeps what the finding asks back and what the year was given back (the citizen reads it)
    values |= ClaimValues(decision={**c.decision, "postAuditFinding": finding_doc, "reversed": reversed_})
    change = _change(s, event, Party.REVIEWER, values, actor=auditor, action=f"claim.post-audit.{outcome}",
                     detail=detail, names_state=False)
    return replace(change, clawback=_clawback_of(c, code, reason, actor=auditor))


def _clawback_of(c: Claim, reason: Reason, note: str, *, actor: str) -> Request:
    """The claw-back of the paid claim ``c`` (its whole amount) for ``reason``."""
    return Request(c.id, c.payer_id, c.fingerprint, c.issuer, c.person, c.amount_fen, reason, note, actor)


# ---------------------------------------------------------------------- the bank


def paid(s: Standing, *, reference: str, paid_at: datetime) -> Change:
    """The bank paid an approved claim (finalised on chain before the bank was asked)."""
    return _change(s, Event.PAID, Party.PAYOUT, ClaimValues(payment_ref=reference, paid_at=paid_at), actor=PAYOUT,
                   action="claim.paid", detail={"reference": reference})


def payout_held(s: Standing, *, reason: str) -> Change:
    """The bank refused an approved claim's payout for good: back to review with its answer,
    for a person to sort out."""
    return _change(s, Event.PAYOUT_HELD, Party.PAYOUT,
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
    change = _change(s, event, Party.STAMPER, values, actor=STAMPER, action="claim.voided", detail=detail)
    if event is Event.CLAWED_BACK:   # the hospital that voided it owes the money back
        change = replace(change, clawback=_clawback_of(c, Reason.INVOICE_VOIDED, REASONS[Reason.INVOICE_VOIDED].words,
                                                       actor=STAMPER))
    return change
