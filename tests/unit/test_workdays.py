"""ledger.workdays: working days in China time, holidays and make-up working days (调休).

Property tests compare ``elapsed`` with a day-by-day reference written here from the
definition, and check that ``add`` and ``elapsed`` agree about when a claim is due.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ledger.workdays import CHINA_TZ, WorkCalendar

CN = timezone(timedelta(hours=8))
DAY = timedelta(days=1)
#: a calendar that knows no holidays: Monday to Friday
MON_FRI = WorkCalendar()

# 2025 National Day + Mid-Autumn: 1–8 October off; Sunday 28 September and Saturday
# 11 October are make-up working days.
NATIONAL_DAY_2025 = WorkCalendar(holidays=[date(2025, 10, d) for d in range(1, 9)],
                                 workdays=[date(2025, 9, 28), date(2025, 10, 11)])


def cn(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CN)


# --- tables -------------------------------------------------------------------------------

def test_china_time_is_utc_plus_8() -> None:
    assert CHINA_TZ.utcoffset(None) == timedelta(hours=8)


@pytest.mark.parametrize(("d", "working"), [
    (date(2026, 11, 20), True),    # Friday
    (date(2026, 11, 21), False),   # Saturday
    (date(2026, 11, 22), False),   # Sunday
    (date(2026, 11, 23), True),    # Monday
])
def test_without_holidays_it_is_monday_to_friday(d: date, working: bool) -> None:
    assert MON_FRI.is_working(d) is working


@pytest.mark.parametrize(("d", "working"), [
    (date(2025, 9, 27), False),    # Saturday
    (date(2025, 9, 28), True),     # Sunday, make-up working day
    (date(2025, 9, 30), True),
    (date(2025, 10, 1), False),    # Wednesday, holiday
    (date(2025, 10, 8), False),    # Wednesday, holiday
    (date(2025, 10, 9), True),
    (date(2025, 10, 11), True),    # Saturday, make-up working day
    (date(2025, 10, 12), False),
])
def test_holidays_and_make_up_days(d: date, working: bool) -> None:
    assert NATIONAL_DAY_2025.is_working(d) is working


@pytest.mark.parametrize(("start", "end", "days"), [
    (cn(2026, 11, 20, 18), cn(2026, 11, 23, 6), 0.5),       # Fri 18:00 -> Mon 06:00
    (cn(2026, 11, 23, 9), cn(2026, 11, 23, 21), 0.5),       # within one working day
    (cn(2026, 11, 21, 9), cn(2026, 11, 22, 21), 0.0),       # a weekend
    (cn(2026, 11, 23, 9), cn(2026, 11, 30, 9), 5.0),        # Monday to Monday
    (cn(2026, 11, 16), cn(2026, 12, 14), 20.0),             # four whole weeks
    (cn(2026, 11, 20, 12), cn(2026, 11, 28, 12), 5.5),      # Fri noon -> next Sat noon
])
def test_elapsed_on_the_default_calendar(start: datetime, end: datetime, days: float) -> None:
    assert MON_FRI.elapsed(start, end) == days
    assert MON_FRI.elapsed(end, start) == -days


def test_elapsed_is_counted_in_china_time() -> None:
    # Fri 10:00 UTC is Fri 18:00 in China; Sun 22:00 UTC is Mon 06:00 in China
    start, end = datetime(2026, 11, 20, 10, tzinfo=UTC), datetime(2026, 11, 22, 22, tzinfo=UTC)
    assert MON_FRI.elapsed(start, end) == 0.5
    new_york = timezone(timedelta(hours=-5))
    assert MON_FRI.elapsed(start.astimezone(new_york), end.astimezone(new_york)) == 0.5


def test_elapsed_over_a_holiday() -> None:
    assert NATIONAL_DAY_2025.elapsed(cn(2025, 10, 1), cn(2025, 10, 9)) == 0.0
    assert NATIONAL_DAY_2025.elapsed(cn(2025, 9, 26, 12), cn(2025, 10, 9, 12)) == 4.0   # Fri, Sun, Mon, Tue
    assert NATIONAL_DAY_2025.elapsed(cn(2025, 10, 10, 18), cn(2025, 10, 13, 6)) == 1.5  # Sat 11th works


@pytest.mark.parametrize(("start", "days", "due"), [
    (cn(2026, 11, 23, 9), 5, cn(2026, 11, 30, 9)),          # Mon -> Mon
    (cn(2026, 11, 20, 18), 5, cn(2026, 11, 27, 18)),        # Fri -> Fri
    (cn(2026, 11, 20, 18), 1, cn(2026, 11, 23, 18)),        # Fri -> Mon
    (cn(2026, 11, 23, 9), 0, cn(2026, 11, 23, 9)),
    (cn(2026, 11, 21, 10), 5, cn(2026, 11, 30, 0)),         # Sat: the clock starts Monday 00:00
    (cn(2026, 11, 21, 10), 0, cn(2026, 11, 23, 0)),
    (cn(2026, 11, 22, 23, 59), 1, cn(2026, 11, 24, 0)),
])
def test_add_on_the_default_calendar(start: datetime, days: int, due: datetime) -> None:
    assert MON_FRI.add(start, days) == due


def test_add_over_a_holiday() -> None:
    # filed Friday 26 September: Sun 28, Mon 29, Tue 30, Thu 9 Oct, Fri 10 Oct
    assert NATIONAL_DAY_2025.add(cn(2025, 9, 26, 10), 5) == cn(2025, 10, 10, 10)
    # filed on the holiday: the clock starts Thursday 9 October, and Saturday 11th works
    assert NATIONAL_DAY_2025.add(cn(2025, 10, 3, 15), 2) == cn(2025, 10, 11, 0)
    assert NATIONAL_DAY_2025.add(cn(2025, 9, 27, 15), 1) == cn(2025, 9, 29, 0)  # Sat -> make-up Sun + 1


def test_add_keeps_the_callers_time_zone() -> None:
    start = datetime(2026, 11, 22, 17, tzinfo=UTC)  # Monday 01:00 in China, a working day
    due = MON_FRI.add(start, 5)
    assert due.tzinfo is UTC and due == datetime(2026, 11, 29, 17, tzinfo=UTC)


def test_preconditions() -> None:
    naive = datetime(2026, 11, 23, 9)
    with pytest.raises(ValueError, match="timezone-aware"):
        MON_FRI.elapsed(naive, cn(2026, 11, 24))
    with pytest.raises(ValueError, match="timezone-aware"):
        MON_FRI.add(naive, 1)
    with pytest.raises(ValueError, match="days must be >= 0, got -1"):
        MON_FRI.add(cn(2026, 11, 23), -1)
    with pytest.raises(ValueError, match="both holidays and make-up working days: 2026-11-21"):
        WorkCalendar(holidays=[date(2026, 11, 21)], workdays=[date(2026, 11, 21)])


# --- properties ----------------------------------------------------------------------------

BASE = date(2026, 1, 1)
days_near = st.integers(0, 120).map(lambda k: BASE + timedelta(days=k))
calendars = st.builds(lambda h, w: WorkCalendar(holidays=h, workdays=w - h),
                      st.frozensets(days_near, max_size=20), st.frozensets(days_near, max_size=10))
zones = st.sampled_from([UTC, CN, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=45))])
instants = st.builds(lambda minutes, tz: (datetime(2026, 1, 1, tzinfo=CN) + timedelta(minutes=minutes)).astimezone(tz),
                     st.integers(0, 150 * 24 * 60), zones)


def reference_working_time(cal: WorkCalendar, start: datetime, end: datetime) -> timedelta:
    """Day by day: the overlap of [start, end] with each working day's 24 hours in China."""
    total = timedelta(0)
    d = start.astimezone(CN).date()
    while (day_start := datetime.combine(d, time(0), CN)) < end:
        if cal.is_working(d):
            total += max(timedelta(0), min(end, day_start + DAY) - max(start, day_start))
        d += DAY
    return total


