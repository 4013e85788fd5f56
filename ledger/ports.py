"""What the domain core needs from the outside world, as Protocols.

The core never imports web3 or SQL; adapters in ``ledger.adapters`` implement these.
Accounts are 0x-hex addresses; the adapter holds the keys that sign for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from ledger.calendar.loading import CalendarYearEntry, LoadOutcome
from ledger.chain_gaps import UnknownStamp
from ledger.claims.clawbacks import ClawBack, ClawbackState, Debtor, OfficeAct, Reason
from ledger.claims.languages import Language
from ledger.claims.lines import InPart
from ledger.claims.model import (
    Claim,
    ClaimTarget,
    PayerRecord,
    PayoutDue,
    PersonInvoice,
    PersonRecord,
    StampCheck,
    Submission,
)
from ledger.claims.notice_outbox import DeliveryState, DeliveryUpdate, OutboxMessage, Receipt
from ledger.claims.policy import Filing
from ledger.claims.queue import QueueSearch
from ledger.claims.reconcile import BankPayment, ChainAhead
from ledger.claims.sampling import PostAudit
from ledger.claims.stamps import Repair, StampResult, StampStatus, StampTask
from ledger.claims.states import ClaimState
from ledger.hashing import Fingerprint, Hash32, MerkleRoot
from ledger.hospital_keys import HospitalKey, RevocationReason
from ledger.onchain import (
    AccountInfo,
    Address,
    AnchoredBatch,
    BatchAuthorisation,
    ChainClaim,
    ChainVoid,
    InvoiceChainState,
    Reservation,
    Stamp,
    StampOutcome,
    TxReceipt,
)
from ledger.peppers import StoredPepper
from ledger.rules import EarlierLine
from ledger.rules.administration import RuleSetEntry, RuleSetState
from ledger.rules.periods import HistoryQuery
from ledger.signature import DigestSigner, HeldKey

if TYPE_CHECKING:  # only for the InvoiceStore signatures; no import cycle at run time
    from ledger.batch import Batch
    from ledger.fingerprint import SealedInvoice
    from ledger.invoice_search import InvoiceSearch
    from ledger.records import (
        BatchOrigin,
        CredentialRecord,
        HospitalRecord,
        InvoiceDetail,
        OutboxFigures,
        SaveOutcome,
        StoredInvoice,
        VoidRecord,
    )
    from ledger.uploads import PreparedInvoice
    from ledger.voids import VoidReason, VoidRequest

#: the ports, and the chain's records they use (values of the core, :mod:`ledger.onchain`, re-exported)
__all__ = [
    "AccountInfo",
    "Address",
    "AnchoredBatch",
    "BatchAnchoring",
    "BatchAuthorisation",
    "BatchFeed",
    "ChainClaim",
    "ChainConnection",
    "ChainEvents",
    "ChainReader",
    "ChainVoid",
    "ClaimsRepository",
    "ClawbackRepository",
    "Clock",
    "DigestSigner",
    "HeldKey",
    "InvoiceChainState",
    "InvoiceStore",
    "KeyCustody",
    "KeySealer",
    "LedgerChain",
    "MemberRegistry",
    "MonthlyClaims",
    "NotificationDelivery",
    "NotificationOutbox",
    "Payment",
    "PayoutPort",
    "Reservation",
    "RuleSetRepository",
    "Signers",
    "Stamp",
    "StampOutcome",
    "Stamping",
    "Telemetry",
    "TxReceipt",
]


class ChainReader(Protocol):
    """Reads of the ledger contract: no key needed, nothing changes."""

    @property
    def chain_id(self) -> int: ...

    @property
    def contract_address(self) -> Address: ...

    def account_info(self, account: Address) -> AccountInfo: ...
    def batch(self, root: MerkleRoot) -> AnchoredBatch | None: ...
    def batches(self, roots: Sequence[MerkleRoot]) -> list[AnchoredBatch | None]: ...
    def invoice_state(self, issuer: str, fingerprint: Fingerprint) -> InvoiceChainState: ...
    def is_anchored(
        self, *, fingerprint: Fingerprint, total_fen: int, root: MerkleRoot, proof: Sequence[Hash32]
    ) -> bool: ...
    def claim_of(self, payer_id: str, claim_id: bytes) -> ChainClaim: ...


class MemberRegistry(Protocol):
    """Governance's operations on the members registry (sent by the relayer)."""

    def register_hospital(self, institution_id: str, account: Address) -> TxReceipt: ...
    def register_hospitals(self, members: Sequence[tuple[str, Address]]) -> list[TxReceipt]: ...
    def register_payer(self, payer_id: str, account: Address) -> TxReceipt: ...
    def add_key(self, member_id: str, account: Address) -> TxReceipt: ...
    def revoke_key(self, account: Address) -> TxReceipt: ...


