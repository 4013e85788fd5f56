"""The payer's claims in SQL: enrolment, delegations, year-to-date figures, claims and reviews.

Each method that changes a claim is one transaction on the store's writer path (so
SQLite writers take turns and PostgreSQL rows are locked where two requests could
race): a claim's state, its year-to-date effect and its audit entry commit together.
The ``chain_todo`` column is the stamper's outbox, the same pattern as the invoices'
anchoring outbox: a claim whose on-chain stamp must change says so in the row that
the user-visible state lives in, so a crash between the chain and the database is
repaired by sending again (the contract refuses a second reservation of one claim
id, and the stamper then reads what the chain has).

Money moves in this order: reserved on chain → approved → **finalised on chain** →
paid by the bank. The chain decides whether a void or a payment came first: the
contract refuses to finalise a claim on a voided invoice, so a void stamped before the
finalisation means the claim is refused and released, and the bank is never asked.
A void this service accepted (a ``voids`` row, pending or stamped) blocks new claims
and payouts at once, before it reaches the chain.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Text, and_, bindparam, func, or_, select, text, true, union, update
from sqlalchemy.exc import IntegrityError

from ledger.adapters.sql import schema as s
from ledger.adapters.sql.store import CB, INDEXER_BLOCK, ST, A, B, E, I, M, SqlStore, V, _aware, utcnow
from ledger.errors import ClaimBlocked, Conflict, NotFound
from ledger.hashing import keccak256

P, PE, D, PY, SUB, CL, RV = (s.Payer.__table__, s.Person.__table__, s.Delegation.__table__,  # type: ignore[attr-defined]
                             s.PersonYear.__table__, s.ClaimSubmission.__table__,  # type: ignore[attr-defined]
                             s.ClaimRow.__table__, s.ClaimReview.__table__)  # type: ignore[attr-defined]
H = s.Hospital.__table__  # type: ignore[attr-defined]

#: what the chain records after each stamp operation (reserve -> reserved, ...)
STAMPED = {"reserve": "reserved", "finalize": "finalized", "release": "released"}
#: states in which a claim still holds (or will hold) money: they count towards the year
LIVE_STATES = ("submitted", "in-review", "approved", "paid", "appealed")
#: decided claims that hold no money, on chain or in the bank
DEAD_STATES = ("refused", "rejected", "nothing-payable")
#: states whose reservation is a first one (or an appeal's): the only ones that may shrink
#: to what the invoice has left; a claim reserved again after lost blocks keeps its amount
FIRST_RESERVATION = ("submitted", "appealed")
#: void requests this service accepted (``voids.state``): they block claims and payouts at
#: once; a request the chain refused (``failed``) blocks nothing
ACCEPTED_VOIDS = ("pending", "voided")
VOIDED_REFUSAL = "the hospital voided the invoice"

# what the stamper learnt from the chain about one stamp: the outcomes apply_stamps records
DONE = "done"              # the stamp took effect (or had, before a crash)
REFUSED = "refused"        # final: the detail says why
RETRY = "retry"            # leave it for a later round (the batch is not anchored yet)
SMALLER = "smaller:"       # + fen: reserve again with that amount, what the invoice has left
VOIDED_FIRST = "voided-first"  # finalisation refused: the void reached the chain first
LOST = "lost"              # the chain does not know the claim at all (blocks lost)
ON_CHAIN = "on-chain:"     # + status: the chain holds another final status than asked


@dataclass(frozen=True)
class PayerRecord:
    payer_id: str
    name: str
    account: str
    sealed_key: str
    created_at: datetime
    registered_block: int | None


@dataclass(frozen=True)
class PersonRecord:
    pseudonym: bytes
    name: str
    category: str


@dataclass(frozen=True)
class ClaimDraft:
    """A claim as the service decided it, before it is stored."""

    id: str
    payer_id: str
    fingerprint: bytes
    issuer: str
    person: bytes
    actor: str
    relation: str
    scheme: str
    year: int
    requested_fen: int
    decided_fen: int
    amount_fen: int
    deductible_used_fen: int
    decision: dict[str, Any]
    flags: tuple[str, ...]
    instant: bool
    reviews_needed: int
    chain_claim_id: bytes
    state: str = "submitted"
    refusal: str | None = None


@dataclass(frozen=True)
class Claim:
    """A stored claim (what the API shows, with the invoice's header figures)."""

    id: str
    submission_id: str
    payer_id: str
    fingerprint: bytes
    issuer: str
    invoice_code: str
    invoice_number: str
    person: bytes
    actor: str
    relation: str
    state: str
    scheme: str
    year: int
    requested_fen: int
    decided_fen: int
    amount_fen: int
    deductible_used_fen: int
    decision: dict[str, Any]
    flags: tuple[str, ...]
    instant: bool
    reviews_needed: int
    attempt: int
    chain_claim_id: bytes
    chain_todo: str | None
    stamp: str | None
    stamp_tx: str | None
    stamp_block: int | None
    refusal: str | None
    rejection: str | None
    appeal: str | None
    payment_ref: str | None
    paid_at: datetime | None
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None
    reviews: tuple[dict[str, Any], ...] = ()
    hospital_name: str = ""


@dataclass(frozen=True)
class StampTask:
    """A claim whose chain stamp must change, with what a reservation needs."""

    claim_id: str
    op: str
    chain_claim_id: bytes
    fingerprint: bytes
    issuer: str
    total_fen: int
    amount_fen: int
    batch_root: bytes | None
    anchored: bool
    state: str = "submitted"


@dataclass(frozen=True)
class StampCheck:
    """A claim's recorded stamp and what the chain index says of it (``None``: the index
    has not reached the stamp's block yet; ask the contract)."""

    claim_id: str
    state: str
    stamp: str
    stamp_block: int
    chain_claim_id: bytes
    on_chain: str | None


_CLAIM_COLS = (CL, I.c.invoice_code, I.c.invoice_number,
               select(H.c.name).where(H.c.institution_id == CL.c.issuer).scalar_subquery().label("hospital_name"))


class ClaimStore:
    """Claims-side tables on the same database (and writer path) as :class:`SqlStore`."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self._year_sql: tuple[Any, Any, Any] | None = None

    # ------------------------------------------------------------------ payers

    def add_payer(self, p: PayerRecord, *, actor: str) -> None:
        with self.store._tx() as conn:
            if conn.execute(select(P.c.payer_id).where(P.c.payer_id == p.payer_id)).first():
                raise Conflict(f"payer {p.payer_id} is already registered")
            conn.execute(P.insert().values(payer_id=p.payer_id, name=p.name, account=p.account, keystore=p.sealed_key,
                                           created_at=p.created_at, registered_block=None))
            self.store.audit(conn, actor=actor, action="payer.register", subject=p.payer_id,
                             detail={"name": p.name, "account": p.account})

    def payer(self, payer_id: str) -> PayerRecord:
        with self.store._read() as conn:
            row = conn.execute(select(P).where(P.c.payer_id == payer_id)).first()
        if row is None:
            raise NotFound(f"no payer {payer_id!r} is registered in this store (`ebill payer register`)")
        return _payer(row)

    def payers(self) -> list[PayerRecord]:
        with self.store._read() as conn:
            return [_payer(r) for r in conn.execute(select(P).order_by(P.c.payer_id))]

    def set_payer_registered(self, payer_id: str, block: int | None) -> None:
        with self.store._tx() as conn:
            conn.execute(update(P).where(P.c.payer_id == payer_id).values(registered_block=block))

    # ------------------------------------------------------------------ persons and delegations

    def enrol(self, persons: Sequence[PersonRecord], *, actor: str) -> int:
        """Add or update enrolments; returns how many rows were written."""
        now = utcnow()
        with self.store._tx() as conn:
            for chunk in _chunks(persons, 1000):
                rows = [{"pseudonym": p.pseudonym, "name": p.name, "category": p.category, "enrolled_at": now}
                        for p in chunk]
                stmt = self.store._insert(PE).values(rows)
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=["pseudonym"],
                    set_={"name": stmt.excluded.name, "category": stmt.excluded.category}))
            self.store.audit(conn, actor=actor, action="person.enrol", subject=f"{len(persons)} persons",
                             detail={"count": len(persons)})
        return len(persons)

    def person(self, pseudonym: bytes) -> PersonRecord | None:
        with self.store._read() as conn:
            row = conn.execute(select(PE).where(PE.c.pseudonym == pseudonym)).first()
        return PersonRecord(bytes(row.pseudonym), row.name, row.category) if row else None

    def delegate(self, *, holder: bytes, person: bytes, relation: str, actor: str) -> None:
        now = utcnow()
        with self.store._tx() as conn:
            stmt = self.store._insert(D).values(holder=holder, person=person, relation=relation, created_at=now,
                                                created_by=actor, revoked_at=None)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["holder", "person"],
                set_={"relation": relation, "created_at": now, "created_by": actor, "revoked_at": None}))
            self.store.audit(conn, actor=actor, action="delegation.grant", subject="0x" + person.hex()[:16],
                             detail={"holder": "0x" + holder.hex(), "person": "0x" + person.hex(),
                                     "relation": relation})

    def delegations_of(self, holder: bytes) -> list[tuple[PersonRecord, str]]:
        """The persons ``holder`` may act for, with the relation."""
        with self.store._read() as conn:
            rows = conn.execute(select(PE, D.c.relation).join(D, D.c.person == PE.c.pseudonym)
                                .where(D.c.holder == holder, D.c.revoked_at.is_(None)).order_by(PE.c.name)).all()
        return [(PersonRecord(bytes(r.pseudonym), r.name, r.category), r.relation) for r in rows]

    def relation(self, holder: bytes, person: bytes) -> str | None:
        with self.store._read() as conn:
            return conn.execute(select(D.c.relation).where(D.c.holder == holder, D.c.person == person,
                                                           D.c.revoked_at.is_(None))).scalar_one_or_none()

    # ------------------------------------------------------------------ the person's invoices

    def invoices_of(self, person: bytes, *, limit: int = 200) -> list[dict[str, Any]]:
        """The person's invoices (newest first) with anchoring, void and this payer's latest claim."""
        q = (select(I.c.fingerprint, I.c.issuer, H.c.name.label("hospital_name"), I.c.invoice_code,
                    I.c.invoice_number, I.c.issued_at, I.c.visit_type, I.c.total_fen, I.c.cash_paid_fen,
                    I.c.fund_paid_fen, I.c.fee_line_count, B.c.anchored_block, V.c.state.label("void_state"))
             .join(H, H.c.institution_id == I.c.issuer)
             .outerjoin(B, B.c.root == I.c.batch_root)
             .outerjoin(V, V.c.fingerprint == I.c.fingerprint)
             .where(I.c.patient == person).order_by(I.c.issued_at.desc()).limit(limit))
        with self.store._read() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q)]
            voided = _voided_on_chain(conn, [(r["fingerprint"], r["issuer"]) for r in rows])
        for r in rows:
            r["fingerprint"] = bytes(r["fingerprint"])
            r["voided"] = r.pop("void_state") in ACCEPTED_VOIDS or (r["fingerprint"], r["issuer"]) in voided
        return rows

    def claim_target(self, fingerprint: bytes) -> tuple[bytes, bool, int | None] | None:
        """(patient, voided — a void accepted here or stamped on chain —, anchored block) of an
        invoice, in one query (the one-touch path reads this for every claim); None if there is
        no such invoice."""
        q = (select(I.c.patient, B.c.anchored_block, _void_accepted(I.c.fingerprint, I.c.issuer).label("voided"))
             .outerjoin(B, B.c.root == I.c.batch_root).where(I.c.fingerprint == bytes(fingerprint)))
        with self.store._read() as conn:
            row = conn.execute(q).first()
        if row is None:
            return None
        return bytes(row.patient), bool(row.voided), row.anchored_block

    # ------------------------------------------------------------------ claims

    def submission(self, caller: str, key: str) -> tuple[str, bytes, list[Claim]] | None:
        """An earlier submission under ``key`` by ``caller``: (id, request hash, claims)."""
        with self.store._read() as conn:
            row = conn.execute(select(SUB).where(SUB.c.caller == caller, SUB.c.idempotency_key == key)).first()
            if row is None:
                return None
            claims = self._claims(conn, CL.c.submission_id == row.id)
        return row.id, bytes(row.request_sha256), claims

    def latest_claims(self, fingerprints: Sequence[bytes]) -> dict[bytes, Claim]:
        if not fingerprints:
            return {}
        with self.store._read() as conn:
            found = self._claims(conn, CL.c.fingerprint.in_(list(fingerprints)))
        latest: dict[bytes, Claim] = {}
        for c in sorted(found, key=lambda c: c.created_at):
            latest[c.fingerprint] = c
        return latest

    def year_to_date(self, person: bytes, scheme: str, year: int) -> tuple[int, int]:
        with self.store._read() as conn:
            row = conn.execute(select(PY).where(PY.c.pseudonym == person, PY.c.scheme == scheme,
                                                PY.c.year == year)).first()
        return (row.deductible_used_fen, row.reimbursed_fen) if row else (0, 0)

    def submit(self, *, submission_id: str, caller: str, key: str, request_sha256: bytes,
               drafts: Sequence[Callable[[tuple[int, int]], ClaimDraft]], keys: Sequence[tuple[bytes, str, int]],
               actor: str) -> tuple[str, list[Claim], bool]:
        """Store one tap's claims in one transaction; returns (submission id, claims, replayed).

        ``drafts[i]`` decides claim ``i`` from the person's year-to-date figures
        (deductible used, reimbursed) for ``keys[i] = (person, scheme, year)``, read
        under the writer lock (PostgreSQL: the row is locked), so claims of one person
        never race for the same deductible. A repeated ``key`` with the same request
        returns the first outcome; with another request it is a :class:`Conflict`; an
        invoice with a live claim at this payer is a :class:`Conflict` and stores nothing.
        """
        now = utcnow()
        try:
            with self.store._tx() as conn:
                row = conn.execute(_SUB_BY_KEY, {"caller": caller, "key": key}).first()
                if row is not None:
                    if bytes(row.request_sha256) != request_sha256:
                        raise Conflict(f"Idempotency-Key {key!r} was used for another request; use a new key "
                                       "for a new claim")
                    return row.id, self._claims(conn, CL.c.submission_id == row.id), True
                conn.execute(SUB.insert(), {"id": submission_id, "caller": caller, "idempotency_key": key,
                                            "request_sha256": request_sha256, "created_at": now})
                for draft_of, (person, scheme, year) in zip(drafts, keys, strict=True):
                    ytd = self._lock_year(conn, person, scheme, year)
                    d = draft_of(ytd)
                    # a void accepted since the claim was decided (the read above is not in this
                    # transaction): with SQLite's single writer this closes the race; on PostgreSQL
                    # a void committing at this very moment is caught by apply_voids and payouts_due
                    if conn.execute(_VOIDED, {"fp": d.fingerprint, "issuer": d.issuer}).scalar():
                        raise ClaimBlocked("voided", f"invoice 0x{d.fingerprint.hex()} was voided by the hospital "
                                                     "and can never be reimbursed")
                    live = conn.execute(_LIVE_CLAIM, {"fp": d.fingerprint}).first()
                    if live is not None:
                        raise ClaimBlocked("duplicate", f"invoice 0x{d.fingerprint.hex()} is claimed already at "
                                                        f"this payer (claim {live.id}, {live.state})")
                    self._insert_claim(conn, submission_id, d, now)
                    if d.state in LIVE_STATES or d.state == "nothing-payable":
                        self._add_year(conn, person, scheme, year, d.deductible_used_fen, d.amount_fen)
                    _audit_many(conn, now, [(actor, f"claim.{d.state}", d.id, {
                        "fingerprint": "0x" + d.fingerprint.hex(), "person": "0x" + person.hex(),
                        "relation": d.relation, "decidedFen": d.decided_fen, "amountFen": d.amount_fen,
                        "flags": list(d.flags), "refusal": d.refusal})])
                return submission_id, self._claims(conn, CL.c.submission_id == submission_id), False
        except IntegrityError as exc:
            # a concurrent request won a race the checks above could not see (PostgreSQL:
            # the same Idempotency-Key, or the same invoice, committed a moment earlier)
            earlier = self.submission(caller, key)
            if earlier is not None and earlier[1] == request_sha256:
                return earlier[0], earlier[2], True
            raise ClaimBlocked("duplicate", "a concurrent claim on the same invoice was stored first; reload and "
                                            "try again") from exc

    def _lock_year(self, conn: Connection, person: bytes, scheme: str, year: int) -> tuple[int, int]:
        ensure, lock, _ = self._year_statements()
        key = {"p": person, "s": scheme, "y": year}
        conn.execute(ensure, key)
        row = conn.execute(lock, key).one()
        return row.deductible_used_fen, row.reimbursed_fen

    def _year_statements(self) -> tuple[Any, Any, Any]:
        """(ensure the row, read it locked, add to it): built once per store, so SQLAlchemy
        reuses their compiled form (building them per claim cost more than running them)."""
        if self._year_sql is None:
            key = and_(PY.c.pseudonym == bindparam("p"), PY.c.scheme == bindparam("s"), PY.c.year == bindparam("y"))
            ensure = self.store._insert(PY).values(pseudonym=bindparam("p"), scheme=bindparam("s"),
                                                   year=bindparam("y"), deductible_used_fen=0, reimbursed_fen=0)
            ensure = ensure.on_conflict_do_nothing(index_elements=["pseudonym", "scheme", "year"])
            lock = select(PY).where(key)
            bounded = func.greatest if self.store.dialect == "postgresql" else func.max
            if self.store.dialect == "postgresql":
                lock = lock.with_for_update()
            add = update(PY).where(key).values(
                deductible_used_fen=bounded(0, PY.c.deductible_used_fen + bindparam("d")),
                reimbursed_fen=bounded(0, PY.c.reimbursed_fen + bindparam("r")))
            self._year_sql = (ensure, lock, add)
        return self._year_sql

    def _add_year(self, conn: Connection, person: bytes, scheme: str, year: int, deductible: int,
                  reimbursed: int) -> None:
        conn.execute(self._year_statements()[2], {"p": person, "s": scheme, "y": year, "d": deductible,
                                                  "r": reimbursed})

    def _insert_claim(self, conn: Connection, submission_id: str, d: ClaimDraft, now: datetime) -> None:
        conn.execute(CL.insert(), dict(
            id=d.id, submission_id=submission_id, payer_id=d.payer_id, fingerprint=d.fingerprint, issuer=d.issuer,
            person=d.person, actor=d.actor, relation=d.relation, state=d.state, scheme=d.scheme, year=d.year,
            requested_fen=d.requested_fen, decided_fen=d.decided_fen, amount_fen=d.amount_fen,
            deductible_used_fen=d.deductible_used_fen, decision=json.dumps(d.decision, ensure_ascii=False),
            flags=json.dumps(list(d.flags)), instant=d.instant, reviews_needed=d.reviews_needed, attempt=1,
            chain_claim_id=d.chain_claim_id, chain_todo="reserve" if d.state == "submitted" else None,
            stamp=None, stamp_tx=None, stamp_block=None, rejection=None, appeal=None, payment_ref=None,
            paid_at=None, refusal=d.refusal, created_at=now, updated_at=now,
            decided_at=now if d.state in ("refused", "nothing-payable") else None))

    def claim(self, claim_id: str) -> Claim:
        with self.store._read() as conn:
            found = self._claims(conn, CL.c.id == claim_id)
            if not found:
                raise NotFound(f"no claim {claim_id!r}")
            reviews = tuple({"reviewer": r.reviewer, "verdict": r.verdict, "reason": r.reason, "round": r.round,
                             "at": _aware(r.at)}
                            for r in conn.execute(select(RV).where(RV.c.claim_id == claim_id).order_by(RV.c.at)))
        return replace(found[0], reviews=reviews)

    def claims(self, *, persons: Sequence[bytes] | None = None, states: Sequence[str] | None = None,
               after: str | None = None, limit: int = 100, oldest_first: bool = False) -> list[Claim]:
        cond: list[Any] = []
        if persons is not None:
            cond.append(CL.c.person.in_(list(persons)))
        if states:
            cond.append(CL.c.state.in_(list(states)))
        if after:
            cond.append(CL.c.id > after if oldest_first else CL.c.id < after)
        with self.store._read() as conn:
            return self._claims(conn, *cond, limit=limit, oldest_first=oldest_first)

    def _claims(self, conn: Connection, *cond: Any, limit: int | None = None, oldest_first: bool = True) -> list[Claim]:
        q = select(*_CLAIM_COLS).join(I, I.c.fingerprint == CL.c.fingerprint).where(and_(true(), *cond))
        q = q.order_by(CL.c.created_at if oldest_first else CL.c.created_at.desc(),
                       CL.c.id if oldest_first else CL.c.id.desc())
        if limit is not None:
            q = q.limit(limit)
        return [_claim(r) for r in conn.execute(q)]

    # ------------------------------------------------------------------ the stamper's outbox

    def stamp_tasks(self, *, limit: int = 500, exclude: Sequence[str] = ()) -> list[StampTask]:
        """Claims whose chain stamp must change, oldest first.

        A finalisation waits while its invoice has a void accepted here (``apply_voids`` turns
        it into a release): only a void the chain learnt elsewhere can still race it, and the
        contract then refuses to finalise.
        """
        q = (select(CL.c.id, CL.c.chain_todo, CL.c.chain_claim_id, CL.c.fingerprint, CL.c.issuer, CL.c.amount_fen,
                    CL.c.state, I.c.total_fen, I.c.batch_root, B.c.anchored_block)
             .join(I, I.c.fingerprint == CL.c.fingerprint).outerjoin(B, B.c.root == I.c.batch_root)
             .where(CL.c.chain_todo.is_not(None),
                    or_(CL.c.chain_todo != "finalize", ~_void_accepted(CL.c.fingerprint, CL.c.issuer)))
             .order_by(CL.c.updated_at).limit(limit))
        if exclude:
            q = q.where(CL.c.id.not_in(list(exclude)))
        with self.store._read() as conn:
            return [StampTask(r.id, r.chain_todo, bytes(r.chain_claim_id), bytes(r.fingerprint), r.issuer,
                              r.total_fen, r.amount_fen, bytes(r.batch_root) if r.batch_root else None,
                              r.anchored_block is not None, r.state) for r in conn.execute(q)]

    def apply_stamps(self, results: Sequence[tuple[StampTask, str, str | None, str | None, int | None]], *,
                     on_reserved: Callable[[Any], str]) -> list[str]:
        """Record what the chain did, in one transaction.

        Each result is ``(task, outcome, detail, tx, block)``; the outcome is :data:`DONE`,
        :data:`REFUSED` (final: ``detail`` says why), :data:`RETRY` (leave it for the next
        round, ``detail`` noted), :data:`SMALLER` + fen (reserve again with that amount, the
        most the invoice has left), :data:`VOIDED_FIRST` (the contract refused to finalise:
        the void came first), :data:`LOST` (the chain does not know the claim: reserve it
        again) or :data:`ON_CHAIN` + status (the chain holds another final status).

        After a reservation, ``on_reserved`` names the state a new claim moves to
        (``approved`` for instant payout, else ``in-review``). An approved claim is finalised
        next, and paid once finalised; a paid claim reserved again after the chain lost its
        blocks is finalised again, and never paid again (the bank pays approved claims only).
        Returns the ids of claims that were changed.
        """
        changed: list[str] = []
        now = utcnow()
        audits: list[tuple[str, str, str, dict[str, Any]]] = []
        plain: dict[tuple[str, str | None, str | None], list[dict[str, Any]]] = {}  # (op, state, next todo) -> rows
        with self.store._tx() as conn:
            ids = [r[0].claim_id for r in results]
            rows = {r.id: r for r in conn.execute(select(*_STAMP_COLS).where(CL.c.id.in_(ids)))}
            for task, outcome, detail, tx, block in results:
                c = rows.get(task.claim_id)
                if c is None or c.chain_todo != task.op or bytes(c.chain_claim_id) != task.chain_claim_id:
                    continue  # the claim moved on meanwhile (e.g. an appeal cancelled a release)
                note: dict[str, Any] = {"tx": tx, "block": block, "chainClaimId": "0x" + task.chain_claim_id.hex()}
                if outcome == DONE:
                    # the common case, written with one statement per kind for the whole round
                    state, todo = _after_stamp(task.op, c.state,
                                               on_reserved(c) if task.op == "reserve" and c.state == "submitted"
                                               else None)
                    plain.setdefault((task.op, state, todo), []).append(
                        {"cid": task.claim_id, "tx": tx, "block": block})
                    audits.append(("system:stamper", f"claim.{state}" if state else f"claim.stamp.{STAMPED[task.op]}",
                                   task.claim_id, note))
                    changed.append(task.claim_id)
                    continue
                v = _StampView(c.id, c.state, bool(c.instant), bytes(c.person), c.scheme, c.year, c.amount_fen,
                               c.deductible_used_fen, c.attempt)
                values: dict[str, Any] = {"updated_at": now}
                action = ""
                if outcome == RETRY:
                    values["refusal"] = (detail or "")[:300]
                    action = "claim.stamp.retry"
                elif outcome.startswith(SMALLER):
                    amount = int(outcome.removeprefix(SMALLER))
                    values.update(amount_fen=amount, attempt=v.attempt + 1,
                                  chain_claim_id=_next_chain_id(task.chain_claim_id, v.attempt + 1))
                    self._add_year(conn, v.person, v.scheme, v.year, 0, amount - v.amount_fen)
                    action, note["amountFen"], note["reason"] = "claim.amount.reduced", amount, detail
                elif outcome == LOST:
                    # the chain lost the reservation with its blocks: reserve it again under the same
                    # chain claim id (then finalise it again); a release has nothing left to release
                    values.update(stamp=None, chain_todo="reserve" if task.op == "finalize" else None)
                    action = "claim.stamp.lost" if task.op == "finalize" else "claim.stamp.nothing-to-release"
                elif outcome.startswith(ON_CHAIN):
                    values.update(stamp=outcome.removeprefix(ON_CHAIN), chain_todo=None, stamp_tx=tx, stamp_block=block)
                    action, note["reason"] = "claim.stamp.as-on-chain", detail
                elif outcome == VOIDED_FIRST:
                    values["chain_todo"] = "release"
                    action, note["reason"] = "claim.stamp.finalize-refused", detail
                    if v.state not in ("paid", "clawback"):   # paid: apply_voids owes the claw-back
                        values.update(state="refused", refusal=(detail or "")[:300], decided_at=now)
                        self._add_year(conn, v.person, v.scheme, v.year, -v.deductible_used_fen, -v.amount_fen)
                else:  # refused
                    values["chain_todo"] = None
                    action, note["reason"] = f"claim.stamp.{task.op}-refused", detail
                    if task.op == "release":
                        pass   # the claim is decided already: its refusal or rejection stands
                    elif v.state in ("paid", "clawback"):
                        # the bank paid it and the chain lost the stamp, and will not take it again
                        # (another payer reserved the invoice meanwhile): a person must look
                        values["refusal"] = f"paid, but the chain lost this payment's stamp and refused it " \
                                            f"again: {detail}"[:300]
                    else:
                        values.update(state="refused", refusal=(detail or "")[:300], decided_at=now)
                        self._add_year(conn, v.person, v.scheme, v.year, -v.deductible_used_fen, -v.amount_fen)
                conn.execute(update(CL).where(CL.c.id == task.claim_id).values(**values))
                if "state" in values and values["state"] != v.state:
                    action = f"claim.{values['state']}"
                audits.append(("system:stamper", action, task.claim_id, note))
                changed.append(task.claim_id)
            for (op, state, todo), params in plain.items():
                extra: dict[str, Any] = {"state": state} if state else {}
                if op == "reserve":
                    extra["refusal"] = None   # a retry's note ("not on chain yet") is over
                conn.execute(update(CL).where(CL.c.id == bindparam("cid")).values(
                    chain_todo=todo, stamp=STAMPED[op], stamp_tx=bindparam("tx"), stamp_block=bindparam("block"),
                    updated_at=now, **extra), params)
            _audit_many(conn, now, audits)
        return changed

    def stamps_to_verify(self, *, above_block: int) -> tuple[int, list[StampCheck]]:
        """Claims with a recorded stamp (and nothing pending) in a block above ``above_block``
        (-1: all), oldest block first, each with the chain index's status of its chain claim id.

        Returns (the indexed block, checks). A stamp in a block the index has reached is
        compared with the ``stamps`` table (``none`` if the chain has no such stamp); above
        it, ``on_chain`` is None and the caller asks the contract. A reindex between the two
        reads can only make a claim look lost that is not: sending it again is harmless (the
        contract refuses a second reservation, and the stamper then reads the claim back).
        """
        with self.store._read() as conn:
            indexed = int(conn.execute(select(M.c.value).where(M.c.key == INDEXER_BLOCK)).scalar_one_or_none() or -1)
            block = func.coalesce(CL.c.stamp_block, 0)
            q = (select(CL.c.id, CL.c.state, CL.c.stamp, block.label("block"), CL.c.chain_claim_id,
                        ST.c.status.label("on_chain"))
                 .outerjoin(ST, and_(ST.c.payer_id == CL.c.payer_id, ST.c.claim_id == CL.c.chain_claim_id))
                 .where(CL.c.chain_todo.is_(None), CL.c.stamp.is_not(None), block > above_block)
                 .order_by(block))
            rows = conn.execute(q).all()
        return indexed, [StampCheck(r.id, r.state, r.stamp, int(r.block), bytes(r.chain_claim_id),
                                    (r.on_chain or "none") if r.block <= indexed else None) for r in rows]

    def requeue_lost(self, repairs: Sequence[tuple[StampCheck, str, str | None, str | None]]) -> int:
        """Put claims whose stamp the chain lost back in the stamper's outbox, in one transaction.

        Each repair is ``(check, status on chain, chain_todo, stamp)`` as :func:`stamp_repair`
        decided it; the chain claim id stays the same. A claim that moved on since the check
        is left alone. Returns how many claims were requeued.
        """
        if not repairs:
            return 0
        now = utcnow()
        done = 0
        audits: list[tuple[str, str, str, dict[str, Any]]] = []
        with self.store._tx() as conn:
            for check, on_chain, todo, stamp in repairs:
                n = conn.execute(update(CL).where(
                    CL.c.id == check.claim_id, CL.c.chain_todo.is_(None), CL.c.stamp == check.stamp,
                    CL.c.chain_claim_id == check.chain_claim_id).values(chain_todo=todo, stamp=stamp,
                                                                        updated_at=now)).rowcount
                if n:
                    done += 1
                    audits.append(("system:stamper", "claim.stamp.lost", check.claim_id, {
                        "recorded": check.stamp, "block": check.stamp_block, "onChain": on_chain, "resend": todo,
                        "chainClaimId": "0x" + check.chain_claim_id.hex()}))
            _audit_many(conn, now, audits)
        return done

    # ------------------------------------------------------------------ reviews, payout, appeals

    def review(self, claim_id: str, *, reviewer: str, verdict: str, reason: str) -> Claim:
        """Record a reviewer's verdict; approve once enough different reviewers approved, or reject."""
        now = utcnow()
        with self.store._tx() as conn:
            c = self._locked(conn, claim_id)
            if c.state != "in-review":
                raise Conflict(f"claim {claim_id} is {c.state}, not in review")
            round_ = 2 if c.appeal else 1
            done = {r.reviewer: r.verdict for r in conn.execute(
                select(RV).where(RV.c.claim_id == claim_id, RV.c.round == round_))}
            if reviewer in done:
                raise Conflict(f"you reviewed claim {claim_id} already; a second approval must come from another "
                               "reviewer (maker-checker)")
            conn.execute(RV.insert().values(claim_id=claim_id, round=round_, reviewer=reviewer, verdict=verdict,
                                            reason=reason, at=now))
            values: dict[str, Any] = {"updated_at": now}
            approvals = sum(1 for v in done.values() if v == "approve") + (verdict == "approve")
            if verdict == "reject":
                values.update(state="rejected", rejection=reason, decided_at=now,
                              chain_todo="release" if c.stamp == "reserved" else None)
                self._add_year(conn, c.person, c.scheme, c.year, -c.deductible_used_fen, -c.amount_fen)
            elif approvals >= c.reviews_needed:
                # finalised on chain before the bank pays (a claim reserved again after lost
                # blocks is finalised once that reservation is back)
                values.update(state="approved", decided_at=now,
                              chain_todo="finalize" if c.stamp == "reserved" and c.chain_todo is None
                              else c.chain_todo)
            conn.execute(update(CL).where(CL.c.id == claim_id).values(**values))
            self.store.audit(conn, actor=reviewer, action=f"claim.review.{verdict}", subject=claim_id,
                             detail={"reason": reason, "round": round_, "approvals": approvals,
                                     "needed": c.reviews_needed, "state": values.get("state", c.state)})
        return self.claim(claim_id)

    def appeal(self, claim_id: str, *, reason: str, actor: str, deductible_fen: int, amount_fen: int) -> Claim:
        """Back to the queue (once): its amounts count for the year again; a released
        reservation is made again under a new chain claim id."""
        now = utcnow()
        with self.store._tx() as conn:
            c = self._locked(conn, claim_id)
            if c.state != "rejected":
                raise Conflict(f"only a rejected claim can be appealed; claim {claim_id} is {c.state}")
            if c.appeal is not None:
                raise Conflict(f"claim {claim_id} was appealed once already; a claim can be appealed only once")
            values: dict[str, Any] = {"appeal": reason, "updated_at": now, "decided_at": None,
                                      "deductible_used_fen": deductible_fen, "amount_fen": amount_fen}
            if c.chain_todo == "release":      # not released yet: keep the reservation
                values.update(state="in-review", chain_todo=None)
            else:
                values.update(state="appealed", chain_todo="reserve", attempt=c.attempt + 1,
                              chain_claim_id=_next_chain_id(c.chain_claim_id, c.attempt + 1))
            conn.execute(update(CL).where(CL.c.id == claim_id).values(**values))
            self._add_year(conn, c.person, c.scheme, c.year, deductible_fen, amount_fen)
            self.store.audit(conn, actor=actor, action="claim.appealed", subject=claim_id, detail={"reason": reason})
        return self.claim(claim_id)

    def payouts_due(self, *, limit: int = 200, ids: Sequence[str] | None = None) -> list[Any]:
        """Approved claims finalised on chain and not paid yet, whose invoice has no void accepted
        here or stamped on chain (the void wins: ``apply_voids`` refuses them once the void is on
        chain, and pays nothing). Rows with ``id``, ``person``, ``amount_fen``, ``invoice_code``,
        ``invoice_number`` (only what a payout needs: no decision to decode); ``ids`` keeps only
        those of a list (to check again, just before paying them, that they are still due)."""
        q = (select(CL.c.id, CL.c.person, CL.c.amount_fen, I.c.invoice_code, I.c.invoice_number)
             .join(I, I.c.fingerprint == CL.c.fingerprint)
             .where(CL.c.state == "approved", CL.c.stamp == "finalized", CL.c.chain_todo.is_(None),
                    CL.c.payment_ref.is_(None), ~_void_accepted(CL.c.fingerprint, CL.c.issuer))
             .order_by(CL.c.updated_at).limit(limit))
        if ids is not None:
            q = q.where(CL.c.id.in_(list(ids)))
        with self.store._read() as conn:
            return [_Due(r.id, bytes(r.person), r.amount_fen, r.invoice_code, r.invoice_number)
                    for r in conn.execute(q)]

    def hold_payout(self, claim_id: str, *, reason: str) -> None:
        """Take an approved claim out of the payout queue (the bank refused it for good):
        it goes back to review with the bank's answer, for a person to sort out."""
        with self.store._tx() as conn:
            n = conn.execute(update(CL).where(CL.c.id == claim_id, CL.c.state == "approved")
                             .values(state="in-review", refusal=f"payout refused: {reason}"[:300],
                                     updated_at=utcnow())).rowcount
            if n:
                self.store.audit(conn, actor="system:payout", action="claim.payout-held", subject=claim_id,
                                 detail={"reason": reason[:500]})

    def mark_paid_many(self, payments: Sequence[tuple[str, str, datetime]]) -> None:
        """Record the bank's payments ``(claim id, reference, paid at)`` in one transaction (the
        claims were finalised on chain before the bank was asked)."""
        if not payments:
            return
        now = utcnow()
        with self.store._tx() as conn:
            ids = [p[0] for p in payments]
            approved = set(conn.execute(select(CL.c.id).where(CL.c.id.in_(ids), CL.c.state == "approved")).scalars())
            todo = [p for p in payments if p[0] in approved]
            if not todo:
                return
            conn.execute(update(CL).where(CL.c.id == bindparam("cid")).values(
                state="paid", payment_ref=bindparam("ref"), paid_at=bindparam("at"),
                updated_at=now), [{"cid": c, "ref": r, "at": t} for c, r, t in todo])
            _audit_many(conn, now, [("system:payout", "claim.paid", c, {"reference": r}) for c, r, _ in todo])

    def moved_on(self, claim_ids: Sequence[str], *, from_states: Sequence[str]) -> list[Claim]:
        """Those of ``claim_ids`` no longer in ``from_states`` (one query, for many waiting requests).

        The ids go in as one JSON (SQLite) or array (PostgreSQL) parameter: the statement is
        compiled once, whereas an ``IN`` list is rendered again for every poll and every
        length, which cost more than the query itself with hundreds of claims waiting.
        """
        if not claim_ids:
            return []
        if self.store.dialect == "postgresql":
            q = text(f"SELECT id FROM {CL.name} WHERE id = ANY(:ids) AND NOT (state = ANY(:states))")
            params: dict[str, Any] = {"ids": list(claim_ids), "states": list(from_states)}
        else:
            q = text(f"SELECT id FROM {CL.name} WHERE id IN (SELECT value FROM json_each(:ids)) "
                     "AND state NOT IN (SELECT value FROM json_each(:states))")
            params = {"ids": json.dumps(list(claim_ids)), "states": json.dumps(list(from_states))}
        with self.store._read() as conn:
            moved = list(conn.execute(q, params).scalars())
            return self._claims(conn, CL.c.id.in_(moved)) if moved else []

    def apply_voids(self) -> list[str]:
        """Claims on voided invoices: a void this service accepted (pending or stamped) or one
        the chain recorded (``InvoiceVoided``: all that a payer's mirror of another service
        sees). Returns the changed claim ids.

        - not finalised yet: refused at once, the reservation released (also one that may be
          on chain from a round cut short by a crash), the year-to-date figures given back;
        - finalised on chain but not paid (the void arrived while the finalisation was on its
          way): the payout waits (``payouts_due`` skips it) until the void is on chain, then
          the claim is refused and nothing is paid. The chain keeps the finalisation (it has
          no way back), so its claw-back notice names an amount this payer never paid out. If
          the chain refuses the void instead (``failed``), the payout goes ahead;
        - paid: once the void is on chain, the money is owed back (``clawback``) and the
          claim no longer counts towards the person's year: its deductible and amount are
          given back, and the decision records what was reversed;
        - nothing payable: its deductible is given back (the invoice was refunded) and the
          claim is refused.
        """
        changed: list[str] = []
        now = utcnow()
        audits: list[tuple[str, str, str, dict[str, Any]]] = []
        voided = _accepted_voids()
        with self.store._tx() as conn:
            rows = conn.execute(
                select(*_CLAIM_COLS, _void_on_chain(CL.c.fingerprint, CL.c.issuer).label("void_on_chain"))
                .join(I, I.c.fingerprint == CL.c.fingerprint)
                .join(voided, and_(voided.c.fingerprint == CL.c.fingerprint, voided.c.issuer == CL.c.issuer))
                .where(CL.c.state.in_((*LIVE_STATES, "nothing-payable")))).all()
            for row in rows:
                c = _claim(row)
                paid_on_chain = c.state == "paid" or (c.state == "approved" and c.stamp == "finalized")
                if paid_on_chain and not row.void_on_chain:
                    continue
                values: dict[str, Any] = {"updated_at": now}
                detail: dict[str, Any] = {"reason": "InvoiceVoided" if row.void_on_chain else "void accepted",
                                          "amountFen": c.amount_fen, "paymentRef": c.payment_ref}
                reversed_ = {"deductibleUsedFen": c.deductible_used_fen, "reimbursedFen": c.amount_fen}
                self._add_year(conn, c.person, c.scheme, c.year, -c.deductible_used_fen, -c.amount_fen)
                if c.state == "paid":
                    values.update(state="clawback", decision=json.dumps({**c.decision, "reversed": reversed_},
                                                                        ensure_ascii=False))
                    if c.stamp != "finalized":
                        values["chain_todo"] = "release"
                elif paid_on_chain:
                    values.update(state="refused", decided_at=now, refusal=f"{VOIDED_REFUSAL} before the payout: "
                                  "nothing was paid (the chain had recorded the payment already)")
                else:
                    values.update(state="refused", refusal=VOIDED_REFUSAL, decided_at=now,
                                  chain_todo="release" if c.stamp == "reserved" or c.chain_todo == "reserve"
                                  else None)
                conn.execute(update(CL).where(CL.c.id == c.id).values(**values))
                audits.append(("system:stamper", f"claim.{values['state']}", c.id, {**detail, "reversed": reversed_}))
                changed.append(c.id)
            _audit_many(conn, now, audits)
        return changed

    def _locked(self, conn: Connection, claim_id: str) -> Claim:
        q = select(*_CLAIM_COLS).join(I, I.c.fingerprint == CL.c.fingerprint).where(CL.c.id == claim_id)
        if self.store.dialect == "postgresql":
            q = q.with_for_update(of=CL)
        row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"no claim {claim_id!r}")
        return _claim(row)

    # ------------------------------------------------------------------ figures

    def stats(self, *, since: datetime | None = None) -> dict[str, Any]:
        """Counts and sums for the dashboard (per day and state, refusals, payout times)."""
        day = func.substr(func.cast(CL.c.created_at, Text) if self.store.dialect == "postgresql"
                          else CL.c.created_at, 1, 10)
        cond = [CL.c.created_at >= since] if since else []
        with self.store._read() as conn:
            per_day = [dict(r._mapping) for r in conn.execute(
                select(day.label("day"), CL.c.state, func.count().label("claims"),
                       func.sum(CL.c.requested_fen).label("requestedFen"),
                       func.sum(CL.c.amount_fen).label("amountFen"))
                .where(*cond).group_by(day, CL.c.state).order_by(day))]
            refusals = [dict(r._mapping) for r in conn.execute(
                select(CL.c.refusal.label("reason"), func.count().label("claims"))
                .where(CL.c.refusal.is_not(None), *cond).group_by(CL.c.refusal).order_by(func.count().desc()))]
            paid = [(_aware(r.created_at), _aware(r.paid_at)) for r in conn.execute(
                select(CL.c.created_at, CL.c.paid_at).where(CL.c.paid_at.is_not(None), *cond))]
            decisions = [json.loads(r.decision) for r in conn.execute(
                select(CL.c.decision).where(*cond).order_by(CL.c.created_at.desc()).limit(2000))]
            claw = conn.execute(select(func.count(), func.coalesce(func.sum(CL.c.amount_fen), 0))
                                .where(CL.c.state == "clawback")).one()
            voids = conn.execute(select(func.count()).select_from(E).where(E.c.name == "InvoiceVoided")).scalar_one()
            blocked = {f"{action}:{subject}": n for action, subject, n in conn.execute(
                select(A.c.action, A.c.subject, func.count()).where(A.c.action == "claim.blocked")
                .group_by(A.c.action, A.c.subject))}
            # forged codes at the public verifier are counted, not audited (ledger.app.event_counts)
            counters = s.Counter.__table__  # type: ignore[attr-defined]
            blocked.update({name: int(n) for name, n in conn.execute(
                select(counters.c.name, counters.c.count).where(counters.c.name.startswith("verify.refused:")))})
            # anchoring lag: from the first acknowledged upload of a batch to its anchor, recent batches
            first = (select(I.c.batch_root, func.min(I.c.received_at).label("first"))
                     .where(I.c.batch_root.is_not(None)).group_by(I.c.batch_root).subquery())
            # (block timestamps are whole seconds, so a batch anchored within the second of its
            # first upload can look anchored "before" it: such lags count as 0)
            lags = [max(0.0, (_aware(anchored) - _aware(acked)).total_seconds())  # type: ignore[operator]
                    for anchored, acked in conn.execute(
                select(B.c.anchored_at, first.c.first).join(first, first.c.batch_root == B.c.root)
                .where(B.c.anchored_at.is_not(None)).order_by(B.c.anchored_at.desc()).limit(500))]
            clawbacks_chain = conn.execute(select(func.count()).select_from(CB)).scalar_one()
        return {"perDay": per_day, "refusals": refusals, "paid": paid, "decisions": decisions,
                "clawbacks": {"claims": claw[0], "amountFen": int(claw[1])}, "voidsOnChain": voids,
                "blocked": blocked, "anchoringLagSeconds": sorted(lags),
                "clawbackEventsOnChain": clawbacks_chain}


