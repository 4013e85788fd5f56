"""The store's ground floor: the engine, write and read transactions, meta, audit and counters.

SQLAlchemy errors are translated at this boundary (``raise ... from exc``). The other
parts of :class:`~ledger.adapters.sql.store.SqlStore` build on :class:`StoreBase`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

from sqlalchemy import Connection, Engine, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from ledger.adapters.sql import schema as s
from ledger.adapters.sql.engine import open_engine
from ledger.errors import FencedOut, StoreUnavailable
from ledger.leadership import admits

# short names of the tables, for queries
H, C, I, L, B, V = (s.Hospital.__table__, s.Credential.__table__, s.InvoiceRow.__table__,  # type: ignore[attr-defined]  # noqa: E741
                    s.FeeLineRow.__table__, s.BatchRow.__table__, s.VoidRow.__table__)  # type: ignore[attr-defined]
E, ST, CB, M, A, LS = (s.ChainEvent.__table__, s.StampRow.__table__, s.ClawbackRow.__table__,  # type: ignore[attr-defined]
                       s.Meta.__table__, s.AuditEntry.__table__, s.Lease.__table__)  # type: ignore[attr-defined]
CT = s.Counter.__table__  # type: ignore[attr-defined]


log = logging.getLogger("ebill.store")


@dataclass(frozen=True)
class Fence:
    """Writes under this fence commit only while ``token`` is the epoch of lease ``lease``."""

    lease: str
    token: int


#: the fence of the current thread's writes (set by :meth:`Leadership.fenced`; None: unfenced, as the API's)
FENCE: ContextVar[Fence | None] = ContextVar("ebill_store_fence", default=None)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(t: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes for timezone-aware columns; they were stored as UTC."""
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=UTC)


class StoreBase:
    """The engine and its transactions (SQLite writers take turns on a file lock), meta, audit, counters."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        database = engine.url.database if self.dialect == "sqlite" else None
        self._lock_path = f"{database}.writelock" if database and database != ":memory:" else None

    @classmethod
    def open(cls, url: str) -> Self:
        return cls(open_engine(url))

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self._writer_turn(), self.engine.connect().execution_options(write=True) as conn, conn.begin():
                fence = FENCE.get()
                if fence is not None:
                    self._check_fence(conn, fence)
                yield conn
        except OperationalError as exc:
            raise StoreUnavailable(f"database unavailable: {exc.orig}") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StoreUnavailable(f"database connection lost: {exc.orig}") from exc
            raise

    def _check_fence(self, conn: Connection, fence: Fence) -> None:
        """Refuse this transaction (:class:`FencedOut`) unless ``fence``'s token is still its lease's epoch.

        On PostgreSQL the lease row is read ``FOR SHARE``: a takeover's epoch bump (an UPDATE of
        that row) waits until this transaction ends, so a write either commits before the
        takeover, where the new leader sees it, or is refused. On SQLite the write transaction
        already holds the database's one write lock (``BEGIN IMMEDIATE``) since its start.
        """
        query = select(LS.c.epoch).where(LS.c.name == fence.lease)
        if self.dialect == "postgresql":
            query = query.with_for_update(read=True)
        current = conn.execute(query).scalar_one_or_none()
        if not admits(None if current is None else int(current), fence.token):
            raise FencedOut(fence.lease, fence.token, None if current is None else int(current))

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        """SQLite: wait for our turn to write on an OS file lock, not in SQLite's busy handler.

        SQLite has one writer at a time, and its busy handler makes waiting writers sleep
        in growing steps (up to 100 ms) and retry: under a steady stream of uploads from
        several API worker processes a waiter keeps missing the free moments, requests
        stall for seconds, and the chain worker starves (seen in scripts/bench_upload.py:
        anchoring lag 30 s). ``flock`` wakes a waiter the moment the lock is free. Every
        write of the store goes through here, across threads and processes (one open file
        description per turn). PostgreSQL needs nothing: its writers do not exclude each other.
        """
        if self._lock_path is None:
            yield
            return
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except OperationalError as exc:
            raise StoreUnavailable(f"database unavailable: {exc.orig}") from exc

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    def get_meta(self, key: str) -> str | None:
        with self._read() as conn:
            return conn.execute(select(M.c.value).where(M.c.key == key)).scalar_one_or_none()

    def metas(self, keys: Sequence[str]) -> dict[str, str]:
        """The meta rows named ``keys`` that exist, in one query."""
        with self._read() as conn:
            return dict(conn.execute(select(M.c.key, M.c.value).where(M.c.key.in_(list(keys)))).all())

    def schema_revision(self) -> str | None:
        """The migration the database is at (None: not migrated at all); raises
        :class:`StoreUnavailable` when the database cannot be reached."""
        with self._read() as conn:
            try:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
            except (OperationalError, ProgrammingError) as exc:
                if "alembic_version" in str(exc.orig):
                    return None  # (no such table: a database never migrated)
                raise

    def set_meta(self, key: str, value: str, conn: Connection | None = None) -> None:
        if conn is None:
            with self._tx() as c:
                return self.set_meta(key, value, c)
        stmt = self._insert(M).values(key=key, value=value)
        conn.execute(stmt.on_conflict_do_update(index_elements=[M.c.key], set_={"value": value}))

    def audit(self, conn: Connection | None = None, *, actor: str, action: str, subject: str,
              detail: dict[str, Any]) -> None:
        """Append to the audit trail, in ``conn``'s transaction or (None) a transaction of its own."""
        if conn is None:
            with self._tx() as c:
                return self.audit(c, actor=actor, action=action, subject=subject, detail=detail)
        conn.execute(insert(A).values(at=utcnow(), actor=actor, action=action, subject=subject,
                                      detail=json.dumps(detail, ensure_ascii=False, sort_keys=True)))

    def add_counts(self, counts: Mapping[str, int]) -> None:
        """Add ``counts`` to the named event counters in one transaction (a row per name, made on first use)."""
        with self._tx() as conn:
            self._bump(conn, counts)

    def _bump(self, conn: Connection, counts: Mapping[str, int]) -> None:
        """Add ``counts`` to the named counters in ``conn``'s transaction (on PostgreSQL each row stays
        locked until it commits: call it last)."""
        now = utcnow()
        for name, n in sorted(counts.items()):  # one order for every writer: no deadlock between them
            if n:
                stmt = self._insert(CT).values(name=name, count=n, updated_at=now)
                conn.execute(stmt.on_conflict_do_update(index_elements=[CT.c.name],
                                                        set_={"count": CT.c.count + n, "updated_at": now}))

    def counters(self, *, prefix: str = "") -> dict[str, int]:
        """The event counters whose names start with ``prefix``."""
        with self._read() as conn:
            return {name: int(count) for name, count in conn.execute(
                select(CT.c.name, CT.c.count).where(CT.c.name.startswith(prefix, autoescape=True)))}

    def audit_trail(self, *, subject: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        q = select(A).order_by(A.c.id.desc()).limit(limit)
        if subject is not None:
            q = q.where(A.c.subject == subject)
        with self._read() as conn:
            return [{"at": _aware(r.at), "actor": r.actor, "action": r.action, "subject": r.subject,
                     "detail": json.loads(r.detail)} for r in conn.execute(q)]
