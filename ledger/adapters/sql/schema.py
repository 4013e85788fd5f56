"""Tables of the upload service's store.

Hashes (fingerprints, roots, pseudonyms, salts) are raw bytes (BLOB / BYTEA): 32 bytes
instead of 66 characters of hex in the 1.3 M-row fee-line table and its key index.
Money is BIGINT fen. Times are UTC. The hospital's own data (invoices, fee lines, salts,
voids requested) is the record; everything under "chain-derived" is an index of chain
events and can be rebuilt with ``ebill reindex``.

Changing a table here needs an Alembic migration (``ledger/adapters/sql/migrations``);
a test compares the migrated schema with these models.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    Sequence,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

metadata = SQLModel.metadata

#: PostgreSQL hands out invoice ids from a sequence (SQLite takes max(id) + 1 under its write lock)
INVOICE_IDS = Sequence("invoice_ids", metadata=metadata)

# Constraint names are fixed so that migrations are the same on SQLite and PostgreSQL.
metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


def _bytes(length: int, **kw: object) -> Column:  # type: ignore[type-arg]
    return Column(LargeBinary(length), **kw)  # type: ignore[arg-type]


def _utc(**kw: object) -> Column:  # type: ignore[type-arg]
    return Column(DateTime(timezone=True), **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------ members and access


class Hospital(SQLModel, table=True):
    """A designated medical institution and its on-chain signing account."""

    __tablename__ = "hospitals"

    institution_id: str = Field(primary_key=True, max_length=12)
    name: str = Field(max_length=200)
    region: str = Field(max_length=64)
    account: str = Field(max_length=42, unique=True)
    #: the current signing key sealed under the keystore passphrase, or where it lives on a PKCS#11 token
    #: (never the plain key); every key it had is in ``hospital_keys``
    keystore: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    #: block of the chain registration seen by this store (NULL: not yet registered)
    registered_block: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class HospitalKeyRow(SQLModel, table=True):
    """Every signing key a hospital had, has or is about to have (:mod:`ledger.hospital_keys`).

    The current key is also ``hospitals.account``/``keystore`` (what signs); older keys stay
    here, with when the chain bound and revoked them, so a rotation forgets nothing.
    """

    __tablename__ = "hospital_keys"
    __table_args__ = (
        Index("ix_hospital_keys_institution_id", "institution_id"),
        # at most one key of a hospital is current, and at most one pending (a rotation under way)
        Index("uq_hospital_keys_current", "institution_id", unique=True,
              sqlite_where=text("state = 'current'"), postgresql_where=text("state = 'current'")),
        Index("uq_hospital_keys_pending", "institution_id", unique=True,
              sqlite_where=text("state = 'pending'"), postgresql_where=text("state = 'pending'")),
        # what the chain worker still has to do (bind a pending key, revoke a revoking one)
        Index("ix_hospital_keys_todo", "state",
              sqlite_where=text("state IN ('pending', 'revoking')"),
              postgresql_where=text("state IN ('pending', 'revoking')")),
    )

    account: str = Field(primary_key=True, max_length=42)
    institution_id: str = Field(max_length=12)
    #: the key sealed under the keystore passphrase, or where it lives on a PKCS#11 token; never the plain key
    keystore: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(max_length=16)                   # pending | current | retired | revoking | revoked
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    #: the contract's addedAt / revokedAt (unix seconds), once seen on chain
    added_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    retired_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    #: (a pending key) revoke the key it replaces, for this reason, once it is current
    revoke_previous: str | None = Field(default=None, max_length=16)
    revoke_reason: str | None = Field(default=None, max_length=16)
    revoke_requested_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    revoked_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    revoked_block: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class Credential(SQLModel, table=True):
    """An API credential. Only the SHA-256 of the secret is kept (the secret is 256 random bits)."""

    __tablename__ = "credentials"

    key_id: str = Field(primary_key=True, max_length=24)
    role: str = Field(max_length=16)        # hospital | payer | auditor | admin
    subject: str = Field(max_length=32)     # institution id / payer id / auditor name
    secret_sha256: bytes = Field(sa_column=_bytes(32, nullable=False))
    label: str = Field(default="", max_length=200)
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


# ------------------------------------------------------------------ the hospitals' record


class InvoiceRow(SQLModel, table=True):
    """An uploaded, sealed invoice. The fingerprint is the key everywhere."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("issuer", "invoice_code", "invoice_number", name="uq_invoices_key"),
        # the anchoring outbox: invoices not yet in a batch, oldest first (a partial index
        # stays as small as the backlog, however large the table grows)
        Index("ix_invoices_unbatched", "issuer", "received_at",
              sqlite_where=text("batch_root IS NULL"), postgresql_where=text("batch_root IS NULL")),
        # a hospital's desk: its invoices newest first (upload order), a page at a time
        Index("ix_invoices_issuer_id", "issuer", "id"),
    )

    fingerprint: bytes = Field(sa_column=_bytes(32, primary_key=True))
    #: a number in upload order, the key fee lines refer to: an ever-growing key keeps the
    #: 1.3 M-row fee-line index append-only (random 32-byte fingerprints would scatter it)
    id: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True))
    issuer: str = Field(max_length=12, foreign_key="hospitals.institution_id")
    invoice_code: str = Field(max_length=8)
    invoice_number: str = Field(max_length=10)
    check_code: str = Field(max_length=6)
    issued_at: str = Field(max_length=32)            # as uploaded (ISO 8601 with offset)
    issue_date: str = Field(max_length=10, index=True)
    visit_type: str = Field(max_length=16)
    patient: bytes = Field(sa_column=_bytes(32, nullable=False, index=True))
    total_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    fund_paid_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    account_paid_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    cash_paid_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    fee_line_count: int
    fee_lines_root: bytes = Field(sa_column=_bytes(32, nullable=False))
    salt: bytes = Field(sa_column=_bytes(16, nullable=False))
    line_key: bytes = Field(sa_column=_bytes(16, nullable=False))
    schema_version: int
    #: keccak of the canonical parsed invoice: a retry of the same content is the same upload
    content_digest: bytes = Field(sa_column=_bytes(32, nullable=False))
    qr: str = Field(max_length=400)
    #: when the upload was acknowledged; batches take the oldest unbatched invoices first
    received_at: datetime = Field(sa_column=_utc(nullable=False))
    batch_root: bytes | None = Field(default=None, sa_column=_bytes(32, nullable=True, index=True))
    batch_index: int | None = Field(default=None)
    #: the request that uploaded it (``X-Request-Id``): the anchoring log line names it
    request_id: str | None = Field(default=None, max_length=64)


