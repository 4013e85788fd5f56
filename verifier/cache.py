"""What verification may remember between requests: what does not change once it is on chain.

- batch roots seen anchored, and the Merkle trees of batches (a batch never changes once
  closed), so a proof is checked locally against a root known to be on chain;
- each anchored invoice's inclusion document (its batch and path never change);
- the invoice's stamp list from this deployment's index, for ``STAMPS_TTL`` s at most,
  while the chain reports the same reserved / paid / voided state and the list adds up
  to it (only a payer swap of equal amounts could go unseen that long);
- a voided invoice's void event (its reason code): a void is final on chain;
- never the invoice's void and reimbursement state: that is read from the contract on
  every request.

Everything learnt from the chain is dropped by :meth:`VerifyCache.forget_chain_facts`
when the block it was learnt at is no longer the chain's. Thread-safe: requests read it
on the event loop while worker threads fill it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from ledger.batch import Batch
from ledger.onchain import AnchoredBatch, ChainVoid, InvoiceChainState, Stamp
from ledger.proofdoc import InvoiceInclusion

#: how long a stamp list read from the store is reused while the chain's amounts are unchanged
STAMPS_TTL = 30.0
#: inclusion documents, stamp lists and voids kept at most
MAX_CACHED = 65_536
#: batch trees kept at most (each holds up to a batch's leaves)
MAX_TREES = 512


class VerifyCache:
    """The immutable chain facts of :mod:`verifier.service`, bounded, with the clock injectable for tests."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._roots: dict[bytes, AnchoredBatch] = {}
        self._trees: OrderedDict[bytes, Batch] = OrderedDict()
        self._inclusions: OrderedDict[bytes, InvoiceInclusion] = OrderedDict()
        self._stamps: dict[bytes, tuple[float, InvoiceChainState, tuple[Stamp, ...]]] = {}
        self._voids: dict[bytes, ChainVoid] = {}

    def forget_chain_facts(self) -> None:
        """Drop what was learnt from the chain: the block it was learnt at is no longer the
        chain's (a reorganisation, or a dev node that lost its state)."""
        with self._lock:
            self._roots.clear()
            self._inclusions.clear()
            self._stamps.clear()
            self._voids.clear()

    # --- batches ------------------------------------------------------------------------

    def batch_tree(self, root: bytes, load: Callable[[bytes], Batch]) -> Batch:
        """The batch with ``root``, loaded with ``load`` the first time (blocking: thread pool only)."""
        key = bytes(root)
        with self._lock:
            tree = self._trees.get(key)
            if tree is not None:
                self._trees.move_to_end(key)
                return tree
        loaded = load(root)
        with self._lock:
            self._trees[key] = loaded
            while len(self._trees) > MAX_TREES:
                self._trees.popitem(last=False)
        return loaded

    def anchored_batch(self, root: bytes) -> AnchoredBatch | None:
        """The chain's record of ``root``, if it was seen anchored."""
        return self._roots.get(bytes(root))

    def remember_anchored(self, batch: AnchoredBatch) -> None:
        with self._lock:
            self._roots[bytes(batch.root)] = batch

    # --- invoices -----------------------------------------------------------------------

    def inclusion(self, fingerprint: bytes) -> InvoiceInclusion | None:
        return self._inclusions.get(bytes(fingerprint))

    def remember_inclusion(self, doc: InvoiceInclusion) -> None:
        with self._lock:
            self._inclusions[bytes(doc.fingerprint)] = doc
            while len(self._inclusions) > MAX_CACHED:
                self._inclusions.popitem(last=False)

    def stamps_if_current(self, fingerprint: bytes, state: InvoiceChainState) -> tuple[Stamp, ...] | None:
        """The stamps remembered for this very chain ``state``, if not older than ``STAMPS_TTL``."""
        entry = self._stamps.get(bytes(fingerprint))
        if entry is None or entry[1] != state or self._clock() - entry[0] > STAMPS_TTL:
            return None
        return entry[2]

    def remember_stamps(self, fingerprint: bytes, state: InvoiceChainState, stamps: Sequence[Stamp]) -> None:
        """Keep ``stamps`` for this ``state`` if they add up to it (the store's index of the
        chain's events may lag the contract by a moment: then they are read again next time)."""
        reserved = sum(s.amount_fen for s in stamps if s.status == "reserved")
        paid = sum(s.amount_fen for s in stamps if s.status == "finalized")
        if (reserved, paid) != (state.reserved_fen, state.paid_fen):
            return
        with self._lock:
            if len(self._stamps) >= MAX_CACHED:
                self._stamps.clear()
            self._stamps[bytes(fingerprint)] = (self._clock(), state, tuple(stamps))

    def void(self, fingerprint: bytes) -> ChainVoid | None:
        return self._voids.get(bytes(fingerprint))

    def remember_void(self, fingerprint: bytes, void: ChainVoid) -> None:
        with self._lock:
            if len(self._voids) >= MAX_CACHED:
                self._voids.clear()
            self._voids[bytes(fingerprint)] = void