class BatchAnchoring(Protocol):
    """Putting batch roots on chain: by the hospital's key, or relayed with its signature."""

    def authorise_batch(self, *, signer: Address, root: MerkleRoot, leaf_count: int) -> BatchAuthorisation: ...
    def anchor_batch(self, *, hospital: Address, root: MerkleRoot, leaf_count: int) -> TxReceipt: ...
    def anchor_authorised(self, groups: Sequence[Sequence[BatchAuthorisation]]) -> list[TxReceipt]: ...


class Stamping(Protocol):
    """What hospitals and payers stamp on an anchored invoice: its void, and reimbursements."""

    def void_invoice(
        self, *, hospital: Address, fingerprint: Fingerprint, total_fen: int,
        batch_root: MerkleRoot, proof: Sequence[Hash32], reason: VoidReason,
    ) -> TxReceipt: ...
    def reserve(
        self, *, payer: Address, claim_id: bytes, issuer: str, fingerprint: Fingerprint, total_fen: int,
        amount_fen: int, batch_root: MerkleRoot, proof: Sequence[Hash32],
    ) -> TxReceipt: ...
    def finalize(self, *, payer: Address, claim_id: bytes) -> TxReceipt: ...
    def release(self, *, payer: Address, claim_id: bytes) -> TxReceipt: ...
    def stamp_many(self, payer: Address, op: str, items: Sequence[Reservation | bytes], *,
                   per_tx: int = 100) -> list[StampOutcome]:
        """Batched stamps (``op`` one of :data:`ledger.onchain.STAMP_OPS`; items are
        :class:`Reservation` to reserve, chain claim ids otherwise), each item's outcome
        read from the receipt's events; a transaction refused as a whole raises."""
        ...


class LedgerChain(ChainReader, MemberRegistry, BatchAnchoring, Stamping, Protocol):
    """The ledger contract on some chain (embedded EVM, anvil, any JSON-RPC node)."""

    def forget_session_state(self) -> None:
        """Forget what the adapter counts in memory (nonces, funded accounts): the node lost blocks."""
        ...


class ChainEvents(Protocol):
    """The contract's events, decoded (``ledger.adapters.events.EventReader``)."""

    def head(self) -> int: ...
    def block_hash(self, number: int) -> str | None: ...
    def read(self, from_block: int, to_block: int) -> list[dict[str, Any]]: ...
    def stamps(self, fingerprint: bytes) -> list[Stamp]: ...
    def void_of(self, issuer: str, fingerprint: Fingerprint) -> ChainVoid | None: ...


class Signers(Protocol):
    """The private keys this process signs with (held by the chain adapter, never returned)."""

    def add(self, private_key: str) -> Address: ...
    def hold(self, signer: DigestSigner) -> Address: ...
    def new(self, owner: str = "account") -> Address: ...
    def __contains__(self, address: object) -> bool: ...


class ChainConnection(Protocol):
    """An open deployment: the contract, its events and this process's keys (``ChainSession``)."""

    @property
    def ledger(self) -> LedgerChain: ...

    @property
    def keyring(self) -> Signers: ...

    @property
    def events(self) -> ChainEvents: ...


