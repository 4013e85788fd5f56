"""Period limits across hospitals (``periodLimits``): repeat supplies beyond the days' supply
are self-paid; every expected amount worked by hand.

The rule set: the office example of test_rules_policy_types without its duplicate rule;
``DRUG`` at most 60 in 30 days (¥1.00 a tablet, Class A), residents (70 %, no caps on a
pharmacy invoice), deductible used already. This invoice: issued 2024-06-01 10:00 at
H33060200001; the window of a line on 2024-06-01 is 2024-05-03 to 2024-06-01.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from test_rules_policy_types import DAY, DED_USED, OFFICE, PHARM, A, bill, fee, office_doc

from ledger.errors import InvalidInput
from ledger.invoice import Invoice
from ledger.rules import PersonCategory, RuleSet, YearToDate, adjudicate, load_ruleset
from ledger.rules.decision import EarlierLine, Reason
from ledger.rules.periods import HistoryQuery, history_needed

RES = PersonCategory.RESIDENT
DRUG = "XC09CAA001T001000000009"
DRUG_ALIAS = "XC09CAA001T001999999998"
OTHER = "XC09CAA001T001000000002"
HOSPITAL_B, HOSPITAL_C = "H33010200002", "H33010200003"


def _doc(**limits: Any) -> dict[str, Any]:
    doc = office_doc()
    del doc["duplicateItems"]
    doc["codeAliases"][DRUG_ALIAS] = DRUG
    doc["periodLimits"] = {DRUG: {"days": 30, "maxQuantity": "60"}}
    doc["quantityLimits"].update(limits)
    return doc


PERIODS = load_ruleset(_doc(), source="periods-test.json")
PERIODS_AND_LINE_LIMIT = load_ruleset(_doc(**{DRUG: {"maxPerLine": "50"}}), source="periods-test.json")


def supplied(quantity: str, day: str, *, issuer: str = HOSPITAL_B, at: str = "09:00:00", code: str = DRUG,
             number: str = "0000000007") -> EarlierLine:
    return EarlierLine(issuer=issuer, invoice_code="33010124", invoice_number=number,
                       issued_at=f"{day}T{at}+08:00", service_date=day, item_code=code, quantity=quantity)


@dataclass(frozen=True)
class Case:
    name: str
    invoice: Invoice
    earlier: tuple[EarlierLine, ...]
    eligible: tuple[int, ...]
    reimbursable: int
    rules: tuple[tuple[str, ...], ...] = ()
    ruleset: RuleSet = PERIODS


CASES = [
    # nothing earlier: 60 tablets, all eligible: ¥60 × 70 % = ¥42
    Case("first supply", bill(fee(1, DRUG, A, 100, "60")), (), (6000,), 4200, ((),)),
    # 30 supplied at another hospital on 2024-05-10: room for 30 of 60: ¥30 eligible, ¥21
    Case("half supplied elsewhere", bill(fee(1, DRUG, A, 100, "60")), (supplied("30", "2024-05-10"),),
         (3000,), 2100, (("period-limit",),)),
    # 2024-05-03 is the first day of the window (29 days before): counted
    Case("first day of the window", bill(fee(1, DRUG, A, 100, "60")), (supplied("30", "2024-05-03"),),
         (3000,), 2100, (("period-limit",),)),
    # 2024-05-02 is 30 days before: outside the 30 days, not counted
    Case("a day outside the window", bill(fee(1, DRUG, A, 100, "60")), (supplied("30", "2024-05-02"),),
         (6000,), 4200, ((),)),
    # exactly at the limit already: nothing more reimbursed
    Case("limit used up", bill(fee(1, DRUG, A, 100, "60")),
         (supplied("20", "2024-05-10"), supplied("40", "2024-05-20", issuer=HOSPITAL_C, number="0000000008")),
         (0,), 0, (("period-limit",),)),
    # 30 before + 30 now = exactly 60: within the limit, not cut
    Case("exactly at the limit", bill(fee(1, DRUG, A, 100, "30")), (supplied("30", "2024-05-10"),),
         (3000,), 2100, ((),)),
    # 30 before + 31 now: one tablet over: 30/31 of ¥31 = ¥30 eligible, ¥21
    Case("one over the limit", bill(fee(1, DRUG, A, 100, "31")), (supplied("30", "2024-05-10"),),
         (3000,), 2100, (("period-limit",),)),
    # the same day at another hospital, issued at 09:00, before this invoice (10:00): counted
    Case("same day, issued earlier", bill(fee(1, DRUG, A, 100, "60")), (supplied("45", DAY, at="09:00:00"),),
         (1500,), 1050, (("period-limit",),)),
    # the same day, issued at 11:00, after this invoice: that one's excess, not this one's
    Case("same day, issued later", bill(fee(1, DRUG, A, 100, "60")), (supplied("45", DAY, at="11:00:00"),),
         (6000,), 4200, ((),)),
    # a later service date is not a supply before this line
    Case("later service date", bill(fee(1, DRUG, A, 100, "60")), (supplied("45", "2024-06-05"),),
         (6000,), 4200, ((),)),
    # billed elsewhere under another catalogue code of the same drug: normalised, counted
    Case("alias on the other invoice", bill(fee(1, DRUG, A, 100, "60")),
         (supplied("30", "2024-05-10", code=DRUG_ALIAS),), (3000,), 2100, (("period-limit",),)),
    # and an alias on this invoice
    Case("alias on this invoice", bill(fee(1, DRUG_ALIAS, A, 100, "60")), (supplied("30", "2024-05-10"),),
         (3000,), 2100, (("period-limit",),)),
    # other items do not count
    Case("another item", bill(fee(1, DRUG, A, 100, "60")), (supplied("60", "2024-05-10", code=OTHER),),
         (6000,), 4200, ((),)),
    # this invoice itself in the history (it is known to the payer) is not an earlier supply
    Case("this invoice in the history", bill(fee(1, DRUG, A, 100, "60")),
         (EarlierLine("H33060200001", "33060124", "0000000001", f"{DAY}T10:00:00+08:00", DAY, DRUG, "60"),),
         (6000,), 4200, ((),)),
    # two lines of this invoice on one day, 40 + 40: the second has room for 20: ¥40 + ¥20 = ¥60 × 70 % = ¥42
    Case("two lines of this invoice", bill(fee(1, DRUG, A, 100, "40"), fee(2, DRUG, A, 100, "40")), (),
         (4000, 2000), 4200, ((), ("period-limit",))),
    # this invoice's later-dated line does not count before an earlier-dated one (line order aside):
    # line 2 (2024-05-31) first: 40; line 1 (2024-06-01) has room for 20
    Case("lines of this invoice by service date", bill(fee(1, DRUG, A, 100, "40"),
                                                       fee(2, DRUG, A, 100, "40", day="2024-05-31")), (),
         (2000, 4000), 4200, (("period-limit",), ())),
    # half a fen: ¥1.05 × 4 = 420 fen, 58.5 supplied, room 1.5: 420 × 1.5/4 = 157.5 -> 158 eligible;
    # 158 × 70 % = 110.6 -> 111
    Case("share rounds half up", bill(fee(1, DRUG, A, 105, "4")), (supplied("58.5", "2024-05-10"),),
         (158,), 111, (("period-limit",),)),
    # with a per-line limit of 50: 60 -> 50 by the line limit (¥10 self-paid), then 30 supplied
    # elsewhere leaves room for 30 (another ¥20 self-paid): ¥30 eligible, ¥21
    Case("after the quantity limit", bill(fee(1, DRUG, A, 100, "60")), (supplied("30", "2024-05-10"),),
         (3000,), 2100, (("quantity-limit", "period-limit"),), PERIODS_AND_LINE_LIMIT),
    # the quantity limit alone decides when it leaves less than the period's room
    Case("quantity limit tighter", bill(fee(1, DRUG, A, 100, "60")), (supplied("5", "2024-05-10"),),
         (5000,), 3500, (("quantity-limit",),), PERIODS_AND_LINE_LIMIT),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_period_limits_table(case: Case) -> None:
    d = adjudicate(case.invoice, person=RES, year_to_date=DED_USED, ruleset=case.ruleset, earlier=case.earlier)
    assert tuple(x.eligible_fen for x in d.lines) == case.eligible
    for x in d.lines:
        assert x.eligible_fen + x.self_paid_fen == x.amount_fen
        assert sum(r.self_paid_fen for r in x.reasons) == x.self_paid_fen
    assert d.reimbursable_fen == case.reimbursable
    assert tuple(tuple(r.rule for r in x.reasons) for x in d.lines) == case.rules
    assert not d.flags


def test_the_explanation_names_the_other_invoices() -> None:
    d = adjudicate(bill(fee(1, DRUG, A, 100, "20"), fee(2, DRUG, A, 100, "40")), person=RES, year_to_date=DED_USED,
                   ruleset=PERIODS, earlier=(supplied("15", "2024-05-20", issuer=HOSPITAL_C, number="0000000008"),
                                             supplied("10", "2024-05-10")))
    # line 2: 10 + 15 elsewhere and 20 on line 1 = 45 supplied: room for 15 of 40: 1500 eligible, 2500 self-paid
    assert d.lines[1].reasons == (Reason(
        "period-limit", 2500,
        f"45 of {DRUG} supplied in the 30 days to {DAY} (2024-05-10 at {HOSPITAL_B}; 2024-05-20 at {HOSPITAL_C}; "
        "20 on this invoice), at most 60 in 30 days: 15 of quantity 40 reimbursable"),)


def test_one_line_beyond_the_limit_alone() -> None:
    # 100 tablets, nothing supplied before: 60 of 100 reimbursable: ¥60 eligible, ¥40 self-paid
    d = adjudicate(bill(fee(1, DRUG, A, 100, "100")), person=RES, year_to_date=DED_USED, ruleset=PERIODS, earlier=())
    assert d.lines[0].reasons == (Reason(
        "period-limit", 4000,
        f"0 of {DRUG} supplied in the 30 days to {DAY}, at most 60 in 30 days: 60 of quantity 100 reimbursable"),)


def test_the_history_is_required_when_a_limited_item_is_billed() -> None:
    with pytest.raises(InvalidInput) as e:
        adjudicate(bill(fee(1, DRUG, A, 100, "1")), person=RES, year_to_date=DED_USED, ruleset=PERIODS)
    assert e.value.problems[0].rule == "history-required"
    # an invoice without a limited item needs none
    d = adjudicate(bill(fee(1, OTHER, A, 100, "1")), person=RES, year_to_date=DED_USED, ruleset=PERIODS)
    assert d.lines[0].eligible_fen == 100
    # nor a rule set without period limits
    assert adjudicate(bill(fee(1, DRUG, A, 100)), person=RES, year_to_date=YearToDate(), ruleset=OFFICE)


def test_history_needed() -> None:
    inv = bill(fee(1, DRUG, A, 100, "1", day="2024-06-05"), fee(2, OTHER, A, 100), fee(3, DRUG_ALIAS, A, 100))
    assert history_needed(inv, PERIODS) == HistoryQuery((DRUG, DRUG_ALIAS), "2024-05-03", "2024-06-05")
    assert history_needed(bill(fee(1, OTHER, A, 100)), PERIODS) is None
    assert history_needed(inv, OFFICE) is None
    assert PHARM.value == "pharmacy"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = doc
        for p in parents:
            node = node[p]
        node[last] = value
    return edit


BAD = [
    ("not an object", _set("periodLimits", [DRUG]), "periodLimits", "type"),
    ("days zero", _set(f"periodLimits/{DRUG}/days", 0), f"periodLimits.{DRUG}.days", "range"),
    ("days over a year", _set(f"periodLimits/{DRUG}/days", 367), f"periodLimits.{DRUG}.days", "range"),
    ("days as a string", _set(f"periodLimits/{DRUG}/days", "30"), f"periodLimits.{DRUG}.days", "type"),
    ("quantity as a number", _set(f"periodLimits/{DRUG}/maxQuantity", 60), f"periodLimits.{DRUG}.maxQuantity",
     "decimal-quantity"),
    ("quantity zero", _set(f"periodLimits/{DRUG}/maxQuantity", "0"), f"periodLimits.{DRUG}.maxQuantity",
     "decimal-quantity"),
    ("quantity null", _set(f"periodLimits/{DRUG}/maxQuantity", None), f"periodLimits.{DRUG}.maxQuantity",
     "decimal-quantity"),
    ("days missing", _set(f"periodLimits/{DRUG}", {"maxQuantity": "60"}), f"periodLimits.{DRUG}.days", "required"),
    ("misspelt key", _set(f"periodLimits/{DRUG}/maxQty", "60"), f"periodLimits.{DRUG}.maxQty", "unknown-key"),
    ("limit on an alias", _set(f"periodLimits/{DRUG_ALIAS}", {"days": 30, "maxQuantity": "60"}),
     f"periodLimits.{DRUG_ALIAS}", "canonical-code"),
]


@pytest.mark.parametrize(("edit", "path", "rule"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_strict_loading_of_period_limits(edit: Callable[[dict[str, Any]], None], path: str, rule: str) -> None:
    doc = copy.deepcopy(_doc())
    edit(doc)
    with pytest.raises(InvalidInput) as e:
        load_ruleset(doc, source="periods-test.json")
    found = [(p.field, p.rule) for p in e.value.problems]
    assert (path, rule) in found, found


def test_the_documented_period_limit_loads() -> None:
    import json
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "rule-files.md").read_text(encoding="utf-8")
    example = json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))  # type: ignore[union-attr]
    limit = load_ruleset(example).period_limits["XJ01CAA001C001537863286"]
    assert (limit.days, str(limit.max_quantity)) == (30, "60")
