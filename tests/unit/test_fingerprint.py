"""ledger.fingerprint: the sealed invoice against the reference libraries.

The production hot path uses orjson and safe-pysha3; here every hash is recomputed with
``rfc8785`` (the JCS reference) and pycryptodome's Keccak, and the fee-lines root with
the naive recursive tree of ``merkle_reference``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from decimal import Decimal
from typing import Any

import pytest
import rfc8785
from Crypto.Hash import keccak as _keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# tests/unit has no __init__.py, so pytest puts it on sys.path (rootdir-relative import)
from merkle_reference import ReferenceTree, fold

from ledger.errors import InclusionProofInvalid
from ledger.fingerprint import (
    LINE_LEAF_ENCODING,
    SALT_BYTES,
    SealedInvoice,
    fee_line_document,
    fee_line_hash,
    fee_lines_root,
    fingerprint_of_header,
    header_document,
    line_salts,
    seal,
)
from ledger.invoice import FeeCategory, FeeLine, Invoice, VisitType
from ledger.invoice_check import parse_invoice
from ledger.merkle import StandardMerkleTree, verify_inclusion

PEPPER = b"unit-test-pepper-0123456789abcdef"
PATIENT_ID = "11010519491231002X"
SALT = bytes(range(16))
LINE_KEY = bytes(range(100, 116))


def kec(data: bytes) -> bytes:
    return _keccak.new(data=data, digest_bits=256).digest()


def jcs(doc: Any) -> bytes:
    return rfc8785.dumps(doc)


def invoice() -> Invoice:
    return parse_invoice(
        {
            "schemaVersion": 1,
            "issuer": "H33010200001",
            "invoiceCode": "33060124",
            "invoiceNumber": "0001234567",
            "checkCode": "a1B2c3",
            "issuedAt": "2024-03-05T10:21:33+08:00",
            "visitType": "outpatient",
            "patientId": PATIENT_ID,
            "totalFen": 3950,
            "fundPaidFen": 2000,
            "accountPaidFen": 950,
            "cashPaidFen": 1000,
            "feeLines": [
                {
                    "seq": 1,
                    "itemCode": "XJ01CAA040A001010104465",
                    "itemName": "阿莫西林胶囊",
                    "category": "A",
                    "quantity": "2",
                    "unit": "盒",
                    "unitPriceFen": 1250,
                    "amountFen": 2500,
                    "serviceDate": "2024-03-05",
                },
                {
                    "seq": 2,
                    "itemCode": "C14030400000000012345",
                    "itemName": "一次性使用无菌注射器",
                    "category": "B",
                    "quantity": "3",
                    "unit": "支",
                    "unitPriceFen": 150,
                    "amountFen": 450,
                    "serviceDate": "2024-03-04",
                },
                {
                    "seq": 3,
                    "itemCode": "FWB-0010000000000-01A",
                    "itemName": '门诊诊查费 "复诊" \\ é',
                    "category": "C",
                    "quantity": "1",
                    "unit": "次",
                    "unitPriceFen": 1000,
                    "amountFen": 1000,
                    "serviceDate": "2024-03-05",
                },
            ],
        },
        pepper=PEPPER,
    )


def sealed(inv: Invoice | None = None) -> SealedInvoice:
    return seal(invoice() if inv is None else inv, salt=SALT, line_key=LINE_KEY)


# --- the reference computation --------------------------------------------------------


def ref_line_salts(line_key: bytes, n: int) -> list[bytes]:
    stream = hashlib.shake_256(b"ebill/line-salts/v1" + line_key).digest(16 * n)
    return [stream[16 * i : 16 * i + 16] for i in range(n)]


def ref_line_doc(line: FeeLine, salt: bytes) -> dict[str, Any]:
    return {**line.to_json(), "salt": "0x" + salt.hex()}


def ref_line_hashes(inv: Invoice, line_key: bytes) -> list[bytes]:
    salts = ref_line_salts(line_key, len(inv.fee_lines))
    return [kec(jcs(ref_line_doc(li, s))) for li, s in zip(inv.fee_lines, salts, strict=True)]


def ref_header(inv: Invoice, root: bytes, salt: bytes) -> dict[str, Any]:
    header = {k: v for k, v in inv.to_json().items() if k != "feeLines"}
    header.update(
        patient="0x" + inv.patient.hex(),
        feeLineCount=len(inv.fee_lines),
        feeLinesRoot="0x" + root.hex(),
        salt="0x" + salt.hex(),
    )
    return header


def ref_seal(inv: Invoice, salt: bytes, line_key: bytes) -> tuple[bytes, bytes]:
    """(fee-lines root, fingerprint) from the reference libraries only."""
    root = ReferenceTree(["bytes32"], [(h,) for h in ref_line_hashes(inv, line_key)]).root
    return root, kec(jcs(ref_header(inv, root, salt)))


# --- equality with the reference ----------------------------------------------------------


def test_fingerprint_equals_keccak_of_rfc8785_header() -> None:
    s = sealed()
    assert s.header == ref_header(s.invoice, s.fee_lines_root, SALT)
    assert s.fingerprint == kec(jcs(s.header))
    assert (s.fee_lines_root, s.fingerprint) == ref_seal(s.invoice, SALT, LINE_KEY)
    assert fingerprint_of_header(s.header) == s.fingerprint
    assert len(s.fingerprint) == 32


def test_header_has_every_design_field() -> None:
    assert set(sealed().header) == {
        "schemaVersion",
        "issuer",
        "invoiceCode",
        "invoiceNumber",
        "checkCode",
        "issuedAt",
        "visitType",
        "totalFen",
        "fundPaidFen",
        "accountPaidFen",
        "cashPaidFen",
        "patient",
        "feeLineCount",
        "feeLinesRoot",
        "salt",
    }
    assert sealed().header["feeLineCount"] == 3


def test_line_hash_equals_keccak_of_rfc8785_line_document() -> None:
    inv = invoice()
    salts = line_salts(LINE_KEY, 3)
    assert salts == ref_line_salts(LINE_KEY, 3)
    for line, salt in zip(inv.fee_lines, salts, strict=True):
        doc = fee_line_document(line, salt)
        assert doc == ref_line_doc(line, salt)
        assert fee_line_hash(line, salt) == kec(jcs(doc))


def test_fee_lines_root_equals_standard_merkle_tree() -> None:
    s = sealed()
    hashes = ref_line_hashes(s.invoice, LINE_KEY)
    assert s.fee_lines_root == StandardMerkleTree.of([(h,) for h in hashes], ["bytes32"]).root
    assert s.fee_lines_root == ReferenceTree(["bytes32"], [(h,) for h in hashes]).root
    assert s.fee_lines_root == fee_lines_root(hashes)
    assert LINE_LEAF_ENCODING == ("bytes32",)


def test_single_line_root_is_its_leaf() -> None:
    inv = invoice()
    one = dataclasses.replace(inv, fee_lines=inv.fee_lines[:1])
    (h,) = ref_line_hashes(one, LINE_KEY)
    assert sealed(one).fee_lines_root == kec(kec(h))


def test_header_document_matches_sealed_header() -> None:
    s = sealed()
    assert header_document(s.invoice, fee_lines_root=s.fee_lines_root, salt=SALT) == s.header


def test_batch_leaf() -> None:
    s = sealed()
    assert s.batch_leaf == (s.fingerprint, 3950)


# --- determinism and sensitivity ----------------------------------------------------------


def test_seal_is_deterministic_given_salts() -> None:
    a, b = sealed(), sealed()
    assert (a.fingerprint, a.fee_lines_root) == (b.fingerprint, b.fee_lines_root)


def test_different_salt_changes_fingerprint_only() -> None:
    a = sealed()
    b = seal(a.invoice, salt=bytes(16), line_key=LINE_KEY)
    assert b.fingerprint != a.fingerprint
    assert b.fee_lines_root == a.fee_lines_root


def test_different_line_key_changes_root_and_fingerprint() -> None:
    a = sealed()
    b = seal(a.invoice, salt=SALT, line_key=bytes(16))
    assert b.fee_lines_root != a.fee_lines_root
    assert b.fingerprint != a.fingerprint


def test_fresh_seal_uses_fresh_salts() -> None:
    inv = invoice()
    seals = [seal(inv) for _ in range(5)]
    assert len({s.fingerprint for s in seals}) == 5
    assert len({s.salt for s in seals}) == 5
    assert len({s.line_key for s in seals}) == 5
    assert all(len(s.salt) == SALT_BYTES and len(s.line_key) == SALT_BYTES for s in seals)
    for s in seals:  # and each still equals the reference for its own salts
        assert (s.fee_lines_root, s.fingerprint) == ref_seal(inv, s.salt, s.line_key)


HEADER_CHANGES: list[tuple[str, Any]] = [
    ("issuer", "H33010200002"),
    ("invoice_code", "33060125"),
    ("invoice_number", "0001234568"),
    ("check_code", "a1B2c4"),
    ("issued_at", "2024-03-05T10:21:34+08:00"),
    ("visit_type", VisitType.INPATIENT),
    ("patient", bytes(32)),
    ("total_fen", 3951),
    ("fund_paid_fen", 2001),
    ("account_paid_fen", 951),
    ("cash_paid_fen", 1001),
    ("schema_version", 2),
]


@pytest.mark.parametrize(("field", "value"), HEADER_CHANGES, ids=[f for f, _ in HEADER_CHANGES])
def test_any_header_field_changes_fingerprint(field: str, value: Any) -> None:
    base = sealed()
    changed = sealed(dataclasses.replace(base.invoice, **{field: value}))
    assert changed.fingerprint != base.fingerprint
    assert changed.fee_lines_root == base.fee_lines_root
    assert changed.fingerprint == ref_seal(changed.invoice, SALT, LINE_KEY)[1]


def test_dropping_a_line_changes_fingerprint() -> None:
    base = sealed()
    fewer = sealed(dataclasses.replace(base.invoice, fee_lines=base.invoice.fee_lines[:2]))
    assert fewer.fee_lines_root != base.fee_lines_root and fewer.fingerprint != base.fingerprint


def test_reordering_lines_changes_fingerprint() -> None:
    base = sealed()
    swapped = sealed(dataclasses.replace(base.invoice, fee_lines=base.invoice.fee_lines[::-1]))
    assert swapped.fingerprint != base.fingerprint


_NEXT_CATEGORY = {
    FeeCategory.CLASS_A: FeeCategory.CLASS_B,
    FeeCategory.CLASS_B: FeeCategory.SELF_PAY,
    FeeCategory.SELF_PAY: FeeCategory.CLASS_A,
}

#: field -> a change that always gives a different value
LINE_CHANGES: dict[str, Any] = {
    "seq": lambda v: v + 10,
    "item_code": lambda v: v[:-1] + ("0" if v[-1] != "0" else "1"),
    "item_name": lambda v: v + "片",
    "category": lambda v: _NEXT_CATEGORY[v],
    "quantity": lambda v: str(Decimal(v) + Decimal("0.001")),
    "unit": lambda v: v + "x",
    "unit_price_fen": lambda v: v + 1,
    "amount_fen": lambda v: v + 1,
    "service_date": lambda v: v[:-2] + ("01" if v[-2:] != "01" else "02"),
}


@pytest.mark.parametrize("index", [0, 1, 2])
@pytest.mark.parametrize("field", list(LINE_CHANGES))
def test_any_fee_line_field_changes_fingerprint(field: str, index: int) -> None:
    base = sealed()
    lines = list(base.invoice.fee_lines)
    old = getattr(lines[index], field)
    new = LINE_CHANGES[field](old)
    assert new != old
    lines[index] = dataclasses.replace(lines[index], **{field: new})
    changed = sealed(dataclasses.replace(base.invoice, fee_lines=tuple(lines)))
    assert changed.fee_lines_root != base.fee_lines_root
    assert changed.fingerprint != base.fingerprint
    assert (changed.fee_lines_root, changed.fingerprint) == ref_seal(
        changed.invoice, SALT, LINE_KEY
    )


# --- disclosure of one fee line -----------------------------------------------------------


@pytest.mark.parametrize("seq", [1, 2, 3])
def test_fee_line_proof_verifies_against_root(seq: int) -> None:
    s = sealed()
    doc, proof = s.fee_line_proof(seq)
    line = next(li for li in s.invoice.fee_lines if li.seq == seq)
    assert doc["seq"] == seq and doc["amountFen"] == line.amount_fen
    line_hash = kec(jcs(doc))
    leaf = kec(kec(line_hash))  # StandardMerkleTree leaf of ("bytes32",): abi.encode is identity
    assert proof.root == s.fee_lines_root
    assert proof.values == (line_hash,)
    assert proof.leaf == leaf
    verify_inclusion(root=s.fee_lines_root, leaf=leaf, proof=proof.proof)
    assert fold(leaf, list(proof.proof)) == s.fee_lines_root
    proof.verify()


def test_tampered_disclosed_line_does_not_verify() -> None:
    s = sealed()
    doc, proof = s.fee_line_proof(2)
    forged = {**doc, "amountFen": doc["amountFen"] + 1}
    with pytest.raises(InclusionProofInvalid):
        verify_inclusion(root=s.fee_lines_root, leaf=kec(kec(kec(jcs(forged)))), proof=proof.proof)


def test_disclosed_salt_is_the_line_salt() -> None:
    s = sealed()
    salts = ref_line_salts(LINE_KEY, 3)
    for i, line in enumerate(s.invoice.fee_lines):
        doc, _ = s.fee_line_proof(line.seq)
        assert doc["salt"] == "0x" + salts[i].hex()


@pytest.mark.parametrize("seq", [0, 4, -1, 100])
def test_fee_line_proof_unknown_seq(seq: int) -> None:
    with pytest.raises(KeyError):
        sealed().fee_line_proof(seq)


def test_line_salts_distinct_and_16_bytes() -> None:
    salts = line_salts(LINE_KEY, 50)
    assert len(salts) == 50
    assert all(len(x) == SALT_BYTES for x in salts)
    assert len(set(salts)) == 50
    assert LINE_KEY not in salts and SALT not in salts
    # the salts of a prefix do not depend on how many lines follow
    assert line_salts(LINE_KEY, 3) == salts[:3]
    assert line_salts(LINE_KEY, 0) == []


def test_disclosing_one_salt_reveals_no_other() -> None:
    s = sealed()
    disclosed = [s.fee_line_proof(seq)[0]["salt"] for seq in (1, 2, 3)]
    assert len(set(disclosed)) == 3
    for text in disclosed:
        assert bytes.fromhex(text[2:]) not in (LINE_KEY, SALT)
        assert LINE_KEY.hex() not in text and SALT.hex() not in text
    # different line keys give unrelated salt streams
    other = line_salts(bytes(16), 3)
    assert not set(other) & set(line_salts(LINE_KEY, 3))


# --- privacy ------------------------------------------------------------------------------


def test_header_contains_pseudonym_not_the_patient_id() -> None:
    s = sealed()
    canonical = jcs(s.header)
    for needle in (PATIENT_ID, PATIENT_ID.lower(), PATIENT_ID[:17], PATIENT_ID[6:14]):
        assert needle.encode() not in canonical
    assert "patientId" not in s.header
    assert s.header["patient"] == "0x" + s.invoice.patient.hex()
    for seq in (1, 2, 3):
        assert PATIENT_ID[:17].encode() not in jcs(s.fee_line_proof(seq)[0])


def test_line_key_not_in_header() -> None:
    s = sealed()
    assert LINE_KEY.hex() not in jcs(s.header).decode()


# --- bad salts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("salt", "line_key"),
    [
        (bytes(15), LINE_KEY),
        (bytes(17), LINE_KEY),
        (b"", LINE_KEY),
        (SALT, bytes(15)),
        (SALT, bytes(32)),
        (SALT, b""),
    ],
)
def test_wrong_salt_length_rejected(salt: bytes, line_key: bytes) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        seal(invoice(), salt=salt, line_key=line_key)


# --- property: fast path == reference for arbitrary valid fee lines ---------------------------

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")),
    min_size=1,
    max_size=40,
).filter(lambda t: t.strip())

_lines = st.builds(
    FeeLine,
    seq=st.integers(1, 100_000),
    item_code=st.from_regex(r"\A[A-Z0-9][A-Z0-9-]{18,38}[A-Z0-9]\Z"),
    item_name=_text,
    category=st.sampled_from(list(FeeCategory)),
    quantity=st.sampled_from(["1", "2.5", "0.001", "9999999.999"]),
    unit=_text.map(lambda t: t[:16]).filter(lambda t: t.strip()),
    unit_price_fen=st.integers(0, 10**10),
    amount_fen=st.integers(0, 10**12),
    service_date=st.dates().map(lambda d: d.isoformat()),
)


@given(
    lines=st.lists(_lines, min_size=1, max_size=12, unique_by=lambda li: li.seq),
    salt=st.binary(min_size=16, max_size=16),
    line_key=st.binary(min_size=16, max_size=16),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_seal_equals_reference_for_arbitrary_lines(
    lines: list[FeeLine], salt: bytes, line_key: bytes
) -> None:
    inv = dataclasses.replace(invoice(), fee_lines=tuple(lines))
    s = seal(inv, salt=salt, line_key=line_key)
    assert (s.fee_lines_root, s.fingerprint) == ref_seal(inv, salt, line_key)
    seq = lines[-1].seq
    doc, proof = s.fee_line_proof(seq)
    verify_inclusion(root=s.fee_lines_root, leaf=kec(kec(kec(jcs(doc)))), proof=proof.proof)
