"""The pseudonym pepper, versioned: rotated without losing who is who.

Version 1 is the deployment's original pepper (``EBILL_PEPPER``): its pseudonym of a person is
``HMAC-SHA256(pepper₁, normalised ID)``, as it always was (:func:`ledger.identity.pseudonymise`).
Each later version *chains* on the one before::

    pseudonym₁ = HMAC(pepper₁, ID)
    pseudonymₖ = HMAC(pepperₖ, pseudonymₖ₋₁)        k ≥ 2

Why chained rather than ``HMAC(pepperₖ, ID)``: a payer keeps pseudonyms only, never resident
IDs, so with independent versions it could not tell a person's new pseudonym until that
person showed their ID again — a child whose parent claims for them, someone who has not
logged in since, would lose every bill issued after the rotation. Chained, whoever holds the
new pepper derives every known person's new pseudonym from the one it has
(:meth:`PepperRing.advance`), at the moment of the rotation, and nobody is lost. A rotation
still does what it is for: pseudonyms made after it (in new invoices, on their way to other
organisations) cannot be linked to an ID without the new pepper, whoever learnt an old one.

A pseudonym is computed with the current (newest) version; a person is found under any of
theirs (the store keeps each version's pseudonym of each person it knows: ``person_pseudonyms``).
Pepper ids (:func:`pepper_id`) let organisations compare versions without showing them.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ledger.hashing import Hash32
from ledger.identity import MIN_PEPPER_BYTES, normalise_national_id

_ID_DOMAIN = b"ebill-ledger pepper id v1\x00"


def pepper_id(pepper: bytes) -> str:
    """A short public name of a pepper (16 hex digits of a domain-separated SHA-256): the same
    pepper has the same id in every organisation, and the id tells nothing of the pepper."""
    return hashlib.sha256(_ID_DOMAIN + pepper).hexdigest()[:16]


@dataclass(frozen=True)
class PepperRing:
    """The deployment's pepper versions, version 1 first (``peppers[k - 1]`` is version k)."""

    peppers: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.peppers:
            raise ValueError("a pepper ring has at least version 1")
        for n, pepper in enumerate(self.peppers, start=1):
            if not isinstance(pepper, bytes) or len(pepper) < MIN_PEPPER_BYTES:
                raise ValueError(f"pepper version {n} must be at least {MIN_PEPPER_BYTES} bytes")
        if len({bytes(p) for p in self.peppers}) != len(self.peppers):
            raise ValueError("a pepper cannot be two versions at once")

    @property
    def current(self) -> int:
        """The newest version: the one new pseudonyms are made with."""
        return len(self.peppers)

    def pseudonyms(self, national_id: str) -> tuple[Hash32, ...]:
        """The person's pseudonym under every version, version 1 first. Requires a valid resident ID."""
        nid = normalise_national_id(national_id)
        first = Hash32(hmac.new(self.peppers[0], nid.encode("ascii"), hashlib.sha256).digest())
        return (first, *self.advance(first, version=1))

    def pseudonym(self, national_id: str) -> Hash32:
        """The person's pseudonym under the current version."""
        return self.pseudonyms(national_id)[-1]

    def advance(self, pseudonym: bytes, *, version: int) -> tuple[Hash32, ...]:
        """From a person's pseudonym of ``version``: theirs under every later version, in order.
        Requires 1 <= version <= current."""
        if not 1 <= version <= self.current:
            raise ValueError(f"no pepper version {version} (versions 1 .. {self.current})")
        out: list[Hash32] = []
        value = bytes(pseudonym)
        for pepper in self.peppers[version:]:
            value = hmac.new(pepper, value, hashlib.sha256).digest()
            out.append(Hash32(value))
        return tuple(out)

    def ids(self) -> tuple[str, ...]:
        """Each version's :func:`pepper_id`, version 1 first."""
        return tuple(pepper_id(p) for p in self.peppers)

    def with_next(self, pepper: bytes) -> PepperRing:
        """This ring with ``pepper`` as its next version."""
        return PepperRing((*self.peppers, pepper))


@dataclass(frozen=True)
class StoredPepper:
    """A pepper version as the store keeps it: sealed under the keystore passphrase (version 1,
    ``EBILL_PEPPER``, only by its id: ``sealed`` None)."""

    version: int
    pepper_id: str
    sealed: str | None
    created_at: datetime
    created_by: str


class PepperSource(Protocol):
    """Where a service gets the pepper versions in force."""

    def ring(self) -> PepperRing:
        """The versions in force (a version added by another process included, within seconds)."""
        ...


@dataclass(frozen=True)
class FixedPeppers:
    """A ring that never changes (a service built outside the composition root, tests, tools)."""

    fixed: PepperRing

    def ring(self) -> PepperRing:
        return self.fixed


def pepper_source(pepper: bytes | PepperSource) -> PepperSource:
    """``pepper`` as a source: a bare pepper is a ring of that one version."""
    return FixedPeppers(PepperRing((pepper,))) if isinstance(pepper, bytes) else pepper
