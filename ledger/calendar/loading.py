"""Loading a year into the service: what is recorded of it, and whether a load may replace it.

A year is loaded once (the shipped years at a service's start, each new year by an
operator); loading the same content again changes nothing; loading other content for a
year already loaded is refused unless the operator says to replace it (a correction, such
as the January 2020 notice that extended that Spring Festival). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from ledger.calendar.year import CalendarYear
from ledger.errors import Conflict

#: who loads the shipped years at a service's start
SEED_ACTOR = "system:seed"


class LoadOutcome(StrEnum):
    LOADED = "loaded"          # the year was not loaded before
    UNCHANGED = "unchanged"    # the same content was loaded already: nothing changed
    REPLACED = "replaced"      # other content for the year was replaced, as asked


@dataclass(frozen=True)
class CalendarYearEntry:
    """A loaded year: its notice, its size, its content digest, and who loaded it from where."""

    year: int
    source: str
    published: date | None
    holidays: int          # holiday dates
    make_up_days: int
    digest: str
    loaded_from: str       # a file name, or the API
    loaded_by: str
    loaded_at: datetime


def entry_for(y: CalendarYear, *, digest_: str, loaded_from: str, by: str, at: datetime) -> CalendarYearEntry:
    """The record of loading ``y`` now."""
    return CalendarYearEntry(year=y.year, source=y.source, published=y.published, holidays=len(y.holiday_dates()),
                             make_up_days=len(y.make_up_days), digest=digest_, loaded_from=loaded_from[:200],
                             loaded_by=by, loaded_at=at)


def load_outcome(stored: CalendarYearEntry | None, digest_: str, *, year: int, replace: bool) -> LoadOutcome:
    """What loading content ``digest_`` for ``year`` does, given the ``stored`` entry of that year;
    raises :class:`Conflict` for other content without ``replace``."""
    if stored is None:
        return LoadOutcome.LOADED
    if stored.digest == digest_:
        return LoadOutcome.UNCHANGED
    if not replace:
        raise Conflict(f"{year} is already loaded, with other content (from {stored.loaded_from} by {stored.loaded_by} "
                       f"at {stored.loaded_at:%Y-%m-%d %H:%M} UTC); to replace it, load again with --replace "
                       "(API: ?replace=true)")
    return LoadOutcome.REPLACED