# Voids are matched by (fingerprint, issuer): the contract keeps invoices per issuing hospital,
# so a hospital that anchors a copy of another hospital's fingerprint and voids it voids its
# own copy only, never the invoice stored here. (Void requests in ``voids`` are made by the
# invoice's own issuer: ``SqlStore.request_void`` checks it.)


def _void_accepted(fingerprint: Any, issuer: Any) -> Any:
    """True if the invoice has a void request this service accepted (pending or stamped) or a
    void on chain (``InvoiceVoided``: all that a payer's mirror of another service ever sees)."""
    return or_(select(V.c.fingerprint).where(V.c.fingerprint == fingerprint, V.c.issuer == issuer,
                                             V.c.state.in_(ACCEPTED_VOIDS)).exists(),
               select(E.c.fingerprint).where(E.c.name == "InvoiceVoided", E.c.fingerprint == fingerprint,
                                             E.c.issuer == issuer).exists())


def _void_on_chain(fingerprint: Any, issuer: Any) -> Any:
    """True if the invoice's void is stamped on chain (as this service's store or index knows)."""
    return or_(select(V.c.fingerprint).where(V.c.fingerprint == fingerprint, V.c.issuer == issuer,
                                             V.c.state == "voided").exists(),
               select(E.c.fingerprint).where(E.c.name == "InvoiceVoided", E.c.fingerprint == fingerprint,
                                             E.c.issuer == issuer).exists())


