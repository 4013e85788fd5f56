"""ledger.calendar: a year's notice read strictly, the years together, and what is missing.

The known dates are checked by hand against the State Council's notices (2025: 国办发明电
〔2024〕12号 of 12 November 2024; 2026: 国办发明电〔2025〕7号 of 4 November 2025), not
against the package the shipped files are generated from (tests/crosscheck does that).
"""

from __future__ import annotations

import copy
import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from ledger.calendar import (
    MAX_CALENDAR_BYTES,
    check_together,
    coverage,
    digest,
    parse_calendar_file,
    read_calendar_year,
    shipped_documents,
    shipped_years,
    work_calendar,
    year_in_name,
)
from ledger.errors import InvalidInput

CN = timezone(timedelta(hours=8))

GOOD: dict[str, Any] = {
    "country": "CN", "year": 2027, "source": "国务院办公厅关于2027年部分节假日安排的通知", "published": "2026-11-05",
    "notices": ["https://www.gov.cn/zhengce/content/202611/content_1.htm"],
    "holidays": [
        {"name": "元旦", "nameEn": "New Year's Day", "from": "2026-12-31", "to": "2027-01-02"},
        {"name": "春节", "nameEn": "Spring Festival", "from": "2027-02-06", "to": "2027-02-13"},
    ],
    "makeUpWorkdays": [{"date": "2027-02-14", "for": "春节"}, {"date": "2026-12-27", "for": "元旦"}],
}


def with_(path: str, value: Any) -> dict[str, Any]:
    """GOOD with the value at ``path`` (``holidays.1.to``) replaced (``...``: removed)."""
    doc = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node: Any = doc
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    key: Any = int(last) if isinstance(node, list) else last
    if value is ...:
        del node[key]
    elif isinstance(node, list) and key == len(node):
        node.append(value)
    else:
        node[key] = value
    return doc


def test_a_good_year_reads_sorted_and_round_trips() -> None:
    y = read_calendar_year(GOOD, source="cn-2027.json", expected_year=2027)
    assert y.year == 2027 and y.published == date(2026, 11, 5)
    assert [m.day for m in y.make_up_days] == [date(2026, 12, 27), date(2027, 2, 14)]   # sorted
    assert y.holiday_dates() >= {date(2026, 12, 31), date(2027, 1, 1), date(2027, 2, 13)}
    assert y.holidays[1].label() == "春节 (Spring Festival)"
    again = read_calendar_year(y.to_json(), source="again")
    assert again == y and digest(y.to_json()) == digest(json.loads(json.dumps(y.to_json(), indent=3)))


