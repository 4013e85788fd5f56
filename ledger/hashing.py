"""Keccak-256 and the 32-byte values it produces.

Keccak-256 is Ethereum's hash (the pre-standard SHA-3 padding), *not* ``hashlib.sha3_256``.
The C implementation from ``safe-pysha3`` is used because fee-line hashing is the hot
path (1.3 M lines a year per city, ~5 hashes each); pycryptodome is the fallback.
"""

from __future__ import annotations

from typing import NewType

try:  # pragma: no cover - which branch runs depends on the wheel available
    from sha3 import keccak_256 as _keccak_256

    def keccak256(data: bytes) -> bytes:
        """Keccak-256 digest of ``data`` (32 bytes)."""
        digest: bytes = _keccak_256(data).digest()  # the wheel ships no type hints
        return digest

except ImportError:  # pragma: no cover
    from Crypto.Hash import keccak as _ck

    def keccak256(data: bytes) -> bytes:
        """Keccak-256 digest of ``data`` (32 bytes)."""
        return _ck.new(data=data, digest_bits=256).digest()


#: any 32-byte hash value
Hash32 = NewType("Hash32", bytes)
#: keccak256(JCS(invoice header)): the identity of an invoice everywhere
Fingerprint = NewType("Fingerprint", bytes)
#: root of an OpenZeppelin StandardMerkleTree
MerkleRoot = NewType("MerkleRoot", bytes)


def to_hex(value: bytes) -> str:
    """``0x``-prefixed lower-case hex."""
    return "0x" + value.hex()


def parse_hash32(text: str, *, what: str = "hash") -> Hash32:
    """Parse a ``0x``-prefixed 64-hex-digit string into 32 bytes.

    Raises ``ValueError`` naming ``what`` and what was found.
    """
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a 0x-prefixed hex string, got {type(text).__name__}")
    body = text[2:] if text[:2] in ("0x", "0X") else None
    if body is None or len(body) != 64:
        raise ValueError(f"{what} must be 0x followed by 64 hex digits, got {text[:80]!r}")
    try:
        return Hash32(bytes.fromhex(body))
    except ValueError:
        raise ValueError(f"{what} has non-hex characters: {text[:80]!r}") from None


def parse_fingerprint(text: str) -> Fingerprint:
    """Parse a fingerprint given as 0x-hex."""
    return Fingerprint(parse_hash32(text, what="fingerprint"))