class FeeLineRow(SQLModel, table=True):
    """One itemised fee line (费用明细) of an invoice."""

    __tablename__ = "fee_lines"
    # clustered by (invoice, seq) on SQLite too: one B-tree, appended to in upload order.
    # No foreign key: lines are only ever written by the store, in the same transaction
    # as their invoice, and a per-row parent lookup would double the cost of an upload.
    __table_args__ = {"sqlite_with_rowid": False}

    invoice_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    item_code: str = Field(max_length=40)
    item_name: str = Field(max_length=200)
    category: str = Field(max_length=1)
    quantity: str = Field(max_length=16)
    unit: str = Field(max_length=200)
    unit_price_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    service_date: str = Field(max_length=10)


class BatchRow(SQLModel, table=True):
    """A closed Merkle batch of one hospital's invoices: the anchoring outbox.

    ``sealed`` → (sent) ``submitted`` → ``anchored``. A batch whose anchor the chain lost
    (a dev node killed before its state dump) goes back to ``sealed`` and is sent again.
    """

    __tablename__ = "batches"
    __table_args__ = (Index("ix_batches_state", "state"),)

    root: bytes = Field(sa_column=_bytes(32, primary_key=True))
    issuer: str = Field(max_length=12, foreign_key="hospitals.institution_id")
    leaf_count: int
    sealed_at: datetime = Field(sa_column=_utc(nullable=False))
    state: str = Field(max_length=16)
    submitted_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)
    # chain-derived
    anchored_tx: str | None = Field(default=None, max_length=66)
    anchored_block: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    anchored_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class VoidRow(SQLModel, table=True):
    """A red-letter reversal requested by the issuing hospital, and its on-chain stamp."""

    __tablename__ = "voids"

    fingerprint: bytes = Field(sa_column=_bytes(32, primary_key=True))
    issuer: str = Field(max_length=12, foreign_key="hospitals.institution_id")
    #: the hospital's words (kept here, never on chain)
    reason: str = Field(max_length=500)
    #: the reason code stamped on chain (``ledger.voids.VoidReason``)
    reason_code: str = Field(max_length=32, sa_column_kwargs={"server_default": "other"})
    requested_at: datetime = Field(sa_column=_utc(nullable=False))
    state: str = Field(max_length=16)        # pending | voided | failed
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)
    # chain-derived
    voided_tx: str | None = Field(default=None, max_length=66)
    voided_block: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    #: the request that asked for the void: the log line of its chain transaction names it
    request_id: str | None = Field(default=None, max_length=64)
    paid_fen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    reserved_fen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


