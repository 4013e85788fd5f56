"""Recorded chain facts: a read-only chain view from a JSON document instead of a node.

What :func:`verifier.online.check_online` reads from the chain — the anchored batch
roots, each invoice's reserved / paid / voided state, the reimbursement stamps, the
voids' events with their reason codes — written
down at one block, so a verdict can be reproduced with no node: the test vectors of
docs/qr-payload.md §7 use it, and an auditor can archive the facts a verdict rested on.
The JSON form::

    {"format": "ebill-chain-facts/v1", "chainId": 20240601, "contract": "0x…",
     "blockNumber": 1000, "blockHash": "0x…",
     "batches": [{"root": "0x…", "issuer": "H33010200001", "leafCount": 4,
                  "anchoredAt": 1709800000, "blockNumber": 900}],
     "invoices": [{"issuer": "H33010200001", "fingerprint": "0x…",
                   "reservedFen": 0, "paidFen": 0, "voided": true}],
     "stamps": [{"fingerprint": "0x…", "payerId": "P330100", "claimId": "0x…", "amountFen": 2500,
                 "status": "finalized", "block": 950, "tx": "0x…"}],
     "voids": [{"issuer": "H33010200001", "fingerprint": "0x…", "reason": "0x<bytes32>",
                "block": 960, "tx": "0x…"}]}

``voids`` may be left out (facts recorded before reason codes were read); a voided
invoice without its void event then gets a verdict without a reason code.

An invoice missing from ``invoices`` has the state the contract reports for it: nothing
reserved or paid, not voided. A proof is checked as the contract's ``isAnchored`` does
(OpenZeppelin ``MerkleProof`` over the batch leaf, against a root in ``batches``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.batch import leaf_reaches_root
from ledger.errors import FieldProblem, InvalidInput
from ledger.hashing import Fingerprint, Hash32, MerkleRoot, parse_hash32
from ledger.onchain import AnchoredBatch, ChainVoid, InvoiceChainState, Stamp
from ledger.proofdoc import InvoiceInclusion
from ledger.voids import reason_from_bytes32

FACTS_FORMAT = "ebill-chain-facts/v1"
_NO_STATE = InvoiceChainState(0, 0, False)


class RecordedChain:
    """A :class:`verifier.inclusion.ChainView`, :class:`verifier.online.StampSource` and
    :class:`verifier.online.VoidSource` answering from recorded facts (build it with :meth:`from_json`)."""

    def __init__(self, *, chain_id: int, contract: str, block_number: int, batches: Sequence[AnchoredBatch],
                 invoices: dict[tuple[str, bytes], InvoiceChainState], stamps: dict[bytes, tuple[Stamp, ...]],
                 voids: dict[tuple[str, bytes], ChainVoid] | None = None) -> None:
        self._chain_id, self._contract, self.block_number = chain_id, contract, block_number
        self._batches = {bytes(b.root): b for b in batches}
        self._invoices, self._stamps, self._voids = invoices, stamps, voids or {}

    @property
    def chain_id(self) -> int:
        return self._chain_id

    @property
    def contract_address(self) -> str:
        return self._contract

    def batch(self, root: MerkleRoot) -> AnchoredBatch | None:
        return self._batches.get(bytes(root))

    def invoice_state(self, issuer: str, fingerprint: Fingerprint) -> InvoiceChainState:
        return self._invoices.get((issuer, bytes(fingerprint)), _NO_STATE)

    def is_anchored(self, *, fingerprint: Fingerprint, total_fen: int, root: MerkleRoot,
                    proof: list[Hash32] | tuple[Hash32, ...]) -> bool:
        return bytes(root) in self._batches and leaf_reaches_root(fingerprint=fingerprint, total_fen=total_fen,
                                                                  root=root, proof=proof)

    def stamps(self, fingerprint: Fingerprint) -> tuple[Stamp, ...]:
        return self._stamps.get(bytes(fingerprint), ())

    def void_of(self, issuer: str, fingerprint: Fingerprint) -> ChainVoid | None:
        return self._voids.get((issuer, bytes(fingerprint)))

    @classmethod
    def from_json(cls, doc: Any) -> RecordedChain:
        """Read the JSON form; raises :class:`InvalidInput` naming the first field that is wrong."""
        try:
            if doc["format"] != FACTS_FORMAT:
                raise ValueError(f"format must be {FACTS_FORMAT!r}")
            batches = [AnchoredBatch(MerkleRoot(parse_hash32(b["root"])), _str(b["issuer"]), _uint(b["leafCount"]),
                                     _uint(b["anchoredAt"]), _uint(b["blockNumber"])) for b in doc["batches"]]
            invoices = {(_str(i["issuer"]), bytes(parse_hash32(i["fingerprint"]))):
                        InvoiceChainState(_uint(i["reservedFen"]), _uint(i["paidFen"]), _bool(i["voided"]))
                        for i in doc["invoices"]}
            stamps: dict[bytes, tuple[Stamp, ...]] = {}
            for s in doc["stamps"]:
                fp = bytes(parse_hash32(s["fingerprint"]))
                stamps[fp] = (*stamps.get(fp, ()), Stamp(_str(s["payerId"]), _str(s["claimId"]), _uint(s["amountFen"]),
                                                         _str(s["status"]), _uint(s["block"]), _str(s["tx"])))
            voids = {(_str(v["issuer"]), bytes(parse_hash32(v["fingerprint"]))):
                     ChainVoid(reason_from_bytes32(parse_hash32(v["reason"], what="reason")), _uint(v["block"]),
                               _str(v["tx"]))
                     for v in doc.get("voids", ())}
            return cls(chain_id=_uint(doc["chainId"]), contract=_str(doc["contract"]),
                       block_number=_uint(doc["blockNumber"]), batches=batches, invoices=invoices, stamps=stamps,
                       voids=voids)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput([FieldProblem("(chain facts)", "format",
                                             f"not an {FACTS_FORMAT} document: {type(exc).__name__}: {exc}")]) from None


class RecordedProofs:
    """A :class:`verifier.online.ProofSource` over inclusion-proof documents held in memory."""

    def __init__(self, docs: Sequence[Any]) -> None:
        parsed = (InvoiceInclusion.from_json(d) for d in docs)
        self._docs = {bytes(p.fingerprint): p for p in parsed}

    def inclusion(self, fingerprint: Fingerprint) -> InvoiceInclusion | None:
        return self._docs.get(bytes(fingerprint))


def _uint(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"expected a non-negative integer, got {value!r}")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value
