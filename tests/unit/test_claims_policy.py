"""The payer's decision of a claim: amounts, caps, instant payout and maker-checker.

Shipped pharmacy-pooling rules of 2024 (deductible ¥600, 70 %, cap ¥2,000), one Class A
line; the figures are worked by hand as in test_rules_adjudicate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import pytest

from ledger.claims.model import PersonRecord
from ledger.claims.policy import ClaimsPolicy, Filing, available_fen, decide, reassess, why_not_claimable
from ledger.claims.sampling import PostAudit, draw, sample_key
from ledger.claims.states import ClaimState, review_stages
from ledger.composition.settings import Settings
from ledger.errors import ClaimBlocked
from ledger.hashing import Hash32
from ledger.invoice import FeeCategory, FeeLine, Invoice, VisitType
from ledger.rules import RuleBook, YearToDate, adjudicate
from ledger.rules.ruleset import PersonCategory

PAYER = "330600-ybj"
BOOK = RuleBook.shipped()
POLICY = ClaimsPolicy(payer_id=PAYER, rules=BOOK)
GENERIC_A = "XC09CAA001T001000000001"


def invoice(amount_fen: int, *, fund_paid_fen: int = 0) -> Invoice:
    line = FeeLine(1, GENERIC_A, "item", FeeCategory.CLASS_A, "1", "盒", amount_fen, amount_fen, "2024-06-01")
    return Invoice(issuer="H33060200001", invoice_code="33060124", invoice_number="0000000001",
                   check_code="a1B2c3", issued_at="2024-06-01T10:00:00+08:00", visit_type=VisitType.PHARMACY,
                   patient=Hash32(b"\x01" * 32), total_fen=amount_fen, fund_paid_fen=fund_paid_fen,
                   account_paid_fen=0, cash_paid_fen=amount_fen - fund_paid_fen, fee_lines=(line,))


def filing(inv: Invoice, *, available: int | None = None, policy: ClaimsPolicy = POLICY) -> Filing:
    person = PersonRecord(b"\x02" * 32, "p", "employee", "330600")
    return Filing(claim_id="clm_1", chain_claim_id=b"\xcc" * 32, fingerprint=b"\x0f" * 32, invoice=inv,
                  person=person, actor="citizen:ab", relation="self",
                  ruleset=policy.rules_for(inv, person, hospital_region="330602"),
                  available_fen=inv.total_fen if available is None else available, policy=policy)


@dataclass(frozen=True)
class Case:
    name: str
    invoice: Invoice
    ytd: YearToDate
    available: int | None
    state: ClaimState
    amount: int
    deductible: int
    refusal: str | None = None


CASES = [
    # ¥1,000 − ¥600 deductible = ¥400 × 70 % = ¥280
    Case("paid in full", invoice(100_000), YearToDate(), None, ClaimState.SUBMITTED, 28_000, 60_000),
    # what other payers left on chain caps it
    Case("capped by the chain", invoice(100_000), YearToDate(), 10_000, ClaimState.SUBMITTED, 10_000, 60_000),
    # what the fund paid is not the patient's to claim: ¥1,000 invoice, ¥950 paid by the fund
    Case("capped by the patient's share", invoice(100_000, fund_paid_fen=95_000), YearToDate(), None,
         ClaimState.SUBMITTED, 5_000, 60_000),
    # under the deductible: nothing to pay, the deductible counts
    Case("under the deductible", invoice(50_000), YearToDate(), None, ClaimState.NOTHING_PAYABLE, 0, 50_000),
    Case("nothing left on chain", invoice(100_000), YearToDate(), 0, ClaimState.REFUSED, 0, 60_000,
         "the invoice is reimbursed in full already (by other payers)"),
    Case("nothing self-paid", invoice(100_000, fund_paid_fen=100_000), YearToDate(), None, ClaimState.REFUSED, 0,
         60_000, "the patient paid nothing themselves"),
    # the deductible used already this year: all of it × 70 %
    Case("deductible used", invoice(100_000), YearToDate(60_000, 0), None, ClaimState.SUBMITTED, 70_000, 0),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_decide(case: Case) -> None:
    d = decide(filing(case.invoice, available=case.available), case.ytd)
    assert (d.state, d.amount_fen, d.deductible_used_fen, d.refusal) == (case.state, case.amount, case.deductible,
                                                                          case.refusal)
    expected = adjudicate(case.invoice, person=PersonCategory.EMPLOYEE, year_to_date=case.ytd,
                          ruleset=filing(case.invoice).ruleset)
    assert d.decided_fen == expected.reimbursable_fen
    assert d.requested_fen == case.invoice.total_fen - case.invoice.fund_paid_fen
    available = case.invoice.total_fen if case.available is None else case.available
    assert d.decision["cap"] == {"patientShareFen": d.requested_fen, "availableOnChainFen": available,
                                 "amountFen": min(expected.reimbursable_fen, d.requested_fen, available)}
    assert (d.id, d.payer_id, d.year, d.scheme, d.person) == ("clm_1", PAYER, 2024, "pharmacy-pooling", b"\x02" * 32)


def test_instant_payout_and_maker_checker() -> None:
    d = decide(filing(invoice(100_000)), YearToDate())
    assert d.instant and d.reviews_needed == 1 and d.flags == ()
    strict = replace(POLICY, instant_max_fen=27_999, final_review_from_fen=27_999)
    d = decide(filing(invoice(100_000), policy=strict), YearToDate())
    assert not d.instant and d.reviews_needed == 2
    at_threshold = replace(POLICY, instant_max_fen=28_000, final_review_from_fen=28_000)
    d = decide(filing(invoice(100_000), policy=at_threshold), YearToDate())
    assert d.instant and d.reviews_needed == 1
    assert not POLICY.instant(amount_fen=1, flagged=True)


@pytest.mark.parametrize(("visit", "region", "registered", "hospital", "label"), [
    # a local inpatient is judged by the local inpatient rules, not the off-site ones
    (VisitType.INPATIENT, "330600", False, "330602", "sx-inpatient@v1"),
    (VisitType.INPATIENT, "330600", False, "310101", "zj-offsite-inpatient@v1"),
    (VisitType.INPATIENT, "330600", True, "310101", "sx-inpatient@v1"),       # registered: as locally
    (VisitType.INPATIENT, None, False, "330602", "zj-offsite-inpatient@v1"),  # region unknown: as before
    (VisitType.PHARMACY, "330600", False, "310101", "sx-pharmacy-pooling@v1"),
    (VisitType.OUTPATIENT, None, False, "330602", "sx-pharmacy-pooling@v1"),
    (VisitType.EMERGENCY, "330600", False, "310101", "sx-pharmacy-pooling@v1"),
])
def test_the_rules_follow_visit_type_and_insured_status(visit: VisitType, region: str | None, registered: bool,
                                                        hospital: str, label: str) -> None:
    inv = replace(invoice(100_000), visit_type=visit)
    person = PersonRecord(b"\x02" * 32, "p", "retired", region, registered)
    ruleset = POLICY.rules_for(inv, person, hospital_region=hospital)
    assert ruleset.label == label
    assert filing(inv).scheme == filing(inv).ruleset.scheme


@pytest.mark.parametrize(("threshold", "amount", "stages"), [
    (500_000, 500_000, ("machine-audit", "first-review")),                  # at the threshold: one review
    (500_000, 500_001, ("machine-audit", "first-review", "final-review")),  # a fen above: a final review too
    (0, 1, ("machine-audit", "first-review", "final-review")),              # every claim has a final review
    (10**12, 10**11, ("machine-audit", "first-review")),                    # no claim has one
])
def test_the_office_stages_follow_the_final_review_threshold(threshold: int, amount: int,
                                                              stages: tuple[str, ...]) -> None:
    policy = replace(POLICY, final_review_from_fen=threshold)
    assert policy.stages(amount) == stages
    assert policy.reviewers_needed(amount) == len(stages) - 1   # one approval per review stage
    assert review_stages(policy.reviewers_needed(amount)) == stages[1:]


def test_the_final_review_threshold_is_read_under_both_names(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().final_review_from_fen == 500_000
    monkeypatch.setenv("EBILL_TWO_REVIEWERS_FROM_FEN", "7")       # its name before review stages
    assert Settings().final_review_from_fen == 7
    monkeypatch.setenv("EBILL_FINAL_REVIEW_FROM_FEN", "9")
    assert Settings().final_review_from_fen == 9
    monkeypatch.setenv("EBILL_FINAL_REVIEW_FROM_FEN", "-1")
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        Settings()


def test_a_share_of_instant_claims_is_drawn_for_a_post_payment_audit() -> None:
    key = sample_key(b"\x33" * 32)
    every = replace(POLICY, post_audit_share_bp=10_000, sample_key=key)
    d = decide(filing(invoice(100_000), policy=every), YearToDate())
    assert d.instant and d.post_audit is PostAudit.DUE
    # a claim a reviewer decides is not drawn; nor any when the share is 0
    reviewed = replace(every, instant_max_fen=0)
    assert decide(filing(invoice(100_000), policy=reviewed), YearToDate()).post_audit is None
    assert decide(filing(invoice(100_000)), YearToDate()).post_audit is None
    # the draw follows the claim id under the key
    some = replace(POLICY, post_audit_share_bp=5_000, sample_key=key)
    assert [some.post_audit(f"clm_{i}", instant=True) is PostAudit.DUE for i in range(40)] == [
        draw(f"clm_{i}", key=key) < 5_000 for i in range(40)]


def test_a_sampling_share_without_a_key_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="needs a secret sampling key"):
        replace(POLICY, post_audit_share_bp=200)
    with pytest.raises(ValueError, match="0 to 10000 basis points, not 10001"):
        replace(POLICY, post_audit_share_bp=10_001, sample_key=b"k")



@dataclass(frozen=True)
class OnChain:
    reserved_fen: int = 0
    paid_fen: int = 0
    voided: bool = False
    total_fen: int = 0


@pytest.mark.parametrize(("figures", "left"), [
    (None, 100_000),                                  # no chain: all of it
    (OnChain(), 100_000),
    (OnChain(30_000, 20_000, total_fen=100_000), 50_000),
    (OnChain(60_000, 60_000, total_fen=100_000), 0),  # never below zero
    (OnChain(voided=True), 0),
])
def test_available(figures: OnChain | None, left: int) -> None:
    assert available_fen(fingerprint=b"\x0f" * 32, total_fen=100_000, on_chain=figures) == left


def test_another_total_pinned_on_chain_blocks_the_claim() -> None:
    with pytest.raises(ClaimBlocked, match=re.escape("the chain holds the total ¥1,200.00 for it, not ¥1,000.00")) as e:
        available_fen(fingerprint=b"\x0f" * 32, total_fen=100_000, on_chain=OnChain(total_fen=120_000))
    assert e.value.reason == "total-mismatch"


def test_reassess_an_appeal() -> None:
    decision = adjudicate(invoice(100_000), person=PersonCategory.EMPLOYEE, year_to_date=YearToDate(),
                          ruleset=filing(invoice(100_000)).ruleset)
    assert reassess(decision, requested_fen=100_000, amount_fen=20_000) == (60_000, 20_000)   # never more than before
    assert reassess(decision, requested_fen=10_000, amount_fen=0) == (60_000, 10_000)   # nor than self-paid
    assert reassess(decision, requested_fen=100_000, amount_fen=0) == (60_000, 28_000)


@pytest.mark.parametrize(("insured", "voided", "anchored", "latest", "reason"), [
    (True, False, True, None, None),
    (True, False, True, ClaimState.REFUSED, None),          # a refused claim may be claimed again
    (False, False, True, None, "not insured with this payer"),
    (True, True, True, None, "voided by the hospital"),
    (True, False, False, None, "not anchored yet"),
    *[(True, False, True, s, "claimed already") for s in ClaimState if s is not ClaimState.REFUSED],
])
def test_why_not_claimable(insured: bool, voided: bool, anchored: bool, latest: ClaimState | None,
                           reason: str | None) -> None:
    assert why_not_claimable(insured=insured, voided=voided, anchored=anchored, latest=latest) == reason