@given(calendars, instants, instants)
@example(MON_FRI, cn(2026, 1, 2, 18), cn(2026, 1, 5, 6))
def test_elapsed_matches_the_day_by_day_reference(cal: WorkCalendar, a: datetime, b: datetime) -> None:
    start, end = min(a, b), max(a, b)
    assert cal.working_time(start, end) == reference_working_time(cal, start, end)
    assert cal.elapsed(a, b) == -cal.elapsed(b, a)


@given(calendars, instants, instants, instants)
def test_elapsed_is_additive_and_monotonic(cal: WorkCalendar, a: datetime, b: datetime, c: datetime) -> None:
    a, b, c = sorted((a, b, c))
    assert cal.working_time(a, b) + cal.working_time(b, c) == cal.working_time(a, c)
    assert 0 <= cal.elapsed(a, b) <= cal.elapsed(a, c)
    assert cal.elapsed(b, c) <= cal.elapsed(a, c)


@given(calendars, instants, st.integers(0, 40))
@example(MON_FRI, cn(2026, 1, 2, 18), 5)
def test_add_then_elapsed_is_n_from_a_working_day(cal: WorkCalendar, start: datetime, n: int) -> None:
    due = cal.add(start, n)
    assert cal.is_working(due.astimezone(CN).date())
    assert cal.elapsed(start, due) == n  # also from a non-working day, counted from the next one's 00:00
    if cal.is_working(start.astimezone(CN).date()):
        assert due.astimezone(CN).time() == start.astimezone(CN).time()
    else:
        assert due.astimezone(CN).time() == time(0)