def _accepted_voids() -> Any:
    """The (fingerprint, issuer) of :func:`_void_accepted` invoices, as one subquery (a short
    list: a query over many claims reads it once instead of probing two tables per claim)."""
    return union(select(V.c.fingerprint, V.c.issuer).where(V.c.state.in_(ACCEPTED_VOIDS)),
                 select(E.c.fingerprint, E.c.issuer).where(E.c.name == "InvoiceVoided",
                                                           E.c.fingerprint.is_not(None))).subquery()


_VOIDED = select(_void_accepted(bindparam("fp"), bindparam("issuer")))
_SUB_BY_KEY = select(SUB).where(SUB.c.caller == bindparam("caller"), SUB.c.idempotency_key == bindparam("key"))
_LIVE_CLAIM = select(CL.c.id, CL.c.state).where(CL.c.fingerprint == bindparam("fp"), CL.c.state != "refused")
#: what recording a stamp needs of a claim (not its decision document)
_STAMP_COLS = (CL.c.id, CL.c.state, CL.c.instant, CL.c.person, CL.c.scheme, CL.c.year, CL.c.amount_fen,
               CL.c.deductible_used_fen, CL.c.attempt, CL.c.chain_todo, CL.c.chain_claim_id)


@dataclass(frozen=True)
class _StampView:
    id: str
    state: str
    instant: bool
    person: bytes
    scheme: str
    year: int
    amount_fen: int
    deductible_used_fen: int
    attempt: int