class Leadership(Protocol):
    """One process's side of a named lease among the service's processes, with its fencing token
    (:mod:`ledger.leadership`; SQL adapter: ``ledger.adapters.sql.leadership``)."""

    @property
    def name(self) -> str: ...

    def lead(self) -> int | None:
        """Take the lease, or confirm it is still ours: our fencing token while we lead, None while
        another process leads. Cheap enough to call every round (the adapter confirms on its own
        schedule)."""
        ...

    def fenced(self) -> AbstractContextManager[None]:
        """Within the block, every write of the store (in this thread) commits only if our token is
        still the lease's epoch, checked in the write's own transaction; else it raises
        :class:`~ledger.errors.FencedOut` and nothing of it is stored."""
        ...

    def check(self) -> None:
        """Raise :class:`~ledger.errors.FencedOut` unless our token is still current: before an act
        outside the store (a chain transaction, a bank transfer, a message) that a stale leader
        must not start."""
        ...

    def step_down(self) -> None:
        """Stop leading (keep the row: the next holder's token is higher): after being fenced out."""
        ...

    def release(self) -> None:
        """Give the lease up on a clean shutdown, so a successor takes over at once."""
        ...


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
    def feed_batches(self, *, after: tuple[int, bytes] | None, limit: int = 4) -> list[dict[str, Any]]:
        """Anchored batches after ``(anchored block, root)`` with their hospitals and sealed invoices
        (the payers' feed, ``GET /v1/feed/batches``)."""
        ...
    def index_generation(self) -> int:
        """How many times the chain index was rebuilt from the chain (lost blocks, a new chain):
        whoever acts on chain from this store checks its own records against the chain when it moved."""
        ...
    def set_meta(self, key: str, value: str) -> None: ...

    # members
    def add_hospital(self, h: HospitalRecord, *, actor: str) -> None: ...
    def hospital(self, institution_id: str) -> HospitalRecord: ...
    def hospitals(self) -> list[HospitalRecord]: ...
    def set_registered(self, institution_id: str, block: int | None) -> None: ...
    def add_credential(self, cred: CredentialRecord, *, label: str, actor: str) -> None: ...

    # hospitals' keys over time (ledger.hospital_keys)
    def hospital_keys(self, institution_id: str) -> list[HospitalKey]: ...
    def keys_to_settle(self, *, limit: int = 200) -> list[HospitalKey]: ...
    def keys_generation(self) -> int: ...
    def add_pending_key(self, institution_id: str, account: str, keystore: str, *,
                        revoke_previous: RevocationReason | None, actor: str) -> tuple[HospitalKey, bool]: ...
    def bind_key(self, account: str, *, added_at: int, actor: str) -> HospitalKey: ...
    def note_added_at(self, account: str, added_at: int) -> None: ...
    def request_key_revocation(self, institution_id: str, account: str, *, reason: RevocationReason,
                               actor: str) -> tuple[HospitalKey, bool]: ...
    def mark_key_revoked(self, account: str, *, revoked_at: int, block: int | None, actor: str) -> HospitalKey: ...

    # pepper versions (ledger.peppers)
    def pepper_versions(self) -> list[StoredPepper]: ...
    def pepper_generation(self) -> int: ...
    def persons_by_version(self) -> dict[int, int]: ...
    def add_pepper_version(self, *, version: int, pepper_id: str, sealed: str, first_id: str,
                           advance: Callable[[bytes], bytes], actor: str) -> int: ...
    def credential(self, key_id: str) -> CredentialRecord | None: ...
    def credential_labels(self, key_ids: Sequence[str]) -> dict[str, str]:
        """The labels given to the credentials ``key_ids`` (those with one), by key id."""
        ...
    def revoke_credential(self, key_id: str, *, actor: str) -> None: ...

    # uploads and reads
    def save_uploads(self, issuer: str, items: Sequence[PreparedInvoice], *, actor: str,
                     request_id: str | None = None) -> list[SaveOutcome]: ...
    def invoice(self, fingerprint: bytes) -> InvoiceDetail: ...
    def list_invoices(self, search: InvoiceSearch) -> list[StoredInvoice]:
        """One page of the invoices ``search`` finds; raises :class:`~ledger.errors.NotFound` for an
        ``after`` that is no invoice of the search's issuer in upload order."""
        ...
    def fee_lines(self, fingerprint: bytes) -> list[dict[str, Any]]: ...
    def sealed_invoice(self, fingerprint: bytes) -> SealedInvoice: ...
    def batch(self, root: bytes) -> tuple[Batch, dict[str, Any]]: ...
    def counts(self) -> dict[str, int]: ...

    # outboxes
    def close_batches(self, *, max_leaves: int, max_age: timedelta, now: datetime | None = None) -> list[Batch]: ...
    def batches_waiting(self, *, limit: int = 4096) -> list[Batch]: ...
    def outbox_figures(self) -> OutboxFigures: ...
    def batch_origins(self, roots: Sequence[bytes]) -> dict[bytes, BatchOrigin]: ...
    def mark_submitted(self, roots: Sequence[bytes], *, error: str | None = None) -> None: ...
    def request_void(self, fingerprint: bytes, *, issuer: str, request: VoidRequest,
                     actor: str, request_id: str | None = None) -> tuple[VoidRecord, bool]: ...
    def voids_pending(self, *, limit: int = 500) -> list[tuple[VoidRecord, bytes | None, int]]: ...
    def mark_void(self, fingerprint: bytes, *, state: str, tx: str | None = None, block: int | None = None,
                  error: str | None = None) -> None: ...

    # chain-derived index
    def save_events(self, events: Sequence[dict[str, Any]], *, cursor: tuple[int, str] | None = None) -> None: ...
    def reset_chain_index(self, events: Sequence[dict[str, Any]] = (), *,
                          cursor: tuple[int, str] | None = None) -> None: ...
    def leadership(self, name: str, holder: str, *, ttl: timedelta) -> Leadership:
        """The lease ``name`` as ``holder`` sees it (``ttl``: how long a time-limited lease lasts unrenewed)."""
        ...


