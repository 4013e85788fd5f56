"""The working-day calendar the claims service counts with, reloaded when a year is loaded,
and loud about every year it has no data for.

Behaviour for a year without data (decided here, tested in tests/unit/test_live_calendar.py):

- working days in it are counted Monday to Friday (a due date must still be computed), but
  never silently: the first time in a process that a computation touches such a year, or
  that the year falls within today + :data:`~ledger.calendar.HORIZON_DAYS`, the logger
  ``ledger.calendar`` says so at WARNING, with the command that fixes it — once per year
  and process, so a busy queue does not flood the log;
- ``GET /v1/health`` reports ``calendar.missing`` (and a warning text) while a year needed
  from the first loaded one to today + the horizon has no data; ``ebill calendar years`` says
  the same.

:class:`LiveCalendar` reads the calendar generation at most every ``ttl`` seconds (one small
read) and rebuilds the calendar when it moved, so a year loaded by any instance reaches every
API worker within ``ttl`` without a restart. :class:`FixedCalendar` is a calendar of given
years (the shipped ones by default), for services built outside the composition root.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Iterable
from datetime import date
from typing import Protocol

from ledger.calendar import Coverage, coverage, read_calendar_year, shipped_years, work_calendar
from ledger.calendar.year import CalendarYear
from ledger.ports import CalendarRepository, Clock
from ledger.workdays import CHINA_TZ, WorkCalendar

log = logging.getLogger("ledger.calendar")


class CalendarSource(Protocol):
    """Where a service gets the working-day calendar in force, and what it lacks."""

    def calendar(self) -> WorkCalendar:
        """The calendar in force."""
        ...

    def coverage(self, today: date | None = None) -> Coverage:
        """The years loaded and the needed years missing (``today`` in China; None: the clock's)."""
        ...


class _Warnings:
    """Says, once per year and process, that a year has no calendar data."""

    def __init__(self) -> None:
        self._told: set[int] = set()
        self._lock = threading.Lock()

    def uncovered(self, year: int) -> None:
        """A computation touched ``year``, which has no data (called often: a set lookup once told)."""
        if year not in self._told:
            self._tell([year], f"working days in {year} are being counted Monday to Friday: no holidays or make-up "
                               f"working days are loaded for {year} (SLA due dates and queue ages may be off); load "
                               f"the State Council's notice with `ebill calendar load cn-{year}.json` "
                               "(see docs/calendar.md)")

    def missing(self, cov: Coverage) -> None:
        """Today + the horizon reaches years without data (``cov.missing``)."""
        warning = cov.warning()
        if warning is not None and not self._told.issuperset(cov.missing):
            self._tell(cov.missing, warning)

    def _tell(self, years: Collection[int], message: str) -> None:
        with self._lock:
            if self._told.issuperset(years):
                return
            self._told.update(years)
        log.warning("WORKING-DAY CALENDAR: %s", message)


def _today(clock: Clock) -> date:
    return clock.now().astimezone(CHINA_TZ).date()


class LiveCalendar:
    """The calendar of the loaded years (see the module docstring)."""

    def __init__(self, repo: CalendarRepository, *, clock: Clock, ttl: float = 1.0) -> None:
        self.repo = repo
        self.clock = clock
        self.ttl = ttl
        self._lock = threading.Lock()
        self._generation = -1
        self._checked = float("-inf")
        self._warnings = _Warnings()
        self._calendar = WorkCalendar(on_uncovered=self._warnings.uncovered)

    def calendar(self) -> WorkCalendar:
        """The calendar in force (at most ``ttl`` seconds old)."""
        now = time.monotonic()
        if now - self._checked < self.ttl:
            return self._calendar
        with self._lock:
            if now - self._checked >= self.ttl:
                generation = self.repo.calendar_generation()
                if generation != self._generation:
                    # every stored year was read as strictly as this when it was loaded
                    years = [read_calendar_year(doc, source=f"stored {e.year}")
                             for e, doc in self.repo.calendar_documents()]
                    self._calendar = work_calendar(years, on_uncovered=self._warnings.uncovered)
                    self._generation = generation
                self._warnings.missing(coverage(self._calendar.years, _today(self.clock)))
                self._checked = time.monotonic()
            return self._calendar

    def coverage(self, today: date | None = None) -> Coverage:
        return coverage(self.calendar().years, today or _today(self.clock))


class FixedCalendar:
    """A calendar of given years (default: the shipped ones), warning like :class:`LiveCalendar`."""

    def __init__(self, years: Iterable[CalendarYear] | None = None, *, clock: Clock) -> None:
        self.clock = clock
        self._warnings = _Warnings()
        self._calendar = work_calendar(shipped_years() if years is None else years,
                                       on_uncovered=self._warnings.uncovered)
        self._warned_on: date | None = None

    def calendar(self) -> WorkCalendar:
        today = _today(self.clock)
        if today != self._warned_on:
            self._warnings.missing(coverage(self._calendar.years, today))
            self._warned_on = today
        return self._calendar

    def coverage(self, today: date | None = None) -> Coverage:
        return coverage(self._calendar.years, today or _today(self.clock))
