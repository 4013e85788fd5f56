"""The calendar office and the live calendar over an in-memory repository.

Loading: new, unchanged, refused without --replace, replaced; nothing stored when the
document or the years together are wrong; who may load. The live calendar: a loaded year is
counted with at once (ttl 0) and a year without data is counted Monday to Friday with one
loud warning per year and process, never silently.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from ledger.app.access import SYSTEM, Principal
from ledger.app.calendar_office import CalendarOffice
from ledger.app.live_calendar import FixedCalendar, LiveCalendar
from ledger.calendar import CalendarYearEntry, LoadOutcome, shipped_documents
from ledger.errors import Conflict, Forbidden, InvalidInput, NotFound
from ledger.records import Role

CN = timezone(timedelta(hours=8))
ADMIN = Principal(Role.ADMIN, "bureau", "k1")
PAYER = Principal(Role.PAYER, "330600-ybj", "k2")
HOSPITAL = Principal(Role.HOSPITAL, "H1", "k3")
CITIZEN = Principal(Role.CITIZEN, "ab" * 32, "voucher")

Y2027: dict[str, Any] = {
    "country": "CN", "year": 2027, "source": "国务院办公厅关于2027年部分节假日安排的通知 (test)",
    "holidays": [{"name": "元旦", "from": "2027-01-01", "to": "2027-01-03"},
                 {"name": "春节", "nameEn": "Spring Festival", "from": "2027-02-06", "to": "2027-02-12"}],
    "makeUpWorkdays": [{"date": "2027-02-13", "for": "春节"}],
}


@dataclass
class Clock:
    at: datetime = datetime(2026, 12, 6, 8, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


@dataclass
class MemoryCalendars:
    """The CalendarRepository port in memory (the SQL adapter is tested over HTTP and in integration)."""

    rows: dict[int, tuple[CalendarYearEntry, Any]] = field(default_factory=dict)
    generation: int = 0
    reads: int = 0

    def calendar_years(self) -> list[CalendarYearEntry]:
        return [e for _, (e, _) in sorted(self.rows.items())]

    def calendar_year(self, year: int) -> tuple[CalendarYearEntry, Any] | None:
        return self.rows.get(year)

    def calendar_documents(self) -> list[tuple[CalendarYearEntry, Any]]:
        self.reads += 1
        return [v for _, v in sorted(self.rows.items())]

    def calendar_generation(self) -> int:
        return self.generation

    def seed_calendar_years(self, years: Sequence[tuple[CalendarYearEntry, Any]]) -> list[int]:
        fresh = [(e, d) for e, d in years if e.year not in self.rows]
        for e, d in fresh:
            self.rows[e.year] = (e, copy.deepcopy(d))
        self.generation += bool(fresh)
        return [e.year for e, _ in fresh]

    def put_calendar_year(self, entry: CalendarYearEntry, document: Any, *,
                          decide: Callable[[CalendarYearEntry | None], LoadOutcome],
                          check: Callable[[list[tuple[CalendarYearEntry, Any]]], None]) -> LoadOutcome:
        before = self.rows.get(entry.year)
        outcome = decide(before[0] if before else None)
        if outcome is LoadOutcome.UNCHANGED:
            return outcome
        check([v for y, v in self.rows.items() if y != entry.year] + [(entry, document)])
        self.rows[entry.year] = (entry, copy.deepcopy(document))
        self.generation += 1
        return outcome


@pytest.fixture
def repo() -> MemoryCalendars:
    return MemoryCalendars()


@pytest.fixture
def office(repo: MemoryCalendars) -> CalendarOffice:
    o = CalendarOffice(repo, clock=Clock())
    assert o.seed(shipped_documents()) == list(range(2004, 2027))
    return o


# --- loading ----------------------------------------------------------------------------------

def test_a_new_year_is_loaded_then_unchanged_then_refused_then_replaced(office: CalendarOffice,
                                                                         repo: MemoryCalendars) -> None:
    entry, outcome = office.load(ADMIN, Y2027, source="cn-2027.json", expected_year=2027)
    assert outcome is LoadOutcome.LOADED and entry.year == 2027 and entry.loaded_by == "admin:bureau:k1"
    assert (entry.holidays, entry.make_up_days) == (10, 1)
    generation = repo.generation
    again, outcome = office.load(ADMIN, copy.deepcopy(Y2027), source="copy.json")
    assert outcome is LoadOutcome.UNCHANGED and again == entry and repo.generation == generation
    corrected = copy.deepcopy(Y2027)
    corrected["holidays"][1]["to"] = "2027-02-11"
    with pytest.raises(Conflict, match=r"2027 is already loaded, with other content \(from cn-2027.json by "
                                       r"admin:bureau:k1 .*--replace"):
        office.load(ADMIN, corrected, source="fix.json")
    assert repo.rows[2027][0].digest == entry.digest
    replaced, outcome = office.load(ADMIN, corrected, source="fix.json", replace=True)
    assert outcome is LoadOutcome.REPLACED and replaced.digest != entry.digest
    assert office.show(HOSPITAL, 2027)[1].holidays[1].last == date(2027, 2, 11)


def test_a_wrong_document_stores_nothing_and_names_the_file(office: CalendarOffice, repo: MemoryCalendars) -> None:
    bad = copy.deepcopy(Y2027)
    bad["makeUpWorkdays"][0]["date"] = "2027-02-15"   # a Monday
    with pytest.raises(InvalidInput) as exc:
        office.load(ADMIN, bad, source="cn-2027.json")
    assert exc.value.problems[0].rule == "weekend" and exc.value.problems[0].message.startswith("cn-2027.json: ")
    with pytest.raises(InvalidInput, match="right-year"):
        office.load(ADMIN, Y2027, source="cn-2028.json", expected_year=2028)
    assert 2027 not in repo.rows


def test_a_year_contradicting_a_loaded_one_is_refused(office: CalendarOffice, repo: MemoryCalendars) -> None:
    # the 2027 notice makes Saturday 26 December 2026 a working day; a 2026 notice giving it off is refused
    clash = copy.deepcopy(Y2027)
    clash["makeUpWorkdays"].append({"date": "2026-12-26", "for": "元旦"})
    office.load(ADMIN, clash, source="cn-2027.json")   # 26 December 2026 is no holiday of 2026: accepted
    fixed_2026 = dict(shipped_documents())["cn-2026.json"] | {"holidays": [
        {"name": "年末", "from": "2026-12-26", "to": "2026-12-27"}]}
    with pytest.raises(InvalidInput, match=r"2026-12-26 is a make-up working day, but fix-2026\.json gives it off"):
        office.load(ADMIN, fixed_2026, source="fix-2026.json", replace=True)
    assert repo.rows[2026][0].loaded_from == "cn-2026.json"


@pytest.mark.parametrize("who", [PAYER, HOSPITAL, CITIZEN])
def test_only_an_admin_loads(office: CalendarOffice, who: Principal) -> None:
    with pytest.raises(Forbidden):
        office.load(who, Y2027, source="cn-2027.json")


def test_staff_read_citizens_do_not(office: CalendarOffice) -> None:
    assert [e.year for e in office.years(HOSPITAL)][-1] == 2026
    assert office.coverage(PAYER).missing == (2027,)
    with pytest.raises(Forbidden):
        office.years(CITIZEN)
    with pytest.raises(NotFound, match=r"no working-day calendar is loaded for 2027 \(loaded: 2004–2026\); "
                                       r"load it with `ebill calendar load cn-2027.json`"):
        office.show(SYSTEM, 2027)


def test_seeding_never_overwrites_a_year_an_operator_loaded(repo: MemoryCalendars) -> None:
    office = CalendarOffice(repo, clock=Clock())
    own = dict(shipped_documents())["cn-2026.json"] | {"source": "the operator's own reading"}
    office.load(ADMIN, own, source="own-2026.json")
    assert 2026 not in office.seed(shipped_documents())
    assert repo.rows[2026][0].source == "the operator's own reading"
    assert office.seed(shipped_documents()) == []   # every later start: nothing to do


# --- the live calendar ----------------------------------------------------------------------------

def test_a_loaded_year_is_counted_with_at_once(office: CalendarOffice, repo: MemoryCalendars) -> None:
    live = LiveCalendar(repo, clock=Clock(), ttl=0.0)
    filed = datetime(2027, 2, 5, 10, tzinfo=CN)   # Friday before the 2027 Spring Festival
    assert live.calendar().add(filed, 5) == datetime(2027, 2, 12, 10, tzinfo=CN)    # Mon–Fri: no data yet
    office.load(ADMIN, Y2027, source="cn-2027.json")
    # Sat 13 (worked), then 15, 16, 17, 18 February
    assert live.calendar().add(filed, 5) == datetime(2027, 2, 18, 10, tzinfo=CN)
    assert live.coverage().missing == ()


def test_the_calendar_is_rebuilt_only_when_the_generation_moves(office: CalendarOffice,
                                                                 repo: MemoryCalendars) -> None:
    live = LiveCalendar(repo, clock=Clock(), ttl=0.0)
    for _ in range(5):
        live.calendar()
    assert repo.reads == 1
    office.load(ADMIN, Y2027, source="cn-2027.json")
    live.calendar()
    assert repo.reads == 2
    slow = LiveCalendar(repo, clock=Clock(), ttl=3600.0)
    first = slow.calendar()
    office.load(ADMIN, Y2027 | {"source": "again"}, source="x.json", replace=True)
    assert slow.calendar() is first   # within its ttl a worker keeps its calendar


def test_a_missing_year_is_warned_once_loudly_and_counted_monday_to_friday(
        office: CalendarOffice, repo: MemoryCalendars, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ledger.calendar")
    live = LiveCalendar(repo, clock=Clock(), ttl=0.0)
    cal = live.calendar()   # today 6 December 2026: the next 60 days reach into 2027
    warnings = [r for r in caplog.records if r.name == "ledger.calendar"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "WORKING-DAY CALENDAR: no working-day calendar for 2027" in warnings[0].getMessage()
    assert "ebill calendar load cn-2027.json" in warnings[0].getMessage()
    # counting into 2027 says nothing more (once per year and process), and counts Mon–Fri
    assert cal.add(datetime(2026, 12, 31, 9, tzinfo=CN), 1) == datetime(2027, 1, 1, 9, tzinfo=CN)
    for _ in range(3):
        live.calendar().elapsed(datetime(2026, 12, 30, tzinfo=CN), datetime(2027, 1, 8, tzinfo=CN))
    assert len([r for r in caplog.records if r.name == "ledger.calendar"]) == 1
    # a year far from the window is told the first time a computation touches it
    cal.is_working(date(2003, 5, 1))
    told = [r.getMessage() for r in caplog.records if r.name == "ledger.calendar"]
    assert len(told) == 2 and "working days in 2003 are being counted Monday to Friday" in told[1]
    assert live.coverage().warning() is not None and live.coverage().missing == (2027,)


def test_in_november_nothing_is_missing_yet(office: CalendarOffice, repo: MemoryCalendars,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ledger.calendar")
    live = LiveCalendar(repo, clock=Clock(datetime(2026, 10, 15, tzinfo=UTC)), ttl=0.0)
    live.calendar()
    assert live.coverage().missing == () and not [r for r in caplog.records if r.name == "ledger.calendar"]


def test_a_fixed_calendar_warns_alike(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ledger.calendar")
    fixed = FixedCalendar(clock=Clock())
    assert fixed.calendar().years == frozenset(range(2004, 2027))
    assert fixed.coverage().missing == (2027,)
    assert any("no working-day calendar for 2027" in r.getMessage() for r in caplog.records)
