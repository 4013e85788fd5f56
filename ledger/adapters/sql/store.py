"""The store adapter: the hospitals' record and the anchoring outbox in SQL.

Every write that acknowledges something to a caller (an upload, a void request) is
one transaction: it commits whole or not at all, so nothing partial is ever stored.
The invoice rows themselves are the anchoring outbox: an invoice without a batch is
waiting; closing a batch assigns its invoices and records the batch in the same
transaction, so a batch's leaves never change once it may have been sent.
SQLAlchemy errors are translated at this boundary (``raise ... from exc``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from ledger.adapters.sql import schema as s
from ledger.adapters.sql.engine import open_engine
from ledger.batch import Batch, BatchPolicy
from ledger.errors import ChainError, Conflict, NotFound, StoreUnavailable
from ledger.fingerprint import SealedInvoice, seal
from ledger.hashing import Fingerprint, Hash32, MerkleRoot
from ledger.invoice import FeeCategory, FeeLine, Invoice, VisitType
from ledger.records import (
    CredentialRecord,
    HospitalRecord,
    InvoiceDetail,
    Role,
    SaveOutcome,
    StampRecord,
    StoredInvoice,
    UploadStatus,
    VoidRecord,
)
from ledger.uploads import PreparedInvoice
from ledger.voids import VoidReason, VoidRequest

# short names of the tables, for queries
H, C, I, L, B, V = (s.Hospital.__table__, s.Credential.__table__, s.InvoiceRow.__table__,  # type: ignore[attr-defined]  # noqa: E741
                    s.FeeLineRow.__table__, s.BatchRow.__table__, s.VoidRow.__table__)  # type: ignore[attr-defined]
E, ST, CB, M, A, LS = (s.ChainEvent.__table__, s.StampRow.__table__, s.ClawbackRow.__table__,  # type: ignore[attr-defined]
                       s.Meta.__table__, s.AuditEntry.__table__, s.Lease.__table__)  # type: ignore[attr-defined]
CT = s.Counter.__table__  # type: ignore[attr-defined]


log = logging.getLogger("ebill.store")

#: meta keys: the indexer's cursor (block and its hash), and how many times the chain index
#: was rebuilt. The generation outlives rebuilds (it is not an ``indexer.`` key): whoever
#: acts on chain from this store (the claims stamper, maybe in another process) compares
#: it with the one it saw last, and checks its own stamps against the chain when it moved.
INDEXER_BLOCK, INDEXER_HASH, INDEX_GENERATION = "indexer.block", "indexer.hash", "index.generation"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(t: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes for timezone-aware columns; they were stored as UTC."""
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=UTC)


