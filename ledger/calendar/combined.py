"""The loaded years together: one :class:`~ledger.workdays.WorkCalendar`, and which years it lacks.

Each year's notice (:class:`~ledger.calendar.year.CalendarYear`) may reach into December of
the year before, so two notices can speak of the same date: :func:`check_together` refuses
a date one calls a holiday and another a make-up working day. :func:`coverage` says which
years the service needs and does not have: every year from the first one loaded (or this
one) to the end of the next :data:`HORIZON_DAYS` days. Today is 6 December 2026 with years
up to 2026 loaded: 2027 is missing (due dates of claims filed from late December fall in
it), and that is said loudly, never guessed silently.

Pure: the caller gives today's date.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from typing import Any

from ledger.calendar.year import CalendarYear, parse_calendar_file, read_calendar_year, year_in_name
from ledger.errors import FieldProblem, InvalidInput
from ledger.workdays import WorkCalendar

#: how far ahead the service must know the calendar: a claim's due date is 5 working days
#: away, a queue's review horizon a few weeks, and the next year's notice comes in November
HORIZON_DAYS = 60


@dataclass(frozen=True)
class Coverage:
    """The years loaded, and the years needed from the first loaded (or today's) year up to
    ``through`` (today + :data:`HORIZON_DAYS`) that are not."""

    years: tuple[int, ...]
    missing: tuple[int, ...]
    through: date

    def warning(self) -> str | None:
        """What an operator must read while a year is missing (None: nothing is)."""
        if not self.missing:
            return None
        names = ", ".join(map(str, self.missing))
        return (f"no working-day calendar for {names}: holidays and make-up working days of "
                f"{'that year' if len(self.missing) == 1 else 'those years'} are unknown, so working days there "
                "are counted Monday to Friday (SLA due dates and queue ages may be off); load the State Council's "
                f"notice with `ebill calendar load cn-{self.missing[0]}.json` (see docs/calendar.md)")

    def to_json(self) -> dict[str, Any]:
        return {"years": list(self.years), "missing": list(self.missing), "through": self.through.isoformat(),
                "warning": self.warning()}


def coverage(years: Iterable[int], today: date, *, horizon_days: int = HORIZON_DAYS) -> Coverage:
    """Which years are loaded and which needed ones are not (see :class:`Coverage`)."""
    have = sorted(set(years))
    through = today + timedelta(days=horizon_days)
    first = min(have[0], today.year) if have else today.year
    missing = tuple(y for y in range(first, through.year + 1) if y not in have)
    return Coverage(years=tuple(have), missing=missing, through=through)


def check_together(years: Sequence[tuple[str, CalendarYear]]) -> None:
    """Raises :class:`InvalidInput` if two years' notices (each with its source) contradict
    each other: a date one gives off and another makes a working day, or a year given twice."""
    problems: list[FieldProblem] = []
    seen: dict[int, str] = {}
    for source, y in years:
        if y.year in seen:
            problems.append(FieldProblem("year", "unique-year", f"{source}: {y.year} is also given by {seen[y.year]}"))
        seen[y.year] = source
    holidays = {d: (source, y) for source, y in years for d in y.holiday_dates()}
    for source, y in years:
        for m in y.make_up_days:
            if m.day in holidays:
                other, oy = holidays[m.day]
                period = oy.holiday_on(m.day)
                assert period is not None
                problems.append(FieldProblem("makeUpWorkdays", "holiday-and-workday",
                                             f"{source}: {m.day} is a make-up working day, but {other} gives it off "
                                             f"({period.label()} {period.first}–{period.last})"))
    if problems:
        raise InvalidInput(problems)


def work_calendar(years: Iterable[CalendarYear], *,
                  on_uncovered: Callable[[int], None] | None = None) -> WorkCalendar:
    """The working days of these years together (which :func:`check_together` accepted)."""
    ys = list(years)
    return WorkCalendar(holidays=[d for y in ys for d in y.holiday_dates()],
                        workdays=[d for y in ys for d in y.workday_dates()],
                        years=[y.year for y in ys], on_uncovered=on_uncovered)


def shipped_documents() -> list[tuple[str, Any]]:
    """(file name, document) of the years shipped in ``ledger/calendar/data`` (generated from the
    chinese-calendar package by ``scripts/gen_calendar.py``): seed data at a service's start."""
    folder = resources.files("ledger.calendar") / "data"
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".json")), key=lambda p: p.name)
    return [(p.name, parse_calendar_file(p.read_bytes(), source=p.name)) for p in files]


def shipped_years() -> list[CalendarYear]:
    """The shipped years, read as strictly as a loaded one."""
    return [read_calendar_year(doc, source=name, expected_year=year_in_name(name)) for name, doc in shipped_documents()]
