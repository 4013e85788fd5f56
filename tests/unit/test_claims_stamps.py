"""The chain's answer to a stamp, judged: a table of every refusal the stamper can read.

(What a lost stamp needs is in test_claims_stamp_repair.py.)
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ledger.claims.stamps import (
    STAMP_EVENTS,
    VOIDED_REFUSAL,
    ChainOutcome,
    Done,
    Lost,
    OnChain,
    Refused,
    Retry,
    Smaller,
    StampOp,
    StampStatus,
    StampTask,
    VoidedFirst,
    asks_figures,
    asks_status,
    first_chain_claim_id,
    judge_stamp,
    next_chain_claim_id,
)
from ledger.claims.states import ClaimState
from ledger.hashing import keccak256

OP, ST, S = StampOp, StampStatus, ClaimState


@dataclass(frozen=True)
class Figures:
    reserved_fen: int
    paid_fen: int
    voided: bool = False
    total_fen: int = 100_000


def task(op: StampOp, state: ClaimState = S.SUBMITTED, amount: int = 30_000) -> StampTask:
    return StampTask("clm_1", op, b"\xcc" * 32, b"\x01" * 32, "H1", 100_000, amount, b"\x02" * 32, True, state)


FULL = "the invoice is reimbursed in full already (by other payers)"
# (operation, claim state, refusal, status on chain, invoice figures) -> outcome
CASES: list[tuple[StampOp, ClaimState, str | None, StampStatus | None, Figures | None, ChainOutcome]] = [
    *[(op, S.SUBMITTED, None, None, None, Done()) for op in StampOp],
    # sent before a crash (or lost): believe the chain
    (OP.RESERVE, S.SUBMITTED, "ClaimAlreadyExists", ST.RESERVED, None, Done()),
    (OP.RESERVE, S.SUBMITTED, "ClaimAlreadyExists", ST.FINALIZED, None, Done()),
    (OP.FINALIZE, S.APPROVED, "ClaimNotReserved", ST.FINALIZED, None, Done()),
    (OP.RELEASE, S.REFUSED, "ClaimNotReserved", ST.RELEASED, None, Done()),
    (OP.FINALIZE, S.APPROVED, "UnknownClaim", ST.NONE, None,
     Lost("the chain does not know this claim (it lost the blocks it was in)")),
    (OP.RELEASE, S.REFUSED, "UnknownClaim", ST.NONE, None,
     Lost("the chain does not know this claim (it lost the blocks it was in)")),
    (OP.FINALIZE, S.APPROVED, "ClaimNotReserved", ST.RELEASED, None,
     Refused("the reservation was released before payment was stamped")),
    (OP.RELEASE, S.REFUSED, "ClaimNotReserved", ST.FINALIZED, None,
     OnChain(ST.FINALIZED, "the claim was finalised on chain already")),
    # a reservation the chain says it does not hold: refused as such
    (OP.RESERVE, S.SUBMITTED, "ClaimAlreadyExists", ST.NONE, None,
     Refused("the chain refused the stamp: ClaimAlreadyExists")),
    # a void that came first wins
    (OP.FINALIZE, S.APPROVED, "InvoiceIsVoided", None, None, VoidedFirst(f"{VOIDED_REFUSAL} before the payment "
                                                                         "was stamped")),
    (OP.RESERVE, S.SUBMITTED, "InvoiceIsVoided", None, None, Refused(VOIDED_REFUSAL)),
    # other payers took part of the invoice: a first reservation shrinks to what is left
    (OP.RESERVE, S.SUBMITTED, "ReimbursementExceedsTotal", None, Figures(50_000, 30_000),
     Smaller(20_000, "only ¥200.00 of the invoice is left after other payers")),
    (OP.RESERVE, S.APPEALED, "ReimbursementExceedsTotal", None, Figures(50_000, 30_000),
     Smaller(20_000, "only ¥200.00 of the invoice is left after other payers")),
    (OP.RESERVE, S.PAID, "ReimbursementExceedsTotal", None, Figures(50_000, 30_000), Refused(FULL)),
    (OP.RESERVE, S.SUBMITTED, "ReimbursementExceedsTotal", None, Figures(60_000, 40_000), Refused(FULL)),
    (OP.RESERVE, S.SUBMITTED, "ReimbursementExceedsTotal", None, Figures(0, 0, voided=True), Refused(FULL)),
    (OP.RESERVE, S.SUBMITTED, "TotalMismatch", None, None,
     Refused("the chain holds another total for this invoice (anchored twice by the hospital with different "
             "totals): a reviewer must look")),
    (OP.RESERVE, S.SUBMITTED, "BatchNotAnchored", None, None, Retry("the invoice's batch is not on chain (yet)")),
    (OP.RELEASE, S.REJECTED, "NotClaimPayer", None, None, Refused("the chain refused the stamp: NotClaimPayer")),
]


@pytest.mark.parametrize(("op", "state", "refusal", "on_chain", "figures", "outcome"), CASES)
def test_judge_stamp(op: StampOp, state: ClaimState, refusal: str | None, on_chain: StampStatus | None,
                     figures: Figures | None, outcome: ChainOutcome) -> None:
    t = task(op, state)
    assert asks_status(refusal) == (on_chain is not None)
    assert asks_figures(op, refusal) == (figures is not None)
    assert judge_stamp(t, refusal, on_chain=on_chain, figures=figures) == outcome


def test_judging_without_what_the_refusal_asks_for_is_a_bug() -> None:
    with pytest.raises(ValueError, match="needs the chain's status"):
        judge_stamp(task(OP.RESERVE), "ClaimAlreadyExists")
    with pytest.raises(ValueError, match="needs the invoice's figures"):
        judge_stamp(task(OP.RESERVE), "ReimbursementExceedsTotal")


def test_the_operations_and_what_they_leave_on_chain() -> None:
    assert [(op.value, op.stamped.value) for op in StampOp] == [("reserve", "reserved"), ("finalize", "finalized"),
                                                                 ("release", "released")]
    assert OP.RESERVE.done_when == {ST.RESERVED, ST.FINALIZED}
    assert OP.FINALIZE.done_when == {ST.FINALIZED} and OP.RELEASE.done_when == {ST.RELEASED}
    assert set(STAMP_EVENTS.values()) == {op.stamped for op in StampOp}


def test_chain_claim_ids() -> None:
    first = first_chain_claim_id("330600-ybj", "clm_0123456789abcdef0123")
    assert first == keccak256(b"330600-ybj/clm_0123456789abcdef0123")
    assert next_chain_claim_id(first, 2) == keccak256(first + b"\x00\x00\x00\x02")
    assert len({first, next_chain_claim_id(first, 2), next_chain_claim_id(first, 3)}) == 3