class SqlStore:
    """The upload service's store on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        database = engine.url.database if self.dialect == "sqlite" else None
        self._lock_path = f"{database}.writelock" if database and database != ":memory:" else None

    @classmethod
    def open(cls, url: str) -> SqlStore:
        return cls(open_engine(url))

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self._writer_turn(), self.engine.connect().execution_options(write=True) as conn, conn.begin():
                yield conn
        except OperationalError as exc:
            raise StoreUnavailable(f"database unavailable: {exc.orig}") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StoreUnavailable(f"database connection lost: {exc.orig}") from exc
            raise

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        """SQLite: wait for our turn to write on an OS file lock, not in SQLite's busy handler.

        SQLite has one writer at a time, and its busy handler makes waiting writers sleep
        in growing steps (up to 100 ms) and retry: under a steady stream of uploads from
        several API worker processes a waiter keeps missing the free moments, requests
        stall for seconds, and the chain worker starves (seen in scripts/bench_upload.py:
        anchoring lag 30 s). ``flock`` wakes a waiter the moment the lock is free. Every
        write of the store goes through here, across threads and processes (one open file
        description per turn). PostgreSQL needs nothing: its writers do not exclude each other.
        """
        if self._lock_path is None:
            yield
            return
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except OperationalError as exc:
            raise StoreUnavailable(f"database unavailable: {exc.orig}") from exc

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # ------------------------------------------------------------------ meta

    def get_meta(self, key: str) -> str | None:
        with self._read() as conn:
            return conn.execute(select(M.c.value).where(M.c.key == key)).scalar_one_or_none()

    def set_meta(self, key: str, value: str, conn: Connection | None = None) -> None:
        if conn is None:
            with self._tx() as c:
                return self.set_meta(key, value, c)
        stmt = self._insert(M).values(key=key, value=value)
        conn.execute(stmt.on_conflict_do_update(index_elements=[M.c.key], set_={"value": value}))

    def audit(self, conn: Connection | None = None, *, actor: str, action: str, subject: str,
              detail: dict[str, Any]) -> None:
        """Append to the audit trail, in ``conn``'s transaction or (None) a transaction of its own."""
        if conn is None:
            with self._tx() as c:
                return self.audit(c, actor=actor, action=action, subject=subject, detail=detail)
        conn.execute(insert(A).values(at=utcnow(), actor=actor, action=action, subject=subject,
                                      detail=json.dumps(detail, ensure_ascii=False, sort_keys=True)))

    def add_counts(self, counts: Mapping[str, int]) -> None:
        """Add ``counts`` to the named event counters in one transaction (a row per name, made on first use)."""
        now = utcnow()
        with self._tx() as conn:
            for name, n in sorted(counts.items()):  # one order for every writer: no deadlock between them
                stmt = self._insert(CT).values(name=name, count=n, updated_at=now)
                conn.execute(stmt.on_conflict_do_update(index_elements=[CT.c.name],
                                                        set_={"count": CT.c.count + n, "updated_at": now}))

    def counters(self, *, prefix: str = "") -> dict[str, int]:
        """The event counters whose names start with ``prefix``."""
        with self._read() as conn:
            return {name: int(count) for name, count in conn.execute(
                select(CT.c.name, CT.c.count).where(CT.c.name.startswith(prefix, autoescape=True)))}

    def audit_trail(self, *, subject: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        q = select(A).order_by(A.c.id.desc()).limit(limit)
        if subject is not None:
            q = q.where(A.c.subject == subject)
        with self._read() as conn:
            return [{"at": _aware(r.at), "actor": r.actor, "action": r.action, "subject": r.subject,
                     "detail": json.loads(r.detail)} for r in conn.execute(q)]

    # ------------------------------------------------------------------ hospitals and credentials

    def add_hospital(self, h: HospitalRecord, *, actor: str) -> None:
        with self._tx() as conn:
            if conn.execute(select(H.c.institution_id).where(H.c.institution_id == h.institution_id)).first():
                raise Conflict(f"hospital {h.institution_id} is already registered")
            conn.execute(insert(H).values(
                institution_id=h.institution_id, name=h.name, region=h.region, account=h.account,
                keystore=h.sealed_key, created_at=h.created_at, registered_block=h.registered_block))
            self.audit(conn, actor=actor, action="hospital.register", subject=h.institution_id,
                       detail={"name": h.name, "region": h.region, "account": h.account})

    def hospital(self, institution_id: str) -> HospitalRecord:
        with self._read() as conn:
            row = conn.execute(select(H).where(H.c.institution_id == institution_id)).first()
        if row is None:
            raise NotFound(f"no hospital {institution_id} is registered here")
        return _hospital(row)

    def hospitals(self) -> list[HospitalRecord]:
        with self._read() as conn:
            return [_hospital(r) for r in conn.execute(select(H).order_by(H.c.institution_id))]

    def set_registered(self, institution_id: str, block: int | None) -> None:
        with self._tx() as conn:
            conn.execute(update(H).where(H.c.institution_id == institution_id).values(registered_block=block))

    def add_credential(self, cred: CredentialRecord, *, label: str, actor: str) -> None:
        with self._tx() as conn:
            conn.execute(insert(C).values(key_id=cred.key_id, role=cred.role.value, subject=cred.subject,
                                          secret_sha256=cred.secret_sha256, label=label, created_at=utcnow()))
            self.audit(conn, actor=actor, action="credential.create", subject=cred.subject,
                       detail={"keyId": cred.key_id, "role": cred.role.value, "label": label})

    def credential(self, key_id: str) -> CredentialRecord | None:
        with self._read() as conn:
            row = conn.execute(select(C).where(C.c.key_id == key_id)).first()
        if row is None:
            return None
        try:
            role = Role(row.role)
        except ValueError:
            # a role this version does not know (a newer release wrote it, or the row was edited):
            # such a credential can do nothing, so it authenticates as nobody
            log.warning("credential %s has an unknown role %r: refused", row.key_id, row.role)
            return None
        return CredentialRecord(row.key_id, role, row.subject, bytes(row.secret_sha256), row.revoked_at is not None)

    def revoke_credential(self, key_id: str, *, actor: str) -> None:
        with self._tx() as conn:
            done = conn.execute(update(C).where(C.c.key_id == key_id, C.c.revoked_at.is_(None))
                                .values(revoked_at=utcnow())).rowcount
            if not done:
                raise NotFound(f"no active credential {key_id}")
            self.audit(conn, actor=actor, action="credential.revoke", subject=key_id, detail={})

    # ------------------------------------------------------------------ uploads

    def save_uploads(self, issuer: str, items: Sequence[PreparedInvoice], *, actor: str) -> list[SaveOutcome]:
        """Store new invoices with their fee lines in one transaction; report retries and conflicts.

        An item whose (issuer, code, number) is already stored is a ``duplicate`` if its
        content digest matches (nothing changes: the stored fingerprint and QR are
        returned) and a ``conflict`` otherwise. Two items of one request with the same key
        count the same way against the first.
        """
        now = utcnow()
        with self._tx() as conn:
            numbers = sorted({p.invoice.invoice_number for p in items})
            stored: dict[tuple[str, str], Any] = {}
            for start in range(0, len(numbers), 500):
                for row in conn.execute(_stored_q().where(
                        I.c.issuer == issuer, I.c.invoice_number.in_(numbers[start:start + 500]))):
                    stored[(row.invoice_code, row.invoice_number)] = row
            fresh: dict[tuple[str, str], PreparedInvoice] = {}
            for p in items:
                key = (p.invoice.invoice_code, p.invoice.invoice_number)
                if key not in stored and key not in fresh:
                    fresh[key] = p
            if fresh:
                ids = self._invoice_ids(conn, len(fresh))
                id_of = {id(p): i for p, i in zip(fresh.values(), ids, strict=True)}
                rows = [_invoice_row(p, now, id_of[id(p)]) for p in fresh.values()]
                stmt = self._insert(I).on_conflict_do_nothing(index_elements=["issuer", "invoice_code",
                                                                              "invoice_number"])
                conn.execute(stmt, rows)
                # a concurrent upload of the same key (PostgreSQL) wins the race: re-read
                # who holds each key now, and store lines only for the rows that are ours
                held = {}
                keys = sorted({k[1] for k in fresh})
                for start in range(0, len(keys), 500):
                    for row in conn.execute(_stored_q().where(
                            I.c.issuer == issuer, I.c.invoice_number.in_(keys[start:start + 500]))):
                        held[(row.invoice_code, row.invoice_number)] = row
                ours = []
                for key, p in list(fresh.items()):
                    row = held[key]
                    if bytes(row.fingerprint) == bytes(p.sealed.fingerprint):
                        ours.append(p)
                    else:
                        stored[key] = row
                        del fresh[key]
                self._insert_lines(conn, [(id_of[id(p)], p) for p in ours])
                self.audit(conn, actor=actor, action="invoice.upload", subject=issuer,
                           detail={"created": len(ours), "items": len(items)})
            outcomes = []
            for p in items:
                key = (p.invoice.invoice_code, p.invoice.invoice_number)
                if key in fresh and fresh[key] is p:
                    outcomes.append(SaveOutcome(UploadStatus.CREATED, _fresh_view(p, now)))
                    continue
                held_row = stored.get(key)
                if held_row is None:   # second copy of a key first seen in this very request
                    first = fresh[key]
                    status = UploadStatus.DUPLICATE if first.content_digest == p.content_digest \
                        else UploadStatus.CONFLICT
                    outcomes.append(SaveOutcome(status, _fresh_view(first, now)))
                    continue
                status = (UploadStatus.DUPLICATE if bytes(held_row.content_digest) == bytes(p.content_digest)
                          else UploadStatus.CONFLICT)
                outcomes.append(SaveOutcome(status, _stored_view(held_row)))
            return outcomes

    def _invoice_ids(self, conn: Connection, n: int) -> list[int]:
        """``n`` fresh invoice ids, increasing (called inside the write transaction)."""
        if self.dialect == "postgresql":
            return [int(i) for (i,) in conn.exec_driver_sql(
                f"SELECT nextval('invoice_ids') FROM generate_series(1, {int(n)})")]
        # SQLite: BEGIN IMMEDIATE holds the write lock, so max(id) cannot move under us
        top = conn.execute(select(func.max(I.c.id))).scalar_one() or 0
        return list(range(top + 1, top + 1 + n))

    def _insert_lines(self, conn: Connection, items: Sequence[tuple[int, PreparedInvoice]]) -> None:
        """Bulk-insert the fee lines of ``items`` (≈ 85 per invoice, 1.3 M a year).

        The hot path of an upload: PostgreSQL takes them by COPY, SQLite by one
        executemany of tuples; both skip SQLAlchemy's per-row parameter processing.
        """
        rows = [row for invoice_id, p in items for row in _line_tuples(invoice_id, p)]
        if not rows:
            return
        if self.dialect == "postgresql":
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cur, cur.copy(f"COPY fee_lines ({', '.join(_LINE_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(_LINE_COLUMNS))
            conn.exec_driver_sql(f"INSERT INTO fee_lines ({', '.join(_LINE_COLUMNS)}) VALUES ({marks})", rows)

    # ------------------------------------------------------------------ the invoice feed (payers' mirrors)

    def feed_batches(self, *, after: tuple[int, bytes] | None, limit: int = 4,
                     max_lines: int = 50_000) -> list[dict[str, Any]]:
        """Anchored batches after ``after = (anchored block, root)``, in that order, each with
        its hospital and its sealed invoices (salts included: payers verify fingerprints).

        Stops adding batches once ``max_lines`` fee lines are in the page (never fewer than one batch).
        """
        q = select(B).where(B.c.state == "anchored", B.c.anchored_block.is_not(None))
        if after is not None:
            q = q.where((B.c.anchored_block > after[0]) | ((B.c.anchored_block == after[0]) & (B.c.root > after[1])))
        q = q.order_by(B.c.anchored_block, B.c.root).limit(limit)
        page: list[dict[str, Any]] = []
        lines_in_page = 0
        with self._read() as conn:
            for b in conn.execute(q).all():
                if page and lines_in_page >= max_lines:
                    break
                h = conn.execute(select(H).where(H.c.institution_id == b.issuer)).one()
                invoices = conn.execute(select(I).where(I.c.batch_root == b.root).order_by(I.c.batch_index)).all()
                ids = [r.id for r in invoices]
                lines: dict[int, list[Any]] = {i: [] for i in ids}
                for li in conn.execute(select(L).where(L.c.invoice_id.in_(ids)).order_by(L.c.invoice_id, L.c.seq)):
                    lines[li.invoice_id].append(li)
                lines_in_page += sum(len(v) for v in lines.values())
                page.append({
                    "root": "0x" + bytes(b.root).hex(), "issuer": b.issuer, "leafCount": b.leaf_count,
                    "anchoredBlock": b.anchored_block, "anchoredTx": b.anchored_tx,
                    "anchoredAt": _aware(b.anchored_at).isoformat() if b.anchored_at else None,  # type: ignore[union-attr]
                    "hospital": {"institutionId": h.institution_id, "name": h.name, "region": h.region,
                                 "account": h.account},
                    "invoices": [_sealed_doc(r, lines[r.id]) for r in invoices],
                })
        return page

    def save_mirrored(self, hospital: HospitalRecord, batch: Batch, items: Sequence[PreparedInvoice], *,
                      anchored: tuple[int, str | None, datetime | None], actor: str) -> int:
        """Store a batch another service anchored (verified by the caller), with its invoices.

        The hospital is recorded without a key (it signs elsewhere). Invoices stored
        already are kept; if any invoice's (issuer, code, number) is stored with other
        content, the whole batch is skipped (its proofs would not rebuild) and the audit
        trail says so. Returns the number of invoices added.
        """
        now = utcnow()
        fps = [bytes(p.sealed.fingerprint) for p in items]
        with self._tx() as conn:
            conn.execute(self._insert(H).values(
                institution_id=hospital.institution_id, name=hospital.name, region=hospital.region,
                account=hospital.account, keystore="", created_at=now, registered_block=None,
            ).on_conflict_do_nothing(index_elements=["institution_id"]))
            have = {bytes(f) for f in conn.execute(select(I.c.fingerprint).where(I.c.fingerprint.in_(fps))).scalars()}
            fresh = [(i, p) for i, p in enumerate(items) if bytes(p.sealed.fingerprint) not in have]
            clash = conn.execute(select(I.c.invoice_code, I.c.invoice_number).where(
                I.c.issuer == batch.issuer,
                I.c.invoice_number.in_([p.invoice.invoice_number for _, p in fresh]))).all() if fresh else []
            keys = {(p.invoice.invoice_code, p.invoice.invoice_number) for _, p in fresh}
            clashes = [k for k in clash if tuple(k) in keys]
            if clashes:
                self.audit(conn, actor=actor, action="mirror.skipped", subject="0x" + bytes(batch.root).hex()[:16],
                           detail={"reason": "invoice stored here with other content",
                                   "invoices": [f"{c}/{n}" for c, n in clashes[:20]]})
                return 0
            conn.execute(self._insert(B).values(
                root=bytes(batch.root), issuer=batch.issuer, leaf_count=batch.leaf_count, sealed_at=now,
                state="anchored", anchored_block=anchored[0], anchored_tx=anchored[1], anchored_at=anchored[2] or now,
            ).on_conflict_do_nothing(index_elements=["root"]))
            if fresh:
                ids = self._invoice_ids(conn, len(fresh))
                rows = []
                for invoice_id, (index, p) in zip(ids, fresh, strict=True):
                    row = _invoice_row(p, now, invoice_id)
                    row.update(batch_root=bytes(batch.root), batch_index=index)
                    rows.append(row)
                conn.execute(insert(I), rows)
                self._insert_lines(conn, [(invoice_id, p) for invoice_id, (_, p) in zip(ids, fresh, strict=True)])
            self.audit(conn, actor=actor, action="mirror.batch", subject="0x" + bytes(batch.root).hex()[:16],
                       detail={"issuer": batch.issuer, "invoices": len(fresh), "block": anchored[0]})
        return len(fresh)

    # ------------------------------------------------------------------ reading invoices

    def invoice(self, fingerprint: bytes) -> InvoiceDetail:
        """Everything known about one invoice; raises :class:`NotFound`."""
        with self._read() as conn:
            row = conn.execute(
                _stored_q(I.c.check_code, I.c.issued_at, I.c.visit_type, I.c.patient, I.c.fund_paid_fen,
                          I.c.account_paid_fen, I.c.cash_paid_fen, I.c.fee_line_count, I.c.fee_lines_root,
                          I.c.batch_index, B.c.leaf_count)
                .where(I.c.fingerprint == bytes(fingerprint))).first()
            if row is None:
                raise NotFound(f"no invoice with fingerprint 0x{bytes(fingerprint).hex()}")
            void = conn.execute(select(V).where(V.c.fingerprint == bytes(fingerprint))).first()
            claw = conn.execute(select(CB).where(CB.c.fingerprint == bytes(fingerprint),
                                                 CB.c.issuer == row.issuer)).first()
            stamps = tuple(
                StampRecord(r.payer_id, bytes(r.claim_id), r.amount_fen, r.status, r.block_number, r.tx_hash)
                for r in conn.execute(select(ST).where(ST.c.fingerprint == bytes(fingerprint),
                                                       ST.c.issuer == row.issuer)
                                      .order_by(ST.c.block_number, ST.c.payer_id)))
        return InvoiceDetail(
            invoice=_stored_view(row), check_code=row.check_code, issued_at=row.issued_at,
            visit_type=row.visit_type, patient=bytes(row.patient), fund_paid_fen=row.fund_paid_fen,
            account_paid_fen=row.account_paid_fen, cash_paid_fen=row.cash_paid_fen,
            fee_line_count=row.fee_line_count, fee_lines_root=MerkleRoot(bytes(row.fee_lines_root)),
            batch_index=row.batch_index, batch_leaf_count=row.leaf_count,
            void=_void(void, claw) if void is not None else None, stamps=stamps,
        )

    def list_invoices(
        self, *, issuer: str | None, state: str | None = None, after: bytes | None = None, limit: int = 100,
    ) -> list[StoredInvoice]:
        """Invoices in fingerprint order (keyset pagination with ``after``)."""
        q = _stored_q().order_by(I.c.fingerprint).limit(limit)
        if issuer is not None:
            q = q.where(I.c.issuer == issuer)
        if after is not None:
            q = q.where(I.c.fingerprint > after)
        if state == "stored":
            q = q.where(B.c.anchored_block.is_(None))
        elif state == "anchored":
            q = q.where(B.c.anchored_block.is_not(None), V.c.state.is_distinct_from("voided"))
        elif state == "voided":
            q = q.where(V.c.state == "voided")
        with self._read() as conn:
            return [_stored_view(r) for r in conn.execute(q)]

    def fee_lines(self, fingerprint: bytes) -> list[dict[str, Any]]:
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(
                select(L).join(I, I.c.id == L.c.invoice_id).where(I.c.fingerprint == bytes(fingerprint))
                .order_by(L.c.seq))]

    def sealed_invoice(self, fingerprint: bytes) -> SealedInvoice:
        """The invoice as sealed (with its salts), rebuilt from the store and re-hashed.

        Raises :class:`NotFound`, or :class:`ChainError` if the stored data no longer
        hashes to the fingerprint (the store was altered).
        """
        with self._read() as conn:
            row = conn.execute(select(I).where(I.c.fingerprint == bytes(fingerprint))).first()
            if row is None:
                raise NotFound(f"no invoice with fingerprint 0x{bytes(fingerprint).hex()}")
            lines = conn.execute(select(L).where(L.c.invoice_id == row.id).order_by(L.c.seq)).all()
        invoice = Invoice(
            issuer=row.issuer, invoice_code=row.invoice_code, invoice_number=row.invoice_number,
            check_code=row.check_code, issued_at=row.issued_at, visit_type=VisitType(row.visit_type),
            patient=Hash32(bytes(row.patient)), total_fen=row.total_fen, fund_paid_fen=row.fund_paid_fen,
            account_paid_fen=row.account_paid_fen, cash_paid_fen=row.cash_paid_fen,
            fee_lines=tuple(FeeLine(li.seq, li.item_code, li.item_name, FeeCategory(li.category), li.quantity, li.unit,
                                    li.unit_price_fen, li.amount_fen, li.service_date) for li in lines),
            schema_version=row.schema_version,
        )
        sealed = seal(invoice, salt=bytes(row.salt), line_key=bytes(row.line_key))
        if bytes(sealed.fingerprint) != bytes(fingerprint):
            raise ChainError(f"invoice 0x{bytes(fingerprint).hex()} no longer hashes to its fingerprint: "
                             "the store is corrupt")
        return sealed

    def counts(self) -> dict[str, int]:
        with self._read() as conn:
            def n(q: Any) -> int:
                return int(conn.execute(q).scalar_one())
            return {
                "invoices": n(select(func.count()).select_from(I)),
                "unbatched": n(select(func.count()).select_from(I).where(I.c.batch_root.is_(None))),
                "batchesWaiting": n(select(func.count()).select_from(B).where(B.c.state != "anchored")),
                "batchesAnchored": n(select(func.count()).select_from(B).where(B.c.state == "anchored")),
                "voidsPending": n(select(func.count()).select_from(V).where(V.c.state == "pending")),
            }

    # ------------------------------------------------------------------ the anchoring outbox

    def close_batches(self, *, max_leaves: int, max_age: timedelta, now: datetime | None = None) -> list[Batch]:
        """Close every hospital's waiting invoices into the batches that are due by the one
        batching rule (:class:`~ledger.batch.BatchPolicy`: full batches at once, the rest when
        the oldest has waited ``max_age``). Batches are recorded as ``sealed`` in the same
        transaction.
        """
        now = now or utcnow()
        policy = BatchPolicy(max_leaves, max_age.total_seconds())
        closed: list[Batch] = []
        with self._tx() as conn:
            backlog = conn.execute(
                select(I.c.issuer, func.count(), func.min(I.c.received_at))
                .where(I.c.batch_root.is_(None)).group_by(I.c.issuer)).all()
            for issuer, count, oldest in backlog:
                oldest_at = _aware(oldest) or now
                take = policy.closing(waiting=count, oldest_age=(now - oldest_at).total_seconds())
                if take == 0:
                    continue
                rows = conn.execute(
                    select(I.c.fingerprint, I.c.total_fen).where(I.c.issuer == issuer, I.c.batch_root.is_(None))
                    .order_by(I.c.received_at, I.c.fingerprint).limit(take)).all()
                for batch in policy.cut(issuer, [(Fingerprint(bytes(fp)), int(t)) for fp, t in rows]):
                    chunk = batch.leaves
                    conn.execute(insert(B).values(root=bytes(batch.root), issuer=issuer,
                                                  leaf_count=batch.leaf_count, sealed_at=now, state="sealed"))
                    conn.execute(
                        update(I).where(I.c.fingerprint == bindparam("fp")).values(batch_root=bindparam("root"),
                                                                             batch_index=bindparam("idx")),
                        [{"fp": bytes(fp), "root": bytes(batch.root), "idx": i} for i, (fp, _) in enumerate(chunk)])
                    closed.append(batch)
        return closed

    def batches_waiting(self, *, limit: int = 4096) -> list[Batch]:
        """Sealed or submitted batches not yet seen anchored, oldest first, with their leaves."""
        with self._read() as conn:
            heads = conn.execute(select(B.c.root, B.c.issuer).where(B.c.state != "anchored")
                                 .order_by(B.c.sealed_at, B.c.root).limit(limit)).all()
            return [self._load_batch(conn, bytes(root), issuer) for root, issuer in heads]

    def batch(self, root: bytes) -> tuple[Batch, dict[str, Any]]:
        """A batch's leaves and its row; raises :class:`NotFound`."""
        with self._read() as conn:
            row = conn.execute(select(B).where(B.c.root == bytes(root))).first()
            if row is None:
                raise NotFound(f"no batch with root 0x{bytes(root).hex()}")
            info = dict(row._mapping)
            info["sealed_at"], info["anchored_at"] = _aware(row.sealed_at), _aware(row.anchored_at)
            return self._load_batch(conn, bytes(root), row.issuer), info

    @staticmethod
    def _load_batch(conn: Connection, root: bytes, issuer: str) -> Batch:
        leaves = conn.execute(select(I.c.fingerprint, I.c.total_fen).where(I.c.batch_root == root)
                              .order_by(I.c.batch_index)).all()
        batch = Batch(issuer, tuple((Fingerprint(bytes(fp)), int(t)) for fp, t in leaves))
        if bytes(batch.root) != root:  # the store was altered behind our back
            raise ChainError(f"batch 0x{root.hex()} no longer hashes to its root: the store is corrupt")
        return batch

    def mark_submitted(self, roots: Sequence[bytes], *, error: str | None = None) -> None:
        with self._tx() as conn:
            conn.execute(update(B).where(B.c.root.in_([bytes(r) for r in roots]), B.c.state != "anchored")
                         .values(state="submitted", submitted_at=utcnow(), attempts=B.c.attempts + 1,
                                 last_error=error[:500] if error else None))

    # ------------------------------------------------------------------ voids

    def request_void(self, fingerprint: bytes, *, issuer: str, request: VoidRequest,
                     actor: str) -> tuple[VoidRecord, bool]:
        """Record a red-letter reversal request; ``(record, True)`` when recorded now, or the
        void already recorded for the invoice and False (whatever it says: the caller judges)."""
        with self._tx() as conn:
            inv = conn.execute(select(I.c.issuer).where(I.c.fingerprint == bytes(fingerprint))).first()
            if inv is None or inv.issuer != issuer:
                # another hospital's invoice is "not found" for this caller: no oracle
                raise NotFound(f"no invoice 0x{bytes(fingerprint).hex()} of {issuer}")
            existing = conn.execute(select(V).where(V.c.fingerprint == bytes(fingerprint))).first()
            if existing is not None:
                return _void(existing, None), False
            now = utcnow()
            conn.execute(insert(V).values(fingerprint=bytes(fingerprint), issuer=issuer, reason=request.note,
                                          reason_code=request.code.value, requested_at=now, state="pending"))
            self.audit(conn, actor=actor, action="invoice.void", subject="0x" + bytes(fingerprint).hex(),
                       detail={"reasonCode": request.code.value, "noteChars": len(request.note)})
            return VoidRecord(Fingerprint(bytes(fingerprint)), issuer, request.code, request.note, now, "pending",
                              None, None, None), True

    def voids_pending(self, *, limit: int = 500) -> list[tuple[VoidRecord, bytes | None, int]]:
        """Pending voids with their invoice's batch root (None until anchored) and total."""
        with self._read() as conn:
            rows = conn.execute(
                select(V, I.c.total_fen, I.c.batch_root, B.c.state.label("batch_state"))
                .join(I, I.c.fingerprint == V.c.fingerprint).outerjoin(B, B.c.root == I.c.batch_root)
                .where(V.c.state == "pending").order_by(V.c.requested_at).limit(limit)).all()
        return [(_void(r, None), bytes(r.batch_root) if r.batch_state == "anchored" else None, r.total_fen)
                for r in rows]

    def mark_void(self, fingerprint: bytes, *, state: str, tx: str | None = None, block: int | None = None,
                  error: str | None = None) -> None:
        with self._tx() as conn:
            values: dict[str, Any] = {"state": state, "last_error": error[:500] if error else None,
                                      "attempts": V.c.attempts + 1}
            if tx is not None:
                values.update(voided_tx=tx, voided_block=block)
            conn.execute(update(V).where(V.c.fingerprint == bytes(fingerprint)).values(**values))

    # ------------------------------------------------------------------ chain-derived index

    def save_events(self, events: Sequence[dict[str, Any]], *, cursor: tuple[int, str] | None = None) -> None:
        """Store decoded contract events, apply them to the derived tables and move the
        indexer cursor to ``(block, block hash)``, in one transaction."""
        with self._tx() as conn:
            self._save_events(conn, events)
            if cursor is not None:
                self.set_meta(INDEXER_BLOCK, str(cursor[0]), conn)
                self.set_meta(INDEXER_HASH, cursor[1], conn)

    def _save_events(self, conn: Connection, events: Sequence[dict[str, Any]]) -> None:
        if events:
            stmt = self._insert(E).on_conflict_do_nothing(index_elements=["block_number", "log_index"])
            conn.execute(stmt, [{
                "block_number": e["block"], "log_index": e["logIndex"], "block_hash": e["blockHash"],
                "tx_hash": e["tx"], "name": e["name"], "fingerprint": e.get("fingerprint"),
                "issuer": _issuer_of(e["args"]), "args": json.dumps(e["args"], sort_keys=True)} for e in events])
        for e in events:
            self._apply(conn, e)

    def _apply(self, conn: Connection, e: dict[str, Any]) -> None:
        name, a = e["name"], e["args"]
        if name == "BatchAnchored":
            root = bytes.fromhex(a["root"][2:])
            conn.execute(update(B).where(B.c.root == root, B.c.issuer == a["institutionId"])
                         .values(state="anchored", anchored_block=e["block"], anchored_tx=e["tx"],
                                 anchored_at=e.get("time") or utcnow(), last_error=None))
        elif name == "InvoiceVoided":
            conn.execute(update(V).where(V.c.fingerprint == e["fingerprint"], V.c.issuer == a["institutionId"])
                         .values(state="voided", voided_tx=e["tx"], voided_block=e["block"], last_error=None))
        elif name == "ClawbackRequired":
            stmt = self._insert(CB).values(fingerprint=e["fingerprint"], issuer=a["institutionId"],
                                           paid_fen=int(a["paidFen"]), reserved_fen=int(a["reservedFen"]),
                                           block_number=e["block"], tx_hash=e["tx"])
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["fingerprint", "issuer"]))
            # per issuer, as InvoiceVoided: another hospital's copy of the fingerprint is its own record
            conn.execute(update(V).where(V.c.fingerprint == e["fingerprint"], V.c.issuer == a["institutionId"])
                         .values(paid_fen=int(a["paidFen"]), reserved_fen=int(a["reservedFen"])))
        elif name.startswith("Reimbursement"):
            status = {"ReimbursementReserved": "reserved", "ReimbursementReleased": "released",
                      "ReimbursementFinalized": "finalized"}[name]
            claim = bytes.fromhex(a["claimId"][2:])
            values = {"fingerprint": e["fingerprint"], "issuer": a["institutionId"],
                      "amount_fen": int(a["amountFen"]), "status": status, "block_number": e["block"],
                      "tx_hash": e["tx"]}
            stmt = self._insert(ST).values(payer_id=a["payerId"], claim_id=claim, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=["payer_id", "claim_id"], set_=values))

    def reset_chain_index(self, events: Sequence[dict[str, Any]] = (), *,
                          cursor: tuple[int, str] | None = None) -> None:
        """Replace everything derived from the chain by what ``events`` say, in one transaction
        (readers never see a half-rebuilt index), and count the rebuild (``INDEX_GENERATION``)."""
        with self._tx() as conn:
            conn.execute(delete(E))
            conn.execute(delete(ST))
            conn.execute(delete(CB))
            conn.execute(update(B).values(state="sealed", anchored_block=None, anchored_tx=None, anchored_at=None))
            conn.execute(update(V).where(V.c.state == "voided")
                         .values(state="pending", voided_tx=None, voided_block=None, paid_fen=None,
                                 reserved_fen=None))
            conn.execute(update(H).values(registered_block=None))
            conn.execute(delete(M).where(M.c.key.like("indexer.%")))
            generation = int(conn.execute(select(M.c.value).where(M.c.key == INDEX_GENERATION))
                             .scalar_one_or_none() or 0) + 1
            self.set_meta(INDEX_GENERATION, str(generation), conn)
            self._save_events(conn, events)
            if cursor is not None:
                self.set_meta(INDEXER_BLOCK, str(cursor[0]), conn)
                self.set_meta(INDEXER_HASH, cursor[1], conn)
            self.audit(conn, actor="system", action="index.rebuild", subject="chain index",
                       detail={"events": len(events), "block": cursor[0] if cursor else None,
                               "generation": generation})

    # ------------------------------------------------------------------ leases

    def release_lease(self, name: str, holder: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(LS).where(LS.c.name == name, LS.c.holder == holder))

    def take_lease(self, name: str, holder: str, *, ttl: timedelta) -> bool:
        """Hold lease ``name`` for ``ttl`` if it is free, expired, or already ours."""
        now = utcnow()
        try:
            with self._tx() as conn:
                row = conn.execute(select(LS).where(LS.c.name == name)).first()
                if row is None:
                    conn.execute(insert(LS).values(name=name, holder=holder, expires_at=now + ttl))
                    return True
                expires = _aware(row.expires_at)
                if row.holder != holder and expires is not None and expires > now and not _holder_dead(row.holder):
                    return False
                conn.execute(update(LS).where(LS.c.name == name).values(holder=holder, expires_at=now + ttl))
                return True
        except SQLAlchemyError:
            return False


