"""The invoice inclusion-proof document printed by ``ebill proof`` and checked by
``ebill verify-proof``::

    {"format": "ebill-inclusion-proof/v1",
     "fingerprint": "0x…", "totalFen": 135400, "issuer": "H33060200001",
     "batchRoot": "0x…", "leafEncoding": ["bytes32", "uint256"], "leaf": "0x…",
     "proof": ["0x…", …],
     "chain": {"chainId": 31337, "contract": "0x…", "anchorTx": "0x…", "anchorBlock": 12}}

``leaf`` is redundant (it follows from fingerprint and total) and is checked, so a
document whose parts disagree is rejected rather than half-trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.batch import BATCH_LEAF_ENCODING, batch_leaf
from ledger.errors import FieldProblem, InvalidInput
from ledger.hashing import Fingerprint, Hash32, MerkleRoot, parse_hash32, to_hex
from ledger.merkle import InclusionProof

FORMAT = "ebill-inclusion-proof/v1"
MAX_PROOF_LENGTH = 64  # a tree of 2**64 leaves; anything longer is garbage


@dataclass(frozen=True)
class ChainRef:
    """Where the batch root was anchored."""

    chain_id: int
    contract: str
    anchor_tx: str | None = None
    anchor_block: int | None = None


@dataclass(frozen=True)
class InvoiceInclusion:
    """An invoice's fingerprint and total, and the Merkle path to its anchored batch root."""

    fingerprint: Fingerprint
    total_fen: int
    issuer: str
    batch_root: MerkleRoot
    proof: tuple[Hash32, ...]
    chain: ChainRef

    @property
    def merkle_proof(self) -> InclusionProof:
        return InclusionProof(self.batch_root, BATCH_LEAF_ENCODING, (self.fingerprint, self.total_fen), self.proof)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "fingerprint": to_hex(self.fingerprint),
            "totalFen": self.total_fen,
            "issuer": self.issuer,
            "batchRoot": to_hex(self.batch_root),
            "leafEncoding": list(BATCH_LEAF_ENCODING),
            "leaf": to_hex(self.merkle_proof.leaf),
            "proof": [to_hex(p) for p in self.proof],
            "chain": {
                "chainId": self.chain.chain_id, "contract": self.chain.contract,
                "anchorTx": self.chain.anchor_tx, "anchorBlock": self.chain.anchor_block,
            },
        }

    @classmethod
    def from_json(cls, doc: Any) -> InvoiceInclusion:
        """Parse and cross-check a proof document; raise :class:`InvalidInput` naming fields."""
        problems: list[FieldProblem] = []

        def bad(field: str, rule: str, msg: str) -> None:
            problems.append(FieldProblem(field, rule, msg))

        if not isinstance(doc, dict):
            raise InvalidInput.single("", "type", "proof document must be a JSON object")
        if doc.get("format") != FORMAT:
            bad("format", "supported-format", f"must be {FORMAT!r}, got {doc.get('format')!r}")
        fp = _hash(doc, "fingerprint", bad)
        root = _hash(doc, "batchRoot", bad)
        total = doc.get("totalFen")
        if type(total) is not int or total <= 0 or total >= 2**256:
            bad("totalFen", "integer-fen", f"must be a positive integer number of fen, got {total!r}")
        issuer = doc.get("issuer")
        if not isinstance(issuer, str) or not issuer:
            bad("issuer", "required", "must be the issuing institution code")
        if doc.get("leafEncoding", list(BATCH_LEAF_ENCODING)) != list(BATCH_LEAF_ENCODING):
            bad("leafEncoding", "supported-encoding", f"must be {list(BATCH_LEAF_ENCODING)}")
        raw_proof = doc.get("proof")
        proof: list[Hash32] = []
        if not isinstance(raw_proof, list) or len(raw_proof) > MAX_PROOF_LENGTH:
            bad("proof", "type", f"must be an array of at most {MAX_PROOF_LENGTH} 0x-hex hashes")
        else:
            for i, item in enumerate(raw_proof):
                try:
                    proof.append(parse_hash32(item, what=f"proof[{i}]"))
                except ValueError as exc:
                    bad(f"proof[{i}]", "hash32", str(exc))
        chain = doc.get("chain")
        ref = None
        if (not isinstance(chain, dict) or type(chain.get("chainId")) is not int
                or not isinstance(chain.get("contract"), str)):
            bad("chain", "required", "must name chainId (integer) and contract (0x address)")
        else:
            ref = ChainRef(chain["chainId"], chain["contract"], chain.get("anchorTx"), chain.get("anchorBlock"))
        if problems:
            raise InvalidInput(problems)
        assert fp is not None and root is not None and ref is not None and isinstance(issuer, str)
        assert type(total) is int  # checked above: a problem was recorded otherwise
        result = cls(Fingerprint(fp), total, issuer, MerkleRoot(root), tuple(proof), ref)
        if "leaf" in doc and doc["leaf"] != to_hex(batch_leaf(fp, total)):
            raise InvalidInput.single("leaf", "leaf-matches", "does not equal the leaf of fingerprint and totalFen")
        return result


def _hash(doc: dict[str, Any], name: str, bad: Any) -> bytes | None:
    try:
        return parse_hash32(doc.get(name), what=name)  # type: ignore[arg-type]
    except ValueError as exc:
        bad(name, "hash32", str(exc))
        return None
