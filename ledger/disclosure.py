"""Selective disclosure of one fee line: prove it belongs to an invoice, reveal no other line.

A hospital hands an auditor (or a payer) this document for one line::

    {"format": "ebill-fee-line-disclosure/v1",
     "fingerprint": "0x…",
     "header": {… the invoice header: issuer, codes, amounts, pseudonym, feeLinesRoot, salt …},
     "line": {… the fee line document with its 16-byte salt …},
     "lineProof": ["0x…", …]}

Checking it (:func:`verify_disclosure`) needs no secret and no network:
keccak256(JCS(header)) must be the fingerprint, and the line's leaf
keccak256(keccak256(keccak256(JCS(line)))) must lead to ``header.feeLinesRoot`` along
``lineProof``. Siblings are salted line hashes, so nothing about the other lines can be
recovered from them. Whether the fingerprint is anchored is the online check of
:mod:`verifier.online`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.canonical import canonical_json, canonical_json_flat
from ledger.errors import FieldProblem, InclusionProofInvalid, InvalidInput, VerificationError
from ledger.fingerprint import SealedInvoice
from ledger.hashing import Fingerprint, Hash32, keccak256, parse_hash32, to_hex
from ledger.merkle import process_proof

FORMAT = "ebill-fee-line-disclosure/v1"
_HEADER_FIELDS = frozenset({
    "accountPaidFen", "cashPaidFen", "checkCode", "feeLineCount", "feeLinesRoot", "fundPaidFen", "invoiceCode",
    "invoiceNumber", "issuedAt", "issuer", "patient", "salt", "schemaVersion", "totalFen", "visitType",
})
_LINE_FIELDS = frozenset({
    "amountFen", "category", "itemCode", "itemName", "quantity", "salt", "seq", "serviceDate", "unit", "unitPriceFen",
})
MAX_PROOF = 32  # 2**32 lines: far beyond any invoice


@dataclass(frozen=True)
class DisclosedLine:
    """A fee line proven to belong to the invoice ``fingerprint``."""

    fingerprint: Fingerprint
    header: dict[str, Any]
    line: dict[str, Any]


def make_disclosure(sealed: SealedInvoice, seq: int) -> dict[str, Any]:
    """The disclosure document of line ``seq`` (raises ``KeyError`` if the invoice has no such line)."""
    line, proof = sealed.fee_line_proof(seq)
    return {"format": FORMAT, "fingerprint": to_hex(sealed.fingerprint), "header": sealed.header,
            "line": line, "lineProof": [to_hex(h) for h in proof.proof]}


def verify_disclosure(doc: Any) -> DisclosedLine:
    """Check a disclosure document; raise :class:`InvalidInput` if malformed, or
    :class:`VerificationError` naming what does not hold."""
    problems: list[FieldProblem] = []
    if not isinstance(doc, dict):
        raise InvalidInput.single("(document)", "object", "a disclosure is a JSON object")
    if doc.get("format") != FORMAT:
        problems.append(FieldProblem("format", "format", f"expected {FORMAT!r}, got {doc.get('format')!r}"))
    unknown = set(doc) - {"format", "fingerprint", "header", "line", "lineProof"}
    if unknown:
        problems.append(FieldProblem(sorted(unknown)[0], "unknown-field", "not part of a disclosure"))
    header, line, proof_doc = doc.get("header"), doc.get("line"), doc.get("lineProof")
    for name, value, fields in (("header", header, _HEADER_FIELDS), ("line", line, _LINE_FIELDS)):
        if not isinstance(value, dict) or set(value) != fields:
            problems.append(FieldProblem(name, "fields", f"{name} must hold exactly the fields {sorted(fields)}"))
    fingerprint: Hash32 | None = None
    try:
        fingerprint = parse_hash32(str(doc.get("fingerprint")), what="fingerprint")
    except ValueError as exc:
        problems.append(FieldProblem("fingerprint", "hash32", str(exc)))
    proof: list[Hash32] = []
    if not isinstance(proof_doc, list) or len(proof_doc) > MAX_PROOF:
        problems.append(FieldProblem("lineProof", "array", f"a list of at most {MAX_PROOF} 0x-hashes"))
    else:
        for i, h in enumerate(proof_doc):
            try:
                proof.append(parse_hash32(str(h), what=f"lineProof[{i}]"))
            except ValueError as exc:
                problems.append(FieldProblem(f"lineProof[{i}]", "hash32", str(exc)))
    if problems:
        raise InvalidInput(problems)
    assert isinstance(header, dict) and isinstance(line, dict) and fingerprint is not None
    try:
        header_bytes, line_bytes = canonical_json(header), canonical_json_flat(line)
    except (TypeError, ValueError) as exc:
        raise InvalidInput.single("line", "canonical-json", f"not canonicalisable: {exc}") from None
    if keccak256(header_bytes) != bytes(fingerprint):
        raise VerificationError(f"the header does not hash to {to_hex(fingerprint)}: it is not this invoice's header")
    try:
        root = parse_hash32(str(header["feeLinesRoot"]), what="header.feeLinesRoot")
    except ValueError as exc:
        raise InvalidInput.single("header.feeLinesRoot", "hash32", str(exc)) from None
    leaf = keccak256(keccak256(keccak256(line_bytes)))
    reached = process_proof(leaf, proof)
    if reached != root:
        raise InclusionProofInvalid(f"fee line {line.get('seq')} does not lead to the invoice's fee-lines root "
                                    f"{to_hex(root)} (the proof reaches {to_hex(reached)}): the line was altered or "
                                    "belongs to another invoice")
    return DisclosedLine(Fingerprint(fingerprint), header, line)
