"""The decision on a claim in plain sentences, for the citizen."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.claims.explain import explain, yuan
from ledger.claims.model import Claim
from ledger.claims.states import ClaimState

NOW = datetime(2026, 12, 1, tzinfo=UTC)
DECISION = {
    "reimbursableFen": 28_000,
    "lines": [
        {"seq": 1, "itemCode": "XA11", "amountFen": 1_000, "selfPaidFen": 1_000,
         "reasons": [{"rule": "negative-list:XA11GA", "detail": "on the negative list"}]},
        {"seq": 2, "itemCode": "XC09", "amountFen": 100_000, "selfPaidFen": 0, "reasons": []},
    ],
    "steps": [{"rule": "deductible", "detail": "¥600.00 of the annual deductible", "amountFen": 40_000},
              {"rule": "ratio", "detail": "70 %", "amountFen": 28_000}],
    "cap": {"patientShareFen": 101_000, "availableOnChainFen": 10_000, "amountFen": 10_000},
    "flags": [{"rule": "duplicate-same-day", "detail": "one drug twice on one day"}],
}


def claim(**kw: Any) -> Claim:
    base = Claim(id="clm_1", submission_id="sub_1", payer_id="P", fingerprint=b"\x01" * 32, issuer="H1",
                 invoice_code="c", invoice_number="n", person=b"\x02" * 32, actor="citizen:ab", relation="self",
                 state=ClaimState.IN_REVIEW, scheme="pharmacy-pooling", year=2024, requested_fen=101_000,
                 decided_fen=28_000, amount_fen=10_000, deductible_used_fen=60_000, decision=DECISION, flags=(),
                 instant=False, reviews_needed=1, attempt=1, chain_claim_id=b"\xcc" * 32, chain_todo=None, stamp=None,
                 stamp_tx=None, stamp_block=None, refusal=None, rejection=None, appeal=None, payment_ref=None,
                 paid_at=None, created_at=NOW, updated_at=NOW, decided_at=None)
    return replace(base, **kw)


def test_a_decision_in_sentences() -> None:
    assert explain(claim()) == [
        "Line 1 (XA11): ¥10.00 of ¥10.00 is yours to pay — on the negative list.",
        "Deductible: ¥600.00 of the annual deductible → ¥400.00.",
        "Ratio: 70 % → ¥280.00.",
        "Limited to ¥100.00: what you paid yourself (¥1,010.00) and what the invoice has left after other payers "
        "(¥100.00).",
        "Sent to a reviewer: one drug twice on one day.",
    ]


def test_caps_are_named_in_words() -> None:
    steps = [{"rule": "ratio", "detail": "¥1,000.00 × 70 %", "amountFen": 70_000},
             {"rule": "invoice-cap", "detail": "limited to the ¥300.00 cap per invoice", "amountFen": 30_000},
             {"rule": "visit-cap", "detail": "limited to the ¥200.00 cap per outpatient visit (this invoice)",
              "amountFen": 20_000},
             {"rule": "annual-cap", "detail": "within the ¥2,000.00 left of the ¥2,000.00 annual cap",
              "amountFen": 20_000}]
    assert explain(claim(decision={"steps": steps}))[1:] == [
        "Cap per invoice: limited to the ¥300.00 cap per invoice → ¥300.00.",
        "Cap per visit: limited to the ¥200.00 cap per outpatient visit (this invoice) → ¥200.00.",
        "Annual cap: within the ¥2,000.00 left of the ¥2,000.00 annual cap → ¥200.00."]


def test_refusal_rejection_and_clawback() -> None:
    refused = explain(claim(state=ClaimState.REFUSED, refusal="the hospital voided the invoice"))
    assert refused[-1] == "Not paid: the hospital voided the invoice."
    rejected = explain(claim(state=ClaimState.REJECTED, rejection="not a covered visit"))
    assert rejected[-1] == "Rejected by the reviewer: not a covered visit."
    clawed = explain(claim(state=ClaimState.CLAWBACK, decision={
        **DECISION, "reversed": {"deductibleUsedFen": 60_000, "reimbursedFen": 10_000}}))
    assert clawed[-2:] == [
        "Owed back: the hospital voided the invoice after ¥100.00 was paid. The hospital returns it to the payer; "
        "you owe nothing.",
        "This claim no longer counts towards your year: ¥600.00 of deductible and ¥100.00 of reimbursement were "
        "taken off your year-to-date figures."]


def test_a_clawback_after_a_post_payment_finding_says_so() -> None:
    found = explain(claim(state=ClaimState.CLAWBACK, decision={
        **DECISION, "postAuditFinding": {"reason": "the stay was billed twice", "amountDueFen": 10_000},
        "reversed": {"deductibleUsedFen": 60_000, "reimbursedFen": 10_000}}))
    assert found[-2:] == [
        "Owed back: an audit after the payment found that ¥100.00 should not have been paid — the stay was billed "
        "twice.",
        "This claim no longer counts towards your year: ¥600.00 of deductible and ¥100.00 of reimbursement were "
        "taken off your year-to-date figures."]
    assert not any("voided" in line for line in found)


# (the finding's debtor) -> who the citizen reads must return it
@pytest.mark.parametrize(("debtor", "said"), [
    ("hospital", "The hospital returns it to the payer; you owe nothing."),
    ("person", "You are asked to return it: what you still owe is kept back from your next reimbursement by this "
               "payer, unless you pay it back first.")])
def test_a_finding_says_who_returns_the_money(debtor: str, said: str) -> None:
    found = explain(claim(state=ClaimState.CLAWBACK, decision={
        **DECISION, "postAuditFinding": {"reason": "r", "amountDueFen": 10_000, "code": "x", "debtor": debtor}}))
    assert found[-1] == said


def test_a_payment_that_kept_money_back_says_how_much() -> None:
    said = explain(replace(claim(state=ClaimState.PAID), offset_fen=4_000))
    assert said[-1] == "¥40.00 of this payment was kept back for money you owed on an earlier claim; ¥60.00 was " \
                       "transferred."


def test_many_lines_are_counted_after_fifty() -> None:
    lines = [{"seq": n, "itemCode": "X", "amountFen": 100, "selfPaidFen": 100, "reasons": [{"detail": "d"}]}
             for n in range(1, 61)]
    said = explain(claim(decision={"lines": lines}))
    assert len(said) == 51 and said[-1] == "… and 10 more lines with a share to pay yourself."


def test_yuan() -> None:
    assert [yuan(f) for f in (0, 5, 100, 123_456, 100_000_000)] == ["0.00", "0.05", "1.00", "1,234.56",
                                                                     "1,000,000.00"]
