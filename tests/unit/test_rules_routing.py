"""Which rule set judges a claim (visit type, insured status, person category, date), and the
book's refusal of collections that overlap or leave a gap, each problem in a clerk's words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from ledger.errors import InvalidInput, NoRulesInForce
from ledger.rules import RuleBook, RuleSet, load_ruleset

PAYER = "330600-ybj"
ALL = ("employee", "retired", "resident")


def rs(rid: str, version: int, start: str, end: str | None = None, *, visits: Any = "*", statuses: Any = "*",
       persons: tuple[str, ...] = ALL, payer: str = PAYER, scheme: str | None = None,
       ends: bool | None = None) -> RuleSet:
    """A rule set of ``persons`` applying to ``visits`` x ``statuses`` ("*": all)."""
    doc: dict[str, Any] = {
        "id": rid, "version": version, "payer": payer, "scheme": scheme or rid,
        "effectiveFrom": start, "effectiveTo": end,
        "persons": {p: {"deductibleFen": 0, "ratioBp": 5000, "annualCapFen": 100} for p in persons},
        "classBFirstSelfPay": [{"fromUnitPriceFen": 0, "selfPayBp": 0}],
    }
    if visits != "*" or statuses != "*":
        doc["appliesTo"] = {"visitTypes": visits, "insuredStatus": statuses}
    if ends is not None:
        doc["endsCoverage"] = ends
    return load_ruleset(doc)


# ------------------------------------------------------------------ selection: the most specific wins

BOOK = RuleBook([
    rs("general", 1, "2024-01-01", "2025-01-01"),
    rs("general", 2, "2025-01-01"),
    rs("inpatient", 1, "2024-01-01", visits=["inpatient"]),
    rs("inpatient-local", 1, "2024-01-01", visits=["inpatient"], statuses=["local"], persons=("employee",)),
    rs("emergencies", 1, "2024-01-01", visits=["outpatient", "emergency"], statuses=["emergency"]),
    rs("other-payer", 1, "2024-01-01", payer="330100-ybj"),
])


@dataclass(frozen=True)
class Pick:
    visit: str
    status: str
    category: str
    day: str
    label: str


PICKS = [
    Pick("outpatient", "local", "employee", "2024-06-01", "general@v1"),            # only the general set applies
    Pick("outpatient", "local", "employee", "2025-01-01", "general@v2"),            # effectiveTo is exclusive
    Pick("pharmacy", "emergency", "retired", "2024-06-01", "general@v1"),           # not a visit type it names
    Pick("outpatient", "emergency", "retired", "2024-06-01", "emergencies@v1"),     # both named beats none
    Pick("inpatient", "offsite-unregistered", "retired", "2024-06-01", "inpatient@v1"),  # visit type beats "*"
    Pick("inpatient", "emergency", "resident", "2024-06-01", "inpatient@v1"),       # "emergencies" is not inpatient
    Pick("inpatient", "local", "employee", "2024-06-01", "inpatient-local@v1"),     # both named beats one
    Pick("inpatient", "local", "retired", "2024-06-01", "inpatient@v1"),            # it covers employees only
]


@pytest.mark.parametrize("pick", PICKS, ids=[f"{p.visit}-{p.status}-{p.category}-{p.day}" for p in PICKS])
def test_the_most_specific_rule_set_in_force_judges(pick: Pick) -> None:
    found = BOOK.rules_for(payer=PAYER, visit_type=pick.visit, insured_status=pick.status, category=pick.category,
                           on=pick.day)
    assert found.label == pick.label


@pytest.mark.parametrize(("payer", "day", "words"), [
    (PAYER, "2023-12-31", "payer 330600-ybj has no rules in force on 2023-12-31 for inpatient care treated locally "
                          "of a retired person"),
    ("330700-ybj", "2024-06-01", "payer 330700-ybj has no rules in force on 2024-06-01"),
])
def test_no_rules_in_force_says_which_combination(payer: str, day: str, words: str) -> None:
    with pytest.raises(NoRulesInForce) as e:
        BOOK.rules_for(payer=payer, visit_type="inpatient", insured_status="local", category="retired", on=day)
    assert words in str(e.value)
    assert "cannot be decided" in str(e.value)
    assert (e.value.kind, e.value.visit_type, e.value.insured_status, e.value.category) == (
        "no-rules-in-force", "inpatient", "local", "retired")


def test_the_shipped_book_judges_a_local_inpatient_by_local_rules() -> None:
    book = RuleBook.shipped()

    def label(status: str, visit: str = "inpatient") -> str:
        return book.rules_for(payer=PAYER, visit_type=visit, insured_status=status, category="employee",
                              on="2024-06-01").label
    assert label("offsite-unregistered") == "zj-offsite-inpatient@v1"     # as before
    assert label("local") == label("offsite-registered") == label("emergency") == "sx-inpatient@v1"
    assert {label(s, "pharmacy") for s in ("local", "offsite-unregistered")} == {"sx-pharmacy-pooling@v1"}
    # the supplement insurer's one set applies to everything
    assert book.rules_for(payer="sx-huiminbao", visit_type="inpatient", insured_status="local", category="retired",
                          on="2024-06-01").scheme == "supplement"


# ------------------------------------------------------------------ gaps


@dataclass(frozen=True)
class Gap:
    name: str
    sets: list[RuleSet]
    problems: list[tuple[str, str]]     # (field, message) of each problem, in order; the rule is "no-gap"


GAPS = [
    Gap("days between versions",
        [rs("sx-pp", 1, "2024-01-01", "2024-07-01"), rs("sx-pp", 2, "2024-08-01")],
        [("effectiveTo", "employee, retired and resident persons of scheme sx-pp have no rule set in force from "
                         "2024-07-01: sx-pp v1's last day is 2024-06-30 and the next rule set for them starts "
                         "2024-08-01; close the days between")]),
    Gap("a later version drops a person category",
        [rs("sx-pharmacy-pooling", 2, "2025-01-01", "2026-01-01", scheme="pharmacy-pooling"),
         rs("sx-pharmacy-pooling", 3, "2026-01-01", persons=("employee", "resident"), scheme="pharmacy-pooling")],
        [("persons.retired", "retired persons of scheme pharmacy-pooling have no rule set in force from 2026-01-01: "
                             "sx-pharmacy-pooling v3 does not cover them")]),
    Gap("a later version drops a visit type",
        [rs("sx-pp", 1, "2024-01-01", "2025-01-01"),
         rs("sx-pp", 2, "2025-01-01", visits=["outpatient", "pharmacy", "emergency"])],
        [("appliesTo", "employee, retired and resident persons of scheme sx-pp (inpatient care) have no rule set in "
                       "force from 2025-01-01: sx-pp v2 does not cover them")]),
    Gap("a later version drops one category, and a visit type for another",
        [rs("pp", 1, "2024-01-01", "2025-01-01", persons=("employee", "retired")),
         rs("pp", 2, "2025-01-01", persons=("employee",), visits=["outpatient", "pharmacy", "emergency"])],
        [("appliesTo", "employee persons of scheme pp (inpatient care) have no rule set in force from 2025-01-01: "
                       "pp v2 does not cover them"),
         ("persons.retired", "retired persons of scheme pp have no rule set in force from 2025-01-01: pp v2 does not "
                             "cover them")]),
    Gap("a later version drops an insured status",
        [rs("inp", 1, "2024-01-01", "2025-01-01", visits=["inpatient"], persons=("retired",)),
         rs("inp", 2, "2025-01-01", visits=["inpatient"], statuses=["local", "offsite-registered", "emergency"],
            persons=("retired",)),
         rs("rest", 1, "2024-01-01", visits=["outpatient", "pharmacy", "emergency"], persons=("retired",))],
        [("appliesTo", "retired persons of scheme inp (inpatient care treated off-site without registration) have no "
                       "rule set in force from 2025-01-01: inp v2 does not cover them")]),
    Gap("a version retired without successor",
        [rs("sx-pp", 1, "2024-01-01", "2025-01-01", persons=("resident",))],
        [("effectiveTo", "resident persons of scheme sx-pp have no rule set in force from 2025-01-01: sx-pp v1's last "
                         'day is 2024-12-31 and no rule set follows; to end this coverage on purpose, say '
                         '"endsCoverage": true in sx-pp v1')]),
    Gap("another payer's set fills no gap",
        [rs("sx-pp", 1, "2024-01-01", "2025-01-01", persons=("resident",)),
         rs("other", 1, "2024-01-01", payer="330100-ybj")],
        [("effectiveTo", "resident persons of scheme sx-pp have no rule set in force from 2025-01-01: sx-pp v1's last "
                         'day is 2024-12-31 and no rule set follows; to end this coverage on purpose, say '
                         '"endsCoverage": true in sx-pp v1')]),
    Gap("coverage ended on purpose", [rs("sx-pp", 1, "2024-01-01", "2025-01-01", ends=True)], []),
    Gap("a specific set ends and the general one takes over",
        [rs("general", 1, "2024-01-01"), rs("inpatient", 1, "2024-01-01", "2025-01-01", visits=["inpatient"])], []),
    Gap("adjacent versions", [rs("sx-pp", 1, "2024-01-01", "2025-01-01"), rs("sx-pp", 2, "2025-01-01")], []),
    Gap("a new category added later is no gap",
        [rs("sx-pp", 1, "2024-01-01", "2025-01-01", persons=("employee",)), rs("sx-pp", 2, "2025-01-01")], []),
]


@pytest.mark.parametrize("case", GAPS, ids=[g.name for g in GAPS])
def test_gaps_are_refused_in_words(case: Gap) -> None:
    if not case.problems:
        assert len(RuleBook(case.sets)) == len(case.sets)
        return
    with pytest.raises(InvalidInput) as e:
        RuleBook(case.sets)
    assert [(p.field, p.message) for p in e.value.problems] == case.problems
    assert {p.rule for p in e.value.problems} == {"no-gap"}


# ------------------------------------------------------------------ overlaps


@dataclass(frozen=True)
class Overlap:
    name: str
    sets: list[RuleSet]
    problems: list[tuple[str, str]]     # (field, words in the message); the rule is "no-overlap"


OVERLAPS = [
    Overlap("two general sets of one payer", [rs("a", 1, "2024-01-01"), rs("b", 1, "2024-06-01")],
            [("appliesTo", "employee, retired and resident persons would be judged by both a v1 (scheme a) and b v1 "
                           "(scheme b) from 2024-06-01")]),
    Overlap("a visit type and an insured status are as specific",
            [rs("general", 1, "2024-01-01"), rs("inp", 1, "2024-01-01", visits=["inpatient"]),
             rs("loc", 1, "2024-01-01", statuses=["local"])],
            [("appliesTo", "employee, retired and resident persons (inpatient care treated locally) would be judged "
                           "by both inp v1 (scheme inp) and loc v1 (scheme loc) from 2024-01-01")]),
    Overlap("one shared category",
            [rs("general", 1, "2024-01-01"),
             rs("a", 1, "2024-01-01", visits=["inpatient"], persons=("employee", "retired")),
             rs("b", 1, "2024-01-01", visits=["inpatient"], persons=("retired", "resident"))],
            [("appliesTo", "retired persons (inpatient care) would be judged by both a v1")]),
    Overlap("versions of one rule set at once",
            [rs("sx-pp", 1, "2024-01-01", "2025-02-01"), rs("sx-pp", 2, "2025-01-01")],
            [("effectiveFrom", "sx-pp@v2 starts 2025-01-01 but sx-pp@v1 is in force until 2025-02-01")]),
    Overlap("disjoint categories", [rs("general", 1, "2024-01-01"),
                                    rs("a", 1, "2024-01-01", visits=["inpatient"], persons=("employee",)),
                                    rs("b", 1, "2024-01-01", visits=["inpatient"], persons=("retired", "resident"))],
            []),
    Overlap("two payers", [rs("a", 1, "2024-01-01"), rs("b", 1, "2024-01-01", payer="sx-huiminbao")], []),
    Overlap("a more specific set", [rs("a", 1, "2024-01-01"), rs("b", 1, "2024-01-01", statuses=["emergency"])], []),
]


@pytest.mark.parametrize("case", OVERLAPS, ids=[o.name for o in OVERLAPS])
def test_overlaps_are_refused_in_words(case: Overlap) -> None:
    if not case.problems:
        assert len(RuleBook(case.sets)) == len(case.sets)
        return
    with pytest.raises(InvalidInput) as e:
        RuleBook(case.sets)
    found = [(p.field, p.message) for p in e.value.problems]
    assert len(found) == len(case.problems), found
    for (field, words), (got_field, message) in zip(case.problems, found, strict=True):
        assert got_field == field and words in message, found
    assert {p.rule for p in e.value.problems} == {"no-overlap"}


def test_every_problem_at_once() -> None:
    with pytest.raises(InvalidInput) as e:
        RuleBook([rs("a", 1, "2024-01-01"), rs("b", 1, "2024-01-01"),
                  rs("c", 1, "2024-01-01", "2025-01-01", payer="330100-ybj")])
    assert sorted(p.rule for p in e.value.problems) == ["no-gap", "no-overlap"]
    assert any("c v1" in p.message for p in e.value.problems)
