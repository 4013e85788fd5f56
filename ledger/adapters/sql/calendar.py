"""The working-day calendar's loaded years in SQL: each year's notice as loaded, and who loaded it.

A load is one transaction that first takes the calendar generation row (``FOR UPDATE`` on
PostgreSQL; SQLite's one writer at a time), then lets the caller decide from the stored
entry of the year and check the documents as they would stand, and only then writes: two
operators loading contradicting years at the same moment cannot both succeed. The
generation (a meta counter) tells the API workers that the calendar changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, select

from ledger.adapters.sql import schema as s
from ledger.adapters.sql.base import M, StoreBase, _aware
from ledger.calendar.loading import SEED_ACTOR, CalendarYearEntry, LoadOutcome

CY = s.CalendarYearRow.__table__  # type: ignore[attr-defined]

#: meta key of the calendar generation: +1 whenever a year is loaded or replaced
CALENDAR_GENERATION = "calendar.generation"


class CalendarYears(StoreBase):
    """Loaded calendar years: seed, load or replace one under a check, read."""

    def calendar_years(self) -> list[CalendarYearEntry]:
        with self._read() as conn:
            return [_entry(r) for r in conn.execute(select(CY).order_by(CY.c.year))]

    def calendar_year(self, year: int) -> tuple[CalendarYearEntry, Any] | None:
        with self._read() as conn:
            row = conn.execute(select(CY).where(CY.c.year == year)).first()
        return None if row is None else (_entry(row), json.loads(row.document))

    def calendar_documents(self) -> list[tuple[CalendarYearEntry, Any]]:
        with self._read() as conn:
            return [(_entry(r), json.loads(r.document)) for r in conn.execute(select(CY).order_by(CY.c.year))]

    def calendar_generation(self) -> int:
        value = self.get_meta(CALENDAR_GENERATION)
        return int(value) if value else 0

    def seed_calendar_years(self, years: Sequence[tuple[CalendarYearEntry, Any]]) -> list[int]:
        with self._tx() as conn:
            self._lock_calendar(conn)
            stored = set(conn.execute(select(CY.c.year)).scalars())
            fresh = [(e, doc) for e, doc in years if e.year not in stored]
            for e, doc in fresh:
                conn.execute(CY.insert().values(**_values(e, doc)))
                self.audit(conn, actor=SEED_ACTOR, action="calendar.seeded", subject=f"calendar:{e.year}",
                           detail=_detail(e))
            if fresh:
                self._next_calendar(conn)
            return [e.year for e, _ in fresh]

    def put_calendar_year(self, entry: CalendarYearEntry, document: Any, *,
                          decide: Callable[[CalendarYearEntry | None], LoadOutcome],
                          check: Callable[[list[tuple[CalendarYearEntry, Any]]], None]) -> LoadOutcome:
        with self._tx() as conn:
            self._lock_calendar(conn)
            rows = conn.execute(select(CY).order_by(CY.c.year)).all()
            stored = {r.year: (_entry(r), json.loads(r.document)) for r in rows}
            before = stored.get(entry.year)
            outcome = decide(before[0] if before else None)
            if outcome is LoadOutcome.UNCHANGED:
                return outcome
            check([*(v for y, v in stored.items() if y != entry.year), (entry, document)])
            if outcome is LoadOutcome.REPLACED:
                conn.execute(CY.update().where(CY.c.year == entry.year).values(**_values(entry, document)))
            else:
                conn.execute(CY.insert().values(**_values(entry, document)))
            detail = _detail(entry) | ({"replacedDigest": before[0].digest} if before else {})
            self.audit(conn, actor=entry.loaded_by, action=f"calendar.{outcome.value}",
                       subject=f"calendar:{entry.year}", detail=detail)
            self._next_calendar(conn)
            return outcome

    def _lock_calendar(self, conn: Connection) -> int:
        """The generation row, locked for this transaction (made at 0 on first use)."""
        q = select(M.c.value).where(M.c.key == CALENDAR_GENERATION)
        if self.dialect == "postgresql":
            q = q.with_for_update()
        value = conn.execute(q).scalar_one_or_none()
        if value is None:
            conn.execute(self._insert(M).values(key=CALENDAR_GENERATION, value="0").on_conflict_do_nothing())
            value = conn.execute(q).scalar_one()
        return int(value)

    def _next_calendar(self, conn: Connection) -> None:
        self.set_meta(CALENDAR_GENERATION, str(self._lock_calendar(conn) + 1), conn)


def _values(e: CalendarYearEntry, doc: Any) -> dict[str, Any]:
    return {"year": e.year, "source": e.source, "published": e.published.isoformat() if e.published else None,
            "holidays": e.holidays, "make_up_days": e.make_up_days, "digest": e.digest,
            "document": json.dumps(doc, ensure_ascii=False, sort_keys=True), "loaded_from": e.loaded_from,
            "loaded_by": e.loaded_by, "loaded_at": e.loaded_at}


def _detail(e: CalendarYearEntry) -> dict[str, Any]:
    return {"digest": e.digest, "from": e.loaded_from, "holidays": e.holidays, "makeUpDays": e.make_up_days}


def _entry(row: Any) -> CalendarYearEntry:
    return CalendarYearEntry(
        year=row.year, source=row.source, published=date.fromisoformat(row.published) if row.published else None,
        holidays=row.holidays, make_up_days=row.make_up_days, digest=row.digest, loaded_from=row.loaded_from,
        loaded_by=row.loaded_by, loaded_at=_aware(row.loaded_at))  # type: ignore[arg-type]