class Clock(Protocol):
    """The time of day for the use cases (adapter: ``ledger.adapters.clock.SystemClock``).

    Use cases read the time only through it, so a test or a replay can pin it; the claim's
    state machine (:mod:`ledger.claims`) takes times as arguments and reads no clock at all.
    Intervals a worker waits are measured with ``time.monotonic`` and are not the clock's.
    """

    def now(self) -> datetime:
        """Now, timezone-aware (UTC)."""
        ...


class RuleSetRepository(Protocol):
    """The payers' rule-set versions and who acted on them (SQL adapter: ``ledger.adapters.sql.rule_sets``)."""

    def rule_set(self, rid: str, version: int) -> RuleSetEntry | None: ...
    def rule_set_document(self, rid: str, version: int) -> Any: ...
    def rule_sets(self, *, payer: str | None = None,
                  states: Sequence[RuleSetState] | None = None) -> list[RuleSetEntry]: ...
    def active_rule_documents(self) -> list[tuple[str, Any]]: ...
    def rules_generation(self) -> int:
        """A number that moves whenever the active versions change (workers reload then)."""
        ...
    def propose_rule_sets(self, versions: Sequence[tuple[RuleSetEntry, Any]], *, actor: str,
                          activate: bool = False) -> None: ...
    def move_rule_sets(self, refs: Sequence[tuple[str, int]], *, to: Callable[[RuleSetEntry], RuleSetState],
                       check_active: Callable[[list[tuple[str, Any]]], None], by: str,
                       at: datetime) -> list[RuleSetEntry]:
        """Move versions to ``to(entry)`` (raising if not allowed) in one transaction serialised
        with every other move, if ``check_active`` accepts the active documents as they would
        stand; audited."""
        ...


