"""One year of China's working-day calendar: the State Council's notice as a document.

Each year, usually in November, the General Office of the State Council publishes the
next year's public holidays and the weekend days worked in exchange (make-up working
days, 调休). :class:`CalendarYear` is one such notice; :func:`read_calendar_year` reads
its JSON document strictly (``docs/calendar.md``, ``docs/calendar-year.schema.json``)::

    {"country": "CN", "year": 2026,
     "source": "国务院办公厅关于2026年部分节假日安排的通知 (国办发明电〔2025〕7号)",
     "published": "2025-11-04",
     "notices": ["https://www.gov.cn/zhengce/content/202511/content_7047090.htm"],
     "holidays": [{"name": "春节", "nameEn": "Spring Festival", "from": "2026-02-15", "to": "2026-02-23"}],
     "makeUpWorkdays": [{"date": "2026-02-14", "for": "春节"}]}

Rules (each broken one is reported, naming the source, the entry and the rule):

- ``year`` is the year the notice is for (and the one a file's name says, when it says one);
- every date lies in that year, or in December of the year before: a New Year's Day
  arrangement may start on 30 or 31 December (the 2019 notice gave 30 December 2018 off
  and made Saturday 29 December a working day);
- a holiday period has a name, ``from`` <= ``to``, lasts at most :data:`MAX_PERIOD_DAYS`
  days, and overlaps no other period;
- a make-up working day is a Saturday or Sunday (a weekday is a working day anyway),
  says which holiday it is ``for``, is not a holiday, and is listed once;
- at least one holiday: an empty year would silently count Monday to Friday.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from itertools import pairwise
from typing import Any

from ledger.canonical import canonical_json
from ledger.errors import FieldProblem, InvalidInput
from ledger.formats.strict_json import MalformedJson, parse

#: the only country this calendar describes (the field makes a document say so)
COUNTRY = "CN"
#: years a notice may be for
FIRST_YEAR, LAST_YEAR = 2000, 2100
#: the longest holiday period a notice may give (the longest national one so far: 10 days, Spring Festival 2020)
MAX_PERIOD_DAYS = 15
#: the largest calendar file read (a year is about 2 KiB)
MAX_CALENDAR_BYTES = 64 * 1024
MAX_HOLIDAYS, MAX_MAKE_UP_DAYS, MAX_NOTICES = 60, 30, 10
MAX_NAME, MAX_SOURCE, MAX_URL, MAX_COMMENT = 64, 200, 300, 1000

_KEYS = {"$comment", "country", "year", "source", "published", "notices", "holidays", "makeUpWorkdays"}
_HOLIDAY_KEYS = {"name", "nameEn", "from", "to"}
_MAKE_UP_KEYS = {"date", "for"}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_URL = re.compile(r"https?://\S+\Z")


@dataclass(frozen=True)
class HolidayPeriod:
    """Days off in a row, from ``first`` to ``last`` inclusive (weekend days in it included)."""

    name: str
    name_en: str | None
    first: date
    last: date

    def days(self) -> list[date]:
        return [self.first + timedelta(days=k) for k in range((self.last - self.first).days + 1)]

    def label(self) -> str:
        """The name as people say it: ``春节 (Spring Festival)``."""
        return f"{self.name} ({self.name_en})" if self.name_en else self.name


@dataclass(frozen=True)
class MakeUpDay:
    """A Saturday or Sunday worked in exchange for a day of the holiday named ``for_``."""

    day: date
    for_: str


@dataclass(frozen=True)
class CalendarYear:
    """The holidays and make-up working days the notice for ``year`` declares."""

    year: int
    source: str
    published: date | None
    notices: tuple[str, ...]
    holidays: tuple[HolidayPeriod, ...]
    make_up_days: tuple[MakeUpDay, ...]

    def holiday_dates(self) -> frozenset[date]:
        return frozenset(d for p in self.holidays for d in p.days())

    def workday_dates(self) -> frozenset[date]:
        return frozenset(m.day for m in self.make_up_days)

    def holiday_on(self, d: date) -> HolidayPeriod | None:
        """The holiday period ``d`` lies in, if any."""
        return next((p for p in self.holidays if p.first <= d <= p.last), None)

    def to_json(self) -> dict[str, Any]:
        """The document (without a ``$comment``), in the order a person reads it."""
        return {"country": COUNTRY, "year": self.year, "source": self.source,
                "published": self.published.isoformat() if self.published else None,
                "notices": list(self.notices),
                "holidays": [{"name": p.name, **({"nameEn": p.name_en} if p.name_en else {}),
                              "from": p.first.isoformat(), "to": p.last.isoformat()} for p in self.holidays],
                "makeUpWorkdays": [{"date": m.day.isoformat(), "for": m.for_} for m in self.make_up_days]}


def digest(doc: Any) -> str:
    """The document's content digest (sha256 of its RFC 8785 form): equal however it is formatted."""
    return hashlib.sha256(canonical_json(doc)).hexdigest()


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of a year's document (``docs/calendar-year.schema.json`` is a copy)."""
    schema: dict[str, Any] = json.loads((resources.files("ledger.calendar") / "calendar-year.schema.json")
                                        .read_text(encoding="utf-8"))
    return schema


