"""The pepper versions in force, and their rotation (:mod:`ledger.peppers`).

:class:`LivePeppers` builds the ring from ``EBILL_PEPPER`` (version 1) and the versions the
store keeps sealed under the keystore passphrase; it reads the store's pepper generation at
most every ``ttl`` seconds and rebuilds the ring when it moved, so a rotation made by
``ebill pepper rotate`` reaches every API worker and the chain worker without a restart.

:class:`PepperOffice` rotates: a new pepper (random, or another organisation's, so that
hospitals and payers share every version), sealed, recorded as the next version together with
every known person's pseudonym under it, in one transaction.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ledger.app.access import Principal, authorize
from ledger.errors import InvalidInput
from ledger.identity import MIN_PEPPER_BYTES
from ledger.peppers import PepperRing, StoredPepper, pepper_id
from ledger.ports import InvoiceStore, KeySealer

#: what a version's pepper is sealed for (the sealed value opens only as this owner and version)
SEAL_OWNER = "pepper"


def _sealed_as(version: int) -> str:
    return f"v{version}"


class LivePeppers:
    """The ring in force over a store (a :class:`~ledger.peppers.PepperSource`)."""

    def __init__(self, store: InvoiceStore, sealer: KeySealer, *, first: bytes, ttl: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._sealer = sealer
        self._first = first
        self._ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._ring: PepperRing | None = None
        self._generation = -1
        self._checked = float("-inf")

    def ring(self) -> PepperRing:
        with self._lock:
            now = self._monotonic()
            if self._ring is not None and now - self._checked < self._ttl:
                return self._ring
            self._checked = now
            generation = self._store.pepper_generation()
            if self._ring is None or generation != self._generation:
                self._ring = self._load()
                self._generation = generation
            return self._ring

    def refresh(self) -> None:
        """Read the store again at the next :meth:`ring` (this process just added a version)."""
        with self._lock:
            self._checked = float("-inf")

    def _load(self) -> PepperRing:
        stored = self._store.pepper_versions()
        first = next((v for v in stored if v.version == 1), None)
        if first is not None and first.pepper_id != pepper_id(self._first):
            raise InvalidInput.single("EBILL_PEPPER", "pepper-version",
                                      f"EBILL_PEPPER (id {pepper_id(self._first)}) is not the first pepper of this "
                                      f"database (id {first.pepper_id}): set the pepper its pseudonyms were made with")
        return PepperRing((self._first, *(self._open(v) for v in stored if v.version > 1)))

    def _open(self, v: StoredPepper) -> bytes:
        assert v.sealed is not None   # (only version 1 is recorded without its pepper)
        return self._sealer.open(v.sealed, owner=SEAL_OWNER, address=_sealed_as(v.version))


@dataclass(frozen=True)
class Rotation:
    """What a rotation did: the new version, its id, and how many known persons it now knows under it."""

    version: int
    pepper_id: str
    persons: int


class PepperOffice:
    """Rotating the pepper (the consortium's governance: admin)."""

    def __init__(self, store: InvoiceStore, sealer: KeySealer, peppers: LivePeppers) -> None:
        self.store = store
        self.sealer = sealer
        self.peppers = peppers

    def versions(self, principal: Principal) -> list[StoredPepper]:
        """The versions recorded (empty before the first rotation: version 1 alone is in force)."""
        authorize(principal, "pepper.read")
        return self.store.pepper_versions()

    def rotate(self, principal: Principal, *, pepper: bytes | None = None) -> Rotation:
        """Add the next pepper version: ``pepper`` (another organisation's new version, so every
        organisation holds the same ones), or 32 fresh random bytes."""
        authorize(principal, "pepper.rotate")
        new = pepper if pepper is not None else secrets.token_bytes(32)
        if len(new) < MIN_PEPPER_BYTES:
            raise InvalidInput.single("pepper", "min-length", f"a pepper has at least {MIN_PEPPER_BYTES} bytes, "
                                                              f"got {len(new)}")
        ring = self.peppers.ring()
        version = ring.current + 1
        grown = ring.with_next(new) if new not in ring.peppers else None
        if grown is None:
            raise InvalidInput.single("pepper", "pepper-version", f"this pepper (id {pepper_id(new)}) is version "
                                                                  f"{ring.peppers.index(new) + 1} already")
        persons = self.store.add_pepper_version(
            version=version, pepper_id=pepper_id(new),
            sealed=self.sealer.seal(new, owner=SEAL_OWNER, address=_sealed_as(version)),
            first_id=pepper_id(ring.peppers[0]),
            advance=lambda pseudonym: grown.advance(pseudonym, version=version - 1)[0], actor=principal.actor)
        self.peppers.refresh()
        return Rotation(version, pepper_id(new), persons)
