"""What the ledger contract records, as plain values.

Anchored batches, invoice records, accounts, reimbursement stamps and voids as a node
reports them, and the outcomes of the transactions that write them. The chain adapters
build them, the use cases receive them through :mod:`ledger.ports`, and the verifier
reports them, so none of the three depends on another for its types. Amounts are
integer fen, members are their ASCII ids, hashes are bytes (0x-hex where an event
carries them as text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from ledger.hashing import MerkleRoot
from ledger.voids import ChainVoidReason

Address = str

#: the batched stamp operations a payer sends (see :meth:`ledger.ports.Stamping.stamp_many`)
StampOp = Literal["reserve", "finalize", "release"]
STAMP_OPS: tuple[StampOp, ...] = ("reserve", "finalize", "release")


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


@dataclass(frozen=True)
class Stamp:
    """One payer's reimbursement stamp on an invoice, as the chain's events record it."""

    payer_id: str
    claim_id: str        # 0x-hex of the chain claim id
    amount_fen: int
    status: str          # reserved | released | finalized
    block: int
    tx: str


@dataclass(frozen=True)
class ChainVoid:
    """The issuing hospital's void of an invoice, as the chain's ``InvoiceVoided`` event records it."""

    reason: ChainVoidReason
    block: int
    tx: str

    def to_json(self) -> dict[str, object]:
        return {**self.reason.to_json(), "block": self.block, "tx": self.tx}


@dataclass(frozen=True)
class Reservation:
    """A payer's request to reserve ``amount_fen`` of an anchored invoice for claim ``claim_id``.

    ``total_fen``, ``batch_root`` and ``proof`` are the invoice's batch leaf and its path:
    the contract checks them as ``isAnchored`` does before it reserves anything.
    """

    claim_id: bytes
    issuer: str
    fingerprint: bytes
    total_fen: int
    amount_fen: int
    batch_root: bytes
    proof: tuple[bytes, ...]


@dataclass(frozen=True)
class StampOutcome:
    """One item of a batched stamp: ``refused`` is None when it took effect, else the contract's error name."""

    claim_id: bytes
    refused: str | None
    tx: str
    block: int


class ChainClaim(NamedTuple):
    """A payer's claim as the contract records it; ``status`` is ``none`` for a claim it does not know."""

    status: str          # none | reserved | released | finalized
    amount_fen: int
    fingerprint: bytes
    updated_at: int = 0  # unix seconds of the block that last changed its status (0: unknown)