class CalendarRepository(Protocol):
    """The loaded years of the working-day calendar (SQL adapter: ``ledger.adapters.sql.calendar``)."""

    def calendar_years(self) -> list[CalendarYearEntry]: ...
    def calendar_year(self, year: int) -> tuple[CalendarYearEntry, Any] | None:
        """The year's entry and its document as loaded, or None."""
        ...
    def calendar_documents(self) -> list[tuple[CalendarYearEntry, Any]]: ...
    def calendar_generation(self) -> int:
        """A number that moves whenever a year is loaded or replaced (workers reload then)."""
        ...
    def seed_calendar_years(self, years: Sequence[tuple[CalendarYearEntry, Any]]) -> list[int]:
        """Store those of ``years`` not stored yet (seed data; a year loaded by an operator is
        never overwritten), audited; the years stored."""
        ...
    def put_calendar_year(self, entry: CalendarYearEntry, document: Any, *,
                          decide: Callable[[CalendarYearEntry | None], LoadOutcome],
                          check: Callable[[list[tuple[CalendarYearEntry, Any]]], None]) -> LoadOutcome:
        """In one transaction serialised with every other load: ``decide`` from the stored entry of
        the year (raising if refused), ``check`` the documents as they would stand, then store (unless
        unchanged), audit and move the generation."""
        ...


class KeyCustody(Protocol):
    """Where members' signing keys are made and kept: sealed in the store under the keystore
    passphrase (``ledger.adapters.signers.FileCustody``), or on a PKCS#11 token they never
    leave (``ledger.adapters.pkcs11_token.Pkcs11Custody``). What the store keeps of a key is
    its ``reference``; the key itself is only ever used through a :class:`DigestSigner`."""

    def create(self, *, owner: str) -> HeldKey:
        """A new key for ``owner`` (a hospital or payer id, ``governance``): its account and reference."""
        ...

    def open(self, reference: str, *, owner: str, address: Address) -> DigestSigner:
        """The signer of the key ``reference`` names; raises if it is not ``owner``'s key of ``address``."""
        ...


class KeySealer(Protocol):
    """Members' private keys sealed at rest: a sealed key opens only for its owner and account."""

    def seal(self, secret: bytes, *, owner: str, address: str) -> str:
        """``secret`` sealed for ``owner`` (a hospital or payer id) and its ``address``."""
        ...

    def open(self, sealed: str, *, owner: str, address: str) -> bytes:
        """The secret of ``sealed``; raises if the passphrase or the binding does not match."""
        ...


