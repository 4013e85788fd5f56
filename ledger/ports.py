"""What the domain core needs from the outside world, as Protocols.

The core never imports web3 or SQL; adapters in ``ledger.adapters`` implement these.
Accounts are 0x-hex addresses; the adapter holds the keys that sign for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ledger.hashing import Fingerprint, Hash32, MerkleRoot

Address = str


@dataclass(frozen=True)
class TxReceipt:
    """A mined transaction: its hash, block and gas."""

    tx_hash: str
    block_number: int
    gas_used: int


@dataclass(frozen=True)
class AnchoredBatch:
    """A batch root as the chain records it."""

    root: MerkleRoot
    institution_id: str
    leaf_count: int
    anchored_at: int
    block_number: int


@dataclass(frozen=True)
class InvoiceChainState:
    """Reserved / paid amounts and void state of an invoice on chain."""

    reserved_fen: int
    paid_fen: int
    voided: bool


@dataclass(frozen=True)
class BatchAuthorisation:
    """A hospital key's EIP-712 signature allowing anyone to anchor ``root``."""

    root: MerkleRoot
    leaf_count: int
    signature: bytes


@dataclass(frozen=True)
class AccountInfo:
    """Which member an account belongs to and the life of its key."""

    member_id: str
    kind: str          # "hospital" | "payer" | "none"
    added_at: int
    revoked_at: int


class LedgerChain(Protocol):
    """The ledger contract on some chain (embedded EVM, anvil, any JSON-RPC node)."""

    @property
    def chain_id(self) -> int: ...

    @property
    def contract_address(self) -> Address: ...

    # registry
    def register_hospital(self, institution_id: str, account: Address) -> TxReceipt: ...
    def register_payer(self, payer_id: str, account: Address) -> TxReceipt: ...
    def account_info(self, account: Address) -> AccountInfo: ...

    # anchoring
    def authorise_batch(self, *, signer: Address, root: MerkleRoot, leaf_count: int) -> BatchAuthorisation: ...
    def anchor_batch(self, *, hospital: Address, root: MerkleRoot, leaf_count: int) -> TxReceipt: ...
    def anchor_authorised(self, groups: Sequence[Sequence[BatchAuthorisation]]) -> list[TxReceipt]: ...
    def batch(self, root: MerkleRoot) -> AnchoredBatch | None: ...
    def batches(self, roots: Sequence[MerkleRoot]) -> list[AnchoredBatch | None]: ...

    # voids and stamps
    def void_invoice(
        self, *, hospital: Address, fingerprint: Fingerprint, total_fen: int,
        batch_root: MerkleRoot, proof: Sequence[Hash32], reason: str,
    ) -> TxReceipt: ...
    def invoice_state(self, issuer: str, fingerprint: Fingerprint) -> InvoiceChainState: ...
    def is_anchored(
        self, *, fingerprint: Fingerprint, total_fen: int, root: MerkleRoot, proof: Sequence[Hash32]
    ) -> bool: ...