# ---------------------------------------------------------------------- row helpers


def _issuer_of(args: dict[str, Any]) -> str | None:
    issuer = args.get("institutionId")
    return issuer if isinstance(issuer, str) and len(issuer) <= 12 else None


def _holder_dead(holder: str) -> bool:
    """True if ``holder`` ("host:pid:…") is a process of this host that no longer runs.

    A worker killed with SIGKILL cannot release its lease; its successor on the same
    host takes over at once instead of waiting for the lease to expire.
    """
    import socket

    parts = holder.split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _stored_q(*extra: Any) -> Any:
    return (select(I.c.fingerprint, I.c.issuer, I.c.invoice_code, I.c.invoice_number, I.c.total_fen, I.c.qr,
                   I.c.received_at, I.c.content_digest, I.c.batch_root, B.c.anchored_tx, B.c.anchored_block,
                   B.c.anchored_at, V.c.state.label("void_state"), *extra)
            .select_from(I).outerjoin(B, and_(B.c.root == I.c.batch_root))
            .outerjoin(V, V.c.fingerprint == I.c.fingerprint))


def _stored_view(row: Any) -> StoredInvoice:
    return StoredInvoice(
        fingerprint=Fingerprint(bytes(row.fingerprint)), issuer=row.issuer, invoice_code=row.invoice_code,
        invoice_number=row.invoice_number, total_fen=row.total_fen, qr=row.qr, received_at=_aware(row.received_at),  # type: ignore[arg-type]
        batch_root=MerkleRoot(bytes(row.batch_root)) if row.batch_root is not None else None,
        anchored_tx=row.anchored_tx, anchored_block=row.anchored_block, anchored_at=_aware(row.anchored_at),
        void_state=row.void_state,
    )


