"""An approval in part: the rules applied again without the lines a reviewer did not approve.

Hand-computed with the shipped pharmacy-pooling rules for an employee: ¥600 deductible, 70 %,
¥2,000 annual cap. The invoice has three class-A lines: ¥1,000, ¥500 and ¥300 (¥1,800).
In full: (¥1,800 − ¥600) × 70 % = ¥840.
"""

from __future__ import annotations

from typing import Any

import pytest

from ledger.claims.lines import WORDS, LineReason, LineVerdict, judge_in_part
from ledger.errors import InvalidInput
from ledger.hashing import Hash32
from ledger.invoice import FeeCategory, FeeLine, Invoice, VisitType
from ledger.rules import RuleBook, YearToDate
from ledger.rules.ruleset import PersonCategory

CODE = "XC09CAA001T001000000001"
RULES = RuleBook.shipped().in_force(payer="330600-ybj", scheme="pharmacy-pooling", on="2024-06-01")
LINES = ((1, 100_000, "2024-06-01"), (2, 50_000, "2024-06-02"), (3, 30_000, "2024-06-03"))
INVOICE = Invoice(
    issuer="H33060200001", invoice_code="33060124", invoice_number="0000000001", check_code="a1B2c3",
    issued_at="2024-06-03T10:00:00+08:00", visit_type=VisitType.PHARMACY, patient=Hash32(b"\x01" * 32),
    total_fen=180_000, fund_paid_fen=0, account_paid_fen=0, cash_paid_fen=180_000,
    fee_lines=tuple(FeeLine(seq, CODE, "item", FeeCategory.CLASS_A, "1", "盒", fen, fen, day)
                    for seq, fen, day in LINES))
DECISION = {"reimbursableFen": 84_000, "lines": []}
NO = LineReason.NOT_NECESSARY


NEW_YEAR = YearToDate()


def judge(verdicts: list[LineVerdict], *, ytd: YearToDate = NEW_YEAR, amount: int = 84_000) -> Any:
    return judge_in_part(INVOICE, verdicts, person=PersonCategory.EMPLOYEE, year_without_claim=ytd, ruleset=RULES,
                         decision=DECISION, amount_fen=amount, requested_fen=180_000)


# (lines not approved, the year without the claim, the claim's amount) -> (amount, deductible used)
CASES: list[tuple[str, list[int], YearToDate, int, tuple[int, int]]] = [
    # (¥1,300 − ¥600) × 70 % = ¥490
    ("one line", [2], YearToDate(), 84_000, (49_000, 60_000)),
    # (¥1,000 − ¥600) × 70 % = ¥280
    ("two lines", [2, 3], YearToDate(), 84_000, (28_000, 60_000)),
    # the deductible was used before this claim: ¥1,300 × 70 % = ¥910 (of ¥1,260 in full)
    ("deductible used before", [2], YearToDate(60_000, 0), 126_000, (91_000, 0)),
    # never more than the claim paid before (other payers left only ¥300): (¥1,500 − ¥600) × 70 % = ¥630 > ¥300
    ("capped by what it paid", [3], YearToDate(), 30_000, (30_000, 60_000)),
    # the annual cap: ¥1,900 reimbursed before leaves ¥100
    ("annual cap", [2], YearToDate(0, 190_000), 10_000, (10_000, 60_000)),
]


@pytest.mark.parametrize(("name", "seqs", "ytd", "amount", "expected"), CASES, ids=[c[0] for c in CASES])
def test_judge_in_part(name: str, seqs: list[int], ytd: YearToDate, amount: int, expected: tuple[int, int]) -> None:
    got = judge([LineVerdict(s, NO, "note") for s in seqs], ytd=ytd, amount=amount)
    assert (got.amount_fen, got.deductible_used_fen) == expected
    review = got.decision["review"]
    assert got.decision["reimbursableFen"] == 84_000            # the rules' first decision is kept beside it
    assert [ln["seq"] for ln in review["lines"]] == sorted(seqs)
    assert review["lines"][0] == {"seq": seqs[0], "itemCode": CODE, "amountFen": dict((s, f) for s, f, _ in LINES)[
        seqs[0]], "reason": "not-medically-necessary", "words": "not medically necessary for this visit",
        "note": "note"}
    assert (review["amountBeforeFen"], review["amountFen"]) == (amount, expected[0])


def test_what_cannot_be_approved_in_part() -> None:
    with pytest.raises(InvalidInput) as e:
        judge([LineVerdict(9, NO), LineVerdict(1, NO), LineVerdict(1, LineReason.DUPLICATE)])
    assert [(p.field, p.rule) for p in e.value.problems] == [("lines[0].seq", "unknown-line"),
                                                             ("lines[2].seq", "duplicate")]
    with pytest.raises(InvalidInput, match="no fee line would be approved: reject the claim"):
        judge([LineVerdict(1, NO), LineVerdict(2, NO), LineVerdict(3, NO)])
    # ¥500 left is under the ¥600 deductible: it pays nothing
    with pytest.raises(InvalidInput, match="the lines left pay nothing: reject the claim"):
        judge([LineVerdict(1, NO), LineVerdict(3, NO)])


def test_every_reason_has_words() -> None:
    assert set(WORDS) == set(LineReason)
    assert [r.value for r in LineReason] == [
        "not-medically-necessary", "not-covered", "quantity-above-limit", "unbundled", "duplicate-billing",
        "no-prescription-or-referral", "documentation-missing", "price-above-standard"]
