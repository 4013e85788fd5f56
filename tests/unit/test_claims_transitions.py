"""What each event writes to a claim: its figures, its year-to-date effect and its audit entry.

Tables of cases per event, no database: the repository writes exactly these changes (the
claims API and money tests run them against SQLite and PostgreSQL).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.claims import transitions as t
from ledger.claims.clawbacks import Reason, Request
from ledger.claims.lines import InPart
from ledger.claims.model import Claim, ClaimDraft, StampCheck, Standing
from ledger.claims.sampling import PostAudit
from ledger.claims.stamps import (
    VOIDED_REFUSAL,
    ChainOutcome,
    Done,
    Lost,
    OnChain,
    Refused,
    Repair,
    Retry,
    Smaller,
    StampOp,
    StampResult,
    StampStatus,
    StampTask,
    VoidedFirst,
    next_chain_claim_id,
)
from ledger.claims.states import ClaimState, Event
from ledger.errors import DutiesSeparated, InvalidInput, TransitionRefused

S, OP, ST = ClaimState, StampOp, StampStatus
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
CHAIN_ID = b"\xcc" * 32
DEDUCTIBLE, AMOUNT = 60_000, 28_000
GIVEN_BACK = t.YearDelta(-DEDUCTIBLE, -AMOUNT)


def standing(state: ClaimState, **kw: Any) -> Standing:
    base = Standing(id="clm_1", state=state, instant=False, amount_fen=AMOUNT, deductible_used_fen=DEDUCTIBLE,
                    reviews_needed=1, appealed=False, attempt=1, chain_claim_id=CHAIN_ID, chain_todo=None,
                    stamp=None)
    return replace(base, **kw)


def result(state: ClaimState, op: StampOp, outcome: ChainOutcome, *, chain_claim_id: bytes = CHAIN_ID) -> StampResult:
    task = StampTask("clm_1", op, chain_claim_id, b"\x01" * 32, "H1", 100_000, AMOUNT, b"\x02" * 32, True, state)
    return StampResult(task, outcome, "0xtx", 42)


# ---------------------------------------------------------------------- the chain's answers

STAMPED = {"stamp_tx": "0xtx", "stamp_block": 42}
# (state, instant, operation, outcome) -> (state after, columns written, year effect, audit action)
STAMP_CASES: list[tuple[ClaimState, bool, StampOp, ChainOutcome, ClaimState, dict[str, Any], tuple[int, int], str]] = [
    # a confirmed reservation moves a new claim on; a claim whose money is owed is finalised next
    (S.SUBMITTED, True, OP.RESERVE, Done(), S.APPROVED,
     {"state": S.APPROVED, "stamp": ST.RESERVED, "chain_todo": OP.FINALIZE, "refusal": None, **STAMPED}, (0, 0),
     "claim.approved"),
    (S.SUBMITTED, False, OP.RESERVE, Done(), S.IN_REVIEW,
     {"state": S.IN_REVIEW, "stamp": ST.RESERVED, "chain_todo": None, "refusal": None, **STAMPED}, (0, 0),
     "claim.in-review"),
    (S.APPEALED, True, OP.RESERVE, Done(), S.IN_REVIEW,
     {"state": S.IN_REVIEW, "stamp": ST.RESERVED, "chain_todo": None, "refusal": None, **STAMPED}, (0, 0),
     "claim.in-review"),
    # reserved again after lost blocks: the state stays, a paid claim is finalised again (never paid again)
    (S.APPROVED, False, OP.RESERVE, Done(), S.APPROVED,
     {"stamp": ST.RESERVED, "chain_todo": OP.FINALIZE, "refusal": None, **STAMPED}, (0, 0), "claim.stamp.reserved"),
    (S.PAID, False, OP.RESERVE, Done(), S.PAID,
     {"stamp": ST.RESERVED, "chain_todo": OP.FINALIZE, "refusal": None, **STAMPED}, (0, 0), "claim.stamp.reserved"),
    (S.CLAWBACK, False, OP.RESERVE, Done(), S.CLAWBACK,
     {"stamp": ST.RESERVED, "chain_todo": OP.FINALIZE, "refusal": None, **STAMPED}, (0, 0), "claim.stamp.reserved"),
    (S.IN_REVIEW, True, OP.RESERVE, Done(), S.IN_REVIEW,
     {"stamp": ST.RESERVED, "chain_todo": None, "refusal": None, **STAMPED}, (0, 0), "claim.stamp.reserved"),
    (S.APPROVED, True, OP.FINALIZE, Done(), S.APPROVED,
     {"stamp": ST.FINALIZED, "chain_todo": None, **STAMPED}, (0, 0), "claim.stamp.finalized"),
    (S.REFUSED, False, OP.RELEASE, Done(), S.REFUSED,
     {"stamp": ST.RELEASED, "chain_todo": None, **STAMPED}, (0, 0), "claim.stamp.released"),
    # approved in part: the old reservation given back (or lost, or not releasable: the chain holds the
    # total), the smaller amount reserved again under the next chain claim id, then finalised
    (S.APPROVED, False, OP.RELEASE, Done(), S.APPROVED,
     {"stamp": ST.RELEASED, "chain_todo": OP.RESERVE, "attempt": 2, "chain_claim_id": next_chain_claim_id(CHAIN_ID, 2),
      **STAMPED}, (0, 0), "claim.stamp.released"),
    (S.APPROVED, False, OP.RELEASE, Lost("lost"), S.APPROVED,
     {"stamp": None, "chain_todo": OP.RESERVE, "attempt": 2, "chain_claim_id": next_chain_claim_id(CHAIN_ID, 2)},
     (0, 0), "claim.stamp.nothing-to-release"),
    (S.APPROVED, False, OP.RELEASE, Refused("paused"), S.APPROVED,
     {"chain_todo": OP.RESERVE, "attempt": 2, "chain_claim_id": next_chain_claim_id(CHAIN_ID, 2)},
     (0, 0), "claim.stamp.release-refused"),
    # not yet: noted, tried again next round
    (S.SUBMITTED, False, OP.RESERVE, Retry("the invoice's batch is not on chain (yet)"), S.SUBMITTED,
     {"refusal": "the invoice's batch is not on chain (yet)"}, (0, 0), "claim.stamp.retry"),
    # less left on the invoice: reserve that, under a new chain claim id, and count less for the year
    (S.SUBMITTED, False, OP.RESERVE, Smaller(20_000, "only ¥200.00 left"), S.SUBMITTED,
     {"amount_fen": 20_000, "attempt": 2, "chain_claim_id": next_chain_claim_id(CHAIN_ID, 2)}, (0, -8_000),
     "claim.amount.reduced"),
    (S.APPEALED, False, OP.RESERVE, Smaller(20_000, "only ¥200.00 left"), S.APPEALED,
     {"amount_fen": 20_000, "attempt": 2, "chain_claim_id": next_chain_claim_id(CHAIN_ID, 2)}, (0, -8_000),
     "claim.amount.reduced"),
    # the chain lost the claim: reserved again under the same id; a release has nothing to release
    (S.APPROVED, False, OP.FINALIZE, Lost("lost"), S.APPROVED, {"stamp": None, "chain_todo": OP.RESERVE}, (0, 0),
     "claim.stamp.lost"),
    (S.REJECTED, False, OP.RELEASE, Lost("lost"), S.REJECTED, {"stamp": None, "chain_todo": None}, (0, 0),
     "claim.stamp.nothing-to-release"),
    (S.REFUSED, False, OP.RELEASE, OnChain(ST.FINALIZED, "finalised already"), S.REFUSED,
     {"stamp": ST.FINALIZED, "chain_todo": None, **STAMPED}, (0, 0), "claim.stamp.as-on-chain"),
    # a void that came first wins: released, refused, the year given back; a paid claim owes a claw-back
    (S.APPROVED, False, OP.FINALIZE, VoidedFirst("voided first"), S.REFUSED,
     {"state": S.REFUSED, "chain_todo": OP.RELEASE, "refusal": "voided first", "decided_at": NOW}, GIVEN_BACK,
     "claim.refused"),
    (S.PAID, False, OP.FINALIZE, VoidedFirst("voided first"), S.PAID, {"chain_todo": OP.RELEASE}, (0, 0),
     "claim.stamp.finalize-refused"),
    # refused for good
    (S.SUBMITTED, False, OP.RESERVE, Refused("reimbursed in full"), S.REFUSED,
     {"state": S.REFUSED, "chain_todo": None, "refusal": "reimbursed in full", "decided_at": NOW}, GIVEN_BACK,
     "claim.refused"),
    (S.APPROVED, False, OP.FINALIZE, Refused("released before"), S.REFUSED,
     {"state": S.REFUSED, "chain_todo": None, "refusal": "released before", "decided_at": NOW}, GIVEN_BACK,
     "claim.refused"),
    (S.PAID, False, OP.RESERVE, Refused("taken"), S.PAID,
     {"chain_todo": None, "refusal": "paid, but the chain lost this payment's stamp and refused it again: taken"},
     (0, 0), "claim.stamp.reserve-refused"),
    (S.REJECTED, False, OP.RELEASE, Refused("ClaimNotReserved"), S.REJECTED, {"chain_todo": None}, (0, 0),
     "claim.stamp.release-refused"),
]


@pytest.mark.parametrize(("state", "instant", "op", "outcome", "after", "values", "year", "action"), STAMP_CASES)
def test_after_stamp(state: ClaimState, instant: bool, op: StampOp, outcome: ChainOutcome, after: ClaimState,
                     values: dict[str, Any], year: tuple[int, int], action: str) -> None:
    change = t.after_stamp(standing(state, instant=instant, chain_todo=op), result(state, op, outcome), now=NOW)
    assert (change.before, change.after) == (state, after)
    assert dict(change.values) == values
    assert change.year == year
    assert (change.actor, change.action) == ("system:stamper", action)
    assert change.detail["chainClaimId"] == "0x" + CHAIN_ID.hex() and change.detail["tx"] == "0xtx"


def test_only_a_first_reservation_shrinks() -> None:
    """A claim reserved again after lost blocks keeps its amount (stamps.judge_stamp never asks)."""
    with pytest.raises(TransitionRefused):
        t.after_stamp(standing(S.IN_REVIEW), result(S.IN_REVIEW, OP.RESERVE, Smaller(1, "x")), now=NOW)


def test_a_refusal_is_cut_to_the_column() -> None:
    change = t.after_stamp(standing(S.SUBMITTED), result(S.SUBMITTED, OP.RESERVE, Refused("x" * 400)), now=NOW)
    assert change.values["refusal"] == "x" * 300


def test_requeued_keeps_the_state_and_the_chain_claim_id() -> None:
    check = StampCheck("clm_1", S.PAID, ST.FINALIZED, 7, CHAIN_ID, None)
    change = t.requeued(check, Repair(OP.RESERVE, None), on_chain=ST.NONE)
    assert (change.after, dict(change.values), change.year) == (S.PAID, {"chain_todo": OP.RESERVE, "stamp": None},
                                                                 (0, 0))
    assert change.action == "claim.stamp.lost"
    assert change.detail == {"recorded": "finalized", "block": 7, "onChain": "none", "resend": "reserve",
                             "chainClaimId": "0x" + CHAIN_ID.hex()}


# ---------------------------------------------------------------------- reviewers

# (reviews needed, earlier verdicts, reviewer, verdict, stamp, pending) -> (state, columns, year, approvals)
REVIEW_CASES: list[tuple[int, dict[str, str], str, str, StampStatus | None, StampOp | None, ClaimState,
                         dict[str, Any], tuple[int, int], int]] = [
    (1, {}, "r1", "approve", ST.RESERVED, None, S.APPROVED,
     {"state": S.APPROVED, "decided_at": NOW, "chain_todo": OP.FINALIZE}, (0, 0), 1),
    # maker-checker: the first of two approvals changes nothing but the count
    (2, {}, "r1", "approve", ST.RESERVED, None, S.IN_REVIEW, {}, (0, 0), 1),
    (2, {"r1": "approve"}, "r2", "approve", ST.RESERVED, None, S.APPROVED,
     {"state": S.APPROVED, "decided_at": NOW, "chain_todo": OP.FINALIZE}, (0, 0), 2),
    # approved while its reservation is being made again (lost blocks): finalised once it is back
    (1, {}, "r1", "approve", None, OP.RESERVE, S.APPROVED,
     {"state": S.APPROVED, "decided_at": NOW, "chain_todo": OP.RESERVE}, (0, 0), 1),
    (1, {}, "r1", "reject", ST.RESERVED, None, S.REJECTED,
     {"state": S.REJECTED, "rejection": "why", "decided_at": NOW, "chain_todo": OP.RELEASE}, GIVEN_BACK, 0),
    (2, {"r1": "approve"}, "r2", "reject", None, OP.RESERVE, S.REJECTED,
     {"state": S.REJECTED, "rejection": "why", "decided_at": NOW, "chain_todo": None}, GIVEN_BACK, 1),
]


@pytest.mark.parametrize(("needed", "earlier", "reviewer", "verdict", "stamp", "todo", "after", "values", "year",
                          "approvals"), REVIEW_CASES)
def test_review(needed: int, earlier: dict[str, str], reviewer: str, verdict: str, stamp: StampStatus | None,
                todo: StampOp | None, after: ClaimState, values: dict[str, Any], year: tuple[int, int],
                approvals: int) -> None:
    s = standing(S.IN_REVIEW, reviews_needed=needed, stamp=stamp, chain_todo=todo)
    change, given = t.review(s, earlier=earlier, reviewer=reviewer, verdict=verdict, reason="why", now=NOW)
    assert (change.after, dict(change.values), change.year) == (after, values, year)
    assert (change.actor, change.action) == (reviewer, f"claim.review.{verdict}")
    stage = "first-review" if approvals - (verdict == "approve") == 0 else "final-review"
    assert change.detail == {"reason": "why", "round": 1, "approvals": approvals, "needed": needed, "state": after,
                             "stage": stage}
    assert given == t.ReviewVerdict(reviewer, verdict, "why", 1)


IN_PART = InPart(amount_fen=20_000, deductible_used_fen=55_000,
                 decision={"reimbursableFen": AMOUNT, "review": {"lines": [{"seq": 2}], "amountFen": 20_000}})


def test_an_approval_in_part_releases_then_reserves_less() -> None:
    s = standing(S.IN_REVIEW, stamp=ST.RESERVED)
    change, given = t.review(s, earlier={}, reviewer="r1", verdict="approve", reason="ok", now=NOW, in_part=IN_PART)
    assert change.event is Event.APPROVED_IN_PART and change.after is S.APPROVED
    assert dict(change.values) == {"state": S.APPROVED, "decided_at": NOW, "chain_todo": OP.RELEASE,
                                   "amount_fen": 20_000, "deductible_used_fen": 55_000, "decision": IN_PART.decision}
    assert change.year == t.YearDelta(55_000 - DEDUCTIBLE, 20_000 - AMOUNT)   # the year takes the new figures
    assert change.detail["inPart"] == IN_PART.decision["review"] and given.verdict == "approve"
    # the same amount (the lines were not what it paid for): finalised as a full approval is
    same = replace(IN_PART, amount_fen=AMOUNT, deductible_used_fen=DEDUCTIBLE)
    change, _ = t.review(s, earlier={}, reviewer="r1", verdict="approve", reason="ok", now=NOW, in_part=same)
    assert (change.values["chain_todo"], change.year) == (OP.FINALIZE, t.YearDelta(0, 0))
    # at the final review of two
    change, _ = t.review(standing(S.IN_REVIEW, stamp=ST.RESERVED, reviews_needed=2), earlier={"r1": "approve"},
                         reviewer="r2", verdict="approve", reason="ok", now=NOW, in_part=IN_PART)
    assert change.event is Event.APPROVED_IN_PART and change.detail["stage"] == "final-review"


def test_what_cannot_be_approved_in_part() -> None:
    # the first of two approvals does not decide: in full, or a rejection
    with pytest.raises(TransitionRefused, match="needs 2 approvals: approve it in full for its final review"):
        t.review(standing(S.IN_REVIEW, stamp=ST.RESERVED, reviews_needed=2), earlier={}, reviewer="r1",
                 verdict="approve", reason="ok", now=NOW, in_part=IN_PART)
    # a reservation still being made (lost blocks) or released cannot be swapped for a smaller one yet
    for stamp, todo in ((None, OP.RESERVE), (ST.RESERVED, OP.RELEASE), (ST.RELEASED, None)):
        with pytest.raises(TransitionRefused, match="reservation is being changed on chain; try again"):
            t.review(standing(S.IN_REVIEW, stamp=stamp, chain_todo=todo), earlier={}, reviewer="r1",
                     verdict="approve", reason="ok", now=NOW, in_part=IN_PART)
    with pytest.raises(DutiesSeparated):   # the duties hold for it as for any approval
        t.review(standing(S.IN_REVIEW, stamp=ST.RESERVED, appealed=True), earlier={}, reviewer="r1",
                 verdict="approve", reason="ok", now=NOW, in_part=IN_PART, rejected_by={"r1"})
    with pytest.raises(ValueError, match="only an approval"):
        t.review(standing(S.IN_REVIEW), earlier={}, reviewer="r1", verdict="reject", reason="no", now=NOW,
                 in_part=IN_PART)


def test_a_second_approval_comes_from_another_reviewer() -> None:
    for verdict in ("approve", "reject"):
        with pytest.raises(DutiesSeparated, match="you reviewed claim clm_1 already; a second approval must come") as e:
            t.review(standing(S.IN_REVIEW, reviews_needed=2), earlier={"r1": "approve"}, reviewer="r1",
                     verdict=verdict, reason="ok", now=NOW)
        assert (e.value.stage, e.value.bar, e.value.kind) == ("final-review", "reviewed-this-round",
                                                              "separation-of-duties")


# (reviews needed, this round's verdicts, who rejected before, reviewer, verdict) -> refused (the bar) or the state
APPEAL_CASES: list[tuple[int, dict[str, str], set[str], str, str, str | ClaimState]] = [
    # the rejecter may neither approve nor reject the appeal, at the first review or the final one
    (1, {}, {"r1"}, "r1", "approve", "rejected-it"),
    (1, {}, {"r1"}, "r1", "reject", "rejected-it"),
    (2, {}, {"r1"}, "r1", "approve", "rejected-it"),
    (2, {"r2": "approve"}, {"r1"}, "r1", "approve", "rejected-it"),
    (2, {"r2": "approve"}, {"r1"}, "r1", "reject", "rejected-it"),
    # anyone else may, but the final reviewer is not the first
    (1, {}, {"r1"}, "r2", "approve", S.APPROVED),
    (1, {}, {"r1"}, "r2", "reject", S.REJECTED),
    (2, {}, {"r1"}, "r2", "approve", S.IN_REVIEW),
    (2, {"r2": "approve"}, {"r1"}, "r2", "approve", "reviewed-this-round"),
    (2, {"r2": "approve"}, {"r1"}, "r3", "approve", S.APPROVED),
    (2, {"r2": "approve"}, {"r1"}, "r3", "reject", S.REJECTED),
    # two rejecters over time (a round-one approver who did not reject may hear the appeal)
    (1, {}, {"r1", "r2"}, "r2", "approve", "rejected-it"),
    (1, {}, {"r1"}, "r0", "approve", S.APPROVED),
]


@pytest.mark.parametrize(("needed", "earlier", "rejected_by", "reviewer", "verdict", "expected"), APPEAL_CASES)
def test_an_appeal_is_heard_by_someone_else(needed: int, earlier: dict[str, str], rejected_by: set[str],
                                            reviewer: str, verdict: str, expected: str | ClaimState) -> None:
    s = standing(S.IN_REVIEW, reviews_needed=needed, appealed=True, stamp=ST.RESERVED)
    if isinstance(expected, ClaimState):
        change, given = t.review(s, earlier=earlier, reviewer=reviewer, verdict=verdict, reason="why", now=NOW,
                                 rejected_by=rejected_by)
        assert change.after is expected and given.round == 2
        return
    with pytest.raises(DutiesSeparated) as refused:
        t.review(s, earlier=earlier, reviewer=reviewer, verdict=verdict, reason="why", now=NOW,
                 rejected_by=rejected_by)
    assert refused.value.bar == expected
    if expected == "rejected-it":
        assert str(refused.value) == "you rejected claim clm_1; its appeal must be decided by another reviewer"


@pytest.mark.parametrize("state", [s for s in ClaimState if s is not S.IN_REVIEW])
def test_only_a_claim_in_review_is_reviewed(state: ClaimState) -> None:
    for verdict in ("approve", "reject"):
        with pytest.raises(TransitionRefused, match=f"^claim clm_1 is {state}, not in review$"):
            t.review(standing(state), earlier={}, reviewer="r1", verdict=verdict, reason="x", now=NOW)


def test_an_appealed_claim_is_reviewed_in_round_two() -> None:
    change, given = t.review(standing(S.IN_REVIEW, appealed=True), earlier={}, reviewer="r1", verdict="approve",
                             reason="ok", now=NOW)
    assert given.round == change.detail["round"] == 2


# ---------------------------------------------------------------------- the post-payment audit

# (state, drawn, finding, auditor) -> refused (a message) or (state after, post_audit, year effect)
POST_AUDIT_CASES: list[tuple[ClaimState, PostAudit | None, bool, str, str | tuple[ClaimState, str, t.YearDelta]]] = [
    (S.PAID, PostAudit.DUE, False, "r2", (S.PAID, "cleared", t.YearDelta(0, 0))),
    # a finding asks the money back: a claw-back, and the person's year is given back
    (S.PAID, PostAudit.DUE, True, "r2", (S.CLAWBACK, "finding", GIVEN_BACK)),
    # not drawn, audited already, not paid (yet, or any more), or by the reviewer who approved it
    (S.PAID, None, True, "r2", "claim clm_1 was not drawn for a post-payment audit"),
    (S.PAID, PostAudit.CLEARED, True, "r2", "claim clm_1 was audited already (cleared)"),
    (S.CLAWBACK, PostAudit.FINDING, True, "r2", "claim clm_1 is clawback: only a paid claim is audited"),
    (S.APPROVED, PostAudit.DUE, True, "r2", "claim clm_1 is approved: only a paid claim is audited"),
    (S.REFUSED, PostAudit.DUE, False, "r2", "claim clm_1 is refused: only a paid claim is audited"),
    (S.PAID, PostAudit.DUE, True, "r1", "you approved claim clm_1; its post-payment audit must be done by someone"),
    (S.PAID, PostAudit.DUE, False, "r1", "you approved claim clm_1; its post-payment audit must be done by someone"),
]


@pytest.mark.parametrize(("state", "drawn", "finding", "auditor", "expected"), POST_AUDIT_CASES)
def test_post_audit(state: ClaimState, drawn: PostAudit | None, finding: bool, auditor: str,
                    expected: str | tuple[ClaimState, str, t.YearDelta]) -> None:
    c = replace(claim(state, stamp=ST.FINALIZED, payment="bank-1"), post_audit=drawn)
    code = Reason.DUPLICATE_CHARGING if finding else None
    if isinstance(expected, str):
        with pytest.raises(TransitionRefused, match="^" + re.escape(expected)):
            t.post_audit(c, finding=finding, auditor=auditor, reason="why", approved_by={"r1"}, code=code)
        return
    change = t.post_audit(c, finding=finding, auditor=auditor, reason="why", approved_by={"r1"}, code=code)
    after, outcome, year = expected
    assert (change.after, change.values.get("post_audit"), change.year) == (after, outcome, year)
    assert (change.actor, change.action) == (auditor, f"claim.post-audit.{outcome}")
    assert "chain_todo" not in change.values   # the chain keeps the payment: the money comes back off chain
    if finding:
        assert change.values["state"] is S.CLAWBACK
        assert change.detail["amountDueFen"] == AMOUNT and change.detail["stage"] == "post-payment-audit"
        assert (change.detail["code"], change.detail["debtor"]) == ("duplicate-charging", "hospital")
        reversed_ = {"deductibleUsedFen": DEDUCTIBLE, "reimbursedFen": AMOUNT}
        assert change.values["decision"] == {"reimbursableFen": AMOUNT, "reversed": reversed_,
                                             "postAuditFinding": {"reason": "why", "amountDueFen": AMOUNT,
                                                                  "code": "duplicate-charging", "debtor": "hospital"}}
        # the finding opens the claim's claw-back (the whole amount, owed as the code says)
        assert change.clawback == Request(c.id, c.payer_id, c.fingerprint, c.issuer, c.person, AMOUNT,
                                          Reason.DUPLICATE_CHARGING, "why", auditor)
    else:
        assert "decision" not in change.values and change.clawback is None


# (finding, code) -> the field refused: a finding names who owes with a finding's code; a clearance names none
@pytest.mark.parametrize(("finding", "code"), [(True, None), (True, Reason.INVOICE_VOIDED),
                                               (True, Reason.AUDIT_FINDING), (False, Reason.OVERPAID)])
def test_a_finding_needs_a_findings_code_and_a_clearance_none(finding: bool, code: Reason | None) -> None:
    c = replace(claim(S.PAID, stamp=ST.FINALIZED, payment="bank-1"), post_audit=PostAudit.DUE)
    with pytest.raises(InvalidInput) as caught:
        t.post_audit(c, finding=finding, auditor="r2", reason="why", approved_by=(), code=code)
    assert caught.value.problems[0].field == "code"


def test_a_void_after_the_payout_opens_a_clawback_owed_by_the_hospital() -> None:
    c = claim(S.PAID, stamp=ST.FINALIZED, payment="bank-1")
    change = t.voided(c, void_on_chain=True, now=NOW)
    assert change is not None and change.after is S.CLAWBACK
    assert change.clawback == Request(c.id, c.payer_id, c.fingerprint, c.issuer, c.person, AMOUNT,
                                      Reason.INVOICE_VOIDED, "the hospital voided the invoice after the payout",
                                      t.STAMPER)
    # no other void opens one: a refused claim paid nothing
    for state in (S.SUBMITTED, S.APPROVED, S.IN_REVIEW):
        other = t.voided(claim(state), void_on_chain=True, now=NOW)
        assert other is not None and other.clawback is None


# ---------------------------------------------------------------------- the citizen's appeal


def test_an_appeal_before_the_release_keeps_the_reservation() -> None:
    s = standing(S.REJECTED, chain_todo=OP.RELEASE, stamp=ST.RESERVED, amount_fen=0)
    change = t.appeal(s, reason="wrong", actor="citizen:ab", deductible_fen=50_000, amount_fen=20_000)
    assert change.after is S.IN_REVIEW and change.event is Event.APPEALED_BEFORE_RELEASE
    assert dict(change.values) == {"state": S.IN_REVIEW, "appeal": "wrong", "decided_at": None,
                                   "deductible_used_fen": 50_000, "amount_fen": 20_000, "chain_todo": None}
    assert change.year == (50_000, 20_000)   # it counts for the year again, as judged now
    assert (change.action, change.detail) == ("claim.appealed", {"reason": "wrong"})


def test_an_appeal_after_the_release_reserves_again_under_a_new_id() -> None:
    s = standing(S.REJECTED, stamp=ST.RELEASED)
    change = t.appeal(s, reason="wrong", actor="citizen:ab", deductible_fen=DEDUCTIBLE, amount_fen=AMOUNT)
    assert change.after is S.APPEALED
    assert dict(change.values) == {"state": S.APPEALED, "appeal": "wrong", "decided_at": None,
                                   "deductible_used_fen": DEDUCTIBLE, "amount_fen": AMOUNT,
                                   "chain_todo": OP.RESERVE, "attempt": 2,
                                   "chain_claim_id": next_chain_claim_id(CHAIN_ID, 2)}
    assert change.year == (DEDUCTIBLE, AMOUNT)


def test_an_appeal_is_made_once_and_only_of_a_rejection() -> None:
    with pytest.raises(TransitionRefused, match=r"^claim clm_1 was appealed once already"):
        t.appeal(standing(S.REJECTED, appealed=True), reason="again", actor="c", deductible_fen=0, amount_fen=0)
    for state in (s for s in ClaimState if s is not S.REJECTED):
        with pytest.raises(TransitionRefused, match=f"^only a rejected claim can be appealed; claim clm_1 is {state}$"):
            t.appeal(standing(state), reason="x", actor="c", deductible_fen=0, amount_fen=0)


# ---------------------------------------------------------------------- the bank


def test_paid_and_held() -> None:
    paid = t.paid(standing(S.APPROVED), reference="SIMBANK-1", paid_at=NOW)
    assert (paid.after, dict(paid.values), paid.year) == (S.PAID, {"state": S.PAID, "payment_ref": "SIMBANK-1",
                                                                   "paid_at": NOW}, (0, 0))
    assert (paid.actor, paid.action, paid.detail) == ("system:payout", "claim.paid", {"reference": "SIMBANK-1"})
    held = t.payout_held(standing(S.APPROVED), reason="conflict " * 80)
    assert held.after is S.IN_REVIEW and held.action == "claim.payout-held" and held.year == (0, 0)
    assert held.values["refusal"] == ("payout refused: " + "conflict " * 80)[:300]
    for state in (s for s in ClaimState if s is not S.APPROVED):
        with pytest.raises(TransitionRefused):
            t.paid(standing(state), reference="x", paid_at=NOW)
        with pytest.raises(TransitionRefused):
            t.payout_held(standing(state), reason="x")


# ---------------------------------------------------------------------- the hospital's void


def claim(state: ClaimState, *, stamp: StampStatus | None = None, todo: StampOp | None = None,
          amount: int = AMOUNT, payment: str | None = None) -> Claim:
    return Claim(id="clm_1", submission_id="sub_1", payer_id="P", fingerprint=b"\x01" * 32, issuer="H1",
                 invoice_code="c", invoice_number="n", person=b"\x02" * 32, actor="citizen:ab", relation="self",
                 state=state, scheme="pharmacy-pooling", year=2024, requested_fen=50_000, decided_fen=AMOUNT,
                 amount_fen=amount, deductible_used_fen=DEDUCTIBLE, decision={"reimbursableFen": AMOUNT},
                 flags=(), instant=True, reviews_needed=1, attempt=1, chain_claim_id=CHAIN_ID, chain_todo=todo,
                 stamp=stamp, stamp_tx=None, stamp_block=None, refusal=None, rejection=None, appeal=None,
                 payment_ref=payment, paid_at=None, created_at=NOW, updated_at=NOW, decided_at=None)


BEFORE_PAYOUT = f"{VOIDED_REFUSAL} before the payout: nothing was paid (the chain had recorded the payment already)"
REVERSED = {"deductibleUsedFen": DEDUCTIBLE, "reimbursedFen": AMOUNT}
# (claim, void on chain) -> (state after, columns) or None (it waits); the year is given back in each case
VOID_CASES: list[tuple[Claim, bool, tuple[ClaimState, dict[str, Any]] | None]] = [
    # not finalised: refused at once, what is (or may be) reserved released
    (claim(S.SUBMITTED, todo=OP.RESERVE), False,
     (S.REFUSED, {"state": S.REFUSED, "refusal": VOIDED_REFUSAL, "decided_at": NOW, "chain_todo": OP.RELEASE})),
    (claim(S.IN_REVIEW, stamp=ST.RESERVED), False,
     (S.REFUSED, {"state": S.REFUSED, "refusal": VOIDED_REFUSAL, "decided_at": NOW, "chain_todo": OP.RELEASE})),
    (claim(S.APPROVED, stamp=ST.RESERVED, todo=OP.FINALIZE), True,
     (S.REFUSED, {"state": S.REFUSED, "refusal": VOIDED_REFUSAL, "decided_at": NOW, "chain_todo": OP.RELEASE})),
    (claim(S.APPEALED, stamp=ST.RELEASED, todo=OP.RESERVE), False,
     (S.REFUSED, {"state": S.REFUSED, "refusal": VOIDED_REFUSAL, "decided_at": NOW, "chain_todo": OP.RELEASE})),
    (claim(S.IN_REVIEW), False,
     (S.REFUSED, {"state": S.REFUSED, "refusal": VOIDED_REFUSAL, "decided_at": NOW, "chain_todo": None})),
    # approved in part, at each step of swapping its reservation for a smaller one: whatever is (or may
    # be) reserved is released, and it is never reserved again (the claim is refused, not approved)
    (claim(S.APPROVED, stamp=ST.RESERVED, todo=OP.RELEASE), False,
     (S.REFUSED, {"state": S.REFUSED, "refusal": VOIDED_REFUSAL, "decided_at": NOW, "chain_todo": OP.RELEASE})),
    (claim(S.APPROVED, stamp=ST.RELEASED, todo=OP.RESERVE), False,
     (S.REFUSED, {"state": S.REFUSED, "refusal": VOIDED_REFUSAL, "decided_at": NOW, "chain_todo": OP.RELEASE})),
    (claim(S.NOTHING_PAYABLE, amount=0), False,
     (S.REFUSED, {"state": S.REFUSED, "refusal": VOIDED_REFUSAL, "decided_at": NOW, "chain_todo": None})),
    # finalised, not paid: the payout waits for the void to reach the chain, then nothing is paid
    (claim(S.APPROVED, stamp=ST.FINALIZED), False, None),
    (claim(S.APPROVED, stamp=ST.FINALIZED), True,
     (S.REFUSED, {"state": S.REFUSED, "decided_at": NOW, "refusal": BEFORE_PAYOUT})),
    # paid: owed back once the void is on chain
    (claim(S.PAID, stamp=ST.FINALIZED, payment="SIMBANK-1"), False, None),
    (claim(S.PAID, stamp=ST.FINALIZED, payment="SIMBANK-1"), True,
     (S.CLAWBACK, {"state": S.CLAWBACK, "decision": {"reimbursableFen": AMOUNT, "reversed": REVERSED}})),
    (claim(S.PAID, stamp=ST.RESERVED, todo=None, payment="SIMBANK-1"), True,
     (S.CLAWBACK, {"state": S.CLAWBACK, "decision": {"reimbursableFen": AMOUNT, "reversed": REVERSED},
                   "chain_todo": OP.RELEASE})),
]


@pytest.mark.parametrize(("c", "on_chain", "expected"), VOID_CASES)
def test_voided(c: Claim, on_chain: bool, expected: tuple[ClaimState, dict[str, Any]] | None) -> None:
    change = t.voided(c, void_on_chain=on_chain, now=NOW)
    if expected is None:
        assert change is None
        return
    assert change is not None
    assert (change.after, dict(change.values)) == expected
    assert change.year == (-DEDUCTIBLE, -c.amount_fen)
    assert change.action == f"claim.{expected[0]}"
    assert change.detail == {"reason": "InvoiceVoided" if on_chain else "void accepted", "amountFen": c.amount_fen,
                             "paymentRef": c.payment_ref,
                             "reversed": {"deductibleUsedFen": DEDUCTIBLE, "reimbursedFen": c.amount_fen}}


@pytest.mark.parametrize("state", [S.REJECTED, S.REFUSED, S.CLAWBACK])
def test_a_void_finds_nothing_to_stop_in_a_claim_that_holds_nothing(state: ClaimState) -> None:
    with pytest.raises(TransitionRefused):
        t.voided(claim(state), void_on_chain=True, now=NOW)


# ---------------------------------------------------------------------- filing and the year


def draft(state: ClaimState, amount: int, refusal: str | None = None) -> ClaimDraft:
    return ClaimDraft(id="clm_1", payer_id="P", fingerprint=b"\x01" * 32, issuer="H1", person=b"\x02" * 32,
                      actor="citizen:ab", relation="self", scheme="pharmacy-pooling", year=2024, requested_fen=50_000,
                      decided_fen=amount, amount_fen=amount, deductible_used_fen=DEDUCTIBLE, decision={}, flags=("f",),
                      instant=False, reviews_needed=1, chain_claim_id=CHAIN_ID, state=state, refusal=refusal)


@pytest.mark.parametrize(("state", "amount", "todo", "decided", "year"), [
    (S.SUBMITTED, AMOUNT, OP.RESERVE, None, (DEDUCTIBLE, AMOUNT)),
    (S.NOTHING_PAYABLE, 0, None, NOW, (DEDUCTIBLE, 0)),     # the deductible still counts
    (S.REFUSED, 0, None, NOW, (0, 0)),
])
def test_filed(state: ClaimState, amount: int, todo: StampOp | None, decided: datetime | None,
               year: tuple[int, int]) -> None:
    change = t.filed(draft(state, amount, refusal="r" if state is S.REFUSED else None), now=NOW)
    assert (change.before, change.after) == (None, state)
    assert dict(change.values) == {"state": state, "chain_todo": todo, "decided_at": decided}
    assert (change.year, change.actor, change.action) == (year, "citizen:ab", f"claim.{state}")
    assert change.detail == {"fingerprint": "0x" + "01" * 32, "person": "0x" + "02" * 32, "relation": "self",
                             "decidedFen": amount, "amountFen": amount, "flags": ["f"],
                             "refusal": "r" if state is S.REFUSED else None}


def _apply(s: Standing, change: t.Change) -> Standing:
    v = change.values
    return replace(s, state=change.after, amount_fen=v.get("amount_fen", s.amount_fen),
                   deductible_used_fen=v.get("deductible_used_fen", s.deductible_used_fen),
                   chain_todo=v.get("chain_todo", s.chain_todo), stamp=v.get("stamp", s.stamp),
                   attempt=v.get("attempt", s.attempt), chain_claim_id=v.get("chain_claim_id", s.chain_claim_id),
                   appealed=s.appealed or "appeal" in v)


def test_the_year_holds_a_claim_exactly_while_it_counts() -> None:
    """A claim's life: filed, reserved for less, rejected, appealed (judged again), reserved
    again, approved, finalised, paid, voided on chain. The year's figures, summed over every
    change, are the claim's own while it counts, and nothing once it is clawed back."""
    year = t.filed(draft(S.SUBMITTED, AMOUNT), now=NOW).year
    s = standing(S.SUBMITTED, chain_todo=OP.RESERVE)
    life: list[t.Change] = [
        t.after_stamp(s, result(S.SUBMITTED, OP.RESERVE, Smaller(20_000, "less")), now=NOW)]
    s = _apply(s, life[-1])
    life.append(t.after_stamp(s, result(S.SUBMITTED, OP.RESERVE, Done(), chain_claim_id=s.chain_claim_id), now=NOW))
    s = _apply(s, life[-1])
    life.append(t.review(s, earlier={}, reviewer="r1", verdict="reject", reason="no", now=NOW)[0])
    s = _apply(s, life[-1])
    life.append(t.appeal(s, reason="yes", actor="c", deductible_fen=55_000, amount_fen=18_000))
    s = _apply(s, life[-1])
    assert s.state is S.IN_REVIEW      # the release had not gone out: the reservation is kept
    life.append(t.review(s, earlier={}, reviewer="r2", verdict="approve", reason="ok", now=NOW)[0])
    s = _apply(s, life[-1])
    life.append(t.after_stamp(s, result(S.APPROVED, OP.FINALIZE, Done()), now=NOW))
    s = _apply(s, life[-1])
    life.append(t.paid(s, reference="SIMBANK-1", paid_at=NOW))
    s = _apply(s, life[-1])
    totals = [year]
    for change in life:
        year = t.YearDelta(year[0] + change.year[0], year[1] + change.year[1])
        totals.append(year)
    assert [c.after for c in life] == [S.SUBMITTED, S.IN_REVIEW, S.REJECTED, S.IN_REVIEW, S.APPROVED, S.APPROVED,
                                       S.PAID]
    assert totals == [(DEDUCTIBLE, AMOUNT), (DEDUCTIBLE, 20_000), (DEDUCTIBLE, 20_000), (0, 0), (55_000, 18_000),
                      (55_000, 18_000), (55_000, 18_000), (55_000, 18_000)]
    paid_claim = replace(claim(S.PAID, stamp=ST.FINALIZED, amount=18_000, payment="SIMBANK-1"),
                         deductible_used_fen=55_000)
    clawed = t.voided(paid_claim, void_on_chain=True, now=NOW)
    assert clawed is not None and clawed.after is S.CLAWBACK
    assert (year[0] + clawed.year[0], year[1] + clawed.year[1]) == (0, 0)
