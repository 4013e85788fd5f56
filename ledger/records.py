"""What the store records and returns: hospitals, credentials, upload outcomes, invoice status.

Plain frozen dataclasses, shared by the store adapter, the services and the API, so
none of them depends on another's types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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


#: counters the store keeps in the same transaction as what they count, so a figure read from them is
#: never behind the data: invoices stored, invoices put in a batch, batches closed, voids requested
INVOICES_STORED = "store.invoices"
INVOICES_BATCHED = "store.invoices.batched"
BATCHES_SEALED = "store.batches.sealed"
VOIDS_REQUESTED = "store.voids.requested"
ARRIVALS = (BATCHES_SEALED, INVOICES_STORED, INVOICES_BATCHED, VOIDS_REQUESTED)


@dataclass(frozen=True)
class OutboxFigures:
    """What the store holds and what waits to be anchored, as the chain worker read it (every few
    seconds, for ``GET /v1/health`` and the metrics, so no request counts rows itself).

    What arrives (uploads, closed batches, void requests) is counted in the arrival counters
    (:data:`ARRIVALS`) in the transaction that stores it; :meth:`updated` adds what arrived since
    the worker's read, so the figures are never behind an acknowledged upload. What leaves (an
    anchor, a void stamped) is seen at the worker's next report, a moment after it happened.
    """

    invoices: int
    unbatched: int
    batches_waiting: int
    batches_anchored: int
    voids_pending: int
    #: when the oldest invoice not anchored yet was acknowledged (None: every invoice is anchored)
    oldest_waiting: datetime | None
    #: the arrival counters of batches closed and voids requested when these figures were read
    batches_sealed: int = 0
    voids_requested: int = 0

    def lag(self, now: datetime) -> float:
        """Seconds the oldest invoice not anchored yet has waited (0 when none waits)."""
        return max(0.0, (now - self.oldest_waiting).total_seconds()) if self.oldest_waiting else 0.0

    def updated(self, arrivals: Mapping[str, int]) -> OutboxFigures:
        """These figures with what arrived since they were read (``arrivals``: the counters now)."""
        invoices = arrivals.get(INVOICES_STORED, self.invoices)
        batched = arrivals.get(INVOICES_BATCHED, self.invoices - self.unbatched)
        sealed = arrivals.get(BATCHES_SEALED, self.batches_sealed)
        voids = arrivals.get(VOIDS_REQUESTED, self.voids_requested)
        return replace(self, invoices=invoices, unbatched=max(0, invoices - batched),
                       batches_waiting=self.batches_waiting + max(0, sealed - self.batches_sealed),
                       voids_pending=self.voids_pending + max(0, voids - self.voids_requested),
                       batches_sealed=sealed, voids_requested=voids)

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