def _fresh_view(p: PreparedInvoice, now: datetime) -> StoredInvoice:
    inv = p.invoice
    return StoredInvoice(p.sealed.fingerprint, inv.issuer, inv.invoice_code, inv.invoice_number, inv.total_fen,
                         p.qr, now)


def _invoice_row(p: PreparedInvoice, now: datetime, invoice_id: int) -> dict[str, Any]:
    inv, sealed = p.invoice, p.sealed
    return {
        "fingerprint": bytes(sealed.fingerprint), "id": invoice_id, "issuer": inv.issuer,
        "invoice_code": inv.invoice_code,
        "invoice_number": inv.invoice_number, "check_code": inv.check_code, "issued_at": inv.issued_at,
        "issue_date": inv.issue_date, "visit_type": inv.visit_type.value, "patient": bytes(inv.patient),
        "total_fen": inv.total_fen, "fund_paid_fen": inv.fund_paid_fen, "account_paid_fen": inv.account_paid_fen,
        "cash_paid_fen": inv.cash_paid_fen, "fee_line_count": len(inv.fee_lines),
        "fee_lines_root": bytes(sealed.fee_lines_root), "salt": sealed.salt, "line_key": sealed.line_key,
        "schema_version": inv.schema_version, "content_digest": bytes(p.content_digest), "qr": p.qr,
        "received_at": now, "batch_root": None, "batch_index": None,
    }