# ------------------------------------------------------------------ chain-derived index


class ChainEvent(SQLModel, table=True):
    """A ledger contract event as the indexer read it (the raw material of ``reindex``)."""

    __tablename__ = "chain_events"
    __table_args__ = (Index("ix_chain_events_fingerprint", "fingerprint"),
                      Index("ix_chain_events_name_fingerprint", "name", "fingerprint"))

    block_number: int = Field(sa_column=Column(BigInteger, primary_key=True))
    log_index: int = Field(primary_key=True)
    block_hash: str = Field(max_length=66)
    tx_hash: str = Field(max_length=66)
    name: str = Field(max_length=40)
    fingerprint: bytes | None = Field(default=None, sa_column=_bytes(32, nullable=True))
    #: the hospital the event is about (``institutionId``), if any: the contract keeps invoices
    #: per (issuer, fingerprint), so a void of another hospital's copy of a fingerprint is not a
    #: void of the invoice stored here
    issuer: str | None = Field(default=None, max_length=12)
    args: str = Field(sa_column=Column(Text, nullable=False))   # JSON, bytes as 0x-hex


class StampRow(SQLModel, table=True):
    """A payer's reimbursement stamp on an invoice (reserved, released or finalized)."""

    __tablename__ = "stamps"
    __table_args__ = (Index("ix_stamps_fingerprint", "fingerprint"),)

    payer_id: str = Field(primary_key=True, max_length=32)
    claim_id: bytes = Field(sa_column=_bytes(32, primary_key=True))
    fingerprint: bytes = Field(sa_column=_bytes(32, nullable=False))
    #: the hospital whose invoice record the stamp touched (records are per issuer)
    issuer: str = Field(max_length=12)
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(max_length=16)       # reserved | released | finalized
    block_number: int = Field(sa_column=Column(BigInteger, nullable=False))
    tx_hash: str = Field(max_length=66)


class ClawbackRow(SQLModel, table=True):
    """A void of an invoice that payers had already (partly) reimbursed.

    Keyed per issuing hospital, like the contract's invoice records: another hospital's
    leaf with the same (public) fingerprint is another record, and must not take this row.
    """

    __tablename__ = "clawbacks"

    fingerprint: bytes = Field(sa_column=_bytes(32, primary_key=True))
    issuer: str = Field(primary_key=True, max_length=12)
    paid_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    reserved_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    block_number: int = Field(sa_column=Column(BigInteger, nullable=False))
    tx_hash: str = Field(max_length=66)
    settled_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


# ------------------------------------------------------------------ the payer's claims (issue 5)


