"""Payers in order (issue 13 §3): the rule-set keys, the earlier payers read from the chain's
stamps, and what a later payer decides, every figure worked by hand.

The invoice (total ¥1,000.00, all self-paid):
  line 1  Class A  ¥600.00                       eligible ¥600.00
  line 2  Class B  2 × ¥50.00 = ¥100.00          first self-pay 10 % = ¥10.00, eligible ¥90.00
  line 3  Class C  ¥300.00                       eligible ¥0 (excluded from both payers)
  eligible ¥690.00

Basic insurance (rank 1): deductible ¥100, 70 %:  (69,000 − 10,000) × 70 % = 41,300 fen.
Supplement (rank 4, left-by-earlier, after basic, 10 days): no deductible, 50 % of what
basic left of the eligible base: (69,000 − 41,300) × 50 % = 13,850 fen. Together 55,150
fen ≤ 69,000 eligible: the Class C ¥300 is paid by neither. Without coordination a 100 %
supplement takes all the chain has left (58,700 fen), Class C included.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import jsonschema_rs
import pytest

from ledger.claims import transitions as t
from ledger.claims.explain import explain
from ledger.claims.model import Claim, PersonRecord, Standing
from ledger.claims.policy import ClaimsPolicy, Filing, decide
from ledger.claims.stamps import StampOp
from ledger.claims.states import ClaimState, Event
from ledger.errors import InvalidInput, TransitionRefused
from ledger.hashing import Hash32
from ledger.invoice import FeeCategory, FeeLine, Invoice, VisitType
from ledger.onchain import Stamp
from ledger.rules import PersonCategory, RuleBook, YearToDate, adjudicate, load_ruleset
from ledger.rules.administration import json_schema
from ledger.rules.coordination import EarlierPayers, earlier_payers, may_decide, window_end
from ledger.rules.ruleset import Coordination

BASIC, SUPPLEMENT = "330600-ybj", "sx-huiminbao"
ISSUED = "2024-06-01T10:00:00+08:00"
ISSUED_UTC = datetime(2024, 6, 1, 2, 0, tzinfo=UTC)
SOON = ISSUED_UTC + timedelta(hours=1)              # inside the 10-day window
LATE = ISSUED_UTC + timedelta(days=10)              # the window's end: it no longer waits


def fee(seq: int, code: str, category: FeeCategory, unit_price_fen: int, quantity: str = "1") -> FeeLine:
    amount = int((Decimal(unit_price_fen) * Decimal(quantity)).quantize(Decimal(1), ROUND_HALF_UP))
    return FeeLine(seq, code, "item", category, quantity, "盒", unit_price_fen, amount, "2024-06-01")


LINES = (fee(1, "XC09CAA001T001000000001", FeeCategory.CLASS_A, 60_000),
         fee(2, "XC09CAA001T001000000002", FeeCategory.CLASS_B, 5_000, "2"),
         fee(3, "XC09CAA001T001000000003", FeeCategory.SELF_PAY, 30_000))
INVOICE = Invoice(issuer="H33060200001", invoice_code="33060124", invoice_number="0000000001", check_code="a1B2c3",
                  issued_at=ISSUED, visit_type=VisitType.PHARMACY, patient=Hash32(b"\x01" * 32), total_fen=100_000,
                  fund_paid_fen=0, account_paid_fen=0, cash_paid_fen=100_000, fee_lines=LINES)


def rule_doc(payer: str, *, ratio_bp: int, deductible_fen: int, coordination: dict[str, Any] | None) -> dict[str, Any]:
    person = {"deductibleFen": deductible_fen, "ratioBp": ratio_bp, "annualCapFen": 10**8}
    doc: dict[str, Any] = {
        "id": f"{payer}-test", "version": 1, "payer": payer, "scheme": "pharmacy-pooling",
        "effectiveFrom": "2024-01-01", "effectiveTo": None, "persons": {"employee": person},
        "classBFirstSelfPay": [{"fromUnitPriceFen": 0, "selfPayBp": 1000}]}
    if coordination is not None:
        doc["coordination"] = coordination
    return doc


IN_ORDER = {"rank": 4, "base": "left-by-earlier", "after": [BASIC], "waitDays": 10}
BASIC_SET = load_ruleset(rule_doc(BASIC, ratio_bp=7000, deductible_fen=10_000,
                                  coordination={"rank": 1, "base": "own-eligible"}))
SUPPLEMENT_SET = load_ruleset(rule_doc(SUPPLEMENT, ratio_bp=5000, deductible_fen=0, coordination=IN_ORDER))
# the same supplement paying 100 % without an order: what the chain alone allows
UNORDERED_SET = load_ruleset(rule_doc(SUPPLEMENT, ratio_bp=10_000, deductible_fen=0, coordination=None))
OWN_SET = load_ruleset(rule_doc(SUPPLEMENT, ratio_bp=5000, deductible_fen=0,
                                coordination={**IN_ORDER, "base": "own-eligible"}))


def stamp(payer: str, claim: str, amount: int, status: str, block: int) -> Stamp:
    return Stamp(payer, claim, amount, status, block, f"0x{block:064x}")


def earlier(stamps: list[Stamp], *, now: datetime = SOON, ruleset: Any = SUPPLEMENT_SET) -> EarlierPayers:
    assert ruleset.coordination is not None
    return earlier_payers(ruleset.coordination, stamps, issued_at=ISSUED, now=now)


BASIC_PAID = [stamp(BASIC, "0xa1", 41_300, "reserved", 5), stamp(BASIC, "0xa1", 41_300, "finalized", 6)]


# ---------------------------------------------------------------------- the rule set's keys


def test_the_keys_load_into_a_coordination() -> None:
    assert SUPPLEMENT_SET.coordination == Coordination(rank=4, base="left-by-earlier", after=(BASIC,), wait_days=10)
    assert BASIC_SET.coordination == Coordination(rank=1, base="own-eligible", after=(), wait_days=0)
    assert not BASIC_SET.coordination.waits and SUPPLEMENT_SET.coordination.waits
    assert UNORDERED_SET.coordination is None


@pytest.mark.parametrize(("coordination", "problems"), [
    ({"rank": 0, "base": "own-eligible"}, {("coordination.rank", "range")}),
    ({"rank": 10, "base": "own-eligible"}, {("coordination.rank", "range")}),
    ({"rank": 2, "base": "half", "after": [BASIC], "waitDays": 1}, {("coordination.base", "enum")}),
    ({"rank": 1, "base": "left-by-earlier"}, {("coordination.base", "first-pays-own")}),
    ({"rank": 1, "base": "own-eligible", "after": [BASIC], "waitDays": 1},
     {("coordination.after", "first-waits-for-none")}),
    ({"rank": 2, "base": "own-eligible"}, {("coordination.after", "required")}),
    ({"rank": 2, "base": "own-eligible", "after": [BASIC]}, {("coordination.waitDays", "required")}),
    ({"rank": 2, "base": "own-eligible", "after": [BASIC, BASIC], "waitDays": 1}, {("coordination.after", "unique")}),
    ({"rank": 2, "base": "own-eligible", "after": [SUPPLEMENT], "waitDays": 1},
     {("coordination.after", "not-itself")}),
    ({"rank": 2, "base": "own-eligible", "after": [BASIC], "waitDays": 367}, {("coordination.waitDays", "range")}),
    ({"rank": 2, "base": "own-eligible", "after": [BASIC], "waitDays": True}, {("coordination.waitDays", "type")}),
    ({"rank": 2, "base": "own-eligible", "after": BASIC, "waitDays": 1},
     {("coordination.after", "type"), ("coordination.after", "required")}),
    ({"rank": "2", "base": "own-eligible"}, {("coordination.rank", "type")}),
    ({"rank": 2, "base": "own-eligible", "after": [BASIC], "waitDays": 1, "order": 3},
     {("coordination.order", "unknown-key")}),
    ({"base": "own-eligible"}, {("coordination.rank", "required")}),
    ([], {("coordination", "type")}),
])
def test_a_bad_coordination_names_its_path(coordination: Any, problems: set[tuple[str, str]]) -> None:
    with pytest.raises(InvalidInput) as bad:
        load_ruleset(rule_doc(SUPPLEMENT, ratio_bp=5000, deductible_fen=0, coordination=coordination))
    assert {(p.field, p.rule) for p in bad.value.problems} == problems
    assert all(p.message.startswith(f"rule set {SUPPLEMENT}-test: ") for p in bad.value.problems)


def test_the_published_schema_knows_the_keys() -> None:
    validator = jsonschema_rs.validator_for(json_schema(), validate_formats=True)
    good = rule_doc(SUPPLEMENT, ratio_bp=5000, deductible_fen=0, coordination=IN_ORDER)
    assert validator.is_valid(json.loads(json.dumps(good)))
    for key, value in (("base", "half"), ("rank", 0), ("after", "330600-ybj"), ("waitDays", -1), ("order", 1)):
        bad = copy.deepcopy(good)
        bad["coordination"][key] = value
        assert not validator.is_valid(bad), key


# ---------------------------------------------------------------------- the earlier payers on chain


@dataclass(frozen=True)
class Seen:
    name: str
    stamps: list[Stamp]
    reserved: int
    paid: int
    decided: bool


SEEN = [
    Seen("no stamp: not decided", [], 0, 0, False),
    Seen("reserved only: in review", [stamp(BASIC, "0xa1", 41_300, "reserved", 5)], 41_300, 0, False),
    Seen("finalised: decided", BASIC_PAID, 0, 41_300, True),
    Seen("events out of order", list(reversed(BASIC_PAID)), 0, 41_300, True),
    Seen("released: decided to pay nothing",
         [stamp(BASIC, "0xa1", 41_300, "reserved", 5), stamp(BASIC, "0xa1", 41_300, "released", 7)], 0, 0, True),
    Seen("a smaller second attempt after a release",
         [stamp(BASIC, "0xa1", 41_300, "reserved", 5), stamp(BASIC, "0xa1", 41_300, "released", 6),
          stamp(BASIC, "0xa2", 30_000, "reserved", 7), stamp(BASIC, "0xa2", 30_000, "finalized", 8)], 0, 30_000, True),
    Seen("one paid, one still reserved", [*BASIC_PAID, stamp(BASIC, "0xa3", 100, "reserved", 9)], 100, 41_300, False),
    Seen("other payers do not count", [stamp("someone-else", "0xb1", 500, "finalized", 4)], 0, 0, False),
    # the same chain claim id under another payer is another claim
    Seen("payer and claim id together", [stamp(BASIC, "0xa1", 41_300, "finalized", 6),
                                         stamp("someone-else", "0xa1", 500, "reserved", 7)], 0, 41_300, True),
]


@pytest.mark.parametrize("case", SEEN, ids=[c.name for c in SEEN])
def test_what_the_earlier_payer_holds(case: Seen) -> None:
    e = earlier(case.stamps)
    (basic,) = e.payers
    assert (basic.payer_id, basic.reserved_fen, basic.paid_fen, basic.decided) == (
        BASIC, case.reserved, case.paid, case.decided)
    assert e.taken_fen == case.reserved + case.paid
    assert e.must_wait is not case.decided
    assert e.undecided == (() if case.decided else (BASIC,))


def test_the_window_is_counted_from_the_issue_time() -> None:
    assert SUPPLEMENT_SET.coordination is not None
    assert window_end(SUPPLEMENT_SET.coordination, ISSUED) == LATE
    assert earlier([], now=LATE - timedelta(seconds=1)).must_wait
    stopped = earlier([], now=LATE)
    assert stopped.window_passed and not stopped.must_wait and stopped.undecided == (BASIC,)
    assert "waiting for 330600-ybj to decide first" in earlier([]).why_waiting()
    assert "2024-06-11 02:00 UTC" in earlier([]).why_waiting()


# ---------------------------------------------------------------------- what each payer pays


def test_basic_pays_70_percent_of_its_eligible_amount_and_never_class_c() -> None:
    d = adjudicate(INVOICE, person=PersonCategory.EMPLOYEE, year_to_date=YearToDate(), ruleset=BASIC_SET)
    assert [line.eligible_fen for line in d.lines] == [60_000, 9_000, 0]
    assert (d.eligible_fen, d.deductible_used_fen, d.reimbursable_fen) == (69_000, 10_000, 41_300)
    assert d.earlier_payers is None and "earlierPayers" not in d.to_json()   # no order: the document as before


def test_the_supplement_pays_half_of_what_basic_left_of_its_eligible_base() -> None:
    d = adjudicate(INVOICE, person=PersonCategory.EMPLOYEE, year_to_date=YearToDate(), ruleset=SUPPLEMENT_SET,
                   earlier_payers=earlier(BASIC_PAID))
    assert d.eligible_fen == 69_000 and d.reimbursable_fen == 13_850
    steps = {s.rule: s.amount_fen for s in d.steps}
    assert steps == {"left-by-earlier-payers": 27_700, "deductible": 27_700, "ratio": 13_850,
                     "annual-cap": 13_850, "payers-in-order": 13_850}
    assert d.year_to_date_after == YearToDate(0, 13_850)
    # together: 41,300 + 13,850 = 55,150 ≤ the 69,000 eligible; the Class C ¥300 is paid by neither
    assert 41_300 + d.reimbursable_fen <= d.eligible_fen
    doc = d.to_json()
    assert doc["earlierPayers"]["payers"] == [{"payer": BASIC, "reservedFen": 0, "paidFen": 41_300, "claims": 1,
                                                "decided": True}]
    assert "¥690.00 eligible − ¥413.00 paid or reserved by earlier payers (330600-ybj ¥413.00 paid)" in \
        doc["steps"][0]["detail"]


def test_without_an_order_the_two_pay_the_whole_invoice() -> None:
    """The fault the order fixes: a 100 % supplement limited only by the chain takes Class C too."""
    d = adjudicate(INVOICE, person=PersonCategory.EMPLOYEE, year_to_date=YearToDate(), ruleset=UNORDERED_SET)
    left_on_chain = INVOICE.total_fen - 41_300
    assert min(d.reimbursable_fen, left_on_chain) == 58_700
    assert 41_300 + 58_700 == INVOICE.total_fen > d.eligible_fen


@pytest.mark.parametrize(("taken", "expected"), [
    (41_299, 13_851),   # 27,701 × 50 % = 13,850.5: half up
    (41_301, 13_850),   # 27,699 × 50 % = 13,849.5: half up
    (69_000, 0),        # the earlier payer paid the whole eligible base
    (80_000, 0),        # ... or more (its own rules were wider): never negative
    (0, 34_500),        # decided after the window with nothing from basic on chain
])
def test_rounding_and_the_ends_of_the_base(taken: int, expected: int) -> None:
    stamps = [stamp(BASIC, "0xa1", taken, "finalized", 6)] if taken else []
    d = adjudicate(INVOICE, person=PersonCategory.EMPLOYEE, year_to_date=YearToDate(), ruleset=SUPPLEMENT_SET,
                   earlier_payers=earlier(stamps, now=LATE))
    assert d.reimbursable_fen == expected


def test_own_eligible_is_limited_to_what_the_earlier_payers_left() -> None:
    # 50 % of its own 69,000 = 34,500, but basic paid 41,300: together at most 69,000 → 27,700
    d = adjudicate(INVOICE, person=PersonCategory.EMPLOYEE, year_to_date=YearToDate(), ruleset=OWN_SET,
                   earlier_payers=earlier(BASIC_PAID, ruleset=OWN_SET))
    steps = {s.rule: s.amount_fen for s in d.steps}
    assert steps["ratio"] == 34_500 and steps["payers-in-order"] == 27_700 == d.reimbursable_fen
    assert "left-by-earlier-payers" not in steps
    # with little taken by basic its own figure stands
    d = adjudicate(INVOICE, person=PersonCategory.EMPLOYEE, year_to_date=YearToDate(), ruleset=OWN_SET,
                   earlier_payers=earlier([stamp(BASIC, "0xa1", 10_000, "finalized", 6)], ruleset=OWN_SET))
    assert d.reimbursable_fen == 34_500


# ---------------------------------------------------------------------- the claim: wait, then decide


POLICY = ClaimsPolicy(payer_id=SUPPLEMENT, rules=RuleBook([SUPPLEMENT_SET]))
NOW = datetime(2024, 6, 1, 3, 0, tzinfo=UTC)


def filing(e: EarlierPayers | None, *, available: int = 100_000) -> Filing:
    return Filing(claim_id="clm_1", chain_claim_id=b"\xcc" * 32, fingerprint=b"\x0f" * 32, invoice=INVOICE,
                  person=PersonRecord(b"\x02" * 32, "p", "employee"), actor="citizen:ab", relation="self",
                  ruleset=SUPPLEMENT_SET, available_fen=available, policy=POLICY, earlier_payers=e)


def test_filed_first_the_supplement_waits_and_counts_nothing() -> None:
    draft = decide(filing(earlier([])), YearToDate())
    assert draft.state is ClaimState.WAITING
    assert (draft.amount_fen, draft.decided_fen, draft.deductible_used_fen, draft.flags) == (0, 0, 0, ())
    assert draft.decision["waiting"].startswith("waiting for 330600-ybj to decide first")
    change = t.filed(draft, now=NOW)
    assert (change.event, change.after, change.year) == (Event.FILED_TO_WAIT, ClaimState.WAITING, (0, 0))
    assert dict(change.values) == {"state": ClaimState.WAITING, "chain_todo": None, "decided_at": None}


def _standing() -> Standing:
    return Standing(id="clm_1", state=ClaimState.WAITING, instant=False, amount_fen=0, deductible_used_fen=0,
                    reviews_needed=1, appealed=False, attempt=1, chain_claim_id=b"\xcc" * 32, chain_todo=None,
                    stamp=None)


def test_decided_once_basic_decided() -> None:
    assert t.decided_after_earlier(_standing(), filing(earlier([BASIC_PAID[0]])), YearToDate(), now=NOW) is None
    got = t.decided_after_earlier(_standing(), filing(earlier(BASIC_PAID), available=58_700), YearToDate(), now=NOW)
    assert got is not None
    draft, change = got
    assert (change.event, change.before, change.after) == (Event.EARLIER_DECIDED, ClaimState.WAITING,
                                                           ClaimState.SUBMITTED)
    v = change.values
    assert (v["amount_fen"], v["decided_fen"], v["chain_todo"], v["decided_at"]) == (13_850, 13_850, StampOp.RESERVE,
                                                                                      None)
    assert change.year == (0, 13_850) and change.action == "claim.decided-after-earlier"
    assert v["decision"]["earlierPayers"]["payers"][0]["paidFen"] == 41_300
    assert draft.decision["cap"] == {"patientShareFen": 100_000, "availableOnChainFen": 58_700, "amountFen": 13_850}


def test_the_window_passes_and_it_decides_with_what_is_known() -> None:
    got = t.decided_after_earlier(_standing(), filing(earlier([], now=LATE)), YearToDate(), now=LATE)
    assert got is not None
    assert got[1].values["amount_fen"] == 34_500
    assert got[1].values["decision"]["earlierPayers"]["windowPassed"] is True


@pytest.mark.parametrize(("taken", "available", "event", "after"), [
    (69_000, 31_000, Event.EARLIER_DECIDED_NOTHING_PAYABLE, ClaimState.NOTHING_PAYABLE),   # nothing left of the base
    (41_300, 0, Event.EARLIER_DECIDED_NOTHING_LEFT, ClaimState.REFUSED),                   # nothing left on chain
])
def test_decided_to_pay_nothing(taken: int, available: int, event: Event, after: ClaimState) -> None:
    e = earlier([stamp(BASIC, "0xa1", taken, "finalized", 6)])
    got = t.decided_after_earlier(_standing(), filing(e, available=available), YearToDate(), now=NOW)
    assert got is not None
    assert (got[1].event, got[1].after, got[1].values["chain_todo"], got[1].values["decided_at"]) == (
        event, after, None, NOW)


@pytest.mark.parametrize("state", [s for s in ClaimState if s is not ClaimState.WAITING])
def test_only_a_waiting_claim_is_decided_after_the_earlier_payers(state: ClaimState) -> None:
    for e in (earlier([]), earlier(BASIC_PAID)):
        with pytest.raises(TransitionRefused, match="not waiting for earlier payers"):
            t.decided_after_earlier(replace(_standing(), state=state), filing(e), YearToDate(), now=NOW)


def _claim(state: ClaimState, decision: dict[str, Any]) -> Claim:
    return Claim(id="clm_1", submission_id="sub_1", payer_id=SUPPLEMENT, fingerprint=b"\x0f" * 32, issuer="H1",
                 invoice_code="c", invoice_number="n", person=b"\x02" * 32, actor="citizen:ab", relation="self",
                 state=state, scheme="pharmacy-pooling", year=2024, requested_fen=100_000, decided_fen=0, amount_fen=0,
                 deductible_used_fen=0, decision=decision, flags=(), instant=False, reviews_needed=1, attempt=1,
                 chain_claim_id=b"\xcc" * 32, chain_todo=None, stamp=None, stamp_tx=None, stamp_block=None,
                 refusal=None, rejection=None, appeal=None, payment_ref=None, paid_at=None, created_at=NOW,
                 updated_at=NOW, decided_at=None)


def test_a_waiting_claim_is_voided_before_it_is_decided() -> None:
    change = t.voided(_claim(ClaimState.WAITING, {}), void_on_chain=False, now=NOW)
    assert change is not None and change.after is ClaimState.REFUSED and change.year == (0, 0)
    assert change.values["chain_todo"] is None   # nothing was ever reserved


def test_the_explanation_shows_the_earlier_payers() -> None:
    waiting = explain(_claim(ClaimState.WAITING, decide(filing(earlier([])), YearToDate()).decision))
    assert waiting[0].startswith("Not decided yet: waiting for 330600-ybj to decide first (payers in order)")
    assert waiting[1] == "Earlier payer 330600-ybj: ¥0.00 paid on this invoice; it has no claim on this invoice yet."
    in_review = decide(filing(earlier([BASIC_PAID[0]])), YearToDate())
    assert explain(_claim(ClaimState.WAITING, in_review.decision))[1] == (
        "Earlier payer 330600-ybj: ¥0.00 paid and ¥413.00 reserved on this invoice; it is still deciding.")
    decided = decide(filing(earlier(BASIC_PAID)), YearToDate())
    said = explain(_claim(ClaimState.SUBMITTED, decided.decision))
    assert said[0] == "Earlier payer 330600-ybj: ¥413.00 paid on this invoice; it has decided."
    assert any(s.startswith("Left-by-earlier-payers: ¥690.00 eligible − ¥413.00") for s in said)
    late = decide(filing(earlier([], now=LATE)), YearToDate())
    assert any("Decided without waiting longer for 330600-ybj: 10 days" in s
               for s in explain(_claim(ClaimState.SUBMITTED, late.decision)))


def test_a_waiting_claim_is_looked_at_again_when_its_earlier_payers_decided_or_its_window_passed() -> None:
    doc = earlier([]).to_json()
    assert not may_decide(doc, [], now=SOON)
    assert not may_decide(doc, [BASIC_PAID[0]], now=SOON)              # reserved only: in review
    assert not may_decide(doc, [stamp("someone-else", "0xb1", 1, "finalized", 4)], now=SOON)
    assert may_decide(doc, BASIC_PAID, now=SOON)
    assert may_decide(doc, [], now=LATE)
    assert may_decide({}, [], now=SOON)                                # nothing stored to wait for
