"""Rule-set files: strict loading (every problem named by its JSON path), versions by date, overlaps."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import InvalidInput, NotFound
from ledger.rules import PersonCategory, RuleBook, RuleSet, load_ruleset

PAYER = "330600-ybj"
DATA = resources.files("ledger.rules") / "data"


def shipped_doc(name: str = "pharmacy-pooling-v1.json") -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return doc


def test_shipped_files_load() -> None:
    book = RuleBook.shipped()
    assert sorted(r.label for r in book) == [
        "sx-city-supplement@v1", "sx-inpatient@v1", "sx-pharmacy-pooling@v1", "sx-pharmacy-pooling@v2",
        "zj-offsite-inpatient@v1"]
    v1 = book.in_force(payer=PAYER, scheme="pharmacy-pooling", on="2024-06-01")
    # DOMAIN.md's pharmacy pooling example
    emp, ret = v1.persons[PersonCategory.EMPLOYEE], v1.persons[PersonCategory.RETIRED]
    assert (emp.deductible_fen, emp.ratio_bp, emp.annual_cap_fen) == (60000, 7000, 200000)
    assert ret.ratio_bp == emp.ratio_bp + 500
    assert [(t.from_unit_price_fen, t.self_pay_bp) for t in v1.class_b_tiers] == [(0, 1000), (10000, 2000)]
    assert v1.quantity_limits["XJ01CAA001C001537863286"].max_per_line == Decimal(2)
    # off-site inpatient example: 72 / 81 / 50 %
    off = book.in_force(payer=PAYER, scheme="offsite-inpatient-unregistered", on="2024-06-01")
    assert {c.value: p.ratio_bp for c, p in off.persons.items()} == {
        "employee": 7200, "retired": 8100, "resident": 5000}


@pytest.mark.parametrize(("day", "label"), [
    ("2024-01-01", "sx-pharmacy-pooling@v1"),   # effectiveFrom is inclusive
    ("2024-12-31", "sx-pharmacy-pooling@v1"),
    ("2025-01-01", "sx-pharmacy-pooling@v2"),   # v1's effectiveTo is exclusive: v2 from that day
    ("2099-12-31", "sx-pharmacy-pooling@v2"),   # open-ended
])
def test_version_in_force_by_date(day: str, label: str) -> None:
    book = RuleBook.shipped()
    assert book.in_force(payer=PAYER, scheme="pharmacy-pooling", on=day).label == label
    assert book.in_force(payer=PAYER, scheme="pharmacy-pooling", on=date.fromisoformat(day)).label == label


@pytest.mark.parametrize(("payer", "scheme", "day"), [
    (PAYER, "pharmacy-pooling", "2023-12-31"),       # before the first version
    (PAYER, "no-such-scheme", "2024-06-01"),
    ("330100-ybj", "pharmacy-pooling", "2024-06-01"),  # another payer
])
def test_no_rule_set_in_force_is_not_found(payer: str, scheme: str, day: str) -> None:
    with pytest.raises(NotFound, match=scheme):
        RuleBook.shipped().in_force(payer=payer, scheme=scheme, on=day)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if value is _DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return edit


_DELETE = object()


def _ends_open(doc: dict[str, Any]) -> None:
    doc.update(effectiveTo=None, endsCoverage=True)

BAD = [
    ("unknown top-level key", _set("deductibleFen", 60000), "deductibleFen", "unknown-key"),
    ("misspelt person key", _set("persons.retired.ratioBP", 7500), "persons.retired.ratioBP", "unknown-key"),
    ("missing id", _set("id", _DELETE), "id", "required"),
    ("missing tiers", _set("classBFirstSelfPay", _DELETE), "classBFirstSelfPay", "required"),
    ("ratio as a string", _set("persons.retired.ratioBp", "7500"), "persons.retired.ratioBp", "type"),
    ("ratio above 100 %", _set("persons.retired.ratioBp", 10001), "persons.retired.ratioBp", "range"),
    ("deductible as a float", _set("persons.employee.deductibleFen", 600.0), "persons.employee.deductibleFen", "type"),
    ("deductible as a boolean", _set("persons.employee.deductibleFen", True), "persons.employee.deductibleFen", "type"),
    ("negative cap", _set("persons.employee.annualCapFen", -1), "persons.employee.annualCapFen", "range"),
    ("unknown person category", _set("persons.student", {}), "persons.student", "unknown-key"),
    ("impossible date", _set("effectiveFrom", "2024-02-30"), "effectiveFrom", "date"),
    ("short date", _set("effectiveFrom", "2024-1-1"), "effectiveFrom", "date"),
    ("date as a number", _set("effectiveTo", 20250101), "effectiveTo", "date"),
    ("end before start", _set("effectiveTo", "2023-06-01"), "effectiveTo", "after-start"),
    ("end equal to start", _set("effectiveTo", "2024-01-01"), "effectiveTo", "after-start"),
    ("version zero", _set("version", 0), "version", "range"),
    ("empty tiers", _set("classBFirstSelfPay", []), "classBFirstSelfPay", "type"),
    ("first tier not at 0", _set("classBFirstSelfPay.0.fromUnitPriceFen", 100),
     "classBFirstSelfPay[0].fromUnitPriceFen", "starts-at-zero"),
    ("tiers not ascending", _set("classBFirstSelfPay.1.fromUnitPriceFen", 0),
     "classBFirstSelfPay[1].fromUnitPriceFen", "ascending"),
    ("tier share above 100 %", _set("classBFirstSelfPay.1.selfPayBp", 20000),
     "classBFirstSelfPay[1].selfPayBp", "range"),
    ("unknown tier key", _set("classBFirstSelfPay.1.below", 1), "classBFirstSelfPay[1].below", "unknown-key"),
    ("zero quantity limit", _set("quantityLimits.XJ01CAA001C001537863286.maxPerLine", "0"),
     "quantityLimits.XJ01CAA001C001537863286.maxPerLine", "decimal-quantity"),
    ("quantity limit as a number", _set("quantityLimits.XJ01CAA001C001537863286.maxPerDay", 3),
     "quantityLimits.XJ01CAA001C001537863286.maxPerDay", "decimal-quantity"),
    ("empty quantity limit", _set("quantityLimits.XJ01CAA001C001537863286", {}),
     "quantityLimits.XJ01CAA001C001537863286", "non-empty"),
    ("quantity limit on an alias", _set("quantityLimits.XN05CFA181T001712181422", {"maxPerLine": "1"}),
     "quantityLimits.XN05CFA181T001712181422", "canonical-code"),
    ("negative list naming an alias", _set("persons.resident.negativeList.codes", ["XN05CFA181T001712181422"]),
     "persons.resident.negativeList.codes", "canonical-code"),
    ("negative list not an array", _set("persons.employee.negativeList.prefixes", "XA11GA"),
     "persons.employee.negativeList.prefixes", "type"),
    ("unknown negative list key", _set("persons.employee.negativeList.names", []),
     "persons.employee.negativeList.names", "unknown-key"),
    ("alias to an alias", _set("codeAliases.XZ00000000000000000001", "XN05CFA181T001712181422"),
     "codeAliases.XZ00000000000000000001", "canonical-target"),
    ("alias target not a string", _set("codeAliases.XZ00000000000000000001", 1),
     "codeAliases.XZ00000000000000000001", "type"),
    ("no person at all", _set("persons", {}), "persons", "non-empty"),
    ("appliesTo not an object", _set("appliesTo", ["inpatient"]), "appliesTo", "type"),
    ("unknown appliesTo key", _set("appliesTo", {"visitType": ["inpatient"]}), "appliesTo.visitType", "unknown-key"),
    ("unknown visit type", _set("appliesTo", {"visitTypes": ["pharmacy", "dental"]}), "appliesTo.visitTypes[1]",
     "enum"),
    ("visit type twice", _set("appliesTo", {"visitTypes": ["pharmacy", "pharmacy"]}), "appliesTo.visitTypes[1]",
     "unique"),
    ("no visit type", _set("appliesTo", {"visitTypes": []}), "appliesTo.visitTypes", "type"),
    ("unknown insured status", _set("appliesTo", {"insuredStatus": ["offsite"]}), "appliesTo.insuredStatus[0]",
     "enum"),
    ("insured status as a string", _set("appliesTo", {"insuredStatus": "local"}), "appliesTo.insuredStatus", "type"),
    ("endsCoverage not a boolean", _set("endsCoverage", "yes"), "endsCoverage", "type"),
    ("endsCoverage without an end", _ends_open, "endsCoverage", "needs-end"),
]


@pytest.mark.parametrize(("edit", "path", "rule"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_strict_loading_names_path_and_rule(edit: Callable[[dict[str, Any]], None], path: str, rule: str) -> None:
    doc = shipped_doc()
    edit(doc)
    with pytest.raises(InvalidInput) as e:
        load_ruleset(doc, source="pharmacy-pooling-v1.json")
    found = [(p.field, p.rule) for p in e.value.problems]
    assert (path, rule) in found, found
    assert all("sx-pharmacy-pooling" in p.message or p.field == "id" for p in e.value.problems)


def test_every_problem_reported_at_once() -> None:
    doc = shipped_doc()
    doc["persons"]["employee"]["ratioBp"] = "70%"
    doc["effectiveFrom"] = "yesterday"
    doc["colour"] = "red"
    with pytest.raises(InvalidInput) as e:
        load_ruleset(doc)
    assert {p.field for p in e.value.problems} == {"persons.employee.ratioBp", "effectiveFrom", "colour"}


def test_not_an_object_names_the_source() -> None:
    with pytest.raises(InvalidInput) as e:
        load_ruleset([1, 2], source="broken.json")
    assert e.value.problems[0].rule == "type"
    assert "broken.json" in e.value.problems[0].message


def _v(version: int, start: str, end: str | None, **extra: Any) -> RuleSet:
    doc = copy.deepcopy(shipped_doc())
    doc.update(version=version, effectiveFrom=start, effectiveTo=end, **extra)
    return load_ruleset(doc)


@pytest.mark.parametrize(("first_end", "second_start"), [
    ("2025-02-01", "2025-01-01"),   # v1 runs a month into v2
    (None, "2025-01-01"),           # v1 never ends
    ("2025-01-02", "2025-01-01"),   # one shared day is an overlap (effectiveTo is exclusive)
])
def test_overlapping_versions_are_refused(first_end: str | None, second_start: str) -> None:
    with pytest.raises(InvalidInput) as e:
        RuleBook([_v(1, "2024-01-01", first_end), _v(2, second_start, None)])
    assert [p.rule for p in e.value.problems] == ["no-overlap"]
    assert "sx-pharmacy-pooling@v2" in e.value.problems[0].message


def test_adjacent_versions_and_other_schemes_do_not_overlap() -> None:
    book = RuleBook([_v(1, "2024-01-01", "2025-01-01"), _v(2, "2025-01-01", None),
                     _v(1, "2024-01-01", None, id="other", scheme="other-scheme",
                        appliesTo={"visitTypes": ["inpatient"]})])
    assert len(book) == 3
    with pytest.raises(NotFound):   # before the first version
        book.in_force(payer=PAYER, scheme="pharmacy-pooling", on="2023-07-15")


def test_same_version_twice_is_refused() -> None:
    with pytest.raises(InvalidInput) as e:
        RuleBook([_v(1, "2024-01-01", "2025-01-01"), _v(1, "2025-01-01", None)])
    assert [p.rule for p in e.value.problems] == ["unique-version"]


def test_from_files(tmp_path: Path) -> None:
    for name in ("pharmacy-pooling-v1.json", "pharmacy-pooling-v2.json", "offsite-inpatient-v1.json"):
        (tmp_path / name).write_text(json.dumps(shipped_doc(name)), encoding="utf-8")
    book = RuleBook.from_files(sorted(tmp_path.glob("*.json")))
    assert sorted(r.label for r in book) == ["sx-pharmacy-pooling@v1", "sx-pharmacy-pooling@v2",
                                             "zj-offsite-inpatient@v1"]


def test_negative_list_longest_prefix_and_exact_code() -> None:
    rules = load_ruleset(shipped_doc()).persons[PersonCategory.RESIDENT]
    assert rules.negative_entry("XN05CFA181T001295887386") == "XN05CFA181T001295887386"
    assert rules.negative_entry("XA11GAA090T001879007289") == "XA11GA"
    assert rules.negative_entry("XA11CCA171C001132401125") is None