def parse_calendar_file(raw: bytes, *, source: str) -> Any:
    """A calendar file's JSON; one that is too large, not UTF-8 JSON, or gives a key twice is
    refused naming ``source``."""
    if len(raw) > MAX_CALENDAR_BYTES:
        raise InvalidInput.single("", "size", f"{source}: {len(raw):,} bytes is above the limit of "
                                              f"{MAX_CALENDAR_BYTES:,} for a calendar year")
    try:
        raw.decode("utf-8")
        parsed = parse(raw)
    except UnicodeDecodeError:
        raise InvalidInput.single("", "utf-8", f"{source}: not UTF-8 text") from None
    except MalformedJson as exc:
        raise InvalidInput.single("", "json", f"{source}: not JSON: {exc.message}") from None
    if parsed.duplicates:
        dup = parsed.duplicates[0]
        raise InvalidInput.single(dup.at(), "duplicate-key", f"{source}: the key {dup.key!r} is given twice")
    return parsed.value


def year_in_name(name: str) -> int | None:
    """The year a file's name says (``cn-2027.json``: 2027), if it holds exactly one four-digit number."""
    found = re.findall(r"(?<!\d)\d{4}(?!\d)", name)
    return int(found[0]) if len(found) == 1 else None


def read_calendar_year(doc: Any, *, source: str, expected_year: int | None = None) -> CalendarYear:
    """One year's document, validated strictly (see the module docstring); raises
    :class:`InvalidInput` naming every problem, each with ``source`` and the entry.
    ``expected_year``: the year the document must be for (e.g. the one its file's name says)."""
    r = _Reader(source)
    if not isinstance(doc, dict):
        r.add("", "object", f"a calendar year is a JSON object, got {_kind(doc)}")
        raise InvalidInput(r.problems)
    for key in sorted(set(doc) - _KEYS):
        r.add(key, "unknown-key", f"unknown key {key!r} (expected {', '.join(sorted(_KEYS - {'$comment'}))})")
    if "$comment" in doc and (not isinstance(doc["$comment"], str) or len(doc["$comment"]) > MAX_COMMENT):
        r.add("$comment", "text", f"$comment is free text of at most {MAX_COMMENT} characters")
    if doc.get("country") != COUNTRY:
        r.add("country", "country", f"country must be {COUNTRY!r}, got {doc.get('country')!r}")
    year = doc.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not FIRST_YEAR <= year <= LAST_YEAR:
        r.add("year", "year", f"year must be a whole number from {FIRST_YEAR} to {LAST_YEAR}, got {year!r}")
        raise InvalidInput(r.problems)   # every date is judged against the year
    if expected_year is not None and year != expected_year:
        r.add("year", "right-year", f"the document is for {year}, but it was given as the calendar of {expected_year}")
    text = r.text(doc.get("source"), "source", MAX_SOURCE)
    published = None
    if doc.get("published") is not None:
        published = r.date(doc["published"], "published")
        if published is not None and published > date(year, 12, 31):
            r.add("published", "published", f"published {published} is after the year {year} it is for")
    notices = r.list(doc.get("notices", []), "notices", MAX_NOTICES)
    for i, url in enumerate(notices):
        if not isinstance(url, str) or len(url) > MAX_URL or not _URL.match(url) or not url.isprintable():
            r.add(f"notices[{i}]", "url", f"a notice is an http(s) address of at most {MAX_URL} characters, "
                                          f"got {str(url)[:80]!r}")
    periods = [p for i, item in enumerate(r.list(doc.get("holidays"), "holidays", MAX_HOLIDAYS, need_one=True))
               if (p := r.period(item, f"holidays[{i}]", year)) is not None]
    _check_overlaps(r, periods)
    make_up = _make_up_days(r, doc.get("makeUpWorkdays", []), year, [p for _, p in periods])
    if r.problems:
        raise InvalidInput(r.problems)
    assert text is not None
    return CalendarYear(year=year, source=text, published=published, notices=tuple(notices),
                        holidays=tuple(sorted((p for _, p in periods), key=lambda p: p.first)),
                        make_up_days=tuple(sorted(make_up, key=lambda m: m.day)))


def _check_overlaps(r: _Reader, periods: list[tuple[str, HolidayPeriod]]) -> None:
    ordered = sorted(periods, key=lambda fp: fp[1].first)
    for (fa, a), (fb, b) in pairwise(ordered):
        if b.first <= a.last:
            r.add(fb, "overlap", f"{b.label()} {b.first}–{b.last} overlaps {fa} {a.label()} {a.first}–{a.last}")


