"""Working-day arithmetic for the review SLA (a claim is paid within 5 working days).

A working day is a whole calendar day in China time (UTC+8, no daylight saving):
Monday to Friday, except public holidays, plus the weekend days declared make-up
working days (调休) that the State Council moves around each holiday. Time is counted
only while it is a working day, so a claim filed on Friday at 18:00 and looked at on
Monday at 06:00 has waited 0.25 + 0.25 = 0.5 working days.

A calendar knows the holidays of the years it ``covers`` (the years whose State Council
notice was loaded: :mod:`ledger.calendar`). A date in a year it does not cover is counted
Monday to Friday, and never silently: every computation that touches such a date calls
``on_uncovered(year)``, and the service warns (``ledger.app.live_calendar``).

:meth:`WorkCalendar.add` and :meth:`WorkCalendar.elapsed` agree: for ``n >= 0`` and any
``t``, ``t > add(start, n)`` exactly when ``elapsed(start, t) > n``, so "past the due
time" and "more than n working days elapsed" never disagree.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone

CHINA_TZ = timezone(timedelta(hours=8), "CST")

_DAY = timedelta(days=1)


class WorkCalendar:
    """Which dates are working days: Mon–Fri, minus ``holidays``, plus make-up ``workdays``.

    ``years``: the years whose holidays and make-up days these are (a date in another year
    is counted Monday to Friday, and ``on_uncovered`` is called with its year each time a
    computation touches it). Keyword-only, as both are about years.
    """

    def __init__(self, holidays: Iterable[date] = (), workdays: Iterable[date] = (), *,
                 years: Iterable[int] = (), on_uncovered: Callable[[int], None] | None = None) -> None:
        self._holidays = frozenset(holidays)
        self._workdays = frozenset(workdays)
        both = self._holidays & self._workdays
        if both:
            raise ValueError(f"dates both holidays and make-up working days: {', '.join(map(str, sorted(both)))}")
        self._years = frozenset(years)
        self._on_uncovered = on_uncovered
        # only the exceptions that change a date's status matter to the counting
        self._lost = sorted(d for d in self._holidays if d.weekday() < 5)
        self._gained = sorted(d for d in self._workdays if d.weekday() >= 5)

    def __repr__(self) -> str:
        span = f"{min(self._years)}–{max(self._years)}" if self._years else "none"
        return (f"WorkCalendar(holidays={len(self._holidays)} dates, workdays={len(self._workdays)} dates, "
                f"years={span})")

    @property
    def years(self) -> frozenset[int]:
        """The years this calendar knows the holidays and make-up working days of."""
        return self._years

    def covers(self, year: int) -> bool:
        """Whether the holidays and make-up working days of ``year`` are known."""
        return year in self._years

    def uncovered(self, first: date, last: date) -> list[int]:
        """The years from ``first`` to ``last`` (inclusive) this calendar does not cover."""
        return [y for y in range(first.year, last.year + 1) if y not in self._years]

    def is_working(self, d: date) -> bool:
        """Whether ``d`` (a calendar date in China) is a working day."""
        if self._on_uncovered is not None and d.year not in self._years:
            self._on_uncovered(d.year)
        if d in self._workdays:
            return True
        return d.weekday() < 5 and d not in self._holidays

    def elapsed(self, start: datetime, end: datetime) -> float:
        """Working days between two aware instants, fractions included; negative if ``end`` < ``start``."""
        s, e = _china(start, "start"), _china(end, "end")
        if e < s:
            return -(self.working_time(e, s) / _DAY)
        return self.working_time(s, e) / _DAY

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """The exact working time between two aware instants, ``start`` <= ``end``."""
        s, e = _china(start, "start"), _china(end, "end")
        if e < s:
            raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
        first, last = s.date(), e.date()
        if first == last:
            return e - s if self.is_working(first) else timedelta(0)
        total = timedelta(0)
        if self.is_working(first):
            total += _midnight(first + _DAY) - s
        if self.is_working(last):
            total += e - _midnight(last)
        return total + self._count(first + _DAY, last) * _DAY

    def add(self, start: datetime, days: int) -> datetime:
        """The due time ``days`` working days after ``start``: same wall-clock time (China), on a working day.

        A start on a non-working day counts from 00:00 of the next working day.
        Requires ``days`` >= 0. The result is in ``start``'s time zone.
        """
        if days < 0:
            raise ValueError(f"days must be >= 0, got {days}")
        s = _china(start, "start")
        d = s.date()
        if not self.is_working(d):
            d = self._next_working(d)
            s = _midnight(d)
        for _ in range(days):
            d = self._next_working(d)
        return datetime.combine(d, s.timetz()).astimezone(start.tzinfo)

    def _next_working(self, d: date) -> date:
        d += _DAY
        while not self.is_working(d):
            d += _DAY
        return d

    def _count(self, first: date, stop: date) -> int:
        """Working days in [first, stop)."""
        if stop <= first:
            return 0
        if self._on_uncovered is not None:
            for year in self.uncovered(first, stop - _DAY):
                self._on_uncovered(year)
        return (_weekdays(first, stop) - _between(self._lost, first, stop)
                + _between(self._gained, first, stop))


def _between(days: list[date], first: date, stop: date) -> int:
    """How many of the sorted ``days`` lie in [first, stop)."""
    return bisect_left(days, stop) - bisect_left(days, first)


def _weekdays(first: date, stop: date) -> int:
    """Mondays to Fridays in [first, stop)."""
    weeks, rest = divmod((stop - first).days, 7)
    return 5 * weeks + sum(1 for k in range(rest) if (first.weekday() + k) % 7 < 5)


def _china(t: datetime, name: str) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {t!r}")
    return t.astimezone(CHINA_TZ)


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), CHINA_TZ)
