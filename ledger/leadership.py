"""Leader election's rules, pure: who may hold a named lease, and its fencing token.

Several ``ebill serve --role worker`` processes may share one database. Each of the chain
worker, a payer's claims stamper and the notification dispatcher must be run by one of them
at a time: that one *leads* the lease of that name. A leader proves it leads with a *fencing
token*, the lease's **epoch**: a number kept in the lease's row that grows by one at every
change of holder and never goes back (a released lease keeps its row and its epoch). The
store commits a leader's writes only while its token is still the lease's epoch, checked in
the same transaction (:func:`admits`); a worker that was paused, partitioned or simply slow
while another took over finds its writes refused and stops acting.

Who gets the lease depends on the database:

- **PostgreSQL**: a session-level advisory lock (``pg_try_advisory_lock`` on
  :func:`lock_key`) held on a connection of its own. The server releases it the moment the
  holder's session ends (a killed process closes its socket), so a successor takes over
  within its polling interval. Every acquisition is a takeover (:func:`advisory_grant`).
- **SQLite** (one host): a row with an expiry that the holder renews (:func:`grant`). A
  holder that is gone from this host (its pid no longer runs) is taken over at once, any
  other only once its lease expired.

The chain itself stays the last fence: it refuses a second anchor of a root, a second void
and a second stamp of a claim, whatever two workers believe.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

#: the lease names of the service's singleton workers
CHAIN_WORKER = "chain-worker"
NOTIFICATIONS = "notifications"
STAMPER_PREFIX = "claims-stamper"


def stamper_lease(payer_id: str) -> str:
    """The lease of the claims stamper of ``payer_id`` (one sender per payer account)."""
    return f"{STAMPER_PREFIX}:{payer_id}"


@dataclass(frozen=True)
class LeaseRow:
    """A lease as the store holds it: ``holder`` is empty once released."""

    holder: str
    epoch: int
    expires_at: datetime | None


@dataclass(frozen=True)
class Grant:
    """The lease is ours with fencing token ``epoch``; ``takeover``: a new holder (epoch moved on)."""

    epoch: int
    takeover: bool


def grant(row: LeaseRow | None, *, holder: str, now: datetime, holder_dead: bool = False) -> Grant | None:
    """A time-limited lease (SQLite): may ``holder`` hold it at ``now``, and with which token?

    None while another holder's lease runs (not expired, and that holder not known dead);
    the same token when ``holder`` renews its own; the next epoch on any takeover (no row yet,
    released, expired, or its holder dead).
    """
    if row is None:
        return Grant(1, True)
    if row.holder == holder:
        return Grant(row.epoch, False)
    running = row.holder != "" and row.expires_at is not None and row.expires_at > now
    if running and not holder_dead:
        return None
    return Grant(row.epoch + 1, True)


def advisory_grant(row: LeaseRow | None) -> Grant:
    """The lease's token once its advisory lock is ours (PostgreSQL): always the next epoch,
    since whoever held it before — another process, or this one on a session that ended — may
    still have writes in flight."""
    return Grant((row.epoch if row is not None else 0) + 1, True)


def admits(current: int | None, token: int | None) -> bool:
    """May a write fenced by ``token`` commit, the lease's epoch being ``current`` (None: no row)?"""
    return token is not None and current is not None and current == token


def lock_key(name: str) -> int:
    """The advisory lock's key of lease ``name``: a signed 64-bit integer (PostgreSQL's ``bigint``).

    Every version of the service must derive the same key for a name, or two versions would
    lead at once during a rolling upgrade: the derivation is pinned by a unit test.
    """
    digest = hashlib.sha256(b"ebill-ledger/lease/" + name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


#: the advisory lock that makes instances starting at once migrate the schema one after another
MIGRATION_LOCK = lock_key("schema-migrations")