@pytest.mark.parametrize(("doc", "field", "rule"), [
    ([], "", "object"),
    (with_("extra", 1), "extra", "unknown-key"),
    (with_("country", "TW"), "country", "country"),
    (with_("year", "2027"), "year", "year"),
    (with_("year", True), "year", "year"),
    (with_("year", 1999), "year", "year"),
    (with_("source", ""), "source", "text"),
    (with_("source", " padded"), "source", "text"),
    (with_("source", "bad\u001fchar"), "source", "text"),
    (with_("source", ...), "source", "text"),
    (with_("published", "2026-11-31"), "published", "date"),
    (with_("published", "20261105"), "published", "date"),
    (with_("published", "2028-01-01"), "published", "published"),
    (with_("notices", ["ftp://x"]), "notices[0]", "url"),
    (with_("notices", "https://x"), "notices", "list"),
    # holidays
    (with_("holidays", []), "holidays", "non-empty"),
    (with_("holidays", ...), "holidays", "list"),
    (with_("holidays.0.name", ...), "holidays[0].name", "required"),
    (with_("holidays.0.name", " "), "holidays[0].name", "text"),
    (with_("holidays.0.nameEn", ""), "holidays[0].nameEn", "text"),
    (with_("holidays.0.note", "x"), "holidays[0].note", "unknown-key"),
    (with_("holidays.0", "元旦"), "holidays[0]", "object"),
    (with_("holidays.1.to", "2028-02-13"), "holidays[1].to", "in-year"),        # not in the year
    (with_("holidays.1.from", "2026-11-30"), "holidays[1].from", "in-year"),    # before December of the year before
    (with_("holidays.1.to", "2027-02-05"), "holidays[1].to", "order"),
    (with_("holidays.1.to", "2027-02-21"), "holidays[1].to", "length"),         # 16 days
    (with_("holidays.2", {"name": "x", "from": "2027-02-10", "to": "2027-02-16"}), "holidays[2]", "overlap"),
    # make-up working days
    (with_("makeUpWorkdays.0.date", "2027-02-15"), "makeUpWorkdays[0].date", "weekend"),     # a Monday
    (with_("makeUpWorkdays.0.date", "2027-02-13"), "makeUpWorkdays[0].date", "holiday-and-workday"),
    (with_("makeUpWorkdays.1.date", "2027-02-14"), "makeUpWorkdays[1].date", "duplicate"),
    (with_("makeUpWorkdays.0.date", "2028-01-01"), "makeUpWorkdays[0].date", "in-year"),
    (with_("makeUpWorkdays.0.for", ...), "makeUpWorkdays[0].for", "required"),
    (with_("makeUpWorkdays", [{}] * 31), "makeUpWorkdays", "size"),
])
def test_each_broken_rule_is_named_with_its_file_and_entry(doc: Any, field: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        read_calendar_year(doc, source="cn-2027.json")
    assert (field, rule) in [(p.field, p.rule) for p in exc.value.problems], exc.value.problems
    assert all(p.message.startswith("cn-2027.json: ") for p in exc.value.problems)


def test_messages_say_what_was_expected_and_found() -> None:
    with pytest.raises(InvalidInput) as exc:
        read_calendar_year(with_("makeUpWorkdays.0.date", "2027-02-15"), source="cn-2027.json")
    assert str(exc.value.problems[0].message) == ("cn-2027.json: 2027-02-15 is a Monday: a make-up working day is a "
                                                  "Saturday or Sunday (a weekday is a working day anyway)")
    with pytest.raises(InvalidInput) as exc:
        read_calendar_year(with_("holidays.1.to", "2027-02-05"), source="cn-2027.json")
    assert exc.value.problems[0].message == "cn-2027.json: 春节: to 2027-02-05 is before from 2027-02-06"


def test_the_year_must_be_the_one_the_file_is_named_for() -> None:
    assert year_in_name("cn-2027.json") == 2027 and year_in_name("calendar.json") is None
    assert year_in_name("2026-to-2027.json") is None
    with pytest.raises(InvalidInput) as exc:
        read_calendar_year(GOOD, source="cn-2028.json", expected_year=2028)
    assert [(p.field, p.rule) for p in exc.value.problems] == [("year", "right-year")]


@pytest.mark.parametrize(("raw", "rule"), [
    (b"\xff\xfe", "utf-8"),
    (b'{"year": 2027', "json"),
    (b'{"year": 2027, "year": 2028}', "duplicate-key"),
    (b" " * (MAX_CALENDAR_BYTES + 1), "size"),
])
def test_a_file_that_is_not_one_json_document_is_refused(raw: bytes, rule: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_calendar_file(raw, source="cn-2027.json")
    assert exc.value.problems[0].rule == rule and "cn-2027.json" in exc.value.problems[0].message


# --- the shipped years, checked by hand against the notices --------------------------------------

SHIPPED = work_calendar(shipped_years())


@pytest.mark.parametrize(("d", "working", "why"), [
    (date(2025, 1, 1), False, "元旦, a Wednesday, 1 day, no make-up"),
    (date(2025, 1, 26), True, "Sunday worked for 春节"),
    (date(2025, 1, 28), False, "除夕, first day of 春节 (28 Jan – 4 Feb)"),
    (date(2025, 2, 4), False, "last day of 春节"),
    (date(2025, 2, 8), True, "Saturday worked for 春节"),
    (date(2025, 4, 27), True, "Sunday worked for 劳动节"),
    (date(2025, 5, 5), False, "劳动节 1–5 May"),
    (date(2025, 9, 28), True, "Sunday worked for 国庆节、中秋节"),
    *[(date(2025, 10, k), False, "国庆节、中秋节 1–8 October") for k in range(1, 9)],
    (date(2025, 10, 9), True, "Thursday after the holiday"),
    (date(2025, 10, 11), True, "Saturday worked for 国庆节"),
    (date(2026, 1, 2), False, "元旦 1–3 January"),
    (date(2026, 1, 4), True, "Sunday worked for 元旦"),
    (date(2026, 2, 14), True, "Saturday worked for 春节"),
    (date(2026, 2, 15), False, "春节 15–23 February (腊月二十八 to 正月初七)"),
    (date(2026, 2, 23), False, "a Monday, last day of 春节"),
    (date(2026, 2, 24), True, "Tuesday after 春节"),
    (date(2026, 2, 28), True, "Saturday worked for 春节"),
    (date(2026, 5, 9), True, "Saturday worked for 劳动节"),
    (date(2026, 6, 19), False, "端午节, a Friday"),
    (date(2026, 9, 25), False, "中秋节, a Friday"),
    (date(2026, 9, 20), True, "Sunday worked for 国庆节"),
    (date(2026, 10, 7), False, "国庆节 1–7 October"),
    (date(2026, 10, 10), True, "Saturday worked for 国庆节"),
    (date(2018, 12, 29), True, "Saturday worked for 元旦 2019 (in the 2019 notice)"),
    (date(2018, 12, 31), False, "元旦 2019: 30 December 2018 – 1 January 2019"),
])
def test_known_dates(d: date, working: bool, why: str) -> None:
    assert SHIPPED.is_working(d) is working, why


def test_the_spring_festival_2026_delays_a_claim_by_the_whole_holiday() -> None:
    # filed Friday 13 February 2026 at 10:00: Sat 14 (worked), then 24, 25, 26, 27 February
    assert SHIPPED.add(datetime(2026, 2, 13, 10, tzinfo=CN), 5) == datetime(2026, 2, 27, 10, tzinfo=CN)
    assert SHIPPED.elapsed(datetime(2026, 2, 13, 10, tzinfo=CN), datetime(2026, 2, 24, 10, tzinfo=CN)) == 2


def test_the_shipped_files_are_named_for_their_years_and_say_what_generated_them() -> None:
    docs = shipped_documents()
    assert [name for name, _ in docs] == [f"cn-{y}.json" for y in range(2004, 2027)]
    for name, doc in docs:
        assert doc["$comment"].startswith("generated by scripts/gen_calendar.py from chinese-calendar "), name
    by_year = {y.year: y for y in shipped_years()}
    assert by_year[2026].published == date(2025, 11, 4) and by_year[2025].published == date(2024, 11, 12)
    assert [p.name for p in by_year[2025].holidays][-1] == "国庆节、中秋节"


# --- the years together ---------------------------------------------------------------------------

def test_two_notices_that_contradict_each_other_are_refused_naming_both() -> None:
    y2027 = read_calendar_year(GOOD, source="cn-2027.json")
    y2026 = read_calendar_year(with_("holidays.0.from", "2026-12-27") | {"year": 2026}
                               | {"holidays": [{"name": "年末", "from": "2026-12-26", "to": "2026-12-27"}],
                                  "makeUpWorkdays": []}, source="cn-2026.json")
    with pytest.raises(InvalidInput) as exc:
        check_together([("cn-2026.json", y2026), ("cn-2027.json", y2027)])
    assert exc.value.problems[0].message == ("cn-2027.json: 2026-12-27 is a make-up working day, but cn-2026.json "
                                             "gives it off (年末 2026-12-26–2026-12-27)")
    with pytest.raises(InvalidInput, match="2027 is also given by a"):
        check_together([("a", y2027), ("b", y2027)])
    check_together([("cn-2027.json", y2027), *[(str(y.year), y) for y in shipped_years()]])


@pytest.mark.parametrize(("years", "today", "missing"), [
    # today is 6 December 2026: the next 60 days reach 4 February 2027
    (range(2004, 2027), date(2026, 12, 6), [2027]),
    (range(2004, 2028), date(2026, 12, 6), []),
    # on 1 November the horizon (31 December) is still in the year
    (range(2004, 2027), date(2026, 11, 1), []),
    (range(2004, 2027), date(2026, 11, 2), [2027]),
    # a gap, and the years between the last loaded one and today, are missing too
    ([2024, 2026], date(2026, 6, 1), [2025]),
    ([2024], date(2026, 6, 1), [2025, 2026]),
    ([], date(2026, 12, 6), [2026, 2027]),
])
def test_coverage_names_every_needed_year_without_data(years: Any, today: date, missing: list[int]) -> None:
    c = coverage(years, today)
    assert list(c.missing) == missing
    assert (c.warning() is None) == (not missing)
    if missing:
        assert f"no working-day calendar for {', '.join(map(str, missing))}" in (c.warning() or "")
        assert f"ebill calendar load cn-{missing[0]}.json" in (c.warning() or "")
    assert c.to_json()["missing"] == missing and c.through == today + timedelta(days=60)
