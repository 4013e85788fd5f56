"""What the domain core needs from the outside world, as Protocols.

The core never imports web3 or SQL; adapters in ``ledger.adapters`` implement these.
Accounts are 0x-hex addresses; the adapter holds the keys that sign for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from ledger.hashing import Fingerprint, Hash32, MerkleRoot

if TYPE_CHECKING:  # only for the InvoiceStore signatures; no import cycle at run time
    from ledger.batch import Batch
    from ledger.fingerprint import SealedInvoice
    from ledger.records import (
        CredentialRecord,
        HospitalRecord,
        InvoiceDetail,
        SaveOutcome,
        StoredInvoice,
        VoidRecord,
    )
    from ledger.uploads import PreparedInvoice
    from ledger.voids import VoidReason, VoidRequest

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
    """Reserved / paid amounts, void state and pinned total of an invoice on chain.

    ``total_fen`` is the total the invoice's first reservation pinned (0 until then): every
    later reservation must state it, whatever other leaf the issuer anchored.
    """

    reserved_fen: int
    paid_fen: int
    voided: bool
    total_fen: int = 0


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
        batch_root: MerkleRoot, proof: Sequence[Hash32], reason: VoidReason,
    ) -> TxReceipt: ...
    def invoice_state(self, issuer: str, fingerprint: Fingerprint) -> InvoiceChainState: ...
    def is_anchored(
        self, *, fingerprint: Fingerprint, total_fen: int, root: MerkleRoot, proof: Sequence[Hash32]
    ) -> bool: ...


class InvoiceStore(Protocol):
    """The hospitals' record and the anchoring outbox (SQL adapter: ``ledger.adapters.sql``).

    Every method that changes something is one transaction. Records are the frozen
    dataclasses of :mod:`ledger.records`.
    """

    def close(self) -> None: ...
    def audit_trail(self, *, subject: str | None = None, limit: int = 100) -> list[dict[str, Any]]: ...
    def add_counts(self, counts: Mapping[str, int]) -> None: ...
    def counters(self, *, prefix: str = "") -> dict[str, int]: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...

    # members
    def add_hospital(self, h: HospitalRecord, *, actor: str) -> None: ...
    def hospital(self, institution_id: str) -> HospitalRecord: ...
    def hospitals(self) -> list[HospitalRecord]: ...
    def set_registered(self, institution_id: str, block: int | None) -> None: ...
    def add_credential(self, cred: CredentialRecord, *, label: str, actor: str) -> None: ...
    def credential(self, key_id: str) -> CredentialRecord | None: ...
    def revoke_credential(self, key_id: str, *, actor: str) -> None: ...

    # uploads and reads
    def save_uploads(self, issuer: str, items: Sequence[PreparedInvoice], *, actor: str) -> list[SaveOutcome]: ...
    def invoice(self, fingerprint: bytes) -> InvoiceDetail: ...
    def list_invoices(self, *, issuer: str | None, state: str | None = None, after: bytes | None = None,
                      limit: int = 100) -> list[StoredInvoice]: ...
    def fee_lines(self, fingerprint: bytes) -> list[dict[str, Any]]: ...
    def sealed_invoice(self, fingerprint: bytes) -> SealedInvoice: ...
    def batch(self, root: bytes) -> tuple[Batch, dict[str, Any]]: ...
    def counts(self) -> dict[str, int]: ...

    # outboxes
    def close_batches(self, *, max_leaves: int, max_age: timedelta, now: datetime | None = None) -> list[Batch]: ...
    def batches_waiting(self, *, limit: int = 4096) -> list[Batch]: ...
    def mark_submitted(self, roots: Sequence[bytes], *, error: str | None = None) -> None: ...
    def request_void(self, fingerprint: bytes, *, issuer: str, request: VoidRequest,
                     actor: str) -> tuple[VoidRecord, bool]: ...
    def voids_pending(self, *, limit: int = 500) -> list[tuple[VoidRecord, bytes | None, int]]: ...
    def mark_void(self, fingerprint: bytes, *, state: str, tx: str | None = None, block: int | None = None,
                  error: str | None = None) -> None: ...

    # chain-derived index
    def save_events(self, events: Sequence[dict[str, Any]], *, cursor: tuple[int, str] | None = None) -> None: ...
    def reset_chain_index(self, events: Sequence[dict[str, Any]] = (), *,
                          cursor: tuple[int, str] | None = None) -> None: ...
    def take_lease(self, name: str, holder: str, *, ttl: timedelta) -> bool: ...
    def release_lease(self, name: str, holder: str) -> None: ...


class KeySealer(Protocol):
    """Members' private keys sealed at rest: a sealed key opens only for its owner and account."""

    def seal(self, secret: bytes, *, owner: str, address: str) -> str:
        """``secret`` sealed for ``owner`` (a hospital or payer id) and its ``address``."""
        ...

    def open(self, sealed: str, *, owner: str, address: str) -> bytes:
        """The secret of ``sealed``; raises if the passphrase or the binding does not match."""
        ...
