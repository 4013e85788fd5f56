"""After a restore from an older backup: claims the chain paid that the store has unpaid
(:mod:`ledger.claims.reconcile`), reviews of them refused, and which of a payer's stamps of
forgotten claims may be released (:func:`ledger.chain_gaps.keep_forgotten`). Hand-computed
expectations, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger.chain_gaps import UnknownStamp, chain_claim_ids, keep_forgotten
from ledger.claims import transitions
from ledger.claims.model import Standing
from ledger.claims.reconcile import RECONCILED, BankPayment, ChainAhead, reconciled
from ledger.claims.stamps import StampOp, StampStatus, behind_chain, first_chain_claim_id, next_chain_claim_id
from ledger.claims.states import ClaimState, Event
from ledger.claims.transitions import YearDelta
from ledger.errors import TransitionRefused

S, T = ClaimState, StampStatus
NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
CID = b"\x11" * 32


def standing(state: ClaimState, stamp: StampStatus | None, *, todo: StampOp | None = None, amount: int = 12_000,
             deductible: int = 3_000) -> Standing:
    return Standing("clm_1", state, False, amount, deductible, 1, False, 1, CID, todo, stamp)


def ahead(on_chain: StampStatus = T.FINALIZED, amount: int = 12_000, cid: bytes = CID) -> ChainAhead:
    return ChainAhead("clm_1", cid, on_chain, amount, 42, "0x" + "ab" * 32)


PAID = BankPayment("SIMBANK-20250227-000007", datetime(2025, 2, 27, 9, 30, tzinfo=UTC), 12_000)


@pytest.mark.parametrize(("state", "recorded", "on_chain", "behind"), [
    (S.SUBMITTED, None, T.FINALIZED, True),          # filed before the backup, approved and paid after it
    (S.IN_REVIEW, T.RESERVED, T.FINALIZED, True),    # in review at the backup
    (S.APPEALED, None, T.FINALIZED, True),
    (S.REJECTED, T.RESERVED, T.FINALIZED, True),     # its appeal (kept reservation) and payment lost
    (S.APPROVED, T.RESERVED, T.FINALIZED, True),     # approved, finalisation not recorded
    (S.APPROVED, T.FINALIZED, T.FINALIZED, False),   # simply waiting for its payout
    (S.IN_REVIEW, T.RESERVED, T.RESERVED, False),
    (S.IN_REVIEW, T.RESERVED, T.RELEASED, False),    # (rejected after the backup: not this reconciliation)
    (S.IN_REVIEW, T.RESERVED, None, False),          # the index does not know it
    (S.PAID, T.FINALIZED, T.FINALIZED, False),
    (S.REFUSED, T.FINALIZED, T.FINALIZED, False),    # voided before the payout: the chain keeps the finalisation
    (S.CLAWBACK, T.FINALIZED, T.FINALIZED, False),
    (S.NOTHING_PAYABLE, None, T.FINALIZED, False),
])
def test_which_claims_the_chain_is_ahead_of(state: ClaimState, recorded: StampStatus | None,
                                            on_chain: StampStatus | None, behind: bool) -> None:
    assert behind_chain(state, recorded, on_chain) is behind


@pytest.mark.parametrize(("state", "recorded", "todo", "payment", "after", "event", "year"), [
    # in review: paid by the bank -> paid; the year already counted it
    (S.IN_REVIEW, T.RESERVED, None, PAID, S.PAID, Event.RECONCILED_PAID, YearDelta(0, 0)),
    # not paid by the bank -> approved and finalised (paid once by the payout)
    (S.IN_REVIEW, T.RESERVED, None, None, S.APPROVED, Event.RECONCILED_FINALIZED, YearDelta(0, 0)),
    # submitted, its reservation still in the outbox: the outbox is emptied
    (S.SUBMITTED, None, StampOp.RESERVE, PAID, S.PAID, Event.RECONCILED_PAID, YearDelta(0, 0)),
    (S.APPROVED, T.RESERVED, StampOp.FINALIZE, None, S.APPROVED, Event.RECONCILED_FINALIZED, YearDelta(0, 0)),
    # rejected (gave the year back), its release pending: paid counts for the year again, the release is dropped
    (S.REJECTED, T.RESERVED, StampOp.RELEASE, PAID, S.PAID, Event.RECONCILED_PAID, YearDelta(3_000, 12_000)),
])
def test_a_claim_behind_the_chain_is_recorded_as_the_bank_answered(
        state: ClaimState, recorded: StampStatus, todo: StampOp | None, payment: BankPayment | None,
        after: ClaimState, event: Event, year: YearDelta) -> None:
    ch = reconciled(standing(state, recorded, todo=todo), ahead(), payment, now=NOW)
    assert (ch.event, ch.before, ch.after, ch.year, ch.action, ch.actor) == (
        event, state, after, year, RECONCILED, transitions.STAMPER)
    v = ch.values
    assert (v["stamp"], v["chain_todo"], v["stamp_block"]) == (T.FINALIZED, None, 42)
    if payment is None:
        assert "payment_ref" not in v and ch.detail["outcome"] == "approved"
    else:   # the bank's reference and time: no payment of ours
        assert (v["payment_ref"], v["paid_at"]) == (PAID.reference, PAID.paid_at)
        assert ch.detail["outcome"] == "paid" and ch.detail["reference"] == PAID.reference
    assert ("decided_at" in v) is (state is not S.APPROVED)


def test_a_payout_that_kept_something_back_is_recorded_with_what_it_kept() -> None:
    kept = BankPayment("SIMBANK-20250227-000008", PAID.paid_at, 9_500)
    ch = reconciled(standing(S.IN_REVIEW, T.RESERVED), ahead(), kept, now=NOW)
    assert ch.after is S.PAID and ch.detail["transferFen"] == 9_500 and ch.detail["keptBackFen"] == 2_500


@pytest.mark.parametrize(("s", "a", "payment", "words"), [
    (standing(S.PAID, T.FINALIZED), ahead(), PAID, "nothing to reconcile"),            # twice: never
    (standing(S.APPROVED, T.FINALIZED), ahead(), None, "nothing to reconcile"),
    (standing(S.REFUSED, T.FINALIZED), ahead(), PAID, "nothing to reconcile"),
    (standing(S.IN_REVIEW, T.RESERVED), ahead(T.RESERVED), None, "nothing to reconcile"),
    (standing(S.IN_REVIEW, T.RESERVED), ahead(amount=11_000), PAID, "a person must reconcile"),
    (standing(S.IN_REVIEW, T.RESERVED), ahead(cid=b"\x22" * 32), None, "another chain claim id"),
    (standing(S.IN_REVIEW, T.RESERVED), ahead(), BankPayment("R", NOW, 12_001), "more than its"),
])
def test_what_cannot_be_reconciled(s: Standing, a: ChainAhead, payment: BankPayment | None, words: str) -> None:
    with pytest.raises(TransitionRefused, match=words):
        reconciled(s, a, payment, now=NOW)


@pytest.mark.parametrize("verdict", ["approve", "reject"])
def test_a_reviewer_cannot_decide_a_claim_the_chain_paid(verdict: str) -> None:
    s = standing(S.IN_REVIEW, T.RESERVED)
    with pytest.raises(TransitionRefused, match="finalised on chain after the backup") as refused:
        transitions.review(s, earlier={}, reviewer="r1", verdict=verdict, reason="ok", now=NOW, on_chain=T.FINALIZED)
    assert refused.value.state is S.IN_REVIEW
    # the same claim with its reservation on chain is reviewed as ever
    change, _ = transitions.review(s, earlier={}, reviewer="r1", verdict=verdict, reason="ok", now=NOW,
                                   on_chain=T.RESERVED)
    assert change.after is (S.APPROVED if verdict == "approve" else S.REJECTED)


# ---------------------------------------------------------------------- forgotten claims' stamps

FORGOTTEN = UnknownStamp("330600-ybj", b"\x33" * 32, b"\x44" * 32, "H1", 5_000, "reserved", 12, "0x" + "22" * 32)
DAY = timedelta(hours=24)


@pytest.mark.parametrize(("on_chain", "owned", "age", "kept"), [
    (T.RESERVED, set(), timedelta(hours=25), None),                          # released
    (T.RESERVED, set(), timedelta(hours=24), None),                          # exactly the grace period
    (T.RESERVED, set(), timedelta(hours=23), "within the grace period of 24 hours"),
    (T.RESERVED, set(), timedelta(seconds=-5), "within the grace period of 24 hours"),  # the chain's clock ahead
    (T.FINALIZED, set(), timedelta(days=30), "finalised on chain (paid): never released"),
    (T.RELEASED, set(), timedelta(days=30), "released on chain already"),
    (T.NONE, set(), timedelta(days=30), "none on chain already"),
    (T.RESERVED, {FORGOTTEN.chain_claim_id}, timedelta(days=30), "a reservation of a claim this database holds"),
])
def test_which_forgotten_stamps_may_be_released(on_chain: StampStatus, owned: set[bytes], age: timedelta,
                                               kept: str | None) -> None:
    why = keep_forgotten(FORGOTTEN, owned=owned, on_chain=on_chain, updated_at=NOW - age, now=NOW, grace=DAY)
    assert why == kept if kept is None else kept in (why or "")


def test_no_grace_period_releases_even_a_stamp_the_chain_timed_ahead_of_our_clock() -> None:
    assert keep_forgotten(FORGOTTEN, owned=set(), on_chain=T.RESERVED, updated_at=NOW + timedelta(seconds=5),
                          now=NOW, grace=timedelta(0)) is None


def test_the_chain_claim_ids_a_claim_takes() -> None:
    first = first_chain_claim_id("330600-ybj", "clm_1")
    second = next_chain_claim_id(first, 2)
    third = next_chain_claim_id(second, 3)
    assert chain_claim_ids("330600-ybj", "clm_1", 1, later=0) == {first}
    assert chain_claim_ids("330600-ybj", "clm_1", 1, later=2) == {first, second, third}
    assert chain_claim_ids("330600-ybj", "clm_1", 2, later=1) == {first, second, third}
    assert len(chain_claim_ids("330600-ybj", "clm_1", 2)) == 5   # two taken, three more reckoned with
