"""The chain as the verification service reads it (:class:`verifier.ports.VerifyingChain`).

Over a :class:`~ledger.adapters.web3_chain.Web3Ledger`: the contract's views, a void's
``InvoiceVoided`` event (:class:`~ledger.adapters.events.EventReader`), the registry
snapshot brought to the head (:func:`~ledger.adapters.registry_export.advance_snapshot`),
and, when the node speaks plain ``http://``, ``invoiceRecord`` awaited on the event loop
(:class:`~ledger.adapters.invoice_record.AsyncInvoiceReader`).
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.adapters.events import EventReader
from ledger.adapters.invoice_record import AsyncInvoiceReader
from ledger.adapters.registry_export import advance_snapshot
from ledger.adapters.web3_chain import Web3Ledger
from ledger.hashing import Fingerprint, Hash32, MerkleRoot
from ledger.onchain import AnchoredBatch, ChainVoid, InvoiceChainState
from verifier.registry import RegistrySnapshot


class Web3VerifyingChain:
    """:class:`verifier.ports.VerifyingChain` over ``ledger`` (a key-less one is enough)."""

    def __init__(self, ledger: Web3Ledger) -> None:
        self.ledger = ledger
        self._events = EventReader(ledger)
        self._live = ledger.invoice_reader()
        # an in-process EVM (no endpoint) is driven by its owner: no reads from threads of our own
        self._background = getattr(ledger.w3.provider, "endpoint_uri", None) is not None

    @property
    def chain_id(self) -> int:
        return self.ledger.chain_id

    @property
    def contract_address(self) -> str:
        return self.ledger.contract_address

    @property
    def live(self) -> AsyncInvoiceReader | None:
        return self._live

    @property
    def background_refresh(self) -> bool:
        return self._background

    def batch(self, root: MerkleRoot) -> AnchoredBatch | None:
        return self.ledger.batch(root)

    def invoice_state(self, issuer: str, fingerprint: Fingerprint) -> InvoiceChainState:
        return self.ledger.invoice_state(issuer, fingerprint)

    def is_anchored(self, *, fingerprint: Fingerprint, total_fen: int, root: MerkleRoot,
                    proof: Sequence[Hash32]) -> bool:
        return self.ledger.is_anchored(fingerprint=fingerprint, total_fen=total_fen, root=root, proof=proof)

    def void_of(self, issuer: str, fingerprint: Fingerprint) -> ChainVoid | None:
        return self._events.void_of(issuer, fingerprint)

    def advance_registry(self, old: RegistrySnapshot | None) -> tuple[RegistrySnapshot, bool]:
        return advance_snapshot(self.ledger, old)

    def close(self) -> None:
        """Close the awaited reader's idle connections (call it on the event loop that used them)."""
        if self._live is not None:
            self._live.close()
