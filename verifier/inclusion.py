"""Checking an invoice inclusion proof against the chain.

:func:`verify_inclusion_document` returns nothing-to-hide facts (the on-chain batch and
the invoice's void / reimbursement state) and raises a precise
:class:`~ledger.errors.VerificationError` for anything that does not check out. It
needs only a read-only view of the chain, so an auditor can run it without the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ledger.errors import NotAnchored, VerificationError
from ledger.hashing import Fingerprint, Hash32, MerkleRoot, to_hex
from ledger.onchain import AnchoredBatch, InvoiceChainState
from ledger.proofdoc import InvoiceInclusion


class ChainView(Protocol):
    """The read-only part of :class:`ledger.ports.LedgerChain` a verifier needs."""

    @property
    def chain_id(self) -> int: ...

    @property
    def contract_address(self) -> str: ...

    def batch(self, root: MerkleRoot) -> AnchoredBatch | None: ...

    def invoice_state(self, issuer: str, fingerprint: Fingerprint) -> InvoiceChainState: ...

    def is_anchored(
        self, *, fingerprint: Fingerprint, total_fen: int, root: MerkleRoot, proof: list[Hash32] | tuple[Hash32, ...]
    ) -> bool: ...


@dataclass(frozen=True)
class InclusionVerdict:
    """A proof that checked out: where it is anchored and what happened to the invoice since."""

    inclusion: InvoiceInclusion
    batch: AnchoredBatch
    state: InvoiceChainState

    @property
    def voided(self) -> bool:
        return self.state.voided


def verify_inclusion_document(doc: InvoiceInclusion, chain: ChainView) -> InclusionVerdict:
    """Verify ``doc`` locally, then against ``chain``.

    Raises :class:`~ledger.errors.InclusionProofInvalid` if the path does not reach the
    root, :class:`VerificationError` if the document names another chain, contract or
    issuer than the chain records, and :class:`NotAnchored` if the root is not on chain.
    """
    doc.merkle_proof.verify()
    if doc.chain.chain_id != chain.chain_id or doc.chain.contract.lower() != chain.contract_address.lower():
        raise VerificationError(
            f"the proof is for chain {doc.chain.chain_id} contract {doc.chain.contract}, "
            f"but the node is chain {chain.chain_id} contract {chain.contract_address}"
        )
    batch = chain.batch(doc.batch_root)
    if batch is None:
        raise NotAnchored(f"batch root {to_hex(doc.batch_root)} is not anchored on chain {chain.chain_id}")
    if batch.institution_id != doc.issuer:
        raise VerificationError(
            f"batch {to_hex(doc.batch_root)} was anchored by {batch.institution_id}, "
            f"but the proof names {doc.issuer} as issuer"
        )
    if not chain.is_anchored(fingerprint=doc.fingerprint, total_fen=doc.total_fen, root=doc.batch_root,
                             proof=doc.proof):
        raise VerificationError("the contract's own MerkleProof check refused the proof")  # pragma: no cover
    return InclusionVerdict(doc, batch, chain.invoice_state(doc.issuer, doc.fingerprint))