class BatchFeed(Protocol):
    """Anchored batches with their sealed invoices, as another service serves them
    (``GET /v1/feed/batches``): what a payer's mirror pulls and then verifies itself."""

    def page(self, *, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` batches after the cursor ``after`` (``<block>:<root>``); raises a
        :class:`~ledger.errors.LedgerError` when the feed does not answer."""
        ...


@dataclass(frozen=True)
class Payment:
    """A transfer the bank made: our request id, the bank's reference, how much, to whom, when."""

    request_id: str
    reference: str
    amount_fen: int
    payee: str
    paid_at: datetime


class PayoutPort(Protocol):
    """What the claims stamper needs from a bank (adapter: ``ledger.adapters.bank``).

    Transfers are idempotent by request id: after a crash the stamper asks again with the
    same id and gets the original :class:`Payment`; the money never moves twice.
    """

    def pay(self, *, request_id: str, payee: str, amount_fen: int, memo: str) -> Payment:
        """Transfer ``amount_fen`` to ``payee`` once per ``request_id``; a repeat returns the first Payment.

        Raises Conflict if ``request_id`` was paid with another amount or payee, and
        BankUnavailable (nothing paid) when the bank cannot be reached.
        """
        ...

    def payment(self, request_id: str) -> Payment | None:
        """The payment made for ``request_id``, or None if there is none."""
        ...


class MonthlyClaims(Protocol):
    """What a monthly report reads of a payer's claims (SQL adapter: ``ledger.adapters.sql.claims.reports``)."""

    def claims_filed(self, *, start: datetime, end: datetime, issuer: str | None = None,
                     page: int = 500) -> Iterator[Claim]:
        """Every claim filed in [``start``, ``end``) (aware times) — at ``issuer``'s invoices only,
        if given — with its reviews, read page by page from one snapshot of the store, so a claim
        that moves on meanwhile counts once; in no promised order. Consume it at once: it holds a
        connection until exhausted or closed."""
        ...

    def fee_item_names(self, lines: Sequence[tuple[bytes, int]]) -> dict[tuple[bytes, int], str]:
        """The item name of each fee line ``(invoice fingerprint, seq)``; lines not stored are left out."""
        ...


class ClawbackRepository(Protocol):
    """What paid claims owe back (SQL adapter: ``ledger.adapters.sql.claims.clawbacks``).

    A claw-back is opened by the claims repository in the transaction that moves its claim
    into ``clawback``; each change here is one transaction holding the claw-back's change as
    :mod:`ledger.claims.clawbacks` decided it, its action and an audit entry on its claim.
    """

    def clawbacks(self, *, states: Sequence[ClawbackState] | None = None, issuer: str | None = None,
                  debtor: Debtor | None = None, persons: Sequence[bytes] | None = None, claim_id: str | None = None,
                  after: str | None = None, limit: int = 100) -> list[ClawBack]: ...
    def clawback(self, clawback_id: str) -> ClawBack: ...
    def clawback_of(self, claim_id: str) -> ClawBack: ...
    def clawback_act(self, clawback_id: str, act: OfficeAct) -> tuple[ClawBack, bool]:
        """Record an act of the payer's office; (the claw-back after it, whether it was a repeat)."""
        ...
    def plan_offsets(self, claim_ids: Sequence[str]) -> dict[str, int]:
        """Plan, once per payout and before the bank is asked, what the payouts of ``claim_ids``
        keep back for claw-backs their persons owe; what each keeps back."""
        ...


class NotificationOutbox(Protocol):
    """The messages claims send their persons (SQL adapter: ``ledger.adapters.sql.claims.notification_outbox``).

    A message is written by the claims repository in the transaction of its claim's step
    (:mod:`ledger.claims.notices`); here it is read and its delivery recorded.
    """

    def notifications(self, *, states: Sequence[DeliveryState] | None = None, claim_id: str | None = None,
                      after: int | None = None, limit: int = 100) -> list[OutboxMessage]:
        """Messages newest first, in ``states`` and of ``claim_id`` if given, below the id ``after``."""
        ...

    def pending_notifications(self, *, limit: int = 100) -> list[OutboxMessage]:
        """Pending messages, oldest first."""
        ...

    def record_deliveries(self, updates: Sequence[DeliveryUpdate]) -> int:
        """Record delivery attempts (:mod:`ledger.claims.notice_outbox`) in one transaction; a message no
        longer pending is left as it is. How many were recorded."""
        ...


class NotificationDelivery(Protocol):
    """Sends a message to a person (adapters: ``ledger.adapters.notify``).

    The development adapter sends nothing and marks each message delivered to the outbox; a
    production adapter hands it to an SMS gateway, which knows the person's mobile number by
    their pseudonym (the ledger holds no phone numbers).
    """

    @property
    def channel(self) -> str:
        """What delivers, as the outbox records it (e.g. ``development-outbox``)."""
        ...

    @property
    def sends(self) -> bool:
        """Whether a message leaves this service (False: development, kept in the outbox only)."""
        ...

    def deliver(self, message: OutboxMessage) -> Receipt:
        """Hand ``message`` over for delivery. Raises
        :class:`~ledger.errors.GatewayUnavailable` (not sent; try again later) or
        :class:`~ledger.errors.MessageUndeliverable` (never deliverable)."""
        ...


class ClaimsRepository(MonthlyClaims, ClawbackRepository, NotificationOutbox, Protocol):
    """One payer's claims, persons and payers (SQL adapter: ``ledger.adapters.sql.claims``).

    Every method that changes a claim is one transaction holding the claim's change as the
    state machine (:mod:`ledger.claims.transitions`) decided it, its year-to-date effect and
    its audit entry; rows two requests could race for are locked.
    """

    # payers, persons and delegations
    def add_payer(self, p: PayerRecord, *, actor: str) -> None: ...
    def payer(self, payer_id: str) -> PayerRecord: ...
    def payers(self) -> list[PayerRecord]: ...
    def set_payer_registered(self, payer_id: str, block: int | None) -> None: ...
    def enrol(self, persons: Sequence[PersonRecord], *, actor: str) -> int: ...
    def identify(self, versions: Sequence[Sequence[bytes]]) -> list[bytes]:
        """For each person given as their pseudonyms under every pepper version (version 1 first): the
        pseudonym they are known by here, recording those not yet recorded (:mod:`ledger.peppers`)."""
        ...
    def person_of(self, pseudonym: bytes) -> bytes:
        """The person a pseudonym of any pepper version is known to be here (itself if not recorded)."""
        ...
    def person(self, pseudonym: bytes) -> PersonRecord | None: ...
    def persons_of(self, pseudonyms: Sequence[bytes]) -> dict[bytes, PersonRecord]: ...
    def set_language(self, pseudonym: bytes, language: Language, *, actor: str) -> None: ...
    def delegate(self, *, holder: bytes, person: bytes, relation: str, actor: str) -> None: ...
    def delegations_of(self, holder: bytes) -> list[tuple[PersonRecord, str]]: ...
    def relation(self, holder: bytes, person: bytes) -> str | None: ...

    # filing
    def invoices_of(self, person: bytes, *, limit: int = 200) -> list[PersonInvoice]: ...
    def earlier_lines(self, person: bytes, query: HistoryQuery, *, exclude: bytes) -> list[EarlierLine]: ...
    def claim_target(self, fingerprint: bytes) -> ClaimTarget | None: ...
    def submission(self, caller: str, key: str) -> Submission | None: ...
    def submit(self, *, submission_id: str, caller: str, key: str, request_sha256: bytes,
               filings: Sequence[Filing], request_id: str | None = None) -> tuple[str, list[Claim], bool]: ...
    def record_blocked(self, *, actor: str, reason: str, message: str, fingerprints: Sequence[bytes]) -> None: ...
    def decide_waiting(self, filing: Filing) -> bool:
        """Decide a claim waiting for earlier payers (payers in order) in one transaction; False
        if it is no longer waiting or must still wait."""
        ...
    def stamps_on(self, invoices: Sequence[tuple[str, bytes]]) -> dict[tuple[str, bytes], list[Stamp]]:
        """Every payer's stamps on the invoices ``(issuer, fingerprint)`` as the store's index of the
        chain holds them (each chain claim at its newest status)."""
        ...

    # reading, review, appeal
    def year_to_date(self, person: bytes, scheme: str, year: int) -> tuple[int, int]: ...
    def latest_claims(self, fingerprints: Sequence[bytes]) -> dict[bytes, Claim]: ...
    def claim(self, claim_id: str) -> Claim: ...
    def claims(self, *, persons: Sequence[bytes] | None = None, states: Sequence[ClaimState] | None = None,
               after: str | None = None, limit: int = 100, oldest_first: bool = False,
               with_reviews: bool = False, search: QueueSearch | None = None,
               post_audit: PostAudit | None = None) -> list[Claim]: ...
    def moved_on(self, claim_ids: Sequence[str], *, from_states: Sequence[ClaimState]) -> list[Claim]: ...
    def review(self, claim_id: str, *, reviewer: str, verdict: str, reason: str, in_part: InPart | None = None,
               judged: tuple[int, int] | None = None) -> Claim: ...
    def appeal(self, claim_id: str, *, reason: str, actor: str, deductible_fen: int, amount_fen: int) -> Claim: ...
    def post_audit(self, claim_id: str, *, auditor: str, finding: bool, reason: str,
                   code: Reason | None = None) -> Claim: ...
    def stats(self, *, since: datetime | None = None) -> dict[str, Any]: ...

    # the stamper's outbox, payouts and voids
    def stamp_tasks(self, *, limit: int = 500, exclude: Sequence[str] = ()) -> list[StampTask]: ...
    def claims_by_state(self) -> dict[str, int]: ...
    def apply_stamps(self, results: Sequence[StampResult]) -> list[str]: ...
    def stamps_to_verify(self, *, above_block: int) -> tuple[int, list[StampCheck]]: ...
    def requeue_lost(self, repairs: Sequence[tuple[StampCheck, StampStatus, Repair]]) -> int: ...
    def payouts_due(self, *, limit: int = 200, ids: Sequence[str] | None = None) -> list[PayoutDue]: ...
    def hold_payout(self, claim_id: str, *, reason: str) -> None: ...
    def mark_paid_many(self, payments: Sequence[tuple[str, str, datetime]]) -> None: ...
    def payouts_stopped_by_void(self, *, limit: int = 200) -> list[str]: ...
    def apply_voids(self, *, hold: Sequence[str] = ()) -> list[str]: ...

    # after a restore from an older backup (ledger.claims.reconcile, ledger.chain_gaps)
    def claims_behind_chain(self, *, limit: int = 200) -> list[ChainAhead]: ...
    def reconcile_behind(self, found: Sequence[tuple[ChainAhead, BankPayment | None]]
                         ) -> tuple[list[str], list[str]]: ...
    def forgotten_stamps(self, payer_id: str) -> list[tuple[UnknownStamp, set[bytes]]]: ...
    def record_forgotten_released(self, released: Sequence[tuple[UnknownStamp, str, int]], *, actor: str) -> None: ...
    def unknown_stamped(self, payer_id: str, fingerprints: Sequence[bytes]) -> set[bytes]: ...


class Telemetry(Protocol):
    """What the use cases report for an operator's dashboards (adapter: :mod:`ledger.adapters.metrics`,
    the Prometheus families; :data:`ledger.app.telemetry.NO_TELEMETRY` reports nothing).

    Every method is cheap (no I/O) and never raises. Labels come from small fixed sets
    (statuses, steps, verdicts), never an id, a fingerprint or anything about a person.
    """

    def uploaded(self, *, statuses: Mapping[str, int], fee_lines: int) -> None:
        """An upload's items by outcome (``created``, ``duplicate``, ``conflict``, ``rejected``) and the
        fee lines of the invoices it stored."""
        ...

    def upload_refused(self, *, reason: str) -> None:
        """A whole upload refused before any item was judged (``reason``: the problem's kind)."""
        ...

    def batches_anchored(self, *, invoices: Sequence[int], delays: Sequence[float]) -> None:
        """Batches this worker anchored now: each one's invoices, and seconds since its oldest upload."""
        ...

    def outbox(self, *, invoices: int, batches: int, voids: int, lag: float) -> None:
        """The anchoring outbox now: invoices in no batch, batches not anchored, voids not stamped, and
        the age in seconds of the oldest acknowledged invoice not anchored yet (0: none)."""
        ...

    def chain_seen(self, *, head: int, indexed: int) -> None:
        """The chain's head block as the node last reported it, and the block the index has read to."""
        ...

    def chain_error(self, *, component: str, step: str) -> None:
        """A chain worker or stamper step failed (``component``: ``chain-worker`` | ``stamper``)."""
        ...

    def worker_tick(self, *, seconds: float) -> None:
        """One round of the chain worker, and how long it took."""
        ...

    def claims_filed(self, *, states: Sequence[str]) -> None:
        """Claims stored by a filing, each by the state it was decided into."""
        ...

    def claim_blocked(self, *, reason: str) -> None:
        """A filing refused without storing a claim (``voided``, ``duplicate``)."""
        ...

    def claims_by_state(self, counts: Mapping[str, int]) -> None:
        """How many claims stand in each state now (a snapshot)."""
        ...

    def stamper_round(self, *, seconds: float, done: Mapping[str, int]) -> None:
        """One round of the claims stamper: how long, and what it did (``reserved``, ``finalized``,
        ``released``, ``refused``, ``paid``, ``voided``, ``lost``, ``decided``)."""
        ...

    def verified(self, *, verdict: str) -> None:
        """A verification answered with ``verdict`` (``verifier.verdict``'s status)."""
        ...
