"""ledger.qr and ledger.base45: round trips, canonical decoding, every vector, eth-account's digest.

The EIP-712 digest and the recovered signer are compared with eth-account (written by
others); the ethers cross-check lives in tests/crosscheck/test_qr_ethers.py.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger.base45 import ALPHABET, b45decode, b45encode
from ledger.errors import InvalidInput, SignatureInvalid, VerificationError
from ledger.fingerprint import seal
from ledger.hashing import Fingerprint, Hash32
from ledger.invoice import FeeCategory, FeeLine, Invoice, VisitType
from ledger.qr import (
    EIP712_TYPES,
    PAYLOAD_BYTES,
    PREFIX,
    SECP256K1_N,
    InvoiceSeal,
    QrDomain,
    SignedSeal,
    checksum_address,
    decode_qr,
    seal_digest,
    sign_seal,
    verify_seal_signature,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "qr"
VALID = json.loads((VECTORS / "valid.json").read_text(encoding="utf-8"))
INVALID = json.loads((VECTORS / "invalid.json").read_text(encoding="utf-8"))

KEY = bytes.fromhex("62852affd81809b77b04b1b2a8fd020c3a1f3b35e29f4e84292c2e9ac9e9c841")  # test key A
DOMAIN = QrDomain(chain_id=20240601, verifying_contract="0x83d485e1176966A961f3A3e9d67D45745aae6742")
SEAL = InvoiceSeal(issuer="H33010200001", invoice_code="33060124", invoice_number="0001234567",
                   issue_date="2024-03-05", total_fen=2500, fingerprint=Fingerprint(bytes(range(32))))
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("qr_vector_generator", VECTORS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _eth_account_digest(seal_: InvoiceSeal, domain: QrDomain) -> bytes:
    signable = encode_typed_data(full_message={
        "types": EIP712_TYPES, "primaryType": "InvoiceSeal", "domain": domain.as_eip712(), "message": seal_.as_eip712(),
    })
    return bytes(keccak(b"\x19" + signable.version + signable.header + signable.body))


def _seal_from_json(doc: dict[str, Any]) -> InvoiceSeal:
    return InvoiceSeal(issuer=doc["issuer"], invoice_code=doc["invoiceCode"], invoice_number=doc["invoiceNumber"],
                       issue_date=doc["issueDate"], total_fen=doc["totalFen"],
                       fingerprint=Fingerprint(bytes.fromhex(doc["fingerprint"][2:])))


def _domain_from_json(doc: dict[str, Any]) -> QrDomain:
    return QrDomain(chain_id=doc["chainId"], verifying_contract=doc["verifyingContract"])


# --- Base45 (RFC 9285) ------------------------------------------------------------------

RFC_9285 = [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"), (b"ietf!", "QED8WEX0")]


@pytest.mark.parametrize(("raw", "text"), RFC_9285)
def test_base45_rfc_9285_examples(raw: bytes, text: str) -> None:
    assert b45encode(raw) == text
    assert b45decode(text) == raw


@pytest.mark.parametrize(("text", "why"), [
    ("GGW", "above 65535"), ("BB", "above 255"), ("::", "above 255"), ("A", "1 more than a multiple of 3"),
    ("BB8A", "1 more than a multiple of 3"), ("bb8", "upper case only"), ("BB#", "not in the Base45 alphabet"),
    ("BB8\n", "1 more than a multiple of 3"), ("BB\u0660", "not in the Base45 alphabet"),
])
def test_base45_refuses_invalid_text(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        b45decode(text)


def test_base45_largest_groups() -> None:
    assert b45decode("FGW") == b"\xff\xff" and b45encode(b"\xff\xff") == "FGW"
    assert b45decode("U5") == b"\xff" and b45encode(b"") == "" and b45decode("") == b""


@PROPERTY
@given(st.binary(max_size=300))
@example(b"")
@example(b"\0")
@example(b"\0\0")
@example(b"\xff" * 3)
def test_base45_round_trip(raw: bytes) -> None:
    text = b45encode(raw)
    assert len(text) == 3 * (len(raw) // 2) + 2 * (len(raw) % 2)
    assert set(text) <= set(ALPHABET)
    assert b45decode(text) == raw


@PROPERTY
@given(st.text(alphabet=ALPHABET, max_size=30))
@example("GGW")
@example("FGW")
@example("U5")
@example("V5")
def test_base45_is_canonical(text: str) -> None:
    """Whatever decodes re-encodes to the same text: one spelling per byte string."""
    try:
        raw = b45decode(text)
    except ValueError:
        return
    assert b45encode(raw) == text


# --- the seal and its digest ------------------------------------------------------------

def test_digest_equals_eth_account_encode_typed_data() -> None:
    assert seal_digest(SEAL, DOMAIN) == _eth_account_digest(SEAL, DOMAIN)


def test_domain_separates_deployments() -> None:
    other_chain = replace(DOMAIN, chain_id=31337)
    other_contract = replace(DOMAIN, verifying_contract="0x" + "00" * 19 + "01")
    digests = {seal_digest(SEAL, d) for d in (DOMAIN, other_chain, other_contract)}
    assert len(digests) == 3


@pytest.mark.parametrize(("changes", "field", "rule"), [
    ({"issuer": "h33010200001"}, "issuer", "format"),
    ({"issuer": "H3301020000"}, "issuer", "format"),
    ({"issuer": "H3301020000١"}, "issuer", "format"),  # an Arabic-Indic digit is no ASCII digit
    ({"invoice_code": "3306012"}, "invoiceCode", "format"),
    ({"invoice_number": "0001234567\n"}, "invoiceNumber", "format"),
    ({"issue_date": "2024-3-05"}, "issueDate", "format"),
    ({"issue_date": "2023-02-29"}, "issueDate", "calendar-date"),
    ({"issue_date": "1969-12-31"}, "issueDate", "range"),
    ({"issue_date": "2149-06-07"}, "issueDate", "range"),
    ({"total_fen": 0}, "totalFen", "range"),
    ({"total_fen": 10**12 + 1}, "totalFen", "range"),
    ({"total_fen": True}, "totalFen", "range"),
    ({"total_fen": 25.0}, "totalFen", "range"),
    ({"fingerprint": b"\0" * 31}, "fingerprint", "format"),
    ({"fingerprint": "0x" + "00" * 32}, "fingerprint", "format"),
])
def test_seal_refuses_invalid_fields(changes: dict[str, Any], field: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as info:
        replace(SEAL, **changes)
    assert [(p.field, p.rule) for p in info.value.problems] == [(field, rule)]


def test_seal_reports_every_broken_field() -> None:
    with pytest.raises(InvalidInput) as info:
        InvoiceSeal(issuer="X", invoice_code="", invoice_number="1", issue_date="", total_fen=-1,
                    fingerprint=Fingerprint(b""))
    assert [p.field for p in info.value.problems] == [
        "issuer", "invoiceCode", "invoiceNumber", "issueDate", "totalFen", "fingerprint"]


@pytest.mark.parametrize(("chain_id", "contract", "rule"), [
    (0, "0x" + "11" * 20, "range"), (True, "0x" + "11" * 20, "range"), (2**256, "0x" + "11" * 20, "range"),
    (1, "0x" + "11" * 19, "address"), (1, "11" * 21, "address"), (1, "0x" + "zz" * 20, "address"),
    (1, "0x" + "11 " * 13 + "1", "address"), (1, "0x" + "11" * 20 + "\n", "address"),
    (1, "0x83D485e1176966A961f3A3e9d67D45745aae6742", "address-checksum"),
])
def test_domain_refuses_invalid_values(chain_id: Any, contract: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as info:
        QrDomain(chain_id=chain_id, verifying_contract=contract)
    assert info.value.problems[0].rule == rule


def test_domain_accepts_all_lower_and_all_upper_case_addresses() -> None:
    lower = QrDomain(chain_id=1, verifying_contract=DOMAIN.verifying_contract.lower())
    upper = QrDomain(chain_id=1, verifying_contract="0x" + DOMAIN.verifying_contract[2:].upper())
    assert seal_digest(SEAL, lower) == seal_digest(SEAL, upper)


def test_checksum_address_matches_eip_55_examples() -> None:
    for address in ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
                    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"):
        assert checksum_address(bytes.fromhex(address[2:])) == address


def test_seal_of_invoice_takes_the_local_issue_date() -> None:
    line = FeeLine(seq=1, item_code="XJ01CAA040A001010104465", item_name="阿莫西林胶囊", category=FeeCategory.CLASS_A,
                   quantity="2", unit="盒", unit_price_fen=1250, amount_fen=2500, service_date="2024-03-05")
    invoice = Invoice(issuer="H33010200001", invoice_code="33060124", invoice_number="0001234567",
                      check_code="a1B2c3", issued_at="2024-03-05T23:59:00+08:00", visit_type=VisitType.OUTPATIENT,
                      patient=Hash32(bytes(32)), total_fen=2500, fund_paid_fen=0, account_paid_fen=0,
                      cash_paid_fen=2500, fee_lines=(line,))
    sealed = seal(invoice, salt=bytes(16), line_key=bytes(16))
    got = InvoiceSeal.of_invoice(sealed)
    assert got == replace(SEAL, fingerprint=sealed.fingerprint)


# --- signing, encoding, decoding --------------------------------------------------------

def test_sign_encode_decode_verify() -> None:
    signed = sign_seal(SEAL, private_key=KEY, domain=DOMAIN)
    text = signed.encode()
    assert text.startswith(PREFIX) and len(text) == len(PREFIX) + 177
    assert len(b45decode(text[len(PREFIX):])) == PAYLOAD_BYTES
    assert decode_qr(text) == signed
    assert signed.signer(DOMAIN) == Account.from_key(KEY).address
    verify_seal_signature(decode_qr(text), domain=DOMAIN, expected_signer=Account.from_key(KEY).address)
    verify_seal_signature(signed, domain=DOMAIN, expected_signer=Account.from_key(KEY).address.lower())


def test_signature_is_what_eth_account_makes_and_recovers() -> None:
    signable = encode_typed_data(full_message={
        "types": EIP712_TYPES, "primaryType": "InvoiceSeal", "domain": DOMAIN.as_eip712(), "message": SEAL.as_eip712(),
    })
    theirs = Account.sign_message(signable, private_key=KEY)
    ours = sign_seal(SEAL, private_key=KEY, domain=DOMAIN)
    assert ours.signature == bytes(theirs.signature)  # both RFC 6979, low s, v = 27/28
    assert Account.recover_message(signable, signature=ours.signature) == ours.signer(DOMAIN)


def test_wrong_signer_names_expected_and_recovered() -> None:
    signed = sign_seal(SEAL, private_key=KEY, domain=DOMAIN)
    other = Account.from_key(b"\x01" * 32).address
    with pytest.raises(SignatureInvalid, match=f"signed by {Account.from_key(KEY).address}, expected {other}") as info:
        verify_seal_signature(signed, domain=DOMAIN, expected_signer=other)
    assert isinstance(info.value, VerificationError) and info.value.kind == "signature-invalid"


def test_expected_signer_must_be_an_address() -> None:
    signed = sign_seal(SEAL, private_key=KEY, domain=DOMAIN)
    with pytest.raises(InvalidInput, match="expectedSigner"):
        verify_seal_signature(signed, domain=DOMAIN, expected_signer="H33010200001")


def test_signature_that_recovers_no_key_is_signature_invalid() -> None:
    signed = sign_seal(SEAL, private_key=KEY, domain=DOMAIN)
    # r = 5 is no x-coordinate of a curve point (5**3 + 7 = 132 is not a square mod p)
    bogus = SignedSeal(SEAL, (5).to_bytes(32, "big") + signed.signature[32:])
    with pytest.raises(SignatureInvalid, match="recovers to no public key"):
        bogus.signer(DOMAIN)


@pytest.mark.parametrize(("signature", "rule"), [
    (b"\1" * 64, "signature-length"), (b"\1" * 64 + b"\x00", "signature-v"), (b"\1" * 64 + b"\x1d", "signature-v"),
    (b"\0" * 32 + b"\1" * 32 + b"\x1b", "signature-range"),
    (b"\1" * 32 + b"\xff" * 32 + b"\x1b", "signature-range"),
    (b"\1" * 32 + b"\x80" + b"\0" * 31 + b"\x1b", "signature-high-s"),
])
def test_signed_seal_refuses_non_canonical_signatures(signature: bytes, rule: str) -> None:
    with pytest.raises(InvalidInput) as info:
        SignedSeal(SEAL, signature)
    assert info.value.problems[0].rule == rule


def test_decode_refuses_non_strings() -> None:
    with pytest.raises(InvalidInput) as info:
        decode_qr(b"EBILL:" + b"0" * 177)  # type: ignore[arg-type]
    assert info.value.problems[0].rule == "type"


@st.composite
def seals(draw: st.DrawFn) -> InvoiceSeal:
    day = draw(st.dates(min_value=date(1970, 1, 1), max_value=date(2149, 6, 6)))
    return InvoiceSeal(
        issuer=f"H{draw(st.integers(0, 10**11 - 1)):011d}", invoice_code=f"{draw(st.integers(0, 10**8 - 1)):08d}",
        invoice_number=f"{draw(st.integers(0, 10**10 - 1)):010d}", issue_date=day.isoformat(),
        total_fen=draw(st.integers(1, 10**12)), fingerprint=Fingerprint(draw(st.binary(min_size=32, max_size=32))),
    )


keys = st.sampled_from([KEY, (1).to_bytes(32, "big"), (SECP256K1_N - 1).to_bytes(32, "big")])


@PROPERTY
@given(seals(), keys)
@example(replace(SEAL, issuer="H00000000000", invoice_code="00000000", invoice_number="0000000000",
                 issue_date="1970-01-01", total_fen=1, fingerprint=Fingerprint(bytes(32))), KEY)
@example(replace(SEAL, issuer="H99999999999", invoice_code="99999999", invoice_number="9999999999",
                 issue_date="2149-06-06", total_fen=10**12, fingerprint=Fingerprint(b"\xff" * 32)), KEY)
@example(replace(SEAL, issue_date="2000-02-29"), b"\x01" * 32)
def test_round_trip_and_recovery(seal_: InvoiceSeal, key: bytes) -> None:
    signed = sign_seal(seal_, private_key=key, domain=DOMAIN)
    text = signed.encode()
    assert len(text) == 183
    assert decode_qr(text) == signed
    assert signed.signer(DOMAIN) == Account.from_key(key).address


@PROPERTY
@given(st.data())
def test_any_accepted_text_is_the_canonical_encoding(data: st.DataObject) -> None:
    """Change one character of a valid text: either it is refused, or it re-encodes to itself."""
    text = sign_seal(SEAL, private_key=KEY, domain=DOMAIN).encode()
    i = data.draw(st.integers(0, len(text) - 1))
    mutated = text[:i] + data.draw(st.sampled_from(ALPHABET + "abc\n#")) + text[i + 1:]
    try:
        decoded = decode_qr(mutated)
    except InvalidInput:
        return
    assert decoded.encode() == mutated


# --- the committed vectors --------------------------------------------------------------

def test_vectors_are_not_stale() -> None:
    files = _generator().render()
    for name, text in files.items():
        assert (VECTORS / name).read_text(encoding="utf-8") == text, (
            f"tests/vectors/qr/{name} is stale: run .venv/bin/python tests/vectors/qr/generate.py")


def test_spec_shows_the_current_example_and_type() -> None:
    spec = (Path(__file__).resolve().parents[2] / "docs" / "qr-payload.md").read_text(encoding="utf-8")
    assert VALID["vectors"][0]["qr"] in spec
    fields = ",".join(f"{f['type']} {f['name']}" for f in EIP712_TYPES["InvoiceSeal"])
    assert f"InvoiceSeal({fields})" in spec


@pytest.mark.parametrize("vector", VALID["vectors"], ids=lambda v: v["name"])
def test_valid_vector(vector: dict[str, Any]) -> None:
    domain = _domain_from_json(vector["domain"])
    expected = _seal_from_json(vector["seal"])
    signed = decode_qr(vector["qr"])
    assert signed.seal == expected
    assert signed.seal.as_eip712() == vector["message"]
    assert "0x" + signed.signature.hex() == vector["signature"]
    assert "0x" + seal_digest(expected, domain).hex() == vector["digest"] == "0x" + _eth_account_digest(
        expected, domain).hex()
    signer = Account.from_key(vector["privateKey"]).address
    assert vector["signer"] == signer == signed.signer(domain)
    verify_seal_signature(signed, domain=domain, expected_signer=signer)
    assert signed.encode() == vector["qr"]
    assert PREFIX + b45encode(bytes.fromhex(vector["payload"][2:])) == vector["qr"]


@pytest.mark.parametrize("vector", INVALID["decode"], ids=lambda v: v["name"])
def test_invalid_vector_is_refused_by_decode(vector: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as info:
        decode_qr(vector["qr"])
    problem = info.value.problems[0]
    assert (problem.field, problem.rule) == (vector["field"], vector["rule"])


@pytest.mark.parametrize("vector", INVALID["verify"], ids=lambda v: v["name"])
def test_invalid_vector_fails_verification(vector: dict[str, Any]) -> None:
    domain = _domain_from_json(vector["domain"])
    signed = decode_qr(vector["qr"])
    assert signed.seal == _seal_from_json(vector["seal"])
    assert signed.signer(domain) == vector["recoveredSigner"] != vector["expectedSigner"]
    with pytest.raises(SignatureInvalid, match=f"signed by {vector['recoveredSigner']}, "
                                               f"expected {vector['expectedSigner']}"):
        verify_seal_signature(signed, domain=domain, expected_signer=vector["expectedSigner"])
