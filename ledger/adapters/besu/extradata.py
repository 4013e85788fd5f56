"""The ``extraData`` of a QBFT block header, as Hyperledger Besu encodes it.

Besu's ``QbftExtraDataCodec`` writes one RLP list::

    [ vanity (32 bytes), [validator address, ...], vote, round, [committed seal, ...] ]

where ``vote`` is the empty list or ``[recipient, 0xFF (add) | empty (drop)]`` and ``round``
an RLP scalar. A genesis block names the first validators and nothing else: zero vanity,
no vote, round 0, no seals (``QbftExtraDataCodec.encodeFromAddresses``, which
``besu rlp encode --type=QBFT_EXTRA_DATA`` and ``besu operator generate-blockchain-config``
use). :func:`genesis_extra_data` encodes that; :func:`decode` reads any QBFT ``extraData``
back (a genesis one, or a sealed block's), and raises :class:`ValueError` for anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import rlp
from eth_utils.address import is_address, to_checksum_address

VANITY_LENGTH = 32
#: Besu's byte for an "add" vote (``BftExtraDataCodec.ADD_BYTE_VALUE``); a drop vote is empty
ADD_VOTE = b"\xff"


@dataclass(frozen=True)
class Vote:
    """A validator vote carried by a block: add or drop ``recipient``."""

    recipient: str
    add: bool


@dataclass(frozen=True)
class QbftExtraData:
    """The decoded fields of a QBFT ``extraData``."""

    vanity: bytes
    validators: tuple[str, ...]
    vote: Vote | None
    round: int
    seals: tuple[bytes, ...]


def genesis_extra_data(validators: Sequence[str]) -> str:
    """The 0x-hex genesis ``extraData`` naming ``validators`` (addresses, in the order given)."""
    if not validators:
        raise ValueError("a QBFT network needs at least one validator")
    raw = []
    for address in validators:
        if not is_address(address):
            raise ValueError(f"not an address: {address!r}")
        raw.append(bytes.fromhex(to_checksum_address(address)[2:]))
    if len(set(raw)) != len(raw):
        raise ValueError("a validator is listed twice")
    encoded: bytes = rlp.encode([bytes(VANITY_LENGTH), raw, [], 0, []])
    return "0x" + encoded.hex()


def decode(extra_data: str) -> QbftExtraData:
    """The fields of a QBFT ``extraData`` (0x-hex); :class:`ValueError` saying what is wrong otherwise."""
    try:
        raw = bytes.fromhex(extra_data.removeprefix("0x"))
        items = rlp.decode(raw, strict=True)
    except (ValueError, rlp.exceptions.DecodingError) as exc:
        raise ValueError(f"extraData is not RLP: {exc}") from None
    if not isinstance(items, list) or len(items) != 5:
        raise ValueError(f"extraData must be an RLP list of 5 items (vanity, validators, vote, round, seals), "
                         f"got {type(items).__name__} of {len(items) if isinstance(items, list) else 0}")
    vanity, validators, vote, round_, seals = items
    if not isinstance(vanity, bytes) or len(vanity) != VANITY_LENGTH:
        raise ValueError(f"the vanity must be {VANITY_LENGTH} bytes")
    if not isinstance(validators, list) or not all(isinstance(v, bytes) and len(v) == 20 for v in validators):
        raise ValueError("the validators must be a list of 20-byte addresses")
    if not isinstance(round_, bytes) or round_[:1] == b"\0" or len(round_) > 4:
        raise ValueError("the round must be a minimal RLP scalar of at most 4 bytes")
    if not isinstance(seals, list) or not all(isinstance(s, bytes) and len(s) == 65 for s in seals):
        raise ValueError("the committed seals must be a list of 65-byte signatures")
    return QbftExtraData(vanity, tuple(to_checksum_address(v) for v in validators), _vote(vote),
                         int.from_bytes(round_, "big"), tuple(seals))


def _vote(item: object) -> Vote | None:
    if item == []:
        return None
    if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], bytes) or len(item[0]) != 20
            or item[1] not in (ADD_VOTE, b"")):
        raise ValueError("the vote must be [] or [20-byte recipient, 0xff (add) | empty (drop)]")
    return Vote(to_checksum_address(item[0]), item[1] == ADD_VOTE)
