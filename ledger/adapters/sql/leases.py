"""Leases: which process leads each of the service's singleton workers, with a fencing token.

The rules are :mod:`ledger.leadership`'s; this part keeps the rows (name, holder, expiry,
epoch) and makes the :class:`~ledger.ports.Leadership` of a name: an advisory lock on
PostgreSQL, a time-limited row on SQLite (:mod:`ledger.adapters.sql.leadership`). A lease's
row is never deleted, so its epoch never goes back: released, it keeps its epoch with an
empty holder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from ledger.adapters.sql.base import FENCE, LS, StoreBase, _aware, utcnow
from ledger.leadership import LeaseRow, grant
from ledger.ports import Leadership


class Leases(StoreBase):
    """Take, renew and release a named lease; read its epoch."""

    def leadership(self, name: str, holder: str, *, ttl: timedelta) -> Leadership:
        from ledger.adapters.sql.leadership import AdvisoryLeadership, TtlLeadership

        if self.dialect == "postgresql":
            return AdvisoryLeadership(self, name, holder, ttl=ttl)
        return TtlLeadership(self, name, holder, ttl=ttl)

    @contextmanager
    def _lease_tx(self) -> Iterator[Connection]:
        """A write transaction that no fence of this thread applies to (the lease's own rows)."""
        token = FENCE.set(None)
        try:
            with self._tx() as conn:
                yield conn
        finally:
            FENCE.reset(token)

    def lease_row(self, name: str, conn: Connection | None = None) -> LeaseRow | None:
        """The lease ``name`` as stored (None: never taken)."""
        if conn is None:
            with self._read() as c:
                return self.lease_row(name, c)
        row = conn.execute(select(LS).where(LS.c.name == name)).first()
        if row is None:
            return None
        return LeaseRow(holder=row.holder, epoch=int(row.epoch), expires_at=_aware(row.expires_at))

    def take_lease(self, name: str, holder: str, *, ttl: timedelta) -> int | None:
        """Hold the time-limited lease ``name`` for ``ttl`` if :func:`~ledger.leadership.grant` allows:
        its fencing token, or None while another holder's lease runs (or the database is unreachable)."""
        now = utcnow()
        try:
            with self._lease_tx() as conn:
                row = self.lease_row(name, conn)
                granted = grant(row, holder=holder, now=now, holder_dead=row is not None and _holder_dead(row.holder))
                if granted is None:
                    return None
                values = {"holder": holder, "expires_at": now + ttl, "epoch": granted.epoch}
                if row is None:
                    conn.execute(insert(LS).values(name=name, **values))
                else:
                    done = conn.execute(update(LS).where(LS.c.name == name, LS.c.epoch == row.epoch).values(**values))
                    if done.rowcount != 1:
                        return None
                return granted.epoch
        except SQLAlchemyError:
            return None

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up if ``holder`` holds it (its row and epoch stay)."""
        with self._lease_tx() as conn:
            conn.execute(update(LS).where(LS.c.name == name, LS.c.holder == holder)
                         .values(holder="", expires_at=utcnow()))


def _holder_dead(holder: str) -> bool:
    """True if ``holder`` ("host:pid:…") is a process of this host that no longer runs.

    A worker killed with SIGKILL cannot release its lease; its successor on the same
    host takes over at once instead of waiting for the lease to expire.
    """
    import socket

    parts = holder.split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
