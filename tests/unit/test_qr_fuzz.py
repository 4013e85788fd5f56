"""Fuzzing ledger.qr.decode_qr: whatever text a scanner hands over, the decoder refuses it cleanly or accepts it.

Three contracts, each a hypothesis property:

(a) For any input, ``decode_qr`` returns a :class:`SignedSeal` that re-encodes to exactly
    that text, or raises :class:`InvalidInput` naming one of the documented rules; never
    another exception. Inputs: arbitrary Unicode, texts up to ~10 kB, the prefix followed by
    Base45-alphabet bodies of every length around the valid 177, Base45 of random bytes,
    and Base45 of version-1 layouts whose fields sit on and around their limits.
(b) One-character substitutions, deletions, insertions and truncations of the valid
    vectors are refused, or decode to a seal that recovers to another signer (or to none):
    no mutation keeps a valid signature by the same hospital. For the first vector every
    single-character substitution by a Base45 character is tried, not just a sample.
(c) Any valid seal, signed by a random key under a random deployment, round-trips through
    its text to the same seal and the signer eth-account derives from that key.

The ``*_deep`` variants run 20,000 examples each (a few minutes). They are marked ``slow``
and, because CI runs the slow tests too, run only with ``EBILL_FUZZ_DEEP=1``::

    EBILL_FUZZ_DEEP=1 .venv/bin/python -m pytest tests/unit/test_qr_fuzz.py -m slow

A coverage-guided harness with the same contract as (a) is ``scripts/fuzz_qr.py`` (atheris).
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from hypothesis import HealthCheck, currently_in_test_context, event, example, given, settings
from hypothesis import strategies as st

from ledger.base45 import ALPHABET, b45encode
from ledger.errors import InvalidInput, SignatureInvalid
from ledger.hashing import Fingerprint
from ledger.qr import (
    PAYLOAD_BYTES,
    PREFIX,
    SECP256K1_N,
    InvoiceSeal,
    QrDomain,
    SignedSeal,
    checksum_address,
    decode_qr,
    sign_seal,
    verify_seal_signature,
)

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "qr" / "valid.json").read_text("utf-8"))
VALID = VECTORS["vectors"]
BODY_LENGTH = len(VALID[0]["qr"]) - len(PREFIX)  # 177 Base45 characters for 118 bytes

#: (field, rule) pairs decode_qr documents; the first problem it reports must be one of them
DOCUMENTED = {("qr", "type"), ("qr", "qr-prefix"), ("qr", "base45"), ("qr", "qr-length"), ("qr", "qr-version"),
              ("issuer", "range"), ("invoiceCode", "range"), ("invoiceNumber", "range"), ("totalFen", "range"),
              ("signature", "signature-range"), ("signature", "signature-high-s")}

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST_CHEAP = settings(FAST, max_examples=1500)  # for tests that mostly stop at the first check
DEEP = settings(max_examples=20_000, deadline=None, suppress_health_check=list(HealthCheck))
deep = pytest.mark.skipif(os.environ.get("EBILL_FUZZ_DEEP") != "1", reason="deep fuzzing: set EBILL_FUZZ_DEEP=1")

_HALF_N = SECP256K1_N // 2


def decode_or_refuse(text: object) -> SignedSeal | None:
    """The contract of (a): a canonical SignedSeal, or None after a documented InvalidInput."""
    try:
        signed = decode_qr(text)  # type: ignore[arg-type]
    except InvalidInput as exc:
        problem = exc.problems[0]
        assert (problem.field, problem.rule) in DOCUMENTED, problem
        if currently_in_test_context():  # what the examples reach: --hypothesis-show-statistics
            event(f"refused: {problem.field} {problem.rule}")
        return None
    assert isinstance(signed, SignedSeal)
    assert signed.encode() == text  # one accepted text per payload
    if currently_in_test_context():
        event("accepted")
    return signed


def signer_or_none(signed: SignedSeal, domain: QrDomain) -> str | None:
    """Who signed ``signed`` under ``domain``; None when the signature recovers to no key."""
    try:
        return signed.signer(domain)
    except SignatureInvalid:
        return None


def _domain(doc: dict[str, Any]) -> QrDomain:
    return QrDomain(chain_id=doc["chainId"], verifying_contract=doc["verifyingContract"])


# --- (a) any text -----------------------------------------------------------------------

def _repeated(parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Long texts (up to ~10 kB) without making hypothesis draw 10,000 characters one by one."""
    return st.tuples(parts, st.integers(1, 10_000)).map(lambda t: (t[0] * t[1])[:10_240])


