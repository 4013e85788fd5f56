"""The monthly report, counted by hand: six claims of two hospitals in November 2026 (China
time), each figure worked out below; month boundaries in China time; what a manual claim is;
the same report whatever the order; no personal data in it."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from report_claims import (
    C1,
    C2,
    C3,
    CLAIMS,
    H1,
    H2,
    NOV,
    PERSON,
    RS1,
    S,
    claim,
    line,
    report,
    reviewed,
    utc,
)

from ledger.claims.model import Claim
from ledger.claims.reports import MonthlyTally, is_manual, monthly_report
from ledger.claims.rule_names import RuleName, refuses, rule_name
from ledger.errors import InvalidInput
from ledger.months import Month


def rules(h: Any) -> list[tuple[str, str, str, int, int, int]]:
    return [(r.rule_set, r.rule, r.kind, r.claims, r.lines, r.refused_fen) for r in h.by_rule]


def items(h: Any) -> list[tuple[str, str, int, int, int, int]]:
    return [(i.item_code, i.item_name, i.claims, i.refused_lines, i.refused_fen, i.flagged_lines) for i in h.by_item]


def test_each_hospital_and_the_total_as_counted_by_hand() -> None:
    r = report()
    one, two = r.hospitals
    assert (one.hospital_id, one.hospital_name, two.hospital_id) == (H1, "市第一人民医院", H2)
    #        claims claimed  paid  instant manual manual claimed/paid window
    assert (one.claims, one.claimed_fen, one.paid_fen, one.instant_claims, one.manual_claims,
            one.manual_claimed_fen, one.manual_paid_fen, one.window_claims) == (3, 110_000, 15_000, 1, 2, 100_000,
                                                                                9_000, 0)
    assert (one.refused_lines, one.refused_fen, one.flagged_claims, one.flags) == (4, 9_000, 1, 1)
    assert rules(one) == [
        ("", "review:not-medically-necessary", "refusal", 1, 1, 3_600),
        ("sx-pharmacy-pooling@v2", "class-c-self-pay", "refusal", 1, 1, 3_000),
        ("sx-pharmacy-pooling@v2", "negative-list:N0", "refusal", 1, 1, 2_000),
        ("sx-pharmacy-pooling@v2", "quantity-limit", "refusal", 1, 1, 400),
        ("sx-pharmacy-pooling@v2", "duplicate-item", "flag", 1, 2, 0),
    ]
    assert items(one) == [("X002", "营养液", 1, 1, 3_600, 0), ("C001", "自费检查", 1, 1, 3_000, 0),
                          ("N001", "保健品", 1, 1, 2_000, 0), ("D001", "头孢克肟", 1, 1, 400, 2)]
    assert (two.claims, two.claimed_fen, two.paid_fen, two.instant_claims, two.manual_claims,
            two.manual_claimed_fen, two.manual_paid_fen, two.window_claims) == (3, 24_000, 3_000, 1, 1, 12_000, 0, 1)
    assert (two.clawback_claims, two.rejected_claims, two.by_state[S.WAITING]) == (1, 1, 1)
    assert (two.refused_lines, two.refused_fen, two.flagged_claims, two.flags) == (1, 2_000, 0, 0)
    assert rules(two) == [("sx-local-inpatient@v1", "class-c-self-pay", "refusal", 1, 1, 2_000)]
    assert items(two) == [("C001", "陪护费", 1, 1, 2_000, 0)]

    t = r.total
    assert (t.hospital_id, t.claims, t.claimed_fen, t.paid_fen, t.instant_claims, t.manual_claims,
            t.manual_claimed_fen, t.manual_paid_fen, t.window_claims) == (None, 6, 134_000, 18_000, 2, 3, 112_000,
                                                                          9_000, 1)
    assert (t.refused_lines, t.refused_fen, t.flagged_claims, t.flags, t.clawback_claims) == (5, 11_000, 1, 1, 1)
    assert sum(t.by_state.values()) == 6
    # a tie at ¥20.00 (same lines, same claims) is ordered by rule set id
    assert rules(t) == [
        ("", "review:not-medically-necessary", "refusal", 1, 1, 3_600),
        ("sx-pharmacy-pooling@v2", "class-c-self-pay", "refusal", 1, 1, 3_000),
        ("sx-local-inpatient@v1", "class-c-self-pay", "refusal", 1, 1, 2_000),
        ("sx-pharmacy-pooling@v2", "negative-list:N0", "refusal", 1, 1, 2_000),
        ("sx-pharmacy-pooling@v2", "quantity-limit", "refusal", 1, 1, 400),
        ("sx-pharmacy-pooling@v2", "duplicate-item", "flag", 1, 2, 0),
    ]
    # C001 on both hospitals' invoices: named from the line with the smallest (fingerprint, seq)
    assert items(t) == [("C001", "自费检查", 2, 2, 5_000, 0), ("X002", "营养液", 1, 1, 3_600, 0),
                        ("N001", "保健品", 1, 1, 2_000, 0), ("D001", "头孢克肟", 1, 1, 400, 2)]
    assert r.complete


def test_the_report_does_not_depend_on_the_order_of_the_claims() -> None:
    first = report().to_json()
    for seed in range(5):
        shuffled = CLAIMS[:]
        random.Random(seed).shuffle(shuffled)
        assert report(shuffled).to_json() == first


def test_only_the_lines_that_name_an_item_are_looked_up() -> None:
    tally = MonthlyTally(NOV)
    for c in CLAIMS:
        tally.add(c)
    assert tally.lines_to_name() == [(b"\x01" * 32, 2), (b"\x01" * 32, 3), (b"\x02" * 32, 1), (b"\x03" * 32, 2),
                                     (b"\x04" * 32, 1)]
    unnamed = tally.report(payer_id="p", payer_name="p", generated_at=utc("2026-12-01T00:00:00"))
    assert all(i.item_name == "" for i in unnamed.total.by_item)


# (filed at, UTC) -> the month in China
BOUNDARIES = [
    ("2026-10-31T15:59:59.999999", Month(2026, 10)),
    ("2026-10-31T16:00:00", Month(2026, 11)),
    ("2026-10-31T16:30:00", Month(2026, 11)),
    ("2026-11-30T15:59:59", Month(2026, 11)),
    ("2026-11-30T16:00:00", Month(2026, 12)),
    ("2026-12-31T16:00:00", Month(2027, 1)),
    ("2024-02-29T15:59:59", Month(2024, 2)),
    ("2024-02-29T16:00:00", Month(2024, 3)),
]


@pytest.mark.parametrize(("at", "month"), BOUNDARIES)
def test_a_claim_belongs_to_the_month_it_was_filed_in_china(at: str, month: Month) -> None:
    t = utc(at)
    assert Month.containing(t) == month
    assert month.holds(t) and not month.next().holds(t)
    tally = MonthlyTally(month)
    tally.add(claim(created_at=t))
    with pytest.raises(ValueError, match="not in"):
        MonthlyTally(month.next()).add(claim(created_at=t))


def test_a_month_starts_and_ends_at_midnight_in_china() -> None:
    assert NOV.start_utc == utc("2026-10-31T16:00:00") and NOV.end_utc == utc("2026-11-30T16:00:00")
    assert NOV.start.isoformat() == "2026-11-01T00:00:00+08:00" and NOV.end.isoformat() == "2026-12-01T00:00:00+08:00"
    assert Month(2026, 12).end_utc == utc("2026-12-31T16:00:00")
    assert Month(2099, 12).end.isoformat() == "2100-01-01T00:00:00+08:00"
    early = monthly_report(NOV, [], payer_id="p", payer_name="p", generated_at=utc("2026-11-30T15:59:59"))
    assert not early.complete and early.total.claims == 0 and early.hospitals == ()
    assert monthly_report(NOV, [], payer_id="p", payer_name="p", generated_at=utc("2026-11-30T16:00:00")).complete


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-11", "2026-1", "2026-11-01", "", "1999-12", "2100-01",
                                  "2026-11\n", "2026/11", "２０２６-11"])
def test_a_month_is_written_yyyy_mm(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        Month.parse(text)
    assert err.value.problems[0].field == "month" and err.value.problems[0].rule == "month"


def test_months_parse_and_print() -> None:
    assert Month.parse("2026-11") == NOV and str(NOV) == "2026-11" and str(Month(2027, 1)) == "2027-01"
    assert Month(2026, 12).next() == Month(2027, 1)
    with pytest.raises(ValueError):
        Month(2026, 13)


# (claim, is it manual?)
MANUAL = [
    ("paid at once", claim(), False),
    ("headed for review: not instant, reservation pending", claim(state=S.SUBMITTED, instant=False), True),
    ("in review", claim(state=S.IN_REVIEW, instant=False), True),
    ("held by the bank and back in review (was instant)", claim(state=S.IN_REVIEW, instant=True), True),
    ("approved by a reviewer, paid", claim(instant=False, reviews=reviewed("approve")), True),
    ("rejected", claim(state=S.REJECTED, instant=False), True),
    ("appealed", claim(state=S.APPEALED, instant=False), True),
    ("waiting for earlier payers", claim(state=S.WAITING, instant=False), False),
    ("nothing payable", claim(state=S.NOTHING_PAYABLE, instant=False), False),
    ("refused (voided) before anyone reviewed it", claim(state=S.REFUSED, instant=False), False),
    ("refused after a reviewer approved it", claim(state=S.REFUSED, instant=False, reviews=reviewed("approve")), True),
    ("instant, then owed back", claim(state=S.CLAWBACK), False),
]


@pytest.mark.parametrize(("why", "c", "manual"), MANUAL, ids=[m[0] for m in MANUAL])
def test_what_a_manual_claim_is(why: str, c: Claim, manual: bool) -> None:
    assert is_manual(c) is manual


def test_a_report_limited_to_one_hospital_refuses_another_hospitals_claim() -> None:
    own = report([C1, C2, C3], hospital=H1)
    assert own.hospital == H1 and [h.hospital_id for h in own.hospitals] == [H1]
    assert own.total.claims == 3 and own.total.refused_fen == 9_000
    with pytest.raises(ValueError, match=H2):
        report(CLAIMS, hospital=H1)


def test_the_report_holds_no_personal_data() -> None:
    text = json.dumps(report().to_json(), ensure_ascii=False)
    for secret in (PERSON.hex(), PERSON.hex()[:16], "citizen", "reviewer-wang", "clerk:", "window-1", "clm_",
                   "the stay was not medically necessary", "0000000001", "33062401", "sub_1"):
        assert secret not in text


def test_a_decision_made_by_newer_rules_is_named_by_its_id() -> None:
    odd = claim(decision={"ruleset": RS1, "lines": [line(1, "Z9", 100, ("brand-new-rule", 100))],
                          "flags": [{"rule": "new-flag", "seqs": [7], "detail": "a line not listed"}]})
    r = report([odd])
    assert rules(r.total) == [("sx-pharmacy-pooling@v2", "brand-new-rule", "refusal", 1, 1, 100),
                              ("sx-pharmacy-pooling@v2", "new-flag", "flag", 1, 1, 0)]
    assert r.total.by_rule[0].name == RuleName("brand-new-rule", "brand-new-rule")
    assert items(r.total) == [("Z9", "", 1, 1, 100, 0)]   # the flagged line 7 is not on the decision: no item


RULE_NAMES = [
    ("class-c-self-pay", "Class C item, not reimbursed", "丙类项目不予报销", True),
    ("negative-list:XB05", "On the negative list (XB05)", "负面清单项目（XB05）", True),
    ("class-b-first-self-pay-12.5pct", "Class B first self-pay share", "乙类先行自付", False),
    ("review:price-above-standard", "Reviewer: priced above the standard price", "审核人员：超标准收费", True),
    ("review:made-up", "Reviewer: made-up", "审核人员：made-up", True),
    ("period-limit", "Quantity above the period limit (all hospitals)", "超出周期限量（跨院累计）", True),
]


@pytest.mark.parametrize(("rule", "en", "zh", "refusal"), RULE_NAMES)
def test_rule_names(rule: str, en: str, zh: str, refusal: bool) -> None:
    assert rule_name(rule) == RuleName(en, zh) and refuses(rule) is refusal