@given(calendars, instants, instants, st.integers(0, 20))
def test_past_due_exactly_when_more_than_n_days_elapsed(cal: WorkCalendar, start: datetime, t: datetime,
                                                        n: int) -> None:
    if t >= start:
        assert (t > cal.add(start, n)) == (cal.working_time(start, t) > n * DAY)


@given(calendars, instants, instants, st.integers(0, 20))
def test_add_is_monotonic(cal: WorkCalendar, a: datetime, b: datetime, n: int) -> None:
    a, b = sorted((a, b))
    assert cal.add(a, n) <= cal.add(b, n)
    assert cal.add(a, n) < cal.add(a, n + 1)
    assert cal.add(a, n) >= a


# --- the years a calendar covers -------------------------------------------------------------

def test_a_calendar_says_which_years_it_covers() -> None:
    cal = WorkCalendar(holidays=[date(2025, 10, 1)], years=[2025, 2026])
    assert cal.years == {2025, 2026}
    assert cal.covers(2026) and not cal.covers(2027)
    assert cal.uncovered(date(2024, 12, 1), date(2027, 1, 5)) == [2024, 2027]
    assert cal.uncovered(date(2025, 1, 1), date(2026, 12, 31)) == []
    assert "2025–2026" in repr(cal) and "none" in repr(MON_FRI)


@pytest.mark.parametrize(("compute", "told"), [
    # within the covered year: nothing to tell
    (lambda c: c.is_working(date(2026, 12, 31)), []),
    (lambda c: c.elapsed(cn(2026, 12, 1), cn(2026, 12, 31, 18)), []),
    # a date of 2027: told once per computation that touches it
    (lambda c: c.is_working(date(2027, 1, 4)), [2027]),
    (lambda c: c.elapsed(cn(2026, 12, 30), cn(2027, 1, 4)), [2027]),
    (lambda c: c.elapsed(cn(2027, 1, 4), cn(2026, 12, 30)), [2027]),
    # a span over a whole uncovered year in the middle: that year too
    (lambda c: c.working_time(cn(2024, 12, 31), cn(2026, 1, 2)), [2024, 2025]),
])
def test_an_uncovered_year_is_told_never_silent(compute: object, told: list[int]) -> None:
    seen: list[int] = []
    cal = WorkCalendar(years=[2026], on_uncovered=seen.append)
    compute(cal)  # type: ignore[operator]
    assert sorted(set(seen)) == told


def test_a_due_date_reaching_into_an_uncovered_year_is_told_and_counted_monday_to_friday() -> None:
    seen: set[int] = set()
    cal = WorkCalendar(holidays=[date(2026, 12, 31)], years=[2026], on_uncovered=seen.add)
    # Wed 30 Dec 2026 + 5 working days: 31 Dec is a holiday here; 2027 counted Mon–Fri (1 Jan is a Friday)
    assert cal.add(cn(2026, 12, 30, 9), 5) == cn(2027, 1, 7, 9)
    assert seen == {2027}