class Payer(SQLModel, table=True):
    """A payer this store acts for (normally one per deployment) and its on-chain account."""

    __tablename__ = "payers"

    payer_id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    account: str = Field(max_length=42, unique=True)
    keystore: str = Field(sa_column=Column(Text, nullable=False))   # sealed like hospitals' keys
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    registered_block: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class Person(SQLModel, table=True):
    """An insured person enrolled with this payer, known only by pseudonym."""

    __tablename__ = "persons"

    pseudonym: bytes = Field(sa_column=_bytes(32, primary_key=True))
    name: str = Field(default="", max_length=100)       # display name for delegates and clerks
    category: str = Field(max_length=32)                # a ledger.rules.PersonCategory
    enrolled_at: datetime = Field(sa_column=_utc(nullable=False))
    #: the region the person is insured in (NULL: not recorded; their care is judged as off-site)
    insured_region: str | None = Field(default=None, max_length=64)
    #: registered for off-site care (异地就医备案)
    offsite_registered: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    #: the language they prefer their messages in (zh | en; NULL: never said, written to in Chinese)
    language: str | None = Field(default=None, max_length=8)


class PersonPseudonym(SQLModel, table=True):
    """A person's pseudonym under one pepper version (:mod:`ledger.peppers`), and the pseudonym the
    person is known by here (``person``: the one persons, delegations, claims and year-to-date
    figures are keyed by, never changed by a rotation). Invoices carry the pseudonym of the
    version their hospital used; a person's invoices are those carrying any of theirs."""

    __tablename__ = "person_pseudonyms"
    __table_args__ = (Index("ix_person_pseudonyms_person", "person"),
                      Index("ix_person_pseudonyms_version", "version"))

    pseudonym: bytes = Field(sa_column=_bytes(32, primary_key=True))
    person: bytes = Field(sa_column=_bytes(32, nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))


class PepperVersion(SQLModel, table=True):
    """A pepper version after the first (the first is ``EBILL_PEPPER``; its id is recorded here too,
    with no secret, once a second version exists). The pepper itself is sealed under the keystore
    passphrase, never stored plain."""

    __tablename__ = "pepper_versions"

    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    pepper_id: str = Field(max_length=16, unique=True)
    sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    created_by: str = Field(max_length=80)


class Delegation(SQLModel, table=True):
    """``holder`` may see and claim ``person``'s invoices (family member, guardian)."""

    __tablename__ = "delegations"

    holder: bytes = Field(sa_column=_bytes(32, primary_key=True))
    person: bytes = Field(sa_column=_bytes(32, primary_key=True))
    relation: str = Field(max_length=16)                # spouse | parent | child | guardian | other
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    created_by: str = Field(max_length=80)
    revoked_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class PersonYear(SQLModel, table=True):
    """Year-to-date figures of one person under one scheme: the deductible used and what was paid.

    Updated in the transaction that decides a claim (and given back when a claim is
    rejected or refused), so two claims of one person never both use the same deductible.
    """

    __tablename__ = "person_years"

    pseudonym: bytes = Field(sa_column=_bytes(32, primary_key=True))
    scheme: str = Field(primary_key=True, max_length=40)
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    deductible_used_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    reimbursed_fen: int = Field(sa_column=Column(BigInteger, nullable=False))


class ClaimSubmission(SQLModel, table=True):
    """One tap: the claims made under one ``Idempotency-Key``, so a retry gets them back."""

    __tablename__ = "claim_submissions"
    __table_args__ = (UniqueConstraint("caller", "idempotency_key", name="uq_claim_submissions_key"),)

    id: str = Field(primary_key=True, max_length=24)
    caller: str = Field(max_length=80)                  # who sent it (citizen pseudonym / clerk credential)
    idempotency_key: str = Field(max_length=128)
    request_sha256: bytes = Field(sa_column=_bytes(32, nullable=False))
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    #: the request that filed them (``X-Request-Id``): the stamper's reservation log line names it
    request_id: str | None = Field(default=None, max_length=64)