prefixes = st.sampled_from([PREFIX, PREFIX, PREFIX, "ebill:", "Ebill:", "EBILL", "EBILL::", " EBILL:", "EBILL:\n",
                            "\ufeffEBILL:", "ＥBILL:", "EBILL：", ""])
base45_bodies = st.text(alphabet=ALPHABET, min_size=BODY_LENGTH - 9, max_size=BODY_LENGTH + 9)


def _limits(width: int, top: int) -> st.SearchStrategy[int]:
    """A ``width``-byte unsigned field: anywhere, or on and around 0, its largest value and the byte limit."""
    full = 2 ** (8 * width) - 1
    edges = sorted({v for v in (0, 1, top - 1, top, top + 1, full - 1, full) if 0 <= v <= full})
    return st.one_of(st.sampled_from(edges), st.integers(0, min(top, full)), st.integers(0, full))


scalars = st.one_of(  # r, or s below the parity bit
    st.sampled_from([0, 1, 2, _HALF_N - 1, _HALF_N, _HALF_N + 1, SECP256K1_N - 1, SECP256K1_N, SECP256K1_N + 1,
                     2**255 - 1]),
    st.integers(1, _HALF_N), st.integers(0, 2**256 - 1),
)


@st.composite
def layouts(draw: st.DrawFn) -> bytes:
    """Version-1-shaped payloads whose fields sit on and around their limits, sometimes cut or extended."""
    version = draw(st.sampled_from([1] * 12 + [0, 2, 255]))
    fields = [(5, 10**11 - 1), (4, 10**8 - 1), (5, 10**10 - 1), (2, 0xFFFF), (5, 10**12)]
    raw = bytes([version]) + b"".join(draw(_limits(w, top)).to_bytes(w, "big") for w, top in fields)
    raw += draw(st.binary(min_size=32, max_size=32))
    r = draw(scalars) % 2**256
    y_parity_and_s = (draw(st.integers(0, 1)) << 255) | (draw(scalars) % 2**255)
    raw += r.to_bytes(32, "big") + y_parity_and_s.to_bytes(32, "big")
    assert len(raw) == PAYLOAD_BYTES
    cut = draw(st.sampled_from(["keep"] * 6 + ["truncate", "extend"]))
    if cut == "truncate":
        raw = raw[: draw(st.integers(0, PAYLOAD_BYTES - 1))]
    elif cut == "extend":
        raw += draw(st.binary(min_size=1, max_size=4))
    return raw


any_text = st.one_of(
    st.text(),
    st.text(alphabet=ALPHABET),
    st.builds(str.__add__, prefixes, st.text()),
    st.builds(str.__add__, prefixes, base45_bodies),
    st.builds(str.__add__, st.just(PREFIX), st.binary(max_size=300).map(b45encode)),
    _repeated(st.text(min_size=1, max_size=40)),
    st.builds(str.__add__, st.just(PREFIX), _repeated(st.text(alphabet=ALPHABET, min_size=1, max_size=40))),
)
non_strings = st.one_of(st.none(), st.binary(max_size=200), st.integers(), st.lists(st.text(max_size=3), max_size=3),
                        st.just(VALID[0]["qr"].encode()), st.just(bytearray(VALID[0]["qr"].encode())))


