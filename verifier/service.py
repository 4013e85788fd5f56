"""The verification service behind ``POST /v1/verify``: a QR payload in, the verdict document out.

Is this invoice genuine, anchored, not voided, and how much was paid?

- offline: the seal's signature against the hospitals registry read from the chain
  (a snapshot kept by :class:`~verifier.snapshots.SnapshotKeeper`);
- online: the inclusion proof (from this deployment's own record) checked against the
  batch root on chain, and void and reimbursement state read from the contract, not
  from this deployment's database (a voided invoice's reason code from its event on
  chain).

The hot path (a payload of an anchored invoice seen before) runs on the event loop with
no thread hop: the offline check is pure CPU (~70 µs), what is immutable comes from
:class:`~verifier.cache.VerifyCache`, and the one chain read, ``invoiceRecord``, is
awaited (:attr:`VerifyingChain.live <verifier.ports.VerifyingChain.live>`). Store reads
and uncached chain reads go to a worker thread. The document is
:func:`verifier.verdict.full_verdict`'s, the same as every other front end's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from ledger.batch import Batch, leaf_reaches_root
from ledger.hashing import Fingerprint, Hash32, MerkleRoot
from ledger.onchain import AnchoredBatch, ChainVoid, InvoiceChainState, Stamp
from ledger.proofdoc import InvoiceInclusion
from verifier.cache import VerifyCache
from verifier.ports import InvoiceRecords, Offload, VerifyingChain
from verifier.seal_check import SealVerdict, verify_offline
from verifier.snapshots import SnapshotKeeper
from verifier.verdict import full_verdict

#: offline verdicts that may only mean the snapshot is behind the chain (a hospital or key added since)
_MAYBE_STALE = ("unknown-issuer", "tampered-or-forged")


class VerificationService:
    """Verdicts on QR payloads against ``chain``, with the proofs of ``records``.

    ``offload`` runs a blocking call in a worker thread (default ``asyncio.to_thread``; a
    web framework passes its own pool); ``clock`` (monotonic seconds) ages the registry
    snapshot and the remembered stamps.
    """

    def __init__(self, *, chain: VerifyingChain, records: InvoiceRecords, offload: Offload = asyncio.to_thread,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.chain = chain
        self.records = records
        self.cache = VerifyCache(clock=clock)
        self.registry = SnapshotKeeper(chain.advance_registry, on_lost_block=self.cache.forget_chain_facts,
                                       background=chain.background_refresh, clock=clock)
        self._offload = offload

    async def verify(self, payload: str) -> dict[str, Any]:
        """The verdict document of the QR text ``payload`` (see :mod:`verifier.verdict`); never
        raises for a bad payload, only :class:`~ledger.errors.ChainError` when the chain cannot be read."""
        snapshot = self.registry.current()
        if snapshot is None:
            snapshot = await self._offload(self.registry.snapshot)
        offline = verify_offline(payload, snapshot)
        if offline.status in _MAYBE_STALE and not self.registry.is_recent():
            # a hospital registered (or a key added) in the last seconds: look again, at most once a second
            offline = verify_offline(payload, await self._offload(self.registry.snapshot, fresh=True))
        if not offline.valid or offline.seal is None:
            return full_verdict(offline, chain=self.chain, proofs=_NO_PROOFS)
        return await self._online(offline)

    async def _online(self, offline: SealVerdict) -> dict[str, Any]:
        seal = offline.seal
        assert seal is not None
        fp = bytes(seal.fingerprint)
        cache = self.cache
        inclusion = cache.inclusion(fp)
        stamps: Sequence[Stamp] | None = None
        if inclusion is None:
            inclusion, stamps = await self._offload(self._load, seal.fingerprint)
        batch: AnchoredBatch | None = None
        state: InvoiceChainState | None = None
        void: ChainVoid | None = None
        if inclusion is not None:
            batch = cache.anchored_batch(inclusion.batch_root)
            if batch is None:
                batch = await self._offload(self._chain_batch, inclusion.batch_root)
        if batch is not None:  # the contract's record is only asked about anchored invoices
            assert inclusion is not None
            live = self.chain.live
            if live is not None:
                state = await live.invoice_state(inclusion.issuer, inclusion.fingerprint)
            else:
                state = await self._offload(self.chain.invoice_state, inclusion.issuer, inclusion.fingerprint)
            if stamps is None:
                stamps = cache.stamps_if_current(fp, state)
            if stamps is None:
                stamps = (await self._offload(self._load, seal.fingerprint))[1]
            cache.remember_stamps(fp, state, stamps)
            if state.voided:  # rare: the reason code comes from the void's event on chain
                void = cache.void(fp) or await self._offload(self._chain_void, inclusion.issuer, inclusion.fingerprint)
        view = _RequestView(self.chain, inclusion, batch, state, tuple(stamps or ()), void)
        return full_verdict(offline, chain=view, proofs=view, stamps=view, voids=view)

    # --- blocking reads (worker threads) --------------------------------------------------

    def _load(self, fingerprint: Fingerprint) -> tuple[InvoiceInclusion | None, list[Stamp]]:
        """The inclusion document and stamps of this deployment's record; the document is remembered."""
        doc, stamps = self.records.public_record(fingerprint, batch_of=self._batch_tree)
        if doc is not None:
            self.cache.remember_inclusion(doc)
        return doc, stamps

    def _batch_tree(self, root: MerkleRoot) -> Batch:
        return self.cache.batch_tree(root, self._load_tree)

    def _load_tree(self, root: bytes) -> Batch:
        return self.records.batch_tree(MerkleRoot(root))

    def _chain_batch(self, root: MerkleRoot) -> AnchoredBatch | None:
        """The batch as the chain records it; remembered once anchored."""
        found = self.chain.batch(root)
        if found is not None:
            self.cache.remember_anchored(found)
        return found

    def _chain_void(self, issuer: str, fingerprint: Fingerprint) -> ChainVoid | None:
        """The void event of a voided invoice, read from the chain once."""
        found = self.chain.void_of(issuer, fingerprint)
        if found is not None:
            self.cache.remember_void(fingerprint, found)
        return found