class ClaimRow(SQLModel, table=True):
    """A claim on one invoice by this payer: decision, on-chain stamp, review and payout.

    ``state``: submitted → in-review | approved (instant) → paid (once finalised on
    chain); in-review → approved; rejected → appealed → in-review; refused (the chain
    would not reserve or finalise, or the invoice was voided before the payout);
    nothing-payable; clawback (voided after payment, or a post-payment audit found it
    wrong); waiting-for-earlier-payers (payers in order: decided once the earlier payers
    have, never on chain before). ``stamp`` mirrors the on-chain claim status
    (reserved | released | finalized) of ``chain_claim_id``; a new attempt (an
    appeal, a retry with a smaller amount) gets a new chain claim id.
    """

    __tablename__ = "claims"
    __table_args__ = (
        Index("ix_claims_state", "state", "created_at"),
        Index("ix_claims_person", "person", "created_at"),
        # one live claim per invoice at this payer: a refused one may be claimed again
        Index("uq_claims_live_invoice", "fingerprint", unique=True,
              sqlite_where=text("state <> 'refused'"), postgresql_where=text("state <> 'refused'")),
        # the stamper's outbox: claims whose chain stamp must change
        Index("ix_claims_chain_todo", "chain_todo",
              sqlite_where=text("chain_todo IS NOT NULL"), postgresql_where=text("chain_todo IS NOT NULL")),
        # the post-payment audit queue: claims drawn and not audited yet
        Index("ix_claims_post_audit_due", "created_at",
              sqlite_where=text("post_audit = 'due'"), postgresql_where=text("post_audit = 'due'")),
    )

    id: str = Field(primary_key=True, max_length=24)
    submission_id: str = Field(max_length=24, index=True)
    payer_id: str = Field(max_length=32)
    fingerprint: bytes = Field(sa_column=_bytes(32, nullable=False))
    issuer: str = Field(max_length=12)
    person: bytes = Field(sa_column=_bytes(32, nullable=False))
    actor: str = Field(max_length=80)
    relation: str = Field(max_length=16)                # self | delegate:<relation> | clerk
    state: str = Field(max_length=32)                   # ledger.claims.states.ClaimState
    scheme: str = Field(max_length=40)
    year: int
    requested_fen: int = Field(sa_column=Column(BigInteger, nullable=False))   # paid out of pocket
    decided_fen: int = Field(sa_column=Column(BigInteger, nullable=False))     # what the rules pay
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))      # what is reserved / paid
    deductible_used_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    decision: str = Field(sa_column=Column(Text, nullable=False))              # Decision.to_json()
    flags: str = Field(sa_column=Column(Text, nullable=False))                 # JSON list of flag rules
    instant: bool
    reviews_needed: int
    attempt: int
    chain_claim_id: bytes = Field(sa_column=_bytes(32, nullable=False, unique=True))
    #: reserve | finalize | release while the chain stamp must change, else NULL
    chain_todo: str | None = Field(default=None, max_length=16)
    stamp: str | None = Field(default=None, max_length=16)
    stamp_tx: str | None = Field(default=None, max_length=66)
    stamp_block: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    refusal: str | None = Field(default=None, max_length=300)
    rejection: str | None = Field(default=None, max_length=500)
    appeal: str | None = Field(default=None, max_length=500)
    payment_ref: str | None = Field(default=None, max_length=64)
    paid_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    updated_at: datetime = Field(sa_column=_utc(nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    #: due | cleared | finding for a claim drawn for a post-payment audit (ledger.claims.sampling), else NULL
    post_audit: str | None = Field(default=None, max_length=8)
    #: what its payout keeps back for claw-backs the person owes, planned before the bank is asked (the
    #: bank pays amount_fen less this); NULL: nothing planned (ledger.claims.clawbacks.plan_offsets)
    offset_fen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class ClaimReview(SQLModel, table=True):
    """A reviewer's verdict on a claim (two different reviewers above the maker-checker threshold)."""

    __tablename__ = "claim_reviews"

    claim_id: str = Field(primary_key=True, max_length=24)
    round: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})   # 1, or 2 after an appeal
    reviewer: str = Field(primary_key=True, max_length=80)
    verdict: str = Field(max_length=8)                  # approve | reject
    reason: str = Field(max_length=500)
    at: datetime = Field(sa_column=_utc(nullable=False))