def check_any_text(text: str) -> None:
    decode_or_refuse(text)


@FAST_CHEAP
@given(any_text)
@example("")
@example(PREFIX)
@example(PREFIX + "0")
@example(PREFIX + "00")
@example(PREFIX + "GGW")
@example(PREFIX + "U5")
@example(PREFIX + "V5")
@example(PREFIX + VALID[0]["qr"][len(PREFIX):].lower())
@example(VALID[0]["qr"] + "\n")
@example(VALID[0]["qr"][:-1] + "\u0660")
@example(PREFIX + "\ud800")  # a lone surrogate, as a broken UTF-16 bridge hands it over
@example(PREFIX + "0" * 10_239)
def test_any_text_is_accepted_canonically_or_refused(text: str) -> None:
    check_any_text(text)


@pytest.mark.slow
@deep
@DEEP
@given(any_text)
def test_any_text_is_accepted_canonically_or_refused_deep(text: str) -> None:
    check_any_text(text)


@FAST
@given(non_strings)
def test_non_strings_are_refused_as_type(value: object) -> None:
    with pytest.raises(InvalidInput) as info:
        decode_qr(value)  # type: ignore[arg-type]
    assert (info.value.problems[0].field, info.value.problems[0].rule) == ("qr", "type")


def check_layout(raw: bytes) -> None:
    signed = decode_or_refuse(PREFIX + b45encode(raw))
    if signed is not None:
        signer = signer_or_none(signed, _domain(VALID[0]["domain"]))
        assert signer is None or signer == checksum_address(bytes.fromhex(signer[2:]))


@FAST
@given(layouts())
@example(bytes.fromhex(VALID[0]["payload"][2:]))
@example(bytes.fromhex(VALID[0]["payload"][2:])[:-1])
@example(bytes.fromhex(VALID[0]["payload"][2:]) + b"\0")
@example(b"\x02" + bytes.fromhex(VALID[0]["payload"][2:])[1:])
def test_layouts_around_the_field_limits_are_accepted_canonically_or_refused(raw: bytes) -> None:
    check_layout(raw)


@pytest.mark.slow
@deep
@DEEP
@given(layouts())
def test_layouts_around_the_field_limits_are_accepted_canonically_or_refused_deep(raw: bytes) -> None:
    check_layout(raw)


# --- (b) mutations of valid texts -------------------------------------------------------

