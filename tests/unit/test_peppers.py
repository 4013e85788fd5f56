"""ledger.peppers (chained pepper versions) and ledger.app.peppers.LivePeppers (the ring in force, reloaded
when another process rotates), with hand-computed expectations."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.app.peppers import LivePeppers
from ledger.errors import InvalidInput
from ledger.identity import pseudonymise
from ledger.peppers import FixedPeppers, PepperRing, StoredPepper, pepper_id, pepper_source

P1, P2, P3 = b"pepper one, sixteen+", b"pepper two, sixteen+", b"pepper three, 16+++"
NID = "11010519491231002X"


def _h(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def test_version_one_is_the_pseudonym_as_it_always_was() -> None:
    assert PepperRing((P1,)).pseudonym(NID) == pseudonymise(NID, pepper=P1) == _h(P1, NID.encode())
    assert PepperRing((P1,)).pseudonym(" 11010519491231002x ") == pseudonymise(NID, pepper=P1)   # normalised


def test_each_version_chains_on_the_one_before() -> None:
    ring = PepperRing((P1, P2, P3))
    v1 = _h(P1, NID.encode())
    v2 = _h(P2, v1)
    v3 = _h(P3, v2)
    assert ring.pseudonyms(NID) == (v1, v2, v3) and ring.pseudonym(NID) == v3 and ring.current == 3
    # from any version, the later ones: what a rotation derives for a person it knows only by pseudonym
    assert ring.advance(v1, version=1) == (v2, v3)
    assert ring.advance(v2, version=2) == (v3,)
    assert ring.advance(v3, version=3) == ()
    assert PepperRing((P1,)).with_next(P2).pseudonyms(NID) == (v1, v2)
    assert _h(P2, NID.encode()) not in ring.pseudonyms(NID)   # (not the ID under the new pepper alone)


@pytest.mark.parametrize("version", [0, 4, -1])
def test_advance_needs_a_version_of_the_ring(version: int) -> None:
    with pytest.raises(ValueError, match="no pepper version"):
        PepperRing((P1, P2, P3)).advance(b"\x00" * 32, version=version)


@pytest.mark.parametrize(("peppers", "message"), [
    ((), "at least version 1"),
    ((b"short",), "at least 16 bytes"),
    ((P1, b"x" * 15), "version 2 must be at least 16 bytes"),
    ((P1, P2, P1), "two versions at once"),
])
def test_a_ring_refuses_what_would_lose_or_confuse_persons(peppers: tuple[bytes, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PepperRing(peppers)


def test_a_pepper_id_names_a_pepper_without_showing_it() -> None:
    assert pepper_id(P1) == hashlib.sha256(b"ebill-ledger pepper id v1\x00" + P1).hexdigest()[:16]
    assert pepper_id(P1) != pepper_id(P2) and len(pepper_id(P1)) == 16
    assert PepperRing((P1, P2)).ids() == (pepper_id(P1), pepper_id(P2))


def test_a_bare_pepper_is_a_ring_of_one() -> None:
    assert pepper_source(P1).ring() == PepperRing((P1,))
    fixed = FixedPeppers(PepperRing((P1, P2)))
    assert pepper_source(fixed) is fixed


class _Store:
    """The two reads LivePeppers makes of a store."""

    def __init__(self) -> None:
        self.generation = 0
        self.versions: list[StoredPepper] = []
        self.reads = 0

    def pepper_generation(self) -> int:
        self.reads += 1
        return self.generation

    def pepper_versions(self) -> list[StoredPepper]:
        return list(self.versions)

    def add(self, version: int, pepper: bytes) -> None:
        if not self.versions:
            self.versions.append(StoredPepper(1, pepper_id(P1), None, datetime.now(UTC), "EBILL_PEPPER"))
        self.versions.append(StoredPepper(version, pepper_id(pepper), "sealed:" + pepper.hex(), datetime.now(UTC),
                                          "test"))
        self.generation += 1


class _Sealer:
    def seal(self, secret: bytes, *, owner: str, address: str) -> str:
        return "sealed:" + secret.hex()

    def open(self, sealed: str, *, owner: str, address: str) -> bytes:
        assert owner == "pepper" and address.startswith("v")
        return bytes.fromhex(sealed.removeprefix("sealed:"))


def test_the_ring_in_force_is_reloaded_when_another_process_rotates() -> None:
    store, now = _Store(), [0.0]
    live = LivePeppers(store, _Sealer(), first=P1, ttl=1.0, monotonic=lambda: now[0])  # type: ignore[arg-type]
    assert live.ring() == PepperRing((P1,))
    store.add(2, P2)
    now[0] = 0.5
    assert live.ring() == PepperRing((P1,)) and store.reads == 1   # within ttl: not even asked
    now[0] = 1.6
    assert live.ring() == PepperRing((P1, P2)) and store.reads == 2
    store.add(3, P3)
    live.refresh()   # (this process rotated: at once)
    assert live.ring() == PepperRing((P1, P2, P3))


def test_another_first_pepper_is_refused_by_name() -> None:
    store: Any = _Store()
    store.add(2, P2)
    with pytest.raises(InvalidInput) as caught:
        LivePeppers(store, _Sealer(), first=P3).ring()  # type: ignore[arg-type]
    assert caught.value.problems[0].field == "EBILL_PEPPER" and pepper_id(P1) in str(caught.value)