class ClaimClawback(SQLModel, table=True):
    """What a paid claim owes back (``ledger.claims.clawbacks``): one per claim, opened in the
    transaction that moves the claim into ``clawback``; its figures are the sums of its actions.

    ``debtor``: hospital (the invoice's ``issuer``) | person (the claim's ``person``).
    """

    __tablename__ = "claim_clawbacks"
    __table_args__ = (
        Index("ix_claim_clawbacks_state", "state", "requested_at"),
        Index("ix_claim_clawbacks_issuer", "issuer", "requested_at"),
        # what a person owes, looked up for every payout to them
        Index("ix_claim_clawbacks_person", "person", "state"),
    )

    id: str = Field(primary_key=True, max_length=24)
    claim_id: str = Field(max_length=24, sa_column_kwargs={"unique": True})
    payer_id: str = Field(max_length=32)
    fingerprint: bytes = Field(sa_column=_bytes(32, nullable=False))
    issuer: str = Field(max_length=12)
    person: bytes = Field(sa_column=_bytes(32, nullable=False))
    debtor: str = Field(max_length=8)                   # ledger.claims.clawbacks.Debtor
    reason: str = Field(max_length=32)                  # ledger.claims.clawbacks.Reason
    note: str = Field(max_length=500)
    state: str = Field(max_length=16)                   # ledger.claims.clawbacks.ClawbackState
    amount_due_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    recovered_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    offset_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    written_off_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    pending_offset_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    due_working_days: int
    requested_by: str = Field(max_length=80)
    requested_at: datetime = Field(sa_column=_utc(nullable=False))
    write_off_proposed_by: str | None = Field(default=None, max_length=80)
    write_off_reason: str | None = Field(default=None, max_length=500)
    closed_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    updated_at: datetime = Field(sa_column=_utc(nullable=False))


class ClaimClawbackAction(SQLModel, table=True):
    """One step of a claw-back, append-only: what, how much, who, when.

    A reference (the office's transfer or settlement) is recorded once per kind of action, so a
    retried recovery cannot count twice; an offset against a payout is planned once, and
    applied or cancelled once, per payout.
    """

    __tablename__ = "claim_clawback_actions"
    __table_args__ = (
        Index("uq_claim_clawback_actions_reference", "clawback_id", "event", "reference", unique=True,
              sqlite_where=text("reference IS NOT NULL"), postgresql_where=text("reference IS NOT NULL")),
        Index("uq_claim_clawback_actions_payout", "payout", "clawback_id", "event", unique=True,
              sqlite_where=text("payout IS NOT NULL"), postgresql_where=text("payout IS NOT NULL")),
    )

    # INTEGER on SQLite: only that type is its rowid alias (and so auto-increments)
    id: int | None = Field(default=None, sa_column=Column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True))
    clawback_id: str = Field(max_length=24, index=True)
    event: str = Field(max_length=24)                   # ledger.claims.clawbacks.ClawbackEvent
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    actor: str = Field(max_length=80)
    at: datetime = Field(sa_column=_utc(nullable=False))
    reference: str | None = Field(default=None, max_length=64)
    payout: str | None = Field(default=None, max_length=24)     # the later claim whose payout keeps it back
    note: str = Field(max_length=500)


# ------------------------------------------------------------------ rule administration


class Notification(SQLModel, table=True):
    """The notification outbox: a message to the person of a claim at one of its steps
    (``ledger.claims.notices``), written in the transaction that writes the step; a delivery
    adapter sends it and records how (``state`` pending → delivered | failed)."""

    __tablename__ = "notifications"
    __table_args__ = (
        # what the dispatcher sends next, oldest first; and the outbox's listing by state
        Index("ix_notifications_state", "state", "id"),
        Index("ix_notifications_claim_id", "claim_id"),
    )

    # INTEGER on SQLite: only that type is its rowid alias (and so auto-increments)
    id: int | None = Field(default=None, sa_column=Column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True))
    claim_id: str = Field(max_length=24)
    person: bytes = Field(sa_column=_bytes(32, nullable=False))   # the recipient, by pseudonym
    kind: str = Field(max_length=16)                    # ledger.claims.notices.NoticeKind
    event: str = Field(max_length=40)                   # the claim's event (ledger.claims.states.Event)
    language: str = Field(max_length=8)                 # ledger.claims.languages.Language
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    state: str = Field(max_length=12)                   # pending | delivered | failed
    attempts: int = Field(default=0)
    channel: str | None = Field(default=None, max_length=40)      # the adapter that delivered it
    reference: str | None = Field(default=None, max_length=80)    # the gateway's message id
    delivered_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    error: str | None = Field(default=None, max_length=300)