@st.composite
def mutations(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A valid vector and its text with one character substituted, deleted or inserted, or cut short."""
    vector = draw(st.sampled_from(VALID))
    text: str = vector["qr"]
    char = st.one_of(st.sampled_from(ALPHABET), st.characters())
    kind = draw(st.sampled_from(["substitute", "delete", "insert", "truncate"]))
    if kind == "substitute":
        i = draw(st.integers(0, len(text) - 1))
        mutated = text[:i] + draw(char.filter(lambda c: c != text[i])) + text[i + 1 :]
    elif kind == "delete":
        i = draw(st.integers(0, len(text) - 1))
        mutated = text[:i] + text[i + 1 :]
    elif kind == "insert":
        i = draw(st.integers(0, len(text)))
        mutated = text[:i] + draw(char) + text[i:]
    else:
        mutated = text[: draw(st.integers(0, len(text) - 1))]
    assert mutated != text
    return vector, mutated


def check_mutation(vector: dict[str, Any], mutated: str) -> bool:
    """The contract of (b); returns whether ``mutated`` decoded at all."""
    signed = decode_or_refuse(mutated)
    if signed is None:
        return False
    assert signed != decode_qr(vector["qr"])
    assert signer_or_none(signed, _domain(vector["domain"])) != vector["signer"], (
        f"{mutated!r} still carries a valid signature by {vector['signer']}")
    return True


@FAST
@given(mutations())
def test_mutated_texts_are_refused_or_signed_by_someone_else(case: tuple[dict[str, Any], str]) -> None:
    check_mutation(*case)


@pytest.mark.slow
@deep
@DEEP
@given(mutations())
def test_mutated_texts_are_refused_or_signed_by_someone_else_deep(case: tuple[dict[str, Any], str]) -> None:
    check_mutation(*case)


def _every_substitution(vector: dict[str, Any]) -> int:
    """Try every Base45 character at every position of the body; returns how many decoded."""
    text: str = vector["qr"]
    decoded = 0
    for i in range(len(PREFIX), len(text)):
        for c in ALPHABET:
            if c != text[i]:
                decoded += check_mutation(vector, text[:i] + c + text[i + 1 :])
    return decoded


def test_every_substitution_of_the_first_vector() -> None:
    decoded = _every_substitution(VALID[0])
    # most substitutions land in the fingerprint or signature and still decode: the check above
    # is then about the signature, not the parser
    assert decoded > BODY_LENGTH * 10


@pytest.mark.slow
@deep
@pytest.mark.parametrize("vector", VALID[1:], ids=lambda v: v["name"])
def test_every_substitution_of_the_other_vectors(vector: dict[str, Any]) -> None:
    _every_substitution(vector)


# --- (c) round trip ---------------------------------------------------------------------

@st.composite
def seals(draw: st.DrawFn) -> InvoiceSeal:
    """Any valid seal, with every field's limits drawn often."""
    def digits(top: int) -> int:
        return draw(st.one_of(st.sampled_from([0, 1, top - 1, top]), st.integers(0, top)))

    day = draw(st.one_of(st.sampled_from([date(1970, 1, 1), date(2000, 2, 29), date(2149, 6, 6)]),
                         st.dates(min_value=date(1970, 1, 1), max_value=date(2149, 6, 6))))
    return InvoiceSeal(
        issuer=f"H{digits(10**11 - 1):011d}", invoice_code=f"{digits(10**8 - 1):08d}",
        invoice_number=f"{digits(10**10 - 1):010d}", issue_date=day.isoformat(),
        total_fen=draw(st.one_of(st.sampled_from([1, 2, 10**12 - 1, 10**12]), st.integers(1, 10**12))),
        fingerprint=Fingerprint(draw(st.binary(min_size=32, max_size=32))),
    )


private_keys = st.one_of(st.sampled_from([1, 2, SECP256K1_N - 1]), st.integers(1, SECP256K1_N - 1)).map(
    lambda k: k.to_bytes(32, "big"))
domains = st.builds(
    lambda chain_id, contract: QrDomain(chain_id=chain_id, verifying_contract=checksum_address(contract)),
    st.one_of(st.sampled_from([1, 31337, 20240601, 2**256 - 1]), st.integers(1, 2**256 - 1)),
    st.binary(min_size=20, max_size=20),
)


def check_round_trip(seal: InvoiceSeal, key: bytes, domain: QrDomain) -> None:
    signed = sign_seal(seal, private_key=key, domain=domain)
    text = signed.encode()
    assert len(text) == len(PREFIX) + BODY_LENGTH
    decoded = decode_qr(text)
    assert decoded == signed and decoded.seal == seal
    address = Account.from_key(key).address  # eth-account derives the address on its own
    assert decoded.signer(domain) == address
    verify_seal_signature(decoded, domain=domain, expected_signer=address)


@FAST
@given(seals(), private_keys, domains)
def test_any_seal_round_trips_with_its_signer(seal: InvoiceSeal, key: bytes, domain: QrDomain) -> None:
    check_round_trip(seal, key, domain)


@pytest.mark.slow
@deep
@DEEP
@given(seals(), private_keys, domains)
def test_any_seal_round_trips_with_its_signer_deep(seal: InvoiceSeal, key: bytes, domain: QrDomain) -> None:
    check_round_trip(seal, key, domain)
