"""The shipped working-day calendar agrees with the chinese-calendar package, date by date.

chinese-calendar (PyPI, MIT; a compilation of the State Council's notices that no one here
wrote) is the source ``scripts/gen_calendar.py`` generates ``ledger/calendar/data`` from:
every day of every shipped year must be a working day here exactly when the package says so,
each holiday must carry the package's name for it, and the files must be what the script
writes now (stale otherwise). Skipped where the package is not installed (it is in the
``dev`` extra).
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger.calendar import shipped_documents, shipped_years, work_calendar

chinese_calendar = pytest.importorskip("chinese_calendar")

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_calendar", ROOT / "scripts" / "gen_calendar.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_calendar"] = module
    spec.loader.exec_module(module)
    return module


def test_every_shipped_day_agrees_with_the_package() -> None:
    years = shipped_years()
    cal = work_calendar(years)
    first, last = date(min(cal.years), 1, 1), date(max(cal.years), 12, 31)
    d, checked, wrong = first, 0, []
    while d <= last:
        if cal.is_working(d) != chinese_calendar.is_workday(d):
            wrong.append(d)
        checked += 1
        d += timedelta(days=1)
    assert not wrong, f"the shipped calendar and chinese-calendar disagree on {wrong[:10]}"
    assert checked > 8000


def test_every_holiday_carries_the_package_name_for_it() -> None:
    from chinese_calendar import constants

    for y in shipped_years():
        for p in y.holidays:
            for d in p.days():
                if d in constants.holidays:
                    assert constants.holidays[d] in (p.name_en or "").split(", "), (y.year, d, p)
        for m in y.make_up_days:
            assert m.day in constants.workdays, (y.year, m)


def test_the_shipped_years_are_exactly_the_package_years() -> None:
    from chinese_calendar import constants

    package_years = {d.year for d in constants.holidays}
    assert {y.year for y in shipped_years()} == package_years   # nothing invented beyond the source


def test_the_shipped_files_are_not_stale() -> None:
    gen = _generator()
    docs = gen.documents()
    shipped = {name: (ROOT / "ledger" / "calendar" / "data" / name).read_text(encoding="utf-8")
               for name, _ in shipped_documents()}
    assert set(docs) == set(shipped), "run scripts/gen_calendar.py"
    for name, doc in docs.items():
        assert gen.render(doc) == shipped[name], f"{name} is stale: run scripts/gen_calendar.py"
