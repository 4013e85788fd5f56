"""Anchoring batch roots on chain: relayed, grouped, idempotent, and checked afterwards.

Each batch is authorised by its hospital's key (EIP-712) and up to ``per_tx`` batches of
any hospitals travel in one relayer transaction, so a city's year of 15,605 invoices
from 132 hospitals is a handful of transactions. Re-sending a batch that is already on
chain anchors nothing (the contract skips a root its own hospital anchored), and after
sending, every root is read back: a root the chain does not hold — e.g. after anvil
lost blocks to a SIGKILL — raises :class:`ChainStateMismatch` so the caller re-sends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ledger.batch import Batch
from ledger.errors import ChainStateMismatch, NotFound
from ledger.hashing import to_hex
from ledger.ports import Address, AnchoredBatch, LedgerChain, TxReceipt

#: ~35 k gas per relayed batch: 64 of them stay far below a 30 M-gas block
DEFAULT_BATCHES_PER_TX = 64


@dataclass(frozen=True)
class AnchorReport:
    """What one :meth:`Anchorer.anchor` call did."""

    anchored: tuple[AnchoredBatch, ...]
    receipts: tuple[TxReceipt, ...]
    already_anchored: int

    @property
    def gas_used(self) -> int:
        return sum(r.gas_used for r in self.receipts)


class Anchorer:
    """Anchors batches through a relayer, with each hospital's key authorising its own."""

    def __init__(
        self, chain: LedgerChain, *, signer_of: Callable[[str], Address],
        batches_per_tx: int = DEFAULT_BATCHES_PER_TX,
    ) -> None:
        if batches_per_tx < 1:
            raise ValueError("batches_per_tx must be >= 1")
        self._chain = chain
        self._signer_of = signer_of
        self._per_tx = batches_per_tx

    def anchor(self, batches: Sequence[Batch]) -> AnchorReport:
        """Anchor every batch not yet on chain; return what the chain now holds for them.

        Raises :class:`ChainStateMismatch` if a root is missing or held by another issuer
        after sending, and the chain adapter's errors if a transaction is refused.
        """
        known = self._chain.batches([b.root for b in batches])
        todo = [b for b, on_chain in zip(batches, known, strict=True) if on_chain is None]
        groups = [
            [self._chain.authorise_batch(signer=self._signer(b.issuer), root=b.root, leaf_count=b.leaf_count)
             for b in todo[start : start + self._per_tx]]
            for start in range(0, len(todo), self._per_tx)
        ]
        receipts = self._chain.anchor_authorised(groups) if groups else []
        after = self._chain.batches([b.root for b in batches])
        return AnchorReport(
            anchored=tuple(self._checked(b, a) for b, a in zip(batches, after, strict=True)),
            receipts=tuple(receipts),
            already_anchored=len(batches) - len(todo),
        )

    def check(self, batch: Batch) -> AnchoredBatch:
        """The chain's record of ``batch``; raise if missing or anchored by someone else."""
        return self._checked(batch, self._chain.batch(batch.root))

    @staticmethod
    def _checked(batch: Batch, on_chain: AnchoredBatch | None) -> AnchoredBatch:
        if on_chain is None:
            raise ChainStateMismatch(f"batch {to_hex(batch.root)} of {batch.issuer} is not on chain")
        if on_chain.institution_id != batch.issuer or on_chain.leaf_count != batch.leaf_count:
            raise ChainStateMismatch(
                f"batch {to_hex(batch.root)} is on chain for {on_chain.institution_id} with "
                f"{on_chain.leaf_count} leaves, expected {batch.issuer} with {batch.leaf_count}"
            )
        return on_chain

    def _signer(self, issuer: str) -> Address:
        try:
            return self._signer_of(issuer)
        except KeyError:
            raise NotFound(f"no signing key for hospital {issuer}") from None
