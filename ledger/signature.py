"""secp256k1 ECDSA signatures as Ethereum takes them, whoever computed them.

A key held in memory (libsecp256k1 through coincurve) returns a *recoverable* signature:
``r``, ``s`` (low) and the recovery id. A key held on a PKCS#11 token (``CKM_ECDSA``) returns
only ``r || s``, and ``s`` may be high. Ethereum needs all three, with ``s`` in the lower half
of the group order (EIP-2), so :func:`complete` makes a token's raw signature Ethereum's:

1. **low s**: if ``s > n/2`` it becomes ``n - s``. ``(r, s)`` and ``(r, n - s)`` are both valid
   ECDSA signatures of the digest; flipping ``s`` flips the parity of the recovered point's y.
2. **recovery id**: the y parity (0 or 1) is whichever of the two makes ECDSA public-key
   recovery return the signer's public key. Exactly one does for a valid signature
   (x = r ≥ n, recovery ids 2 and 3, has probability ~2^-127 and is refused).

Precondition everywhere: ``digest`` is the 32-byte hash that was signed (EIP-712 digest,
transaction hash), never hashed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import coincurve

from ledger.errors import SignatureInvalid
from ledger.hashing import keccak256

#: the order of secp256k1's group
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_N = SECP256K1_N // 2


@dataclass(frozen=True)
class Signature:
    """A low-s secp256k1 ECDSA signature with its recovery id (``y_parity``, 0 or 1)."""

    r: int
    s: int
    y_parity: int

    def __post_init__(self) -> None:
        if not 0 < self.r < SECP256K1_N or not 0 < self.s <= HALF_N or self.y_parity not in (0, 1):
            raise SignatureInvalid(f"not a low-s recoverable signature: r={self.r:#x} s={self.s:#x} "
                                   f"y_parity={self.y_parity}")

    def rsv(self) -> bytes:
        """65 bytes ``r || s || v`` with ``v`` 27 or 28, as ``eth_sign`` tools take it."""
        return self.r.to_bytes(32, "big") + self.s.to_bytes(32, "big") + bytes([27 + self.y_parity])

    def recoverable(self) -> bytes:
        """65 bytes ``r || s || recovery id``, as libsecp256k1 takes it."""
        return self.r.to_bytes(32, "big") + self.s.to_bytes(32, "big") + bytes([self.y_parity])


@dataclass(frozen=True)
class HeldKey:
    """A key just made: its account, and how its custodian finds it again (``reference``: the
    key sealed under the keystore passphrase, or where it lives on a token; never a raw key)."""

    address: str
    reference: str


class DigestSigner(Protocol):
    """Whatever holds one account's key and signs 32-byte digests with it (memory, token)."""

    @property
    def address(self) -> str:
        """The account's EIP-55 address."""
        ...

    def sign_digest(self, digest: bytes) -> Signature:
        """The low-s recoverable signature of ``digest`` (32 bytes, signed as is)."""
        ...


def checksum_address(raw: bytes) -> str:
    """EIP-55 mixed-case checksum spelling of a 20-byte address."""
    hex_ = raw.hex()
    nibbles = keccak256(hex_.encode("ascii")).hex()[:40]
    return "0x" + "".join(c.upper() if int(n, 16) >= 8 else c for c, n in zip(hex_, nibbles, strict=True))


def address_of(public_key: bytes) -> str:
    """The EIP-55 address of a public key (65 bytes uncompressed, or 33 compressed)."""
    point = coincurve.PublicKey(public_key).format(compressed=False)
    return checksum_address(keccak256(point[1:])[12:])


def low_s(r: int, s: int) -> tuple[int, int]:
    """``(r, s)`` with ``s`` in the lower half of the order (EIP-2); the same signature otherwise."""
    return (r, SECP256K1_N - s) if s > HALF_N else (r, s)


def recover(digest: bytes, signature: Signature) -> bytes:
    """The uncompressed public key (65 bytes) that made ``signature`` over ``digest``.

    Raises :class:`SignatureInvalid` when it recovers to no point.
    """
    try:
        key = coincurve.PublicKey.from_signature_and_message(signature.recoverable(), digest, hasher=None)
    except ValueError as exc:
        raise SignatureInvalid(f"the signature recovers to no public key: {exc}") from exc
    return key.format(compressed=False)


def complete(digest: bytes, raw: bytes, *, public_key: bytes) -> Signature:
    """Ethereum's signature from a raw ``r || s`` (64 bytes, as PKCS#11 ``CKM_ECDSA`` returns it)
    made by ``public_key`` over ``digest``: low s, and the recovery id that recovers that key.

    Raises :class:`SignatureInvalid` when neither recovery id gives ``public_key`` back (the
    signature is not this key's over this digest: a wrong key object, a token fault).
    """
    if len(digest) != 32:
        raise ValueError(f"a digest is 32 bytes, got {len(digest)}")
    if len(raw) != 64:
        raise SignatureInvalid(f"a raw ECDSA signature on secp256k1 is 64 bytes r || s, got {len(raw)}")
    r, s = low_s(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    if not 0 < r < SECP256K1_N or not 0 < s < SECP256K1_N:
        raise SignatureInvalid(f"r and s must be in 1 .. n-1, got r={r:#x} s={s:#x}")
    expected = coincurve.PublicKey(public_key).format(compressed=False)
    for y_parity in (0, 1):
        candidate = Signature(r, s, y_parity)
        try:
            if recover(digest, candidate) == expected:
                return candidate
        except SignatureInvalid:
            continue
    raise SignatureInvalid(f"the signature recovers to another key than {address_of(expected)} with either "
                           "recovery id: it was not made by that key over this digest")


def sign_with_secret(digest: bytes, secret: bytes) -> Signature:
    """The deterministic (RFC 6979) low-s signature of ``digest`` by a 32-byte secret."""
    rsv = coincurve.PrivateKey(secret).sign_recoverable(digest, hasher=None)
    return Signature(int.from_bytes(rsv[:32], "big"), int.from_bytes(rsv[32:64], "big"), rsv[64])