def _make_up_days(r: _Reader, items: Any, year: int, periods: list[HolidayPeriod]) -> list[MakeUpDay]:
    days: dict[date, str] = {}
    out = []
    for i, item in enumerate(r.list(items, "makeUpWorkdays", MAX_MAKE_UP_DAYS)):
        at = f"makeUpWorkdays[{i}]"
        if not r.keys(item, at, _MAKE_UP_KEYS, required=_MAKE_UP_KEYS):
            continue
        d = r.date(item["date"], f"{at}.date", year=year)
        for_ = r.text(item["for"], f"{at}.for", MAX_NAME)
        if d is None or for_ is None:
            continue
        if d.weekday() < 5:
            r.add(f"{at}.date", "weekend", f"{d} is a {d:%A}: a make-up working day is a Saturday or Sunday "
                                           "(a weekday is a working day anyway)")
        holiday = next((p for p in periods if p.first <= d <= p.last), None)
        if holiday is not None:
            r.add(f"{at}.date", "holiday-and-workday", f"{d} is both a make-up working day and a day of "
                                                       f"{holiday.label()} {holiday.first}–{holiday.last}")
        if d in days:
            r.add(f"{at}.date", "duplicate", f"{d} is listed twice (also as {days[d]})")
        days[d] = at
        out.append(MakeUpDay(d, for_))
    return out


class _Reader:
    """Collects the problems of one document, each message prefixed with its source."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[FieldProblem] = []

    def add(self, field: str, rule: str, message: str) -> None:
        self.problems.append(FieldProblem(field, rule, f"{self.source}: {message}"))

    def keys(self, item: Any, at: str, allowed: set[str], *, required: set[str]) -> bool:
        if not isinstance(item, dict):
            self.add(at, "object", f"expected an object, got {_kind(item)}")
            return False
        for key in sorted(set(item) - allowed):
            self.add(f"{at}.{key}", "unknown-key", f"unknown key {key!r} (expected {', '.join(sorted(allowed))})")
        missing = sorted(required - set(item))
        for key in missing:
            self.add(f"{at}.{key}", "required", f"{key} is required")
        return not missing

    def list(self, value: Any, at: str, most: int, *, need_one: bool = False) -> list[Any]:
        if not isinstance(value, list):
            self.add(at, "list", f"expected a list, got {_kind(value)}")
            return []
        if len(value) > most:
            self.add(at, "size", f"at most {most} entries, got {len(value)}")
            return []
        if need_one and not value:
            self.add(at, "non-empty", "a year without holidays would count Monday to Friday: give its holidays")
        return value

    def text(self, value: Any, at: str, most: int) -> str | None:
        if not isinstance(value, str) or not value or len(value) > most or value != value.strip() \
                or not value.isprintable():
            self.add(at, "text", f"expected printable text of 1 to {most} characters without surrounding spaces, "
                                 f"got {str(value)[:80]!r}")
            return None
        return value

    def date(self, value: Any, at: str, *, year: int | None = None) -> date | None:
        try:
            if not isinstance(value, str) or not _DATE.match(value):
                raise ValueError
            d = date.fromisoformat(value)
        except ValueError:
            self.add(at, "date", f"expected a date as YYYY-MM-DD, got {str(value)[:40]!r}")
            return None
        if year is not None and not date(year - 1, 12, 1) <= d <= date(year, 12, 31):
            self.add(at, "in-year", f"{d} is not in {year} (nor in December {year - 1}, where a New Year's Day "
                                    "arrangement may start)")
            return None
        return d

    def period(self, item: Any, at: str, year: int) -> tuple[str, HolidayPeriod] | None:
        if not self.keys(item, at, _HOLIDAY_KEYS, required={"name", "from", "to"}):
            return None
        name = self.text(item["name"], f"{at}.name", MAX_NAME)
        name_en = self.text(item["nameEn"], f"{at}.nameEn", MAX_NAME) if "nameEn" in item else None
        first = self.date(item["from"], f"{at}.from", year=year)
        last = self.date(item["to"], f"{at}.to", year=year)
        if name is None or first is None or last is None or ("nameEn" in item and name_en is None):
            return None
        if last < first:
            self.add(f"{at}.to", "order", f"{name}: to {last} is before from {first}")
            return None
        if (last - first).days + 1 > MAX_PERIOD_DAYS:
            self.add(f"{at}.to", "length", f"{name}: {first}–{last} is {(last - first).days + 1} days; a holiday "
                                           f"period is at most {MAX_PERIOD_DAYS} days (a typo in a date?)")
            return None
        return at, HolidayPeriod(name, name_en, first, last)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number")
