"""What the store records and returns: hospitals, credentials, upload outcomes, invoice status.

Plain frozen dataclasses, shared by the store adapter, the services and the API, so
none of them depends on another's types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from ledger.hashing import Fingerprint, MerkleRoot
from ledger.voids import VoidReason


class Role(StrEnum):
    HOSPITAL = "hospital"
    PAYER = "payer"
    AUDITOR = "auditor"
    ADMIN = "admin"
    CLERK = "clerk"        # a hospital's claims window, filing for a citizen who is present
    CITIZEN = "citizen"    # an insured person (e-voucher token, not a stored credential)
    MONITOR = "monitor"    # an operator's metrics scraper: reads /metrics and nothing else


@dataclass(frozen=True)
class HospitalRecord:
    institution_id: str
    name: str
    region: str
    account: str
    sealed_key: str
    created_at: datetime
    registered_block: int | None


@dataclass(frozen=True)
class CredentialRecord:
    key_id: str
    role: Role
    subject: str
    secret_sha256: bytes
    revoked: bool


class UploadStatus(StrEnum):
    CREATED = "created"        # stored now
    DUPLICATE = "duplicate"    # the same invoice was stored before: nothing changed
    CONFLICT = "conflict"      # same issuer+code+number, different content: refused
    REJECTED = "rejected"      # invalid: refused, nothing stored


class InvoiceState(StrEnum):
    STORED = "stored"          # durably stored; not yet in an anchored batch
    ANCHORED = "anchored"      # its batch root is on chain
    VOIDED = "voided"          # red-letter reversal stamped on chain


@dataclass(frozen=True)
class StoredInvoice:
    """The short status of one stored invoice (what an upload response carries)."""

    fingerprint: Fingerprint
    issuer: str
    invoice_code: str
    invoice_number: str
    total_fen: int
    qr: str
    received_at: datetime
    batch_root: MerkleRoot | None = None
    anchored_tx: str | None = None
    anchored_block: int | None = None
    anchored_at: datetime | None = None
    void_state: str | None = None
    #: the issue time as uploaded (ISO 8601 with offset)
    issued_at: str | None = None

    @property
    def state(self) -> InvoiceState:
        if self.void_state == "voided":
            return InvoiceState.VOIDED
        return InvoiceState.ANCHORED if self.anchored_block is not None else InvoiceState.STORED


@dataclass(frozen=True)
class SaveOutcome:
    """What storing one prepared invoice did."""

    status: UploadStatus
    invoice: StoredInvoice


@dataclass(frozen=True)
class StampRecord:
    payer_id: str
    claim_id: bytes
    amount_fen: int
    status: str
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class VoidRecord:
    """A red-letter reversal the issuing hospital requested, and its stamp on chain."""

    fingerprint: Fingerprint
    issuer: str
    #: the code stamped on chain
    reason_code: VoidReason
    #: the hospital's own words ("" when none): kept in its database, never on chain
    note: str
    requested_at: datetime
    state: str
    voided_tx: str | None
    voided_block: int | None
    last_error: str | None
    clawback_paid_fen: int | None = None
    clawback_reserved_fen: int | None = None
    #: the request that asked for it (its ``X-Request-Id``; None for voids from before request ids)
    request_id: str | None = None


@dataclass(frozen=True)
class InvoiceDetail:
    """Everything the store knows about one invoice, for its owner, payers and auditors."""

    invoice: StoredInvoice
    check_code: str
    issued_at: str
    visit_type: str
    patient: bytes
    fund_paid_fen: int
    account_paid_fen: int
    cash_paid_fen: int
    fee_line_count: int
    fee_lines_root: MerkleRoot
    batch_index: int | None
    batch_leaf_count: int | None
    void: VoidRecord | None
    stamps: tuple[StampRecord, ...] = field(default=())


@dataclass(frozen=True)
class OutboxFigures:
    """What the store holds and what waits to be anchored: the chain worker reads these every few
    seconds, for ``GET /v1/health`` and the metrics, so no request counts rows itself."""

    invoices: int
    unbatched: int
    batches_waiting: int
    batches_anchored: int
    voids_pending: int
    #: when the oldest invoice not anchored yet was acknowledged (None: every invoice is anchored)
    oldest_waiting: datetime | None

    def lag(self, now: datetime) -> float:
        """Seconds the oldest invoice not anchored yet has waited (0 when none waits)."""
        return max(0.0, (now - self.oldest_waiting).total_seconds()) if self.oldest_waiting else 0.0

    def to_json(self) -> dict[str, int]:
        """The figures as ``GET /v1/health`` shows them under ``store``."""
        return {"invoices": self.invoices, "unbatched": self.unbatched, "batchesWaiting": self.batches_waiting,
                "batchesAnchored": self.batches_anchored, "voidsPending": self.voids_pending}


@dataclass(frozen=True)
class BatchOrigin:
    """Where a batch's invoices came from: when the oldest was acknowledged, and the requests that
    uploaded them (their ``X-Request-Id``s, oldest first; none for invoices from before request ids)."""

    oldest_received: datetime
    request_ids: tuple[str, ...]
