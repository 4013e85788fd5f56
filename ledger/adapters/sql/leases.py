"""Leases: time-limited locks so that one worker at a time sends from a store."""

from __future__ import annotations

import os
from datetime import timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from ledger.adapters.sql.base import LS, StoreBase, _aware, utcnow


class Leases(StoreBase):
    """Take, renew and release a named lease."""

    def release_lease(self, name: str, holder: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(LS).where(LS.c.name == name, LS.c.holder == holder))

    def take_lease(self, name: str, holder: str, *, ttl: timedelta) -> bool:
        """Hold lease ``name`` for ``ttl`` if it is free, expired, or already ours."""
        now = utcnow()
        try:
            with self._tx() as conn:
                row = conn.execute(select(LS).where(LS.c.name == name)).first()
                if row is None:
                    conn.execute(insert(LS).values(name=name, holder=holder, expires_at=now + ttl))
                    return True
                expires = _aware(row.expires_at)
                if row.holder != holder and expires is not None and expires > now and not _holder_dead(row.holder):
                    return False
                conn.execute(update(LS).where(LS.c.name == name).values(holder=holder, expires_at=now + ttl))
                return True
        except SQLAlchemyError:
            return False


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
