"""A person's year-to-date figures per scheme: the deductible used and the amount reimbursed.

A claim's decision depends on them, so filing reads them *locked* (PostgreSQL: the row,
made first if missing; SQLite: the writer's turn holds the file): two claims of one person
never use the same deductible twice. Every change of a claim adds its effect
(:attr:`ledger.claims.transitions.Change.year`) in the transaction that writes it; the
figures never go below zero.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, func, select, update

from ledger.adapters.sql import schema as s
from ledger.adapters.sql.store import SqlStore
from ledger.rules import YearToDate

PY: Table = s.metadata.tables["person_years"]


class YearFigures:
    """The ``person_years`` table."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self._sql: tuple[Any, Any, Any] | None = None

    def read(self, person: bytes, scheme: str, year: int) -> tuple[int, int]:
        """(deductible used, reimbursed) so far; (0, 0) for a year without claims."""
        with self.store._read() as conn:
            row = conn.execute(select(PY).where(PY.c.pseudonym == person, PY.c.scheme == scheme,
                                                PY.c.year == year)).first()
        return (row.deductible_used_fen, row.reimbursed_fen) if row else (0, 0)

    def lock(self, conn: Connection, person: bytes, scheme: str, year: int) -> YearToDate:
        """The figures, locked until ``conn``'s transaction ends."""
        ensure, lock, _ = self._statements()
        key = {"p": person, "s": scheme, "y": year}
        conn.execute(ensure, key)
        row = conn.execute(lock, key).one()
        return YearToDate(row.deductible_used_fen, row.reimbursed_fen)

    def add(self, conn: Connection, person: bytes, scheme: str, year: int, deductible_fen: int,
            reimbursed_fen: int) -> None:
        """Add to the figures (negative: give back), in ``conn``'s transaction."""
        conn.execute(self._statements()[2], {"p": person, "s": scheme, "y": year, "d": deductible_fen,
                                             "r": reimbursed_fen})

    def _statements(self) -> tuple[Any, Any, Any]:
        """(ensure the row, read it locked, add to it): built once per store, so SQLAlchemy
        reuses their compiled form (building them per claim cost more than running them)."""
        if self._sql is None:
            key = and_(PY.c.pseudonym == bindparam("p"), PY.c.scheme == bindparam("s"), PY.c.year == bindparam("y"))
            ensure = self.store._insert(PY).values(pseudonym=bindparam("p"), scheme=bindparam("s"),
                                                   year=bindparam("y"), deductible_used_fen=0, reimbursed_fen=0)
            ensure = ensure.on_conflict_do_nothing(index_elements=["pseudonym", "scheme", "year"])
            lock = select(PY).where(key)
            bounded = func.greatest if self.store.dialect == "postgresql" else func.max
            if self.store.dialect == "postgresql":
                lock = lock.with_for_update()
            add = update(PY).where(key).values(
                deductible_used_fen=bounded(0, PY.c.deductible_used_fen + bindparam("d")),
                reimbursed_fen=bounded(0, PY.c.reimbursed_fen + bindparam("r")))
            self._sql = (ensure, lock, add)
        return self._sql
