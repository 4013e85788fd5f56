"""QBFT ``extraData`` as Besu writes it (``QbftExtraDataCodec``): expected bytes assembled by hand.

The reference here is a 15-line RLP encoder written from the Yellow Paper's definition
(appendix B), independent of the ``rlp`` package the code under test uses; the genesis
vectors are spelled out byte by byte. Besu's layout: ``[vanity(32), [validators],
vote ([] | [recipient, 0xff add / empty drop]), round (scalar), [seals (65 bytes)]]``.
"""

from __future__ import annotations

import pytest

from ledger.adapters.besu.extradata import Vote, decode, genesis_extra_data

A, B, C, D = ("0x" + c * 40 for c in "1234")


def _rlp(item: bytes | list[object]) -> bytes:
    """RLP, from its definition: a byte string or a list, with short and long length prefixes."""
    def length(n: int, short: int) -> bytes:
        if n < 56:
            return bytes([short + n])
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return bytes([short + 55 + len(raw)]) + raw

    if isinstance(item, bytes):
        return item if len(item) == 1 and item[0] < 0x80 else length(len(item), 0x80) + item
    body = b"".join(_rlp(x) for x in item)  # type: ignore[arg-type]
    return length(len(body), 0xC0) + body


def _addr(a: str) -> bytes:
    return bytes.fromhex(a[2:])


@pytest.mark.parametrize(("validators", "expected"), [
    # one validator: payload 33 (vanity) + 22 (list of one address) + 3 (c0 80 c0) = 58 = 0x3a, a long list
    ([A], "f83a" + "a0" + "00" * 32 + "d5" + "94" + "11" * 20 + "c0" "80" "c0"),
    # four: 33 + 2 + 4 * 21 + 3 = 122 = 0x7a; the validators' list is 84 bytes: f8 54
    ([A, B, C, D], "f87a" + "a0" + "00" * 32 + "f854" + "".join("94" + c * 20 for c in ("11", "22", "33", "44"))
     + "c080c0"),
])
def test_genesis_extra_data_is_besus_layout(validators: list[str], expected: str) -> None:
    assert genesis_extra_data(validators) == "0x" + expected
    assert genesis_extra_data(validators) == "0x" + _rlp([bytes(32), [_addr(v) for v in validators], [], b"", []]).hex()
    back = decode(genesis_extra_data(validators))
    assert (back.validators, back.vote, back.round, back.seals, back.vanity) == (tuple(validators), None, 0, (),
                                                                                  bytes(32))


def test_a_sealed_blocks_extra_data_decodes() -> None:
    seals = [bytes([1]) * 65, bytes([2]) * 65]
    for vote, expected in (([_addr(C), b"\xff"], Vote(C, True)), ([_addr(D), b""], Vote(D, False))):
        raw = _rlp([bytes(range(32)), [_addr(A), _addr(B)], vote, b"\xfe\xdc\xba", seals])
        extra = decode("0x" + raw.hex())
        assert extra.vanity == bytes(range(32)) and extra.validators == (A, B)
        assert extra.vote == expected and extra.round == 0xFEDCBA and extra.seals == tuple(seals)


GOOD = [bytes(32), [_addr(A)], [], b"", []]


@pytest.mark.parametrize(("raw", "message"), [
    (b"\x01\x02", "not RLP"),
    (_rlp(GOOD)[:-1], "not RLP"),                                          # truncated
    (_rlp(GOOD) + b"\x00", "not RLP"),                                     # trailing garbage
    (_rlp(GOOD[:4]), "5 items"),
    (_rlp([bytes(31), *GOOD[1:]]), "vanity"),
    (_rlp([GOOD[0], [bytes(19)], *GOOD[2:]]), "20-byte"),
    (_rlp([*GOOD[:2], [_addr(B), b"\x01"], *GOOD[3:]]), "vote"),           # neither add (0xff) nor drop
    (_rlp([*GOOD[:3], b"\x00\x01", []]), "round"),                         # not minimal
    (_rlp([*GOOD[:3], b"\x01\x02\x03\x04\x05", []]), "round"),
    (_rlp([*GOOD[:4], [bytes(64)]]), "65-byte"),
])
def test_malformed_extra_data_is_refused_naming_the_part(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode("0x" + raw.hex())


@pytest.mark.parametrize(("validators", "message"), [
    ([], "at least one validator"), ([A, A.upper().replace("0X", "0x")], "twice"), (["0x1234"], "not an address"),
])
def test_genesis_extra_data_refuses(validators: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        genesis_extra_data(validators)
