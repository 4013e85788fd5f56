"""The rule types real policies need (issue 13 §2): caps per invoice and per visit, the general
duplicate rule, price bands "up to and including", and the person categories beyond
employee/retired/resident; every expected amount worked by hand.

The example rule set (``OFFICE``, in force from 2024): deductible ¥600 (used up already in
most cases, ``DED_USED``), ratio 70 %, annual cap ¥2,000; employees: at most ¥300 per
invoice, ¥200 per outpatient visit, ¥500 per emergency visit; Class B first self-pay 10 %
up to and including ¥100.00 unit price, 20 % from ¥100.01; repeats flagged. Rounding: half
up to the fen per line (Class B share), once for the ratio.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger.errors import InvalidInput
from ledger.hashing import Hash32
from ledger.invoice import FeeCategory, FeeLine, Invoice, VisitType
from ledger.rules import DuplicateItems, PersonCategory, RuleSet, YearToDate, adjudicate, load_ruleset
from ledger.rules.decision import Flag, Reason

A, B, C = FeeCategory.CLASS_A, FeeCategory.CLASS_B, FeeCategory.SELF_PAY
EMP, RES = PersonCategory.EMPLOYEE, PersonCategory.RESIDENT
ASSIST, DISABLED, RELIEF = (PersonCategory.ASSISTANCE, PersonCategory.SEVERE_DISABILITY,
                            PersonCategory.SPECIAL_RELIEF)
OUT, EMERG, IN, PHARM = VisitType.OUTPATIENT, VisitType.EMERGENCY, VisitType.INPATIENT, VisitType.PHARMACY

DRUG = "XC09CAA001T001000000001"
OTHER = "XC09CAA001T001000000002"
THIRD = "XC09CAA001T001000000003"
DRUG_ALIAS = "XC09CAA001T001999999999"    # another catalogue code of DRUG
LIMITED = "XJ01CAA001C001537863286"       # at most 2 per line, 3 per day
DAY, NEXT_DAY = "2024-06-01", "2024-06-02"


def person(**extra: Any) -> dict[str, Any]:
    return {"deductibleFen": 60000, "ratioBp": 7000, "annualCapFen": 200000, **extra}


def office_doc() -> dict[str, Any]:
    return {
        "id": "sx-office-test", "version": 1, "payer": "330600-ybj", "scheme": "outpatient-pooling",
        "effectiveFrom": "2024-01-01", "effectiveTo": None,
        "persons": {
            "employee": person(invoiceCapFen=30000, visitCapFen={"outpatient": 20000, "emergency": 50000}),
            "resident": person(visitCapFen={"outpatient": 20000}),
            # the special groups: no deductible, higher ratio, their own negative list
            "assistance": {"deductibleFen": 0, "ratioBp": 9000, "annualCapFen": 200000,
                           "negativeList": {"codes": [OTHER]}},
            "severe-disability": {"deductibleFen": 0, "ratioBp": 8500, "annualCapFen": 200000},
            "special-relief": {"deductibleFen": 0, "ratioBp": 10000, "annualCapFen": 200000, "invoiceCapFen": 50000},
        },
        "classBFirstSelfPay": [{"fromUnitPriceFen": 0, "toUnitPriceFen": 10000, "selfPayBp": 1000},
                               {"fromUnitPriceFen": 10001, "selfPayBp": 2000}],
        "quantityLimits": {LIMITED: {"maxPerLine": "2", "maxPerDay": "3"}},
        "duplicateItems": "flag",
        "codeAliases": {DRUG_ALIAS: DRUG},
    }


def office(**changes: Any) -> RuleSet:
    doc = office_doc()
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return load_ruleset(doc, source="office-test.json")


OFFICE = office()
REPEATS_PAID_BY_PATIENT = office(duplicateItems="self-pay-repeats")
NO_DUPLICATE_RULE = office(duplicateItems=None)
THREE_BANDS = office(classBFirstSelfPay=[
    {"fromUnitPriceFen": 0, "toUnitPriceFen": 5000, "selfPayBp": 500},
    {"fromUnitPriceFen": 5001, "toUnitPriceFen": 20000, "selfPayBp": 1000},
    {"fromUnitPriceFen": 20001, "selfPayBp": 2000}])
DED_USED = YearToDate(deductible_used_fen=60000)


def fee(seq: int, code: str, category: FeeCategory, unit_price_fen: int, quantity: str = "1",
        day: str = DAY) -> FeeLine:
    amount = int((Decimal(unit_price_fen) * Decimal(quantity)).quantize(Decimal(1), ROUND_HALF_UP))
    return FeeLine(seq, code, "item", category, quantity, "盒", unit_price_fen, amount, day)


def bill(*lines: FeeLine, visit: VisitType = PHARM) -> Invoice:
    t = sum(x.amount_fen for x in lines)
    return Invoice(issuer="H33060200001", invoice_code="33060124", invoice_number="0000000001",
                   check_code="a1B2c3", issued_at=f"{DAY}T10:00:00+08:00", visit_type=visit,
                   patient=Hash32(b"\x01" * 32), total_fen=t, fund_paid_fen=0, account_paid_fen=0,
                   cash_paid_fen=t, fee_lines=tuple(lines))


@dataclass(frozen=True)
class Case:
    name: str
    ruleset: RuleSet
    person: PersonCategory
    ytd: YearToDate
    invoice: Invoice
    eligible: tuple[int, ...]           # per line, fen
    steps: tuple[tuple[str, int], ...]  # every invoice-level step and the amount after it
    rules: tuple[tuple[str, ...], ...] = ()  # per line, the rule ids shown (checked when given)
    flags: tuple[tuple[str, tuple[int, ...]], ...] = ()
    details: dict[str, str] = field(default_factory=dict)  # step rule -> its words (checked when given)


def _steps(*caps: tuple[str, int], deductible: int, ratio: int, annual: int) -> tuple[tuple[str, int], ...]:
    return (("deductible", deductible), ("ratio", ratio), *caps, ("annual-cap", annual))


CAPS = [
    # ¥428.57 × 70 % = 29999.9 -> 30000 fen: exactly the ¥300 invoice cap, not limited
    Case("invoice cap: exactly at the cap", OFFICE, EMP, DED_USED, bill(fee(1, DRUG, A, 42857)), (42857,),
         _steps(("invoice-cap", 30000), deductible=42857, ratio=30000, annual=30000),
         details={"invoice-cap": "within the ¥300.00 cap per invoice"}),
    # ¥428.58 × 70 % = 30000.6 -> 30001: one fen over, limited to 30000
    Case("invoice cap: one fen over", OFFICE, EMP, DED_USED, bill(fee(1, DRUG, A, 42858)), (42858,),
         _steps(("invoice-cap", 30000), deductible=42858, ratio=30001, annual=30000),
         details={"invoice-cap": "limited to the ¥300.00 cap per invoice"}),
    # ¥1,000 × 70 % = ¥700 -> ¥300 by the invoice cap (pharmacy: no visit cap)
    Case("invoice cap: far over", OFFICE, EMP, DED_USED, bill(fee(1, DRUG, A, 100000)), (100000,),
         _steps(("invoice-cap", 30000), deductible=100000, ratio=70000, annual=30000)),
    # the deductible comes first: ¥1,000 − ¥600 = ¥400 × 70 % = ¥280, within ¥300
    Case("invoice cap after the deductible", OFFICE, EMP, YearToDate(), bill(fee(1, DRUG, A, 100000)), (100000,),
         _steps(("invoice-cap", 28000), deductible=40000, ratio=28000, annual=28000)),
    # outpatient visit: ¥285.71 × 70 % = 19999.7 -> 20000: exactly the ¥200 visit cap
    Case("visit cap: exactly at the cap", OFFICE, EMP, DED_USED, bill(fee(1, DRUG, A, 28571), visit=OUT),
         (28571,), _steps(("invoice-cap", 20000), ("visit-cap", 20000), deductible=28571, ratio=20000, annual=20000),
         details={"visit-cap": "within the ¥200.00 cap per outpatient visit (this invoice)"}),
    # ¥285.72 × 70 % = 20000.4 -> 20000 (half up rounds it down to the cap): not limited
    Case("visit cap: rounding lands on the cap", OFFICE, EMP, DED_USED, bill(fee(1, DRUG, A, 28572), visit=OUT),
         (28572,), _steps(("invoice-cap", 20000), ("visit-cap", 20000), deductible=28572, ratio=20000, annual=20000)),
    # ¥285.73 × 70 % = 20001.1 -> 20001: one fen over the visit cap
    Case("visit cap: one fen over", OFFICE, EMP, DED_USED, bill(fee(1, DRUG, A, 28573), visit=OUT),
         (28573,), _steps(("invoice-cap", 20001), ("visit-cap", 20000), deductible=28573, ratio=20001, annual=20000),
         details={"visit-cap": "limited to the ¥200.00 cap per outpatient visit (this invoice)"}),
    # emergency visit: ¥700 -> ¥300 by the invoice cap, within the ¥500 emergency cap
    Case("visit cap of another visit type", OFFICE, EMP, DED_USED, bill(fee(1, DRUG, A, 100000), visit=EMERG),
         (100000,), _steps(("invoice-cap", 30000), ("visit-cap", 30000), deductible=100000, ratio=70000,
                           annual=30000)),
    # inpatient: no visit cap for that visit type, only the invoice cap
    Case("no visit cap for an unlisted visit type", OFFICE, EMP, DED_USED, bill(fee(1, DRUG, A, 100000), visit=IN),
         (100000,), _steps(("invoice-cap", 30000), deductible=100000, ratio=70000, annual=30000)),
    # residents: a visit cap but no invoice cap
    Case("visit cap without an invoice cap", OFFICE, RES, DED_USED, bill(fee(1, DRUG, A, 100000), visit=OUT),
         (100000,), _steps(("visit-cap", 20000), deductible=100000, ratio=70000, annual=20000)),
    Case("no cap but the annual one", OFFICE, RES, DED_USED, bill(fee(1, DRUG, A, 100000)),
         (100000,), _steps(deductible=100000, ratio=70000, annual=70000)),
    # ¥1,950 reimbursed this year: ¥700 -> ¥300 -> ¥200 (visit) -> ¥50 left of the annual cap
    Case("annual cap binds after the other caps", OFFICE, EMP, YearToDate(60000, 195000),
         bill(fee(1, DRUG, A, 100000), visit=OUT), (100000,),
         _steps(("invoice-cap", 30000), ("visit-cap", 20000), deductible=100000, ratio=70000, annual=5000),
         details={"annual-cap": "limited to ¥50.00 left of the ¥2,000.00 annual cap"}),
    # the caps limit what the fund pays, not the eligible amounts of the lines
    Case("caps leave the lines as they are", OFFICE, EMP, DED_USED,
         bill(fee(1, DRUG, A, 60000), fee(2, OTHER, A, 40000)), (60000, 40000),
         _steps(("invoice-cap", 30000), deductible=100000, ratio=70000, annual=30000)),
]

DUPLICATES = [
    # the same code twice on one day: flagged, lines named, amounts unchanged: ¥20 × 70 % = ¥14
    Case("duplicate flagged", OFFICE, EMP, DED_USED, bill(fee(1, DRUG, A, 1000), fee(2, DRUG, A, 1000)),
         (1000, 1000), _steps(("invoice-cap", 1400), deductible=2000, ratio=1400, annual=1400),
         (("duplicate-item",), ("duplicate-item",)), (("duplicate-item", (1, 2)),)),
    # different quantities and prices are still the same item on the same day
    Case("duplicate with other quantities", OFFICE, EMP, DED_USED,
         bill(fee(1, DRUG, A, 1000, "2"), fee(2, DRUG, A, 500, "1")),
         (2000, 500), _steps(("invoice-cap", 1750), deductible=2500, ratio=1750, annual=1750),
         flags=(("duplicate-item", (1, 2)),)),
    Case("same code on different days not flagged", OFFICE, EMP, DED_USED,
         bill(fee(1, DRUG, A, 1000), fee(2, DRUG, A, 1000, day=NEXT_DAY)),
         (1000, 1000), _steps(("invoice-cap", 1400), deductible=2000, ratio=1400, annual=1400), ((), ())),
    Case("different codes on one day not flagged", OFFICE, EMP, DED_USED,
         bill(fee(1, DRUG, A, 1000), fee(2, OTHER, A, 1000)),
         (1000, 1000), _steps(("invoice-cap", 1400), deductible=2000, ratio=1400, annual=1400)),
    # an alias is normalised before duplicates are looked for: one item, twice (and two codes of it)
    Case("alias normalised before duplicate detection", OFFICE, EMP, DED_USED,
         bill(fee(1, DRUG, A, 1000), fee(2, DRUG_ALIAS, A, 1000)),
         (1000, 1000), _steps(("invoice-cap", 1400), deductible=2000, ratio=1400, annual=1400),
         (("duplicate-item", "several-codes-one-item"), ("duplicate-item", "several-codes-one-item")),
         (("duplicate-item", (1, 2)), ("several-codes-one-item", (1, 2)))),
    # three times among other lines; each day and code its own flag
    Case("three times, and another pair", OFFICE, EMP, DED_USED,
         bill(fee(1, DRUG, A, 100), fee(2, OTHER, A, 100), fee(3, DRUG, A, 100), fee(4, DRUG, A, 100),
              fee(5, OTHER, A, 100), fee(6, THIRD, A, 100)),
         (100,) * 6, _steps(("invoice-cap", 420), deductible=600, ratio=420, annual=420),
         flags=(("duplicate-item", (1, 3, 4)), ("duplicate-item", (2, 5)))),
    # without the key the rule is off (the rule sets written before it behave as they did)
    Case("no duplicate rule", NO_DUPLICATE_RULE, EMP, DED_USED, bill(fee(1, DRUG, A, 1000), fee(2, DRUG, A, 1000)),
         (1000, 1000), _steps(("invoice-cap", 1400), deductible=2000, ratio=1400, annual=1400), ((), ())),
    # self-pay-repeats: the repeat is self-paid in full, no review: ¥10 × 70 % = ¥7
    Case("repeat self-paid", REPEATS_PAID_BY_PATIENT, EMP, DED_USED,
         bill(fee(1, DRUG, A, 1000), fee(2, DRUG, A, 1000)),
         (1000, 0), _steps(("invoice-cap", 700), deductible=1000, ratio=700, annual=700),
         ((), ("duplicate-item",))),
    Case("repeat under an alias self-paid", REPEATS_PAID_BY_PATIENT, EMP, DED_USED,
         bill(fee(1, DRUG_ALIAS, A, 1000), fee(2, OTHER, A, 300), fee(3, DRUG, A, 1000)),
         (1000, 300, 0), _steps(("invoice-cap", 910), deductible=1300, ratio=910, annual=910),
         (("several-codes-one-item",), (), ("duplicate-item", "several-codes-one-item")),
         (("several-codes-one-item", (1, 3)),)),
    Case("repeats on other days are paid", REPEATS_PAID_BY_PATIENT, EMP, DED_USED,
         bill(fee(1, DRUG, A, 1000), fee(2, DRUG, A, 1000, day=NEXT_DAY)),
         (1000, 1000), _steps(("invoice-cap", 1400), deductible=2000, ratio=1400, annual=1400), ((), ())),
    # a self-paid repeat does not use up the day's quantity: amoxicillin 2 + 2 boxes (¥18.29 each,
    # Class B 10 %): line 1 within the limits (¥36.58 − 365.8 -> 366 = 3292), line 2 self-paid
    # as a repeat, not by the quantity limit; 3292 × 70 % = 2304.4 -> 2304
    Case("repeat before the quantity limit", REPEATS_PAID_BY_PATIENT, EMP, DED_USED,
         bill(fee(1, LIMITED, B, 1829, "2"), fee(2, LIMITED, B, 1829, "2")),
         (3292, 0), _steps(("invoice-cap", 2304), deductible=3292, ratio=2304, annual=2304),
         (("class-b-first-self-pay-10pct", "duplicate-same-day"), ("duplicate-item", "duplicate-same-day")),
         (("duplicate-same-day", (1, 2)),)),
]

BANDS = [
    # ¥100.00 is "up to and including ¥100.00": 10 % = 1000 self-paid, 9000 × 70 % = 6300
    Case("band: price exactly at toUnitPriceFen", NO_DUPLICATE_RULE, RES, DED_USED, bill(fee(1, DRUG, B, 10000)),
         (9000,), _steps(deductible=9000, ratio=6300, annual=6300), (("class-b-first-self-pay-10pct",),)),
    # ¥100.01 is in the band from ¥100.01: 20 % of 10001 = 2000.2 -> 2000; 8001 × 70 % = 5600.7 -> 5601
    Case("band: one fen above", NO_DUPLICATE_RULE, RES, DED_USED, bill(fee(1, DRUG, B, 10001)),
         (8001,), _steps(deductible=8001, ratio=5601, annual=5601), (("class-b-first-self-pay-20pct",),)),
    # ¥99.99: 10 % = 999.9 -> 1000; 8999 × 70 % = 6299.3 -> 6299
    Case("band: one fen below", NO_DUPLICATE_RULE, RES, DED_USED, bill(fee(1, DRUG, B, 9999)),
         (8999,), _steps(deductible=8999, ratio=6299, annual=6299), (("class-b-first-self-pay-10pct",),)),
    # ¥100.00 × 1.005 = ¥100.50, unit price in the 10 % band: 1005 self-paid, 9045 × 70 % = 6331.5 -> 6332
    Case("band: half a fen rounds up", NO_DUPLICATE_RULE, RES, DED_USED, bill(fee(1, DRUG, B, 10000, "1.005")),
         (9045,), _steps(deductible=9045, ratio=6332, annual=6332)),
    # three bands: ¥50.00 5 %, ¥50.01 10 %, ¥200.00 10 %, ¥200.01 20 %
    # 5000 − 250 = 4750; 5001 − 500.1 -> 500 = 4501; 20000 − 2000 = 18000; 20001 − 4000.2 -> 4000 = 16001
    # (4750 + 4501 + 18000 + 16001) = 43252 × 70 % = 30276.4 -> 30276
    Case("three bands at their bounds", THREE_BANDS, RES, DED_USED,
         bill(fee(1, DRUG, B, 5000), fee(2, OTHER, B, 5001), fee(3, THIRD, B, 20000), fee(4, LIMITED, B, 20001, "1")),
         (4750, 4501, 18000, 16001), _steps(deductible=43252, ratio=30276, annual=30276),
         (("class-b-first-self-pay-5pct",), ("class-b-first-self-pay-10pct",), ("class-b-first-self-pay-10pct",),
          ("class-b-first-self-pay-20pct",))),
]

CATEGORIES = [
    # assistance recipients: no deductible, 90 %, OTHER on their negative list: ¥10 × 90 % = ¥9
    Case("assistance: own ratio and negative list", OFFICE, ASSIST, YearToDate(),
         bill(fee(1, DRUG, A, 1000), fee(2, OTHER, A, 500)),
         (1000, 0), _steps(deductible=1000, ratio=900, annual=900), ((), (f"negative-list:{OTHER}",))),
    # severe disability: 85 % of ¥10.05 = 854.25 -> 854
    Case("severe disability", OFFICE, DISABLED, YearToDate(), bill(fee(1, OTHER, A, 1005)),
         (1005,), _steps(deductible=1005, ratio=854, annual=854), ((),)),
    # special relief: 100 %, at most ¥500 per invoice: ¥500.01 -> ¥500.00
    Case("special relief: invoice cap one fen over", OFFICE, RELIEF, YearToDate(), bill(fee(1, OTHER, A, 50001)),
         (50001,), _steps(("invoice-cap", 50000), deductible=50001, ratio=50001, annual=50000)),
]


@pytest.mark.parametrize("case", CAPS + DUPLICATES + BANDS + CATEGORIES,
                         ids=[c.name for c in CAPS + DUPLICATES + BANDS + CATEGORIES])
def test_policy_types_table(case: Case) -> None:
    d = adjudicate(case.invoice, person=case.person, year_to_date=case.ytd, ruleset=case.ruleset)
    assert tuple(x.eligible_fen for x in d.lines) == case.eligible
    for x in d.lines:
        assert x.eligible_fen + x.self_paid_fen == x.amount_fen
        assert sum(r.self_paid_fen for r in x.reasons) == x.self_paid_fen
    assert tuple((s.rule, s.amount_fen) for s in d.steps) == case.steps
    assert d.reimbursable_fen == case.steps[-1][1]
    assert d.year_to_date_after.reimbursed_fen == case.ytd.reimbursed_fen + d.reimbursable_fen
    if case.rules:
        assert tuple(tuple(r.rule for r in x.reasons) for x in d.lines) == case.rules
    assert tuple((f.rule, f.seqs) for f in d.flags) == case.flags
    assert d.needs_review == bool(case.flags)
    said = {s.rule: s.detail for s in d.steps}
    for rule, words in case.details.items():
        assert said[rule] == words


def test_duplicate_flag_and_repeat_name_the_lines() -> None:
    flagged = adjudicate(bill(fee(1, DRUG, A, 100), fee(2, OTHER, A, 100), fee(3, DRUG_ALIAS, A, 100),
                              fee(4, DRUG, A, 100)), person=RES, year_to_date=DED_USED, ruleset=OFFICE)
    detail = f"{DRUG} charged in lines 1, 3 and 4 on {DAY}"
    assert flagged.flags[0] == Flag("duplicate-item", (1, 3, 4), detail)
    assert flagged.lines[2].reasons[0] == Reason("duplicate-item", 0, detail)
    assert flagged.to_json()["flags"][0] == {"rule": "duplicate-item", "seqs": [1, 3, 4], "detail": detail}
    repeat = adjudicate(bill(fee(1, DRUG, A, 100), fee(2, DRUG_ALIAS, A, 100)), person=RES, year_to_date=DED_USED,
                        ruleset=REPEATS_PAID_BY_PATIENT)
    assert repeat.lines[1].reasons[0] == Reason(
        "duplicate-item", 100, f"{DRUG} on {DAY} is charged in line 1 already: a repeat of an item on one day is "
        "not reimbursed")


def test_band_words_follow_the_rule_file() -> None:
    def band_of(ruleset: RuleSet, price: int) -> str:
        d = adjudicate(bill(fee(1, DRUG, B, price)), person=RES, year_to_date=DED_USED, ruleset=ruleset)
        return d.lines[0].reasons[0].detail.split("(")[2].split(")")[0]

    assert band_of(OFFICE, 10000) == "up to and including ¥100.00"
    assert band_of(OFFICE, 10001) == "¥100.01 and above"
    assert band_of(THREE_BANDS, 5001) == "¥50.01 up to and including ¥200.00"
    assert band_of(THREE_BANDS, 20001) == "¥200.01 and above"


def test_a_rule_set_may_cover_any_subset_of_categories() -> None:
    doc = office_doc()
    doc["persons"] = {"special-relief": doc["persons"]["special-relief"]}
    only_relief = load_ruleset(doc)
    assert set(only_relief.persons) == {RELIEF}
    assert {c.value for c in PersonCategory} == {
        "employee", "retired", "resident", "assistance", "severe-disability", "special-relief"}
    assert OFFICE.duplicate_items is DuplicateItems.FLAG and NO_DUPLICATE_RULE.duplicate_items is None


# --------------------------------------------------------------------------- loading


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return edit


def _bands(*bands: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return _set("classBFirstSelfPay", list(bands))


BAD = [
    ("invoice cap as a string", _set("persons/employee/invoiceCapFen", "30000"),
     "persons.employee.invoiceCapFen", "type"),
    ("invoice cap as a float", _set("persons/employee/invoiceCapFen", 300.0), "persons.employee.invoiceCapFen", "type"),
    ("invoice cap negative", _set("persons/employee/invoiceCapFen", -1), "persons.employee.invoiceCapFen", "range"),
    ("invoice cap null", _set("persons/employee/invoiceCapFen", None), "persons.employee.invoiceCapFen", "type"),
    ("visit cap not an object", _set("persons/employee/visitCapFen", 20000), "persons.employee.visitCapFen", "type"),
    ("visit cap of an unknown visit type", _set("persons/employee/visitCapFen", {"ward": 20000}),
     "persons.employee.visitCapFen.ward", "unknown-key"),
    ("visit cap as a string", _set("persons/resident/visitCapFen", {"outpatient": "200"}),
     "persons.resident.visitCapFen.outpatient", "type"),
    ("visit cap too large", _set("persons/resident/visitCapFen", {"emergency": 10**13}),
     "persons.resident.visitCapFen.emergency", "range"),
    ("misspelt cap key", _set("persons/employee/invoiceCap", 1), "persons.employee.invoiceCap", "unknown-key"),
    ("duplicate rule unknown", _set("duplicateItems", "reject"), "duplicateItems", "enum"),
    ("duplicate rule as a boolean", _set("duplicateItems", True), "duplicateItems", "enum"),
    ("band gap", _bands({"fromUnitPriceFen": 0, "toUnitPriceFen": 10000, "selfPayBp": 1000},
                        {"fromUnitPriceFen": 10002, "selfPayBp": 2000}),
     "classBFirstSelfPay[1].fromUnitPriceFen", "band-gap"),
    ("band overlap at the bound", _bands({"fromUnitPriceFen": 0, "toUnitPriceFen": 10000, "selfPayBp": 1000},
                                         {"fromUnitPriceFen": 10000, "selfPayBp": 2000}),
     "classBFirstSelfPay[1].fromUnitPriceFen", "band-overlap"),
    ("band overlap below", _bands({"fromUnitPriceFen": 0, "toUnitPriceFen": 10000, "selfPayBp": 1000},
                                  {"fromUnitPriceFen": 500, "selfPayBp": 2000}),
     "classBFirstSelfPay[1].fromUnitPriceFen", "band-overlap"),
    ("band overlap in the middle", _bands(
        {"fromUnitPriceFen": 0, "toUnitPriceFen": 5000, "selfPayBp": 500},
        {"fromUnitPriceFen": 5001, "toUnitPriceFen": 20000, "selfPayBp": 1000},
        {"fromUnitPriceFen": 15000, "selfPayBp": 2000}),
     "classBFirstSelfPay[2].fromUnitPriceFen", "band-overlap"),
    ("band ending below its start", _bands({"fromUnitPriceFen": 0, "toUnitPriceFen": 100, "selfPayBp": 1000},
                                           {"fromUnitPriceFen": 101, "toUnitPriceFen": 50, "selfPayBp": 2000},
                                           {"fromUnitPriceFen": 51, "selfPayBp": 3000}),
     "classBFirstSelfPay[1].toUnitPriceFen", "band-order"),
    ("last band closed", _bands({"fromUnitPriceFen": 0, "toUnitPriceFen": 10000, "selfPayBp": 1000},
                                {"fromUnitPriceFen": 10001, "toUnitPriceFen": 99999, "selfPayBp": 2000}),
     "classBFirstSelfPay[1].toUnitPriceFen", "band-gap"),
    ("only band closed", _bands({"fromUnitPriceFen": 0, "toUnitPriceFen": 10000, "selfPayBp": 1000}),
     "classBFirstSelfPay[0].toUnitPriceFen", "band-gap"),
    ("band bound as a string", _bands({"fromUnitPriceFen": 0, "toUnitPriceFen": "10000", "selfPayBp": 1000},
                                      {"fromUnitPriceFen": 10001, "selfPayBp": 2000}),
     "classBFirstSelfPay[0].toUnitPriceFen", "type"),
    ("misspelt band bound", _bands({"fromUnitPriceFen": 0, "uptoUnitPriceFen": 10000, "selfPayBp": 1000}),
     "classBFirstSelfPay[0].uptoUnitPriceFen", "unknown-key"),
    ("new category with a bad ratio", _set("persons/severe-disability/ratioBp", 17000),
     "persons.severe-disability.ratioBp", "range"),
    ("new category missing its cap", _set("persons/assistance", {"deductibleFen": 0, "ratioBp": 9000}),
     "persons.assistance.annualCapFen", "required"),
    ("category misspelt", _set("persons/special_relief", person()), "persons.special_relief", "unknown-key"),
]


@pytest.mark.parametrize(("edit", "path", "rule"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_strict_loading_of_the_new_keys(edit: Callable[[dict[str, Any]], None], path: str, rule: str) -> None:
    doc = copy.deepcopy(office_doc())
    edit(doc)
    with pytest.raises(InvalidInput) as e:
        load_ruleset(doc, source="office-test.json")
    found = [(p.field, p.rule) for p in e.value.problems]
    assert (path, rule) in found, found
    assert all("sx-office-test" in p.message for p in e.value.problems)


@pytest.mark.parametrize("bands", [
    [{"fromUnitPriceFen": 0, "selfPayBp": 1000}],                                    # one open band
    [{"fromUnitPriceFen": 0, "toUnitPriceFen": None, "selfPayBp": 1000}],            # null: open, like effectiveTo
    [{"fromUnitPriceFen": 0, "selfPayBp": 1000}, {"fromUnitPriceFen": 10000, "selfPayBp": 2000}],   # "from" only
    [{"fromUnitPriceFen": 0, "toUnitPriceFen": 0, "selfPayBp": 0}, {"fromUnitPriceFen": 1, "selfPayBp": 1000}],
    # both styles in one file: the first band ends below the second's start, the second says its end
    [{"fromUnitPriceFen": 0, "selfPayBp": 500}, {"fromUnitPriceFen": 5000, "toUnitPriceFen": 9999, "selfPayBp": 1000},
     {"fromUnitPriceFen": 10000, "selfPayBp": 2000}],
])
def test_contiguous_bands_load(bands: list[dict[str, Any]]) -> None:
    ruleset = office(classBFirstSelfPay=bands)
    assert [t.from_unit_price_fen for t in ruleset.class_b_tiers] == [b["fromUnitPriceFen"] for b in bands]


def test_every_band_problem_at_once() -> None:
    doc = office_doc()
    doc["classBFirstSelfPay"] = [{"fromUnitPriceFen": 0, "toUnitPriceFen": 100, "selfPayBp": 1000},
                                 {"fromUnitPriceFen": 200, "toUnitPriceFen": 300, "selfPayBp": 2000}]
    doc["duplicateItems"] = "twice"
    with pytest.raises(InvalidInput) as e:
        load_ruleset(doc)
    assert [(p.field, p.rule) for p in e.value.problems] == [
        ("classBFirstSelfPay[1].fromUnitPriceFen", "band-gap"), ("classBFirstSelfPay[1].toUnitPriceFen", "band-gap"),
        ("duplicateItems", "enum")]
    assert "unit prices 101 to 199 have no band" in e.value.problems[0].message


def test_the_documented_example_loads_and_says_what_the_document_says() -> None:
    import json
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "rule-files.md").read_text(encoding="utf-8")
    example = json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))  # type: ignore[union-attr]
    ruleset = load_ruleset(example, source="docs/rule-files.md")
    emp = ruleset.persons[EMP]
    assert (emp.invoice_cap_fen, dict(emp.visit_cap_fen)) == (50000, {OUT: 30000, EMERG: 100000})
    assert set(ruleset.persons) >= {ASSIST, DISABLED, RELIEF}
    assert ruleset.class_b_tier(10000).self_pay_bp == 1000 and ruleset.class_b_tier(10001).self_pay_bp == 2000
    assert ruleset.duplicate_items is DuplicateItems.FLAG


# --------------------------------------------------------------------------- properties

_lines = st.lists(
    st.tuples(st.sampled_from([DRUG, DRUG_ALIAS, OTHER, THIRD, LIMITED]), st.sampled_from([A, B, C]),
              st.integers(1, 60000), st.sampled_from(["1", "2", "0.5", "1.005"]), st.sampled_from([DAY, NEXT_DAY])),
    min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(_lines, st.sampled_from([EMP, RES, ASSIST, DISABLED, RELIEF]), st.sampled_from([OUT, EMERG, IN, PHARM]),
       st.builds(YearToDate, st.integers(0, 80000), st.integers(0, 250000)),
       st.sampled_from([OFFICE, REPEATS_PAID_BY_PATIENT, NO_DUPLICATE_RULE, THREE_BANDS]))
@example([(DRUG, A, 42858, "1", DAY)], EMP, PHARM, DED_USED, OFFICE)
@example([(DRUG, A, 100, "1", DAY), (DRUG_ALIAS, A, 100, "1", DAY)], EMP, OUT, DED_USED, REPEATS_PAID_BY_PATIENT)
def test_caps_and_duplicates_hold_for_any_invoice(raw: list[tuple[str, FeeCategory, int, str, str]],
                                                  who: PersonCategory, visit: VisitType, ytd: YearToDate,
                                                  ruleset: RuleSet) -> None:
    inv = bill(*(fee(i + 1, code, cat, price, qty, day) for i, (code, cat, price, qty, day) in enumerate(raw)),
               visit=visit)
    d = adjudicate(inv, person=who, year_to_date=ytd, ruleset=ruleset)
    rules = ruleset.persons[who]
    for x in d.lines:
        assert 0 <= x.eligible_fen <= x.amount_fen and x.eligible_fen + x.self_paid_fen == x.amount_fen
        assert sum(r.self_paid_fen for r in x.reasons) == x.self_paid_fen
    assert 0 <= d.reimbursable_fen <= d.eligible_fen
    assert d.reimbursable_fen <= max(0, rules.annual_cap_fen - ytd.reimbursed_fen)
    if rules.invoice_cap_fen is not None:
        assert d.reimbursable_fen <= rules.invoice_cap_fen
    if visit in rules.visit_cap_fen:
        assert d.reimbursable_fen <= rules.visit_cap_fen[visit]
    amounts = [s.amount_fen for s in d.steps[1:]]
    assert amounts == sorted(amounts, reverse=True)            # no cap ever raises the amount
    assert d.steps[-1].amount_fen == d.reimbursable_fen
    # the duplicate rule sees exactly the (normalised code, day) pairs billed more than once
    groups: dict[tuple[str, str], list[int]] = {}
    for line in inv.fee_lines:
        groups.setdefault((ruleset.normalise(line.item_code), line.service_date), []).append(line.seq)
    repeated = sorted(tuple(seqs) for seqs in groups.values() if len(seqs) > 1)
    flagged = sorted(f.seqs for f in d.flags if f.rule == "duplicate-item")
    self_paid = sorted(x.seq for x in d.lines if any(r.rule == "duplicate-item" and r.self_paid_fen for r in x.reasons))
    if ruleset.duplicate_items is DuplicateItems.FLAG:
        assert flagged == repeated and not self_paid
    elif ruleset.duplicate_items is DuplicateItems.SELF_PAY_REPEATS:
        assert not flagged
        assert self_paid == sorted(s for seqs in repeated for s in seqs[1:]
                                   if inv.fee_lines[s - 1].category is not C
                                   and rules.negative_entry(ruleset.normalise(inv.fee_lines[s - 1].item_code)) is None)
    else:
        assert not flagged and not self_paid