@dataclass(frozen=True)
class _Due:
    """An approved claim waiting for its payout."""

    id: str
    person: bytes
    amount_fen: int
    invoice_code: str
    invoice_number: str


def _audit_many(conn: Connection, at: datetime, entries: Sequence[tuple[str, str, str, dict[str, Any]]]) -> None:
    """Audit entries ``(actor, action, subject, detail)`` in one statement."""
    if entries:
        conn.execute(A.insert(), [{"at": at, "actor": actor, "action": action, "subject": subject,
                                   "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True)}
                                  for actor, action, subject, detail in entries])


def _voided_on_chain(conn: Connection, invoices: Sequence[tuple[bytes, str]]) -> set[tuple[bytes, str]]:
    """Those of ``invoices`` (fingerprint, issuer) whose void the chain recorded."""
    if not invoices:
        return set()
    found = conn.execute(select(E.c.fingerprint, E.c.issuer).where(
        E.c.name == "InvoiceVoided", E.c.fingerprint.in_([bytes(f) for f, _ in invoices]))).all()
    return {(bytes(f), i) for f, i in found} & {(bytes(f), i) for f, i in invoices}


def _after_stamp(op: str, state: str, reserved_as: str | None) -> tuple[str | None, str | None]:
    """(new state or None, next chain_todo) once ``op`` took effect on chain; ``reserved_as`` is
    the state a submitted claim moves to once reserved."""
    if op != "reserve":
        return None, None
    if state == "submitted":
        return reserved_as, "finalize" if reserved_as == "approved" else None
    if state == "appealed":
        return "in-review", None
    if state in ("approved", "paid", "clawback"):
        return None, "finalize"   # approved: before the payout; paid: reserved again after lost blocks
    return None, None


#: how far a stamp got: a chain that lost blocks holds an earlier one (or none)
_STAMP_RANK = {"none": 0, "reserved": 1, "finalized": 2, "released": 2}


def stamp_repair(*, state: str, recorded: str, on_chain: str) -> tuple[str | None, str | None] | None:
    """What a claim needs when the chain holds less than its recorded stamp (the node lost the
    blocks it was in): ``(chain_todo, stamp)`` to write, or None if nothing is missing.

    A claim that holds money (live, or paid and clawed back) is stamped again under the same
    chain claim id: reserved again if the chain has nothing, then finalised again if it had
    been; a decided claim that holds none must hold none on chain either (released again if
    its reservation came back, else it records that the chain has nothing).
    """
    if state == "approved" and recorded == on_chain == "reserved":
        return "finalize", "reserved"   # approved before payouts waited for the finalisation
    if _STAMP_RANK.get(on_chain, 0) >= _STAMP_RANK.get(recorded, 0):
        return None
    if state in DEAD_STATES:
        return ("release", "reserved") if on_chain == "reserved" else (None, None)
    if on_chain == "none":
        return "reserve", None
    return ("finalize" if recorded == "finalized" else "release"), "reserved"


def _next_chain_id(previous: bytes, attempt: int) -> bytes:
    return bytes(keccak256(previous + attempt.to_bytes(4, "big")))


def _chunks(items: Sequence[Any], n: int) -> list[Sequence[Any]]:
    return [items[i : i + n] for i in range(0, len(items), n)]


def _payer(row: Any) -> PayerRecord:
    return PayerRecord(row.payer_id, row.name, row.account, row.keystore, _aware(row.created_at),  # type: ignore[arg-type]
                       row.registered_block)


def _claim(r: Any) -> Claim:
    return Claim(
        id=r.id, submission_id=r.submission_id, payer_id=r.payer_id, fingerprint=bytes(r.fingerprint),
        issuer=r.issuer, invoice_code=r.invoice_code, invoice_number=r.invoice_number, person=bytes(r.person),
        hospital_name=r.hospital_name or "",
        actor=r.actor, relation=r.relation, state=r.state, scheme=r.scheme, year=r.year,
        requested_fen=r.requested_fen, decided_fen=r.decided_fen, amount_fen=r.amount_fen,
        deductible_used_fen=r.deductible_used_fen, decision=json.loads(r.decision), flags=tuple(json.loads(r.flags)),
        instant=bool(r.instant), reviews_needed=r.reviews_needed, attempt=r.attempt,
        chain_claim_id=bytes(r.chain_claim_id), chain_todo=r.chain_todo, stamp=r.stamp, stamp_tx=r.stamp_tx,
        stamp_block=r.stamp_block, refusal=r.refusal, rejection=r.rejection, appeal=r.appeal,
        payment_ref=r.payment_ref, paid_at=_aware(r.paid_at), created_at=_aware(r.created_at),  # type: ignore[arg-type]
        updated_at=_aware(r.updated_at), decided_at=_aware(r.decided_at))  # type: ignore[arg-type]