class _NoProofs:
    """The proof source of a seal that failed offline: it is never asked."""

    def inclusion(self, fingerprint: Fingerprint) -> InvoiceInclusion | None:
        return None


_NO_PROOFS = _NoProofs()


class _RequestView:
    """The chain view, proof source, stamp source and void source of one request, answering
    from what was fetched for it: the batch root as the chain records it, the contract's
    invoice record, a voided invoice's void event; a proof is checked as the contract's
    ``isAnchored`` does (:func:`ledger.batch.leaf_reaches_root` under a root the chain records)."""

    def __init__(self, chain: VerifyingChain, inclusion: InvoiceInclusion | None, batch: AnchoredBatch | None,
                 state: InvoiceChainState | None, stamps: tuple[Stamp, ...], void: ChainVoid | None) -> None:
        self._chain, self._inclusion, self._batch, self._state = chain, inclusion, batch, state
        self._stamps, self._void = stamps, void

    @property
    def chain_id(self) -> int:
        return self._chain.chain_id

    @property
    def contract_address(self) -> str:
        return self._chain.contract_address

    def inclusion(self, fingerprint: Fingerprint) -> InvoiceInclusion | None:
        return self._inclusion

    def batch(self, root: MerkleRoot) -> AnchoredBatch | None:
        return self._batch if self._batch is not None and bytes(self._batch.root) == bytes(root) else None

    def invoice_state(self, issuer: str, fingerprint: Fingerprint) -> InvoiceChainState:
        doc = self._inclusion
        assert self._state is not None and doc is not None
        assert (issuer, bytes(fingerprint)) == (doc.issuer, bytes(doc.fingerprint))
        return self._state

    def is_anchored(self, *, fingerprint: Fingerprint, total_fen: int, root: MerkleRoot,
                    proof: Sequence[Hash32]) -> bool:
        if self.batch(root) is None:
            return False
        doc = self._inclusion
        if doc is not None and (bytes(doc.fingerprint), doc.total_fen, bytes(doc.batch_root), tuple(doc.proof)) == (
                bytes(fingerprint), total_fen, bytes(root), tuple(proof)):
            # verify_inclusion_document has just walked this very path to this root
            return True
        return leaf_reaches_root(fingerprint=fingerprint, total_fen=total_fen, root=root, proof=proof)

    def stamps(self, fingerprint: Fingerprint) -> tuple[Stamp, ...]:
        return self._stamps

    def void_of(self, issuer: str, fingerprint: Fingerprint) -> ChainVoid | None:
        return self._void
