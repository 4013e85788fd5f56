"""The upload service's use cases: members and credentials, uploads, invoice status, voids.

The API is a thin layer over :class:`LedgerService`; the CLI uses it too. Each use case
takes the authenticated :class:`Principal` and checks it against the operation's
allow-list in :mod:`ledger.app.access`:

- a **hospital** uploads, reads and voids only its own invoices (another hospital's
  invoice is "not found", whoever asks: fingerprints are public, holdings are not);
- a **citizen** reads only their own invoices and those of persons who delegated to them;
  a hospital's **claims window** (clerk) those of its own hospital;
- **payers** and **auditors** read any invoice (status, proof, stamps, fee lines);
- the **admin** (the consortium's governance) registers hospitals and credentials, and
  reads no medical data.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from ledger.app.access import SYSTEM, Principal, Reach, authorize, reaches_invoice
from ledger.app.telemetry import NO_TELEMETRY
from ledger.batch import Batch
from ledger.errors import (
    Conflict,
    FieldProblem,
    InvalidInput,
    InvalidInvoice,
    LedgerError,
    NotFound,
    Unauthenticated,
)
from ledger.hashing import Fingerprint, MerkleRoot, parse_hash32
from ledger.invoice import ISSUER_RE
from ledger.invoice_check import MAX_PROBLEMS
from ledger.invoice_search import InvoiceSearch
from ledger.onchain import Stamp
from ledger.peppers import PepperSource, pepper_source
from ledger.ports import Clock, InvoiceStore, KeyCustody, Telemetry
from ledger.proofdoc import ChainRef, InvoiceInclusion
from ledger.qr import InvoiceSeal, QrDomain, sign_seal_with
from ledger.records import (
    CredentialRecord,
    HospitalRecord,
    InvoiceDetail,
    Role,
    StoredInvoice,
    UploadStatus,
    VoidRecord,
)
from ledger.signature import DigestSigner
from ledger.uploads import PreparedInvoice, prepare_invoice
from ledger.voids import VoidRequest

TOKEN_PREFIX = "ebill"
#: problems an upload report keeps, in all its items (each keeps at most 100): a small upload can
#: break millions of rules, and describing them all would cost the service its memory
UPLOAD_PROBLEMS_KEPT = 10_000
#: meta key: set when the store was bound to another chain or contract (the chain worker leading next
#: rebuilds the index from the new chain's events, :mod:`ledger.app.chain_worker`)
REINDEX_META = "chain.reindex"


class SourceItem(Protocol):
    """One item read from an upload (see :mod:`ledger.formats`)."""

    @property
    def index(self) -> int: ...
    @property
    def ref(self) -> str: ...
    @property
    def document(self) -> dict[str, Any] | None: ...
    @property
    def problems(self) -> tuple[FieldProblem, ...]: ...


@dataclass(frozen=True)
class ItemResult:
    """The outcome of one uploaded item."""

    index: int
    ref: str
    status: UploadStatus
    invoice: StoredInvoice | None = None
    problems: tuple[FieldProblem, ...] = ()
    #: where each problem's field came from in the uploaded file (CSV row and column, ...)
    sources: tuple[str, ...] = ()
    #: how many problems the item has; ``problems`` lists the first of them (see ``UPLOAD_PROBLEMS_KEPT``)
    problem_count: int | None = None

    @property
    def problems_found(self) -> int:
        return len(self.problems) if self.problem_count is None else self.problem_count


@dataclass(frozen=True)
class UploadReport:
    items: tuple[ItemResult, ...]
    counts: dict[str, int] = field(default_factory=dict)


class PersonRelations(Protocol):
    """Who may act for whom (the claims tables' delegations), and who a pseudonym is."""

    def relation(self, holder: bytes, person: bytes) -> str | None: ...
    def person_of(self, pseudonym: bytes) -> bytes: ...


class LedgerService:
    """Use cases over a store, with the keys and secrets of this deployment.

    ``relations`` tells which persons a citizen may act for (set by the composition root
    when the service has a claims side; without it a citizen sees only their own bills).
    """

    def __init__(self, store: InvoiceStore, *, pepper: bytes | PepperSource, keys: KeyCustody, clock: Clock,
                 relations: PersonRelations | None = None, telemetry: Telemetry = NO_TELEMETRY) -> None:
        self.store = store
        self.clock = clock
        #: what the use cases report for an operator's metrics (uploads here; the workers use it too)
        self.telemetry = telemetry
        #: where the members' signing keys are made and kept: sealed at rest, or on a PKCS#11 token
        #: (``ledger.adapters.custody.Custody``)
        self.keys = keys
        self.relations = relations
        #: the pepper versions in force (a bare pepper: version 1 alone); new pseudonyms use the newest
        self.peppers = pepper_source(pepper)
        self._opened: dict[str, DigestSigner] = {}
        self._domain: QrDomain | None = None

    # ------------------------------------------------------------------ secrets and keys

    def hospital_signer(self, institution_id: str) -> DigestSigner:
        """The hospital's current signing key (opened once per process, and again after a rotation)."""
        h = self.store.hospital(institution_id)
        signer = self._opened.get(institution_id)
        if signer is None or signer.address.lower() != h.account.lower():
            signer = self.keys.open(h.sealed_key, owner=h.institution_id, address=h.account)
            self._opened[institution_id] = signer
        return signer

    @property
    def qr_domain(self) -> QrDomain:
        """The EIP-712 domain of QR seals: the chain and ledger contract this store serves."""
        if self._domain is None:
            chain_id, contract = self.store.get_meta("chain.id"), self.store.get_meta("chain.contract")
            if chain_id is None or contract is None:
                raise LedgerError("the store is not bound to a chain yet: start it with `ebill serve`")
            self._domain = QrDomain(chain_id=int(chain_id), verifying_contract=contract)
        return self._domain

    def bind_chain(self, chain_id: int, contract: str) -> bool:
        """Record which chain and contract this store serves; True if it changed (reindex needed)."""
        old = (self.store.get_meta("chain.id"), self.store.get_meta("chain.contract"))
        new = (str(chain_id), contract)
        if old == new:
            return False
        self.store.set_meta("chain.id", new[0])
        self.store.set_meta("chain.contract", new[1])
        self._domain = None
        if old == (None, None):
            return False
        # whichever process bound it (an API process, say), the chain worker leading next rebuilds the index
        self.store.set_meta(REINDEX_META, "the store now serves another chain/contract")
        return True

    # ------------------------------------------------------------------ members and credentials

    def register_hospital(self, *, institution_id: str, name: str, region: str,
                          by: Principal = SYSTEM) -> tuple[HospitalRecord, str]:
        """Create a hospital with a new signing key (sealed at rest) and its first API token."""
        authorize(by, "hospital.register")
        problems = []
        if not ISSUER_RE.match(institution_id):
            problems.append(FieldProblem("institutionId", "pattern",
                                         f"expected H followed by 11 digits, got {institution_id!r}"))
        for fname, value in (("name", name), ("region", region)):
            if not value.strip() or len(value) > (200 if fname == "name" else 64):
                problems.append(FieldProblem(fname, "length", f"{fname} must be 1-{200 if fname == 'name' else 64} "
                                                              "characters"))
        if problems:
            raise InvalidInput(problems)
        held = self.keys.create(owner=institution_id)
        record = HospitalRecord(
            institution_id=institution_id, name=name.strip(), region=region.strip(), account=held.address,
            sealed_key=held.reference, created_at=self.clock.now(), registered_block=None,
        )
        self.store.add_hospital(record, actor=by.actor)
        token = self.create_credential(role=Role.HOSPITAL, subject=institution_id, label="created with the hospital",
                                       by=by)
        return record, token

    def hospitals(self, principal: Principal) -> list[HospitalRecord]:
        """The registry's hospitals (their names and regions are public; staff read them to name hospitals)."""
        authorize(principal, "hospital.list")
        return self.store.hospitals()

    def create_credential(self, *, role: Role, subject: str, label: str = "", by: Principal = SYSTEM) -> str:
        """A new API token for ``role``/``subject``; only its hash is stored, so show it once."""
        authorize(by, "credential.create")
        if role is Role.CITIZEN:
            raise InvalidInput.single("role", "enum", "citizens sign in with their e-voucher, not an API token")
        if role in (Role.HOSPITAL, Role.CLERK):
            self.store.hospital(subject)  # raises NotFound (a clerk works at a hospital's claims window)
        elif not 1 <= len(subject) <= 32 or not all(" " <= ch <= "~" for ch in subject):
            raise InvalidInput.single("subject", "pattern", "subject must be 1-32 printable ASCII characters")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        self.store.add_credential(CredentialRecord(key_id, role, subject, hashlib.sha256(secret.encode()).digest(),
                                                   False), label=label, actor=by.actor)
        return f"{TOKEN_PREFIX}_{key_id}_{secret}"

    def authenticate(self, token: str | None) -> Principal:
        """The principal a bearer token stands for; raises :class:`Unauthenticated`."""
        if not token:
            raise Unauthenticated("missing credential: send `Authorization: Bearer ebill_…`")
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX or len(parts[1]) != 12:
            raise Unauthenticated("malformed credential: expected ebill_<key id>_<secret>")
        cred = self.store.credential(parts[1])
        digest = hashlib.sha256(parts[2].encode()).digest()
        # compare even when the key id is unknown, so timing does not tell which ids exist
        expected = cred.secret_sha256 if cred else b"\0" * 32
        if not hmac.compare_digest(digest, expected) or cred is None or cred.revoked:
            raise Unauthenticated("unknown or revoked credential")
        return Principal(cred.role, cred.subject, cred.key_id)

    # ------------------------------------------------------------------ uploads

    def upload(self, principal: Principal, items: Iterable[SourceItem], *, max_items: int = 5000,
               request_id: str | None = None) -> UploadReport:
        """Validate, seal, sign and store every valid item in one transaction; report each item.

        Invalid items are refused with every problem named; valid ones are stored (a
        bulk upload is not all-or-nothing, but each item is). A retry of the same
        payload stores nothing twice. ``request_id`` (the HTTP request's) is kept with the
        invoices stored, for the anchoring's log line.
        """
        authorize(principal, "invoice.upload")
        issuer = principal.subject
        signer = self.hospital_signer(issuer)
        domain = self.qr_domain
        ring = self.peppers.ring()

        def sign(seal: InvoiceSeal) -> str:
            return sign_seal_with(seal, signer=signer, domain=domain).encode()

        results: list[ItemResult | None] = []
        prepared: list[tuple[int, PreparedInvoice]] = []
        refs: list[tuple[int, str]] = []
        kept = 0   # problems kept so far in this report (the counts stay complete)
        fee_lines = 0  # of the invoices stored now

        def rejected(item: SourceItem, problems: tuple[FieldProblem, ...], sources: tuple[str, ...] = ()) -> ItemResult:
            nonlocal kept
            keep = max(0, min(len(problems), MAX_PROBLEMS, UPLOAD_PROBLEMS_KEPT - kept))
            kept += keep
            return ItemResult(item.index, item.ref, UploadStatus.REJECTED, problems=problems[:keep],
                              sources=sources[:keep], problem_count=len(problems))

        for n, item in enumerate(items):
            if n >= max_items:
                raise InvalidInput.single("(body)", "max-items",
                                          f"an upload holds at most {max_items} invoices; split it")
            refs.append((item.index, item.ref))
            if item.problems or item.document is None:
                results.append(rejected(item, item.problems))
                continue
            try:
                prepared.append((n, prepare_invoice(item.document, pepper=ring, issuer=issuer, sign_qr=sign)))
                results.append(None)
            except InvalidInvoice as exc:
                locate = getattr(item, "locate", None)
                sources = tuple(locate(p.field) for p in exc.problems) if locate else ()
                results.append(rejected(item, exc.problems, sources))
        if prepared:
            outcomes = self.store.save_uploads(issuer, [p for _, p in prepared], actor=principal.actor,
                                               request_id=request_id)
            for (n, p), outcome in zip(prepared, outcomes, strict=True):
                if outcome.status is UploadStatus.CREATED:
                    fee_lines += len(p.invoice.fee_lines)
                index, ref = refs[n]
                problems: tuple[FieldProblem, ...] = ()
                if outcome.status is UploadStatus.CONFLICT:
                    inv = outcome.invoice
                    problems = (FieldProblem(
                        "invoiceNumber", "same-key-different-content",
                        f"invoice {inv.invoice_code}/{inv.invoice_number} of {inv.issuer} is already stored with "
                        f"different content (fingerprint 0x{bytes(inv.fingerprint).hex()}); to correct an invoice, "
                        "void it and issue a new one"),)
                results[n] = ItemResult(index, ref, outcome.status, outcome.invoice, problems)
        final = tuple(r for r in results if r is not None)
        counts = {s.value: 0 for s in UploadStatus}
        for r in final:
            counts[r.status.value] += 1
        self.telemetry.uploaded(statuses=counts, fee_lines=fee_lines)
        return UploadReport(final, counts)

    # ------------------------------------------------------------------ reading

    def invoice(self, principal: Principal, fingerprint: str, *, operation: str = "invoice.read") -> InvoiceDetail:
        """The invoice, if ``principal`` may see it; anyone else's is "not found"."""
        reach = authorize(principal, operation)
        fp = parse_hash_arg(fingerprint)
        detail = self.store.invoice(fp)
        patient = detail.patient
        if principal.role is Role.CITIZEN and self.relations is not None:
            patient = self.relations.person_of(patient)   # (another pepper version's pseudonym of the same person)
        if not reaches_invoice(principal, reach, issuer=detail.invoice.issuer, patient=patient,
                               acts_for=self._acts_for(principal)):
            raise NotFound(f"no invoice with fingerprint {fingerprint}")
        return detail

    def _acts_for(self, principal: Principal) -> Callable[[bytes], bool] | None:
        relations = self.relations
        if relations is None or principal.role is not Role.CITIZEN:
            return None
        me = bytes.fromhex(principal.subject)
        return lambda person: relations.relation(me, person) is not None

    def batch(self, principal: Principal, root: str) -> tuple[Batch, dict[str, Any]]:
        """A batch's leaves and anchor, if ``principal`` may see it (a hospital: its own)."""
        reach = authorize(principal, "batch.read")
        batch, info = self.store.batch(parse_hash_arg(root, "root"))
        if reach is Reach.OWN and batch.issuer != principal.subject:
            raise NotFound(f"no batch with root {root}")
        return batch, info

    def feed(self, principal: Principal, *, after: tuple[int, bytes] | None, limit: int) -> list[dict[str, Any]]:
        """Anchored batches after ``after`` with their sealed invoices (payers' mirrors, auditors)."""
        authorize(principal, "feed.read")
        return self.store.feed_batches(after=after, limit=limit)

    def audit_trail(self, principal: Principal, *, subject: str | None, limit: int) -> list[dict[str, Any]]:
        """The newest audit entries (about ``subject`` if given), for auditors and the admin."""
        authorize(principal, "audit.read")
        return self.store.audit_trail(subject=subject, limit=max(1, min(limit, 1000)))

    def inclusion(self, detail: InvoiceDetail) -> dict[str, Any] | None:
        """The batch inclusion proof of an invoice whose batch is closed (None before)."""
        root = detail.invoice.batch_root
        if root is None:
            return None
        batch, _ = self.store.batch(root)
        proof = batch.proof(detail.invoice.fingerprint)
        return {"batchRoot": "0x" + bytes(root).hex(), "leaf": {"fingerprint": "0x" + bytes(
            detail.invoice.fingerprint).hex(), "totalFen": detail.invoice.total_fen},
            "leafEncoding": ["bytes32", "uint256"], "proof": ["0x" + bytes(h).hex() for h in proof.proof],
            "leafCount": batch.leaf_count}

    def inclusion_document(self, detail: InvoiceDetail, *,
                           batch_of: Callable[[MerkleRoot], Batch] | None = None) -> InvoiceInclusion | None:
        """The ``ebill-inclusion-proof/v1`` document of an anchored invoice (None before).

        ``batch_of`` loads a batch's tree (a cache, for hot verification paths).
        """
        inv = detail.invoice
        if inv.batch_root is None or inv.anchored_block is None:
            return None
        batch = batch_of(inv.batch_root) if batch_of else self.store.batch(inv.batch_root)[0]
        domain = self.qr_domain
        return InvoiceInclusion(inv.fingerprint, inv.total_fen, inv.issuer, inv.batch_root,
                                tuple(batch.proof(inv.fingerprint).proof),
                                ChainRef(domain.chain_id, domain.verifying_contract, inv.anchored_tx,
                                         inv.anchored_block))

    def public_record(self, fingerprint: Fingerprint, *,
                      batch_of: Callable[[MerkleRoot], Batch]) -> tuple[InvoiceInclusion | None, list[Stamp]]:
        """What a public verifier may learn here about an invoice (:class:`verifier.ports.InvoiceRecords`):
        its inclusion document once anchored, and the reimbursement stamps this store's index
        read from the chain; ``(None, [])`` for an invoice this store does not hold."""
        try:
            detail = self.store.invoice(fingerprint)
        except NotFound:
            return None, []
        doc = self.inclusion_document(detail, batch_of=batch_of)
        return doc, [Stamp(s.payer_id, "0x" + s.claim_id.hex(), s.amount_fen, s.status, s.block_number, s.tx_hash)
                     for s in detail.stamps]

    def batch_tree(self, root: MerkleRoot) -> Batch:
        """The leaves of a closed batch (no access check: a batch's proofs are public once anchored)."""
        return self.store.batch(root)[0]

    def list_invoices(self, principal: Principal, search: InvoiceSearch) -> list[StoredInvoice]:
        """One page of the invoices ``search`` finds among those ``principal`` may list (a
        hospital: its own). An ``after`` that is not an invoice it may list is refused as a
        bad cursor, whoever issued it."""
        reach = authorize(principal, "invoice.list")
        if reach is Reach.OWN:
            search = replace(search, issuer=principal.subject)
        try:
            return self.store.list_invoices(search)
        except NotFound:
            raise InvalidInput.single("after", "cursor", "after must be the last fingerprint of a page of this "
                                                         "listing") from None

    def fee_lines(self, principal: Principal, fingerprint: str) -> list[dict[str, Any]]:
        detail = self.invoice(principal, fingerprint)
        return self.store.fee_lines(detail.invoice.fingerprint)

    def disclose_line(self, principal: Principal, fingerprint: str, seq: int) -> dict[str, Any]:
        """The selective-disclosure document of one fee line (the issuing hospital only:
        it holds the salts)."""
        detail = self.invoice(principal, fingerprint, operation="invoice.disclose")
        from ledger.disclosure import make_disclosure

        try:
            return make_disclosure(self.store.sealed_invoice(detail.invoice.fingerprint), seq)
        except KeyError:
            raise NotFound(f"invoice {fingerprint} has no fee line {seq}") from None

    # ------------------------------------------------------------------ voids

    def request_void(self, principal: Principal, fingerprint: str, *,
                     request: VoidRequest, request_id: str | None = None) -> tuple[VoidRecord, bool]:
        """Record a red-letter reversal; the chain worker stamps its reason code on chain.

        Returns the void and whether it was recorded now. A repeat of a recorded void
        (the same code, and no note or the same note) answers with the recorded void;
        anything else for an invoice with a void is a :class:`Conflict` naming that void.
        """
        authorize(principal, "invoice.void")
        issuer = principal.subject
        fp = parse_hash_arg(fingerprint)
        record, created = self.store.request_void(fp, issuer=issuer, request=request, actor=principal.actor,
                                                  request_id=request_id)
        if not created and not request.repeats(code=record.reason_code, note=record.note):
            differs = ("another note" if record.reason_code == request.code
                       else f"the reason code {record.reason_code.value!r}")
            raise Conflict(f"invoice {fingerprint} already has a void requested with {differs} (state "
                           f"{record.state}): a void cannot be changed; repeat it as recorded to read it")
        return record, created


def parse_hash_arg(text: str, what: str = "fingerprint") -> Fingerprint:
    try:
        return Fingerprint(parse_hash32(text, what=what))
    except ValueError as exc:
        raise InvalidInput.single(what, "hash32", str(exc)) from None


