"""The two :class:`~ledger.ports.Leadership` adapters: an advisory lock (PostgreSQL) and a
time-limited row (SQLite), both with the lease's epoch as fencing token (:mod:`ledger.leadership`).

Both fence the same way: :meth:`fenced` puts a :class:`~ledger.adapters.sql.base.Fence` on the
thread, and every write transaction of the store in that thread first checks that the token is
still the lease's epoch (:meth:`StoreBase._check_fence`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Protocol

from sqlalchemy import Connection, Engine, create_engine, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from ledger.adapters.sql.base import FENCE, LS, Fence, _aware, utcnow
from ledger.errors import FencedOut
from ledger.leadership import LeaseRow, admits, advisory_grant, lock_key


class Leases(Protocol):
    """What a leadership needs of the store (:class:`ledger.adapters.sql.leases.Leases`, which makes the
    leaderships: named here as a protocol, so the two modules do not import each other)."""

    engine: Engine

    def lease_row(self, name: str, conn: Connection | None = None) -> LeaseRow | None: ...

    def take_lease(self, name: str, holder: str, *, ttl: timedelta) -> int | None: ...

    def release_lease(self, name: str, holder: str) -> None: ...

log = logging.getLogger("ebill.leases")

#: seconds between two renewals of a time-limited lease by its holder (a write transaction each)
RENEW_EVERY = 10.0
#: seconds between two confirmations by an advisory lock's holder that its session (and lock) lives
CONFIRM_EVERY = 1.0
#: how soon PostgreSQL drops the session of a holder it no longer hears from (partition, dead host):
#: TCP keepalives after 5 s idle, every 2 s, 3 unanswered → about 11 s; the lock goes with the session
_KEEPALIVE = {"tcp_keepalives_idle": 5, "tcp_keepalives_interval": 2, "tcp_keepalives_count": 3}


class _Fencing:
    """What both adapters share: the token, the fence, the check."""

    def __init__(self, store: Leases, name: str, holder: str, *, ttl: timedelta) -> None:
        self.store, self._name, self.holder, self.ttl = store, name, holder, ttl
        self._epoch: int | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def epoch(self) -> int | None:
        """Our fencing token while we lead."""
        return self._epoch

    @contextmanager
    def fenced(self) -> Iterator[None]:
        if self._epoch is None:
            raise FencedOut(self._name, None, None)
        token = FENCE.set(Fence(self._name, self._epoch))
        try:
            yield
        finally:
            FENCE.reset(token)

    def check(self) -> None:
        row = self.store.lease_row(self._name)
        current = row.epoch if row is not None else None
        if not admits(current, self._epoch):
            raise FencedOut(self._name, self._epoch, current)


class TtlLeadership(_Fencing):
    """A lease row with an expiry, renewed every :data:`RENEW_EVERY` seconds (SQLite: one host).

    A holder that stops renewing (paused, hung) is taken over once its lease expired, or at
    once if its process is gone from this host; its writes are refused from then on.
    """

    def __init__(self, store: Leases, name: str, holder: str, *, ttl: timedelta) -> None:
        super().__init__(store, name, holder, ttl=ttl)
        self._renew_at = 0.0

    def lead(self) -> int | None:
        now = time.monotonic()
        if self._epoch is not None and now < self._renew_at:
            return self._epoch
        self._epoch = self.store.take_lease(self._name, self.holder, ttl=self.ttl)
        self._renew_at = now + min(RENEW_EVERY, self.ttl.total_seconds() / 3) if self._epoch is not None else 0.0
        return self._epoch

    def step_down(self) -> None:
        self._epoch, self._renew_at = None, 0.0

    def release(self) -> None:
        self.step_down()
        with contextlib.suppress(SQLAlchemyError):
            self.store.release_lease(self._name, self.holder)


class AdvisoryLeadership(_Fencing):
    """A session-level advisory lock (``pg_try_advisory_lock``) held on a connection of its own.

    PostgreSQL releases the lock when the session ends: a holder killed, or whose host died
    or was cut off (TCP keepalives, :data:`_KEEPALIVE`), is succeeded within the followers'
    polling interval. Each acquisition bumps the lease's epoch (:func:`~ledger.leadership.advisory_grant`)
    in a transaction that waits for the writes the previous holder has in flight (they read
    the lease row ``FOR SHARE``). The holder confirms every :data:`CONFIRM_EVERY` seconds, with
    a conditional update of its row, that its session and its epoch still stand.
    """

    def __init__(self, store: Leases, name: str, holder: str, *, ttl: timedelta) -> None:
        super().__init__(store, name, holder, ttl=ttl)
        self.key = lock_key(name)
        self._engine: Engine | None = None
        self._conn: Connection | None = None
        self._confirm_at = 0.0

    def lead(self) -> int | None:
        try:
            if self._epoch is not None:
                return self._confirm()
            return self._acquire()
        except SQLAlchemyError as exc:
            if self._epoch is not None:
                log.warning("lease %s: the session holding its lock failed (%s): no longer leading", self._name,
                            exc.__class__.__name__)
            self._drop()
            return None

    def _confirm(self) -> int | None:
        now = time.monotonic()
        if now < self._confirm_at:
            return self._epoch
        assert self._conn is not None
        done = self._conn.execute(update(LS).where(LS.c.name == self._name, LS.c.epoch == self._epoch)
                                  .values(expires_at=utcnow() + self.ttl))
        self._conn.commit()
        if done.rowcount != 1:
            log.warning("lease %s: epoch %s is no longer on record: no longer leading", self._name, self._epoch)
            self._drop()
            return None
        self._confirm_at = now + CONFIRM_EVERY
        return self._epoch

    def _acquire(self) -> int | None:
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar_one())
        conn.commit()
        if not held:
            return None
        row = conn.execute(select(LS).where(LS.c.name == self._name).with_for_update()).first()
        before = None if row is None else LeaseRow(row.holder, int(row.epoch), _aware(row.expires_at))
        granted = advisory_grant(before)
        values = {"holder": self.holder, "expires_at": utcnow() + self.ttl, "epoch": granted.epoch}
        conn.execute(pg_insert(LS).values(name=self._name, **values)
                     .on_conflict_do_update(index_elements=[LS.c.name], set_=values))
        conn.commit()
        self._epoch, self._confirm_at = granted.epoch, time.monotonic() + CONFIRM_EVERY
        return self._epoch

    def _connect(self) -> Connection:
        if self._engine is None:
            self._engine = create_engine(
                self.store.engine.url, poolclass=NullPool,
                connect_args={"application_name": f"ebill lease {self._name}"[:63], "connect_timeout": 5,
                              "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                              "keepalives_count": 3})
        conn = self._engine.connect()
        for setting, value in _KEEPALIVE.items():
            conn.execute(text(f"SET {setting} = {int(value)}"))
        conn.commit()
        return conn

    def _drop(self) -> None:
        """Forget the token and end the session (which releases the lock, if the server still has it)."""
        self._epoch, self._confirm_at = None, 0.0
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.close()
            self._conn = None

    def step_down(self) -> None:
        self._drop()

    def release(self) -> None:
        if self._conn is not None and self._epoch is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.execute(update(LS).where(LS.c.name == self._name, LS.c.epoch == self._epoch)
                                   .values(holder="", expires_at=utcnow()))
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                self._conn.commit()
        self._drop()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
