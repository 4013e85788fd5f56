"""The working-day calendar's office: load a year (validated, checked with the years loaded),
read the loaded years, and seed the shipped ones at a service's start.

The document rules are pure in :mod:`ledger.calendar`; this module runs the steps over the
:class:`~ledger.ports.CalendarRepository` port. A load decides (new, unchanged, replace or
refuse) and checks the years together inside the repository's transaction, so the stored
calendar is always one the checks accepted. The calendar the claims service counts with is
:class:`~ledger.app.live_calendar.LiveCalendar`.
"""

from __future__ import annotations

from typing import Any

from ledger.app.access import Principal, authorize
from ledger.calendar import (
    SEED_ACTOR,
    CalendarYear,
    CalendarYearEntry,
    Coverage,
    LoadOutcome,
    check_together,
    coverage,
    digest,
    entry_for,
    load_outcome,
    read_calendar_year,
)
from ledger.errors import Conflict, NotFound
from ledger.ports import CalendarRepository, Clock
from ledger.workdays import CHINA_TZ


class CalendarOffice:
    """Loading and reading the years of the working-day calendar."""

    def __init__(self, repo: CalendarRepository, *, clock: Clock) -> None:
        self.repo = repo
        self.clock = clock

    # ------------------------------------------------------------------ reading

    def years(self, principal: Principal) -> list[CalendarYearEntry]:
        """Every loaded year, oldest first."""
        authorize(principal, "calendar.read")
        return self.repo.calendar_years()

    def coverage(self, principal: Principal) -> Coverage:
        """The loaded years and the needed ones missing, as of today in China."""
        authorize(principal, "calendar.read")
        return coverage([e.year for e in self.repo.calendar_years()], self.clock.now().astimezone(CHINA_TZ).date())

    def show(self, principal: Principal, year: int) -> tuple[CalendarYearEntry, CalendarYear]:
        """A loaded year: its entry and its notice."""
        authorize(principal, "calendar.read")
        found = self.repo.calendar_year(year)
        if found is None:
            loaded = [e.year for e in self.repo.calendar_years()]
            span = f"{loaded[0]}–{loaded[-1]}" if loaded else "none"
            raise NotFound(f"no working-day calendar is loaded for {year} (loaded: {span}); load it with "
                           f"`ebill calendar load cn-{year}.json`")
        entry, doc = found
        return entry, read_calendar_year(doc, source=f"stored {year}")

    # ------------------------------------------------------------------ changing

    def load(self, principal: Principal, document: Any, *, source: str, expected_year: int | None = None,
             replace: bool = False) -> tuple[CalendarYearEntry, LoadOutcome]:
        """Load one year's notice (``source``: the file or request it came from). The same content
        again changes nothing; other content for a loaded year is refused (:class:`Conflict`) unless
        ``replace``. Nothing is stored if the document, or the years together, have a problem."""
        authorize(principal, "calendar.load")
        year = read_calendar_year(document, source=source, expected_year=expected_year)
        d = digest(document)
        entry = entry_for(year, digest_=d, loaded_from=source, by=principal.actor, at=self.clock.now())

        def decide(stored: CalendarYearEntry | None) -> LoadOutcome:
            return load_outcome(stored, d, year=year.year, replace=replace)

        outcome = self.repo.put_calendar_year(entry, document, decide=decide, check=_check)
        if outcome is LoadOutcome.UNCHANGED:
            found = self.repo.calendar_year(year.year)
            assert found is not None
            return found[0], outcome
        return entry, outcome

    def seed(self, documents: list[tuple[str, Any]]) -> list[int]:
        """Load the shipped years the database does not hold yet (at every start: a first start
        loads them all, a newer release its new years); an operator's year is never overwritten.
        Returns the years stored."""
        now = self.clock.now()
        years = [(read_calendar_year(doc, source=name), doc) for name, doc in documents]
        have = {e.year for e in self.repo.calendar_years()}
        fresh = [(entry_for(y, digest_=digest(doc), loaded_from=name, by=SEED_ACTOR, at=now), doc)
                 for (name, doc), (y, _) in zip(documents, years, strict=True) if y.year not in have]
        if not fresh:
            return []
        try:
            return self.repo.seed_calendar_years(fresh)
        except Conflict:   # another process of this service seeded at the same moment
            return []


def _check(documents: list[tuple[CalendarYearEntry, Any]]) -> None:
    """Raises InvalidInput if these years, loaded together, contradict each other."""
    check_together([(e.loaded_from, read_calendar_year(doc, source=e.loaded_from)) for e, doc in documents])