class RuleSetRow(SQLModel, table=True):
    """One version of a payer's rule set: the document as imported, never edited, and who
    imported, approved and retired it (``ledger.rules.administration``)."""

    __tablename__ = "rule_sets"
    __table_args__ = (Index("ix_rule_sets_state", "state"),)

    id: str = Field(primary_key=True, max_length=64)
    version: int = Field(primary_key=True)
    payer: str = Field(max_length=32)
    scheme: str = Field(max_length=64)
    effective_from: str = Field(max_length=10)            # ISO date, inclusive
    effective_to: str | None = Field(default=None, max_length=10)   # ISO date, exclusive; None: open
    state: str = Field(max_length=12)                     # proposed | active | retired | withdrawn
    digest: str = Field(max_length=64)                    # sha256 of the RFC 8785 form
    source: str = Field(max_length=200)
    document: str = Field(sa_column=Column(Text, nullable=False))
    imported_by: str = Field(max_length=80)
    imported_at: datetime = Field(sa_column=_utc(nullable=False))
    approved_by: str | None = Field(default=None, max_length=80)
    approved_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    retired_by: str | None = Field(default=None, max_length=80)
    retired_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class CalendarYearRow(SQLModel, table=True):
    """One loaded year of the working-day calendar (``ledger.calendar``): the State Council's
    notice as a document, and who loaded it from where (the shipped years: ``system:seed``)."""

    __tablename__ = "calendar_years"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    source: str = Field(max_length=200)                   # the notice
    published: str | None = Field(default=None, max_length=10)   # ISO date; None: unknown
    holidays: int                                         # holiday dates
    make_up_days: int
    digest: str = Field(max_length=64)                    # sha256 of the RFC 8785 form
    document: str = Field(sa_column=Column(Text, nullable=False))
    loaded_from: str = Field(max_length=200)
    loaded_by: str = Field(max_length=80)
    loaded_at: datetime = Field(sa_column=_utc(nullable=False))


# ------------------------------------------------------------------ operations


class Meta(SQLModel, table=True):
    """Small facts about the store: chain id and contract it indexes, indexer cursor."""

    __tablename__ = "meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))


class AuditEntry(SQLModel, table=True):
    """Who did what, when: the service's audit trail (append-only)."""

    __tablename__ = "audit_log"

    # INTEGER on SQLite: only that type is its rowid alias (and so auto-increments)
    id: int | None = Field(default=None, sa_column=Column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True))
    at: datetime = Field(sa_column=_utc(nullable=False))
    actor: str = Field(max_length=80)                   # role:subject:key id (Principal.actor)
    action: str = Field(max_length=40)
    subject: str = Field(max_length=80)
    detail: str = Field(sa_column=Column(Text, nullable=False))


class Counter(SQLModel, table=True):
    """A named event count (forged codes caught at the public verifier, ...): one row per
    name, incremented in batches, so a flood of requests adds no rows."""

    __tablename__ = "counters"

    name: str = Field(primary_key=True, max_length=80)
    count: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = Field(sa_column=_utc(nullable=False))


class Lease(SQLModel, table=True):
    """Who leads one of the service's singleton workers (chain worker, a payer's stamper, the
    notification dispatcher) and its fencing token (``epoch``: see :mod:`ledger.leadership`).
    Released: ``holder`` empty; the row stays, so the epoch never goes back."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=80)
    expires_at: datetime = Field(sa_column=_utc(nullable=False))
    epoch: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
