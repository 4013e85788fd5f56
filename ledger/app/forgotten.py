"""Reservations held by claims this database does not hold: ``ebill claims release-forgotten``.

A database restored from an older backup has lost the claims filed after it, but not their
stamps on chain. A *paid* one (finalised) stays as it is for ever: its money moved, and the
payer's office matches it with the bank's payments (``ebill backup gaps``). A *reservation*
(reserved, never finalised) holds part of its invoice that nobody will pay: nothing releases
it on its own, and a new claim on that invoice is refused (``unknown-stamp``). This use case
releases such reservations, explicitly, after a grace period, each one confirmed with the
contract first and audited (``claim.forgotten-released``).

The contract keys a claim by (payer, chain claim id) and only that payer's keys may release
it: this releases **the configured payer's own reservations only**. It sends from the payer's
account, so it runs while the service's stamper (the account's one sender) is stopped: it
takes the stamper's lease, or refuses.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ledger.app.claim_worker import ClaimStamper
from ledger.chain_gaps import UnknownStamp, keep_forgotten
from ledger.claims.stamps import StampOp, StampStatus
from ledger.errors import Conflict
from ledger.leadership import stamper_lease

#: the grace period a forgotten reservation is left alone for, by default (since it last changed on chain)
DEFAULT_GRACE = timedelta(hours=24)
_LEASE_TTL = timedelta(minutes=5)


@dataclass(frozen=True)
class Forgotten:
    """One of this payer's stamps of a claim the database does not hold, and what was done with it."""

    stamp: UnknownStamp
    on_chain: StampStatus
    kept: str | None            # why it stays as it is (None: released, or to release)
    released_tx: str | None = None
    refused: str | None = None  # the chain refused the release (its error's name)


def release_forgotten(stamper: ClaimStamper, *, grace: timedelta, apply: bool, actor: str) -> list[Forgotten]:
    """This payer's reservations of claims the database does not hold, judged by
    :func:`~ledger.chain_gaps.keep_forgotten` with the contract's status of each; released on chain
    (``apply``: in one batch from the payer's account, under the stamper's lease) and audited.

    Raises :class:`~ledger.errors.Conflict` when applying while the service's stamper runs.
    """
    claims = stamper.claims
    payer = claims.payer_id
    now = claims.clock.now()
    judged: list[Forgotten] = []
    for stamp, owned in claims.store.forgotten_stamps(payer):
        chain = stamper.ledger.claim_of(payer, stamp.chain_claim_id)
        status = StampStatus(chain.status)
        kept = keep_forgotten(stamp, owned=owned, on_chain=status, now=now, grace=grace,
                              updated_at=datetime.fromtimestamp(chain.updated_at, UTC))
        judged.append(Forgotten(stamp, status, kept))
    todo = [f for f in judged if f.kept is None]
    if not apply or not todo:
        return judged
    with _stamper_lease(stamper):
        outcomes = stamper.ledger.stamp_many(stamper.account(), StampOp.RELEASE.value,
                                             [f.stamp.chain_claim_id for f in todo])
    done: dict[bytes, Forgotten] = {}
    released: list[tuple[UnknownStamp, str, int]] = []
    for f, out in zip(todo, outcomes, strict=True):
        if out.refused is None:
            released.append((f.stamp, out.tx, out.block))
            done[f.stamp.chain_claim_id] = Forgotten(f.stamp, StampStatus.RELEASED, None, released_tx=out.tx)
        else:
            done[f.stamp.chain_claim_id] = Forgotten(f.stamp, f.on_chain, None, refused=out.refused)
    claims.store.record_forgotten_released(released, actor=actor)
    return [done.get(f.stamp.chain_claim_id, f) for f in judged]


@contextmanager
def _stamper_lease(stamper: ClaimStamper) -> Iterator[None]:
    """Lead the payer's stamper lease (its account's one sender) for the release, or refuse: the same
    election the stamper runs (an advisory lock on PostgreSQL, the lease row on SQLite)."""
    name = stamper_lease(stamper.claims.payer_id)
    holder = f"release-forgotten:{socket.gethostname()}:{os.getpid()}"
    leadership = stamper.claims.service.store.leadership(name, holder, ttl=_LEASE_TTL)
    if leadership.lead() is None:
        raise Conflict(f"the claims stamper of payer {stamper.claims.payer_id} is running (it holds the lease "
                       f"{name!r}) and is the one sender of the payer's account: stop `ebill serve` first, "
                       "then release")
    try:
        leadership.check()
        yield
    finally:
        leadership.release()