_LINE_COLUMNS = ("invoice_id", "seq", "item_code", "item_name", "category", "quantity", "unit",
                 "unit_price_fen", "amount_fen", "service_date")


def _line_tuples(invoice_id: int, p: PreparedInvoice) -> Iterator[tuple[Any, ...]]:
    fp = invoice_id
    # StrEnum members are str: the driver stores "A", and .value would cost a descriptor call per line
    for li in p.invoice.fee_lines:
        yield (fp, li.seq, li.item_code, li.item_name, str.__str__(li.category), li.quantity, li.unit,
               li.unit_price_fen, li.amount_fen, li.service_date)


def _sealed_doc(r: Any, lines: Sequence[Any]) -> dict[str, Any]:
    """An invoice as sealed, for the feed: header, pseudonym, salts, QR, fee lines."""
    return {
        "fingerprint": "0x" + bytes(r.fingerprint).hex(), "issuer": r.issuer, "invoiceCode": r.invoice_code,
        "invoiceNumber": r.invoice_number, "checkCode": r.check_code, "issuedAt": r.issued_at,
        "visitType": r.visit_type, "patient": "0x" + bytes(r.patient).hex(), "totalFen": r.total_fen,
        "fundPaidFen": r.fund_paid_fen, "accountPaidFen": r.account_paid_fen, "cashPaidFen": r.cash_paid_fen,
        "schemaVersion": r.schema_version, "salt": "0x" + bytes(r.salt).hex(),
        "lineKey": "0x" + bytes(r.line_key).hex(), "qr": r.qr, "batchIndex": r.batch_index,
        "feeLines": [{"seq": li.seq, "itemCode": li.item_code, "itemName": li.item_name, "category": li.category,
                      "quantity": li.quantity, "unit": li.unit, "unitPriceFen": li.unit_price_fen,
                      "amountFen": li.amount_fen, "serviceDate": li.service_date} for li in lines],
    }


def _hospital(row: Any) -> HospitalRecord:
    return HospitalRecord(row.institution_id, row.name, row.region, row.account, row.keystore,
                          _aware(row.created_at), row.registered_block)  # type: ignore[arg-type]


def _void(row: Any, claw: Any) -> VoidRecord:
    return VoidRecord(
        Fingerprint(bytes(row.fingerprint)), row.issuer, VoidReason(row.reason_code), row.reason,
        _aware(row.requested_at),  # type: ignore[arg-type]
        row.state, row.voided_tx, row.voided_block, row.last_error,
        row.paid_fen if claw is None else claw.paid_fen, row.reserved_fen if claw is None else claw.reserved_fen,
    )
