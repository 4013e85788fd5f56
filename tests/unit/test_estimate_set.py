"""A set of invoices estimated as one tap decides it (ledger/claims/estimate.py).

Shipped rules of 2024: pharmacy pooling (deductible ¥600, 70 %, annual cap ¥2,000) for the
pharmacy bills, local inpatient care (deductible ¥800, 80 %) for the hospital stay; instant
payout up to ¥500. One Class A line per invoice; every figure below is worked by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from ledger.claims.estimate import Outcome, alone_fen, estimate_set, plus, totals
from ledger.claims.model import PersonRecord
from ledger.claims.policy import ClaimsPolicy, Filing, decide
from ledger.claims.states import ClaimState
from ledger.hashing import Hash32
from ledger.invoice import FeeCategory, FeeLine, Invoice, VisitType
from ledger.rules import RuleBook, YearToDate

PAYER = "330600-ybj"
POLICY = ClaimsPolicy(payer_id=PAYER, rules=RuleBook.shipped())
PERSON = PersonRecord(b"\x02" * 32, "p", "employee", "330600")
NOW = datetime(2024, 7, 1, tzinfo=UTC)
_A, _D, _R, _N, _X = Outcome.AT_ONCE, Outcome.REVIEW, Outcome.REFUSED, Outcome.NOTHING_PAYABLE, Outcome.WAITING


@dataclass(frozen=True)
class Bill:
    yuan: int
    visit: VisitType = VisitType.PHARMACY
    available: int | None = None    # what is left on chain (fen); None: all of it


def _filing(i: int, bill: Bill) -> Filing:
    fen = bill.yuan * 100
    line = FeeLine(1, "XC09CAA001T001000000001", "item", FeeCategory.CLASS_A, "1", "盒", fen, fen, "2024-06-01")
    inv = Invoice(issuer="H33060200001", invoice_code="33060124", invoice_number=f"{i:010d}", check_code="a1B2c3",
                  issued_at="2024-06-01T10:00:00+08:00", visit_type=bill.visit, patient=Hash32(b"\x01" * 32),
                  total_fen=fen, fund_paid_fen=0, account_paid_fen=0, cash_paid_fen=fen, fee_lines=(line,))
    return Filing(claim_id=f"clm_{i}", chain_claim_id=bytes([i]) * 32, fingerprint=bytes([i]) * 32, invoice=inv,
                  person=PERSON, actor="citizen:ab", relation="self",
                  ruleset=POLICY.rules_for(inv, PERSON, hospital_region="330602"),
                  available_fen=fen if bill.available is None else bill.available, policy=POLICY)


@dataclass(frozen=True)
class Case:
    name: str
    bills: list[Bill]
    ytd: dict[str, YearToDate]                  # stored figures per scheme (missing: none yet)
    want: list[tuple[Outcome, int, int]]        # per bill: outcome together, amount together, amount alone


CASES = [
    Case("the deductible is used once, by the first", [Bill(400), Bill(900), Bill(1200)], {},
         # ¥400 all deductible; ¥900: the last ¥200 of it, 70 % of ¥700; ¥1,200: 70 %, above ¥500
         [(_N, 0, 0), (_A, 49000, 21000), (_D, 84000, 42000)]),
    Case("met already: nothing depends on the order", [Bill(1200), Bill(300)],
         {"pharmacy-pooling": YearToDate(60000, 0)},
         [(_D, 84000, 84000), (_A, 21000, 21000)]),
    Case("the annual cap is reached inside the set", [Bill(400), Bill(400)],
         {"pharmacy-pooling": YearToDate(60000, 180000)},
         # ¥280 would be due but ¥200 is left under the cap; then nothing is left
         [(_A, 20000, 20000), (_N, 0, 20000)]),
    Case("a refused claim uses no deductible", [Bill(900, available=0), Bill(700)], {},
         # the first pays nothing (nothing left on chain) and does not count for the year
         [(_R, 0, 0), (_A, 7000, 7000)]),
    Case("schemes keep their own deductibles", [Bill(700), Bill(1000, VisitType.INPATIENT), Bill(500)], {},
         # pharmacy ¥700: 70 % of ¥100; a stay of ¥1,000: 80 % of ¥200; pharmacy ¥500: 70 %, met already
         [(_A, 7000, 7000), (_A, 16000, 16000), (_A, 35000, 0)]),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_set_is_decided_in_order_with_the_figures_the_claims_before_it_left(case: Case) -> None:
    filings = [_filing(i + 1, b) for i, b in enumerate(case.bills)]
    asked: list[tuple[str, int]] = []

    def stored(scheme: str, year: int) -> YearToDate:
        asked.append((scheme, year))
        return case.ytd.get(scheme, YearToDate())

    got = estimate_set(filings, stored, now=NOW)
    assert [(e.outcome, e.together.amount_fen, e.alone.amount_fen) for e in got] == case.want
    assert [e.depends_on_others for e in got] == [w[1] != w[2] for w in case.want]
    assert len(asked) == len(set(asked))         # the stored figures are read once per scheme and year
    sums = totals(got)
    assert sum(sums.values()) == sum(w[1] for w in case.want)
    assert sums[Outcome.AT_ONCE] == sum(w[1] for w in case.want if w[0] is _A)


def test_each_is_decided_by_the_filings_decision() -> None:
    """Together, each is exactly :func:`decide` on the figures the ones before it left; alone, on the stored."""
    filings = [_filing(i + 1, Bill(y)) for i, y in enumerate([400, 900, 1200])]
    got = estimate_set(filings, lambda s, y: YearToDate(), now=NOW)
    ytd = YearToDate()
    for f, e in zip(filings, got, strict=True):
        assert e.together == decide(f, ytd)
        assert e.alone == decide(f, YearToDate())
        assert e.alone.amount_fen == alone_fen(f, YearToDate())
        ytd = YearToDate(ytd.deductible_used_fen + e.together.deductible_used_fen,
                         ytd.reimbursed_fen + e.together.amount_fen)


def test_a_tap_is_for_one_person() -> None:
    a = _filing(1, Bill(100))
    b = replace(_filing(2, Bill(100)), person=replace(PERSON, pseudonym=b"\x03" * 32))
    with pytest.raises(ValueError, match="one person"):
        estimate_set([a, b], lambda s, y: YearToDate(), now=NOW)


@pytest.mark.parametrize(("before", "delta", "after"), [
    (YearToDate(0, 0), (40000, 0), YearToDate(40000, 0)),
    (YearToDate(60000, 49000), (0, 84000), YearToDate(60000, 133000)),
    (YearToDate(100, 100), (-300, -50), YearToDate(0, 50)),     # never below zero, as the store bounds it
])
def test_running_figures_move_as_the_store_moves_them(before: YearToDate, delta: tuple[int, int],
                                                      after: YearToDate) -> None:
    assert plus(before, delta) == after


def test_alone_a_waiting_claim_is_estimated_as_decided_with_what_the_earlier_payers_hold_now() -> None:
    from ledger.rules.coordination import EarlierPayers
    from ledger.rules.earlier_payers import EarlierPayer
    from ledger.rules.ruleset import Coordination

    f = _filing(1, Bill(1000))
    coordination = Coordination(rank=4, base="left-by-earlier", after=("330600-ybj-basic",), wait_days=10)
    waiting = EarlierPayers(coordination, (EarlierPayer("330600-ybj-basic", reserved_fen=0, paid_fen=0, claims=0),),
                            window_ends=NOW.replace(month=8), seen_at=NOW)
    f = replace(f, earlier_payers=waiting)
    assert decide(f, YearToDate()).state is ClaimState.WAITING
    # a tap would wait; alone, the card shows what it pays if the earlier payer takes nothing: 70 % of ¥400
    assert alone_fen(f, YearToDate()) == 28000
    got = estimate_set([f], lambda s, y: YearToDate(), now=NOW)[0]
    assert (got.outcome, got.together.amount_fen) == (_X, 0)
