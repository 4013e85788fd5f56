"""The payer's claims in SQL: filing (one tap, one transaction), reading, review and appeal.

Each method that changes a claim is one transaction on the store's writer path (SQLite
writers take turns; PostgreSQL rows are locked where two requests could race): the
claim's change as :mod:`ledger.claims.transitions` decided it, its year-to-date effect
and its audit entry commit together. Filing decides each claim
(:func:`ledger.claims.transitions.file_claim`) with the person's year-to-date figures read
locked in that transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, text
from sqlalchemy.exc import IntegrityError

from ledger.adapters.sql.base import ST, L
from ledger.adapters.sql.chain_gaps import UNKNOWN_STAMPS, unknown_stamp_message
from ledger.adapters.sql.claims.notices import insert as insert_notices
from ledger.adapters.sql.claims.pseudonyms import PP, pseudonyms_of
from ledger.adapters.sql.claims.rows import (
    ACCEPTED_VOIDS,
    CL,
    RV,
    SUB,
    ClaimTables,
    H,
    audit_many,
    review_of,
    void_accepted,
    voided_on_chain,
)
from ledger.adapters.sql.store import B, I, V, utcnow
from ledger.claims import transitions
from ledger.claims.clawbacks import Reason
from ledger.claims.languages import language_of
from ledger.claims.lines import InPart
from ledger.claims.model import Claim, ClaimDraft, ClaimTarget, PersonInvoice, Submission
from ledger.claims.notices import NoticeFacts, notice_for
from ledger.claims.policy import Filing
from ledger.claims.queue import QueueSearch
from ledger.claims.sampling import PostAudit
from ledger.claims.stamps import StampStatus
from ledger.claims.states import CLAIMABLE_AGAIN, ClaimState
from ledger.claims.transitions import Change
from ledger.errors import ClaimBlocked, Conflict, NotFound
from ledger.onchain import Stamp
from ledger.rules import EarlierLine
from ledger.rules.periods import HistoryQuery

_VOIDED = select(void_accepted(bindparam("fp"), bindparam("issuer")))
_SUB_BY_KEY = select(SUB).where(SUB.c.caller == bindparam("caller"), SUB.c.idempotency_key == bindparam("key"))
#: the invoice's claim at this payer that stops another one (the unique index says the same)
_LIVE_CLAIM = select(CL.c.id, CL.c.state).where(CL.c.fingerprint == bindparam("fp"),
                                                CL.c.state != CLAIMABLE_AGAIN.value)


def _search(q: QueueSearch) -> list[Any]:
    """The conditions of a queue search (the limit then applies to what matches)."""
    cond: list[Any] = []
    if q.claim_id is not None:
        cond.append(CL.c.id == q.claim_id)
    if q.fingerprint is not None:
        cond.append(CL.c.fingerprint == q.fingerprint)
    if q.invoice_number is not None:
        cond.append(I.c.invoice_number == q.invoice_number)
    if q.person is not None:
        cond.append(CL.c.person == q.person)
    if q.hospital is not None:
        named = select(H.c.institution_id).where(func.lower(H.c.name).like(f"%{_like(q.hospital.lower())}%",
                                                                           escape="\\"))
        cond.append(or_(func.upper(CL.c.issuer) == q.hospital.upper(), CL.c.issuer.in_(named)))
    if q.min_amount_fen is not None:
        cond.append(CL.c.amount_fen >= q.min_amount_fen)
    if q.flag is not None:
        # the flags column is a JSON list of rule ids: the id between its quotes
        cond.append(CL.c.flags.like(f'%"{_like(q.flag)}"%', escape="\\"))
    return cond


def _like(text: str) -> str:
    """``text`` with LIKE's wildcards escaped (by a backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ClaimRecords(ClaimTables):
    """Claims: filing, reading, reviews and appeals."""

    # ------------------------------------------------------------------ the person's invoices

    def invoices_of(self, person: bytes, *, limit: int = 200) -> list[PersonInvoice]:
        """The person's invoices (newest first) with their anchoring and void."""
        q = (select(I.c.fingerprint, I.c.issuer, H.c.name.label("hospital_name"), I.c.invoice_code,
                    I.c.invoice_number, I.c.issued_at, I.c.visit_type, I.c.total_fen, I.c.cash_paid_fen,
                    I.c.fund_paid_fen, I.c.fee_line_count, B.c.anchored_block, V.c.state.label("void_state"))
             .join(H, H.c.institution_id == I.c.issuer)
             .outerjoin(B, B.c.root == I.c.batch_root)
             .outerjoin(V, V.c.fingerprint == I.c.fingerprint)
             .where(pseudonyms_of(person)).order_by(I.c.issued_at.desc()).limit(limit))
        with self.store._read() as conn:
            rows = conn.execute(q).all()
            voided = voided_on_chain(conn, [(r.fingerprint, r.issuer) for r in rows])
        return [PersonInvoice(bytes(r.fingerprint), r.issuer, r.hospital_name, r.invoice_code, r.invoice_number,
                              r.issued_at, r.visit_type, r.total_fen, r.cash_paid_fen, r.fund_paid_fen,
                              r.fee_line_count, r.anchored_block,
                              r.void_state in ACCEPTED_VOIDS or (bytes(r.fingerprint), r.issuer) in voided)
                for r in rows]

    def earlier_lines(self, person: bytes, query: HistoryQuery, *, exclude: bytes) -> list[EarlierLine]:
        """The person's fee lines billing ``query.codes`` with a service date in its window, on
        every invoice of any hospital this store knows but ``exclude`` (the invoice being
        decided) and those voided: what the period limits count."""
        q = (select(I.c.issuer, I.c.invoice_code, I.c.invoice_number, I.c.issued_at, L.c.service_date,
                    L.c.item_code, L.c.quantity)
             .join(L, L.c.invoice_id == I.c.id)
             .where(pseudonyms_of(person), I.c.fingerprint != bytes(exclude), L.c.item_code.in_(query.codes),
                    L.c.service_date >= query.since, L.c.service_date <= query.until,
                    ~void_accepted(I.c.fingerprint, I.c.issuer))
             .order_by(L.c.service_date, I.c.issued_at))
        with self.store._read() as conn:
            rows = conn.execute(q).all()
        return [EarlierLine(r.issuer, r.invoice_code, r.invoice_number, r.issued_at, r.service_date, r.item_code,
                            r.quantity) for r in rows]

    def claim_target(self, fingerprint: bytes) -> ClaimTarget | None:
        """What filing needs of an invoice, in one query (the one-touch path reads this for every
        claim); None if there is no such invoice."""
        # the patient as the person they are known by here (the invoice may carry another pepper version's pseudonym)
        patient = func.coalesce(PP.c.person, I.c.patient).label("patient")
        q = (select(patient, B.c.anchored_block, void_accepted(I.c.fingerprint, I.c.issuer).label("voided"))
             .select_from(I).outerjoin(B, B.c.root == I.c.batch_root).outerjoin(PP, PP.c.pseudonym == I.c.patient)
             .where(I.c.fingerprint == bytes(fingerprint)))
        with self.store._read() as conn:
            row = conn.execute(q).first()
        if row is None:
            return None
        return ClaimTarget(bytes(row.patient), bool(row.voided), row.anchored_block)

    # ------------------------------------------------------------------ filing

    def submission(self, caller: str, key: str) -> Submission | None:
        """An earlier submission under ``key`` by ``caller``."""
        with self.store._read() as conn:
            row = conn.execute(_SUB_BY_KEY, {"caller": caller, "key": key}).first()
            if row is None:
                return None
            return Submission(row.id, bytes(row.request_sha256), self._claims(conn, CL.c.submission_id == row.id))

    def submit(self, *, submission_id: str, caller: str, key: str, request_sha256: bytes,
               filings: Sequence[Filing], request_id: str | None = None) -> tuple[str, list[Claim], bool]:
        """Decide and store one tap's claims in one transaction; (submission id, claims, replayed).

        Each filing is decided with the person's year-to-date figures read under the writer
        lock (PostgreSQL: the row is locked), so claims of one person never race for the same
        deductible. A repeated ``key`` with the same request returns the first outcome; with
        another request it is a :class:`Conflict`; an invoice voided meanwhile, or with a live
        claim at this payer, is a :class:`ClaimBlocked` and stores nothing.
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
                                            "request_sha256": request_sha256, "created_at": now,
                                            "request_id": request_id})
                for filing in filings:
                    ytd = self.years.lock(conn, filing.person.pseudonym, filing.scheme, filing.year)
                    draft, change = transitions.file_claim(filing, ytd, now=now)
                    # a void accepted since the claim was decided (the read above is not in this
                    # transaction): with SQLite's single writer this closes the race; on PostgreSQL
                    # a void committing at this very moment is caught by apply_voids and payouts_due
                    if conn.execute(_VOIDED, {"fp": draft.fingerprint, "issuer": draft.issuer}).scalar():
                        raise ClaimBlocked("voided", f"invoice 0x{draft.fingerprint.hex()} was voided by the "
                                                     "hospital and can never be reimbursed")
                    live = conn.execute(_LIVE_CLAIM, {"fp": draft.fingerprint}).first()
                    if live is not None:
                        raise ClaimBlocked("duplicate", f"invoice 0x{draft.fingerprint.hex()} is claimed already at "
                                                        f"this payer (claim {live.id}, {live.state})")
                    # a claim this database forgot (restored from an older backup) still holds the invoice on chain
                    forgotten = conn.execute(UNKNOWN_STAMPS, {"payer": draft.payer_id, "fp": draft.fingerprint}).all()
                    if forgotten:
                        raise ClaimBlocked("unknown-stamp", unknown_stamp_message(draft.fingerprint, forgotten))
                    self._insert(conn, submission_id, draft, change, now,
                                 facts=NoticeFacts(draft.id, draft.person, language_of(filing.person.language),
                                                   draft.requested_fen, draft.amount_fen))
                return submission_id, self._claims(conn, CL.c.submission_id == submission_id), False
        except IntegrityError as exc:
            # a concurrent request won a race the checks above could not see (PostgreSQL:
            # the same Idempotency-Key, or the same invoice, committed a moment earlier)
            earlier = self.submission(caller, key)
            if earlier is not None and earlier.request_sha256 == request_sha256:
                return earlier.id, earlier.claims, True
            raise ClaimBlocked("duplicate", "a concurrent claim on the same invoice was stored first; reload and "
                                            "try again") from exc

    def _insert(self, conn: Connection, submission_id: str, d: ClaimDraft, change: Change, now: datetime, *,
                facts: NoticeFacts) -> None:
        """Store a decided claim and what filing it writes: its year-to-date effect, audit entry and the
        message it sends its person (``facts``: the claim as filed, the person's language)."""
        v = change.values
        todo = v.get("chain_todo")
        conn.execute(CL.insert(), dict(
            id=d.id, submission_id=submission_id, payer_id=d.payer_id, fingerprint=d.fingerprint, issuer=d.issuer,
            person=d.person, actor=d.actor, relation=d.relation, state=change.after.value, scheme=d.scheme,
            year=d.year, requested_fen=d.requested_fen, decided_fen=d.decided_fen, amount_fen=d.amount_fen,
            deductible_used_fen=d.deductible_used_fen, decision=json.dumps(d.decision, ensure_ascii=False),
            flags=json.dumps(list(d.flags)), instant=d.instant, reviews_needed=d.reviews_needed, attempt=1,
            chain_claim_id=d.chain_claim_id, chain_todo=todo.value if todo else None,
            stamp=None, stamp_tx=None, stamp_block=None, rejection=None, appeal=None, payment_ref=None,
            paid_at=None, refusal=d.refusal, created_at=now, updated_at=now, decided_at=v.get("decided_at"),
            post_audit=d.post_audit.value if d.post_audit else None))
        if change.year != (0, 0):
            self.years.add(conn, d.person, d.scheme, d.year, *change.year)
        audit_many(conn, now, [(change.actor, change.action, d.id, change.detail)])
        notice = notice_for(change, facts)
        insert_notices(conn, [notice] if notice is not None else [], now=now)

    def record_blocked(self, *, actor: str, reason: str, message: str, fingerprints: Sequence[bytes]) -> None:
        """Count a refused attempt that stored no claim (``ClaimBlocked``): the dashboard shows
        what the system stopped."""
        self.store.audit(actor=actor, action="claim.blocked", subject=reason,
                         detail={"reason": reason, "message": message,
                                 "fingerprints": ["0x" + f.hex() for f in fingerprints]})

    # ------------------------------------------------------------------ payers in order

    def decide_waiting(self, filing: Filing) -> bool:
        """Decide a claim waiting for earlier payers (``filing`` carries its ids and what the chain
        shows of them) with the person's year-to-date figures read locked, as
        :func:`ledger.claims.transitions.decided_after_earlier` says; False if it is no longer
        waiting (decided or voided meanwhile) or must still wait."""
        now = utcnow()
        with self.store._tx() as conn:
            c = self._locked(conn, filing.claim_id)
            if c.state is not ClaimState.WAITING:
                return False
            ytd = self.years.lock(conn, c.person, c.scheme, c.year)
            got = transitions.decided_after_earlier(c.standing, filing, ytd, now=now)
            if got is None:
                return False
            self._write(conn, [(got[1], (c.person, c.scheme, c.year))], now=now)
        return True

    def stamps_on(self, invoices: Sequence[tuple[str, bytes]]) -> dict[tuple[str, bytes], list[Stamp]]:
        """Every payer's stamps on ``invoices`` (issuer, fingerprint) from the index of the chain's
        events (the chain worker keeps it, and rebuilds it after lost blocks): one query."""
        if not invoices:
            return {}
        wanted = set(invoices)
        out: dict[tuple[str, bytes], list[Stamp]] = {}
        with self.store._read() as conn:
            rows = conn.execute(select(ST).where(ST.c.fingerprint.in_([fp for _, fp in wanted])))
            for r in rows:
                key = (r.issuer, bytes(r.fingerprint))
                if key in wanted:
                    out.setdefault(key, []).append(Stamp(r.payer_id, "0x" + bytes(r.claim_id).hex(), r.amount_fen,
                                                         r.status, r.block_number, r.tx_hash))
        return out

    # ------------------------------------------------------------------ reading

    def year_to_date(self, person: bytes, scheme: str, year: int) -> tuple[int, int]:
        """The person's (deductible used, reimbursed) in ``year`` under ``scheme``."""
        return self.years.read(person, scheme, year)

    def latest_claims(self, fingerprints: Sequence[bytes]) -> dict[bytes, Claim]:
        """The newest claim of each of ``fingerprints`` that has one, by fingerprint."""
        if not fingerprints:
            return {}
        with self.store._read() as conn:
            found = self._claims(conn, CL.c.fingerprint.in_(list(fingerprints)))
        latest: dict[bytes, Claim] = {}
        for c in sorted(found, key=lambda c: c.created_at):
            latest[c.fingerprint] = c
        return latest

    def claim(self, claim_id: str) -> Claim:
        """The claim with its reviews; :class:`NotFound` if there is none."""
        with self.store._read() as conn:
            found = self._claims(conn, CL.c.id == claim_id)
            if not found:
                raise NotFound(f"no claim {claim_id!r}")
            reviews = tuple(review_of(r) for r in conn.execute(
                select(RV).where(RV.c.claim_id == claim_id).order_by(RV.c.at)))
        return replace(found[0], reviews=reviews)

    def claims(self, *, persons: Sequence[bytes] | None = None, states: Sequence[ClaimState] | None = None,
               after: str | None = None, limit: int = 100, oldest_first: bool = False,
               with_reviews: bool = False, search: QueueSearch | None = None,
               post_audit: PostAudit | None = None) -> list[Claim]:
        """Claims of ``persons`` in ``states`` (None: any) that match ``search`` (and stand at
        ``post_audit`` in the post-payment audit, if given), by creation, paged by claim id;
        with their reviewers' verdicts if ``with_reviews`` (the review queue counts approvals)."""
        cond: list[Any] = _search(search) if search is not None else []
        if post_audit is not None:
            cond.append(CL.c.post_audit == post_audit.value)
        if persons is not None:
            cond.append(CL.c.person.in_(list(persons)))
        if states:
            cond.append(CL.c.state.in_([s.value for s in states]))
        if after:
            # keyset paging in the listing's own order (created_at, then id): claim ids are random,
            # so "id after the cursor" alone skipped and repeated claims across pages
            at = select(CL.c.created_at).where(CL.c.id == after).scalar_subquery()
            cond.append(or_(CL.c.created_at > at, and_(CL.c.created_at == at, CL.c.id > after)) if oldest_first
                        else or_(CL.c.created_at < at, and_(CL.c.created_at == at, CL.c.id < after)))
        with self.store._read() as conn:
            found = self._claims(conn, *cond, limit=limit, oldest_first=oldest_first)
            return self._with_reviews(conn, found) if with_reviews else found

    def moved_on(self, claim_ids: Sequence[str], *, from_states: Sequence[ClaimState]) -> list[Claim]:
        """Those of ``claim_ids`` no longer in ``from_states`` (one query, for many waiting requests).

        The ids go in as one JSON (SQLite) or array (PostgreSQL) parameter: the statement is
        compiled once, whereas an ``IN`` list is rendered again for every poll and every
        length, which cost more than the query itself with hundreds of claims waiting.
        """
        if not claim_ids:
            return []
        states = [s.value for s in from_states]
        if self.store.dialect == "postgresql":
            q = text(f"SELECT id FROM {CL.name} WHERE id = ANY(:ids) AND NOT (state = ANY(:states))")
            params: dict[str, Any] = {"ids": list(claim_ids), "states": states}
        else:
            q = text(f"SELECT id FROM {CL.name} WHERE id IN (SELECT value FROM json_each(:ids)) "
                     "AND state NOT IN (SELECT value FROM json_each(:states))")
            params = {"ids": json.dumps(list(claim_ids)), "states": json.dumps(states)}
        with self.store._read() as conn:
            moved = list(conn.execute(q, params).scalars())
            return self._claims(conn, CL.c.id.in_(moved)) if moved else []

    # ------------------------------------------------------------------ reviews and appeals

    def review(self, claim_id: str, *, reviewer: str, verdict: str, reason: str, in_part: InPart | None = None,
               judged: tuple[int, int] | None = None) -> Claim:
        """Record a reviewer's verdict as :func:`ledger.claims.transitions.review` decides it; an
        approval ``in_part`` was judged on the claim's (amount, deductible used) ``judged``: a
        claim whose figures moved since is a :class:`Conflict`."""
        now = utcnow()
        with self.store._tx() as conn:
            c = self._locked(conn, claim_id)
            if in_part is not None and judged != (c.amount_fen, c.deductible_used_fen):
                raise Conflict(f"claim {claim_id} changed while its lines were judged; look at it again")
            round_ = transitions.review_round(c.standing)
            verdicts = conn.execute(select(RV.c.reviewer, RV.c.verdict, RV.c.round).where(RV.c.claim_id == claim_id)
                                    ).all()
            earlier = {r.reviewer: r.verdict for r in verdicts if r.round == round_}
            # whoever rejected the claim does not hear its appeal (separation of duties)
            rejected_by = {r.reviewer for r in verdicts if r.verdict == "reject" and r.round < round_}
            # the chain index's status of its stamp: a payment finalised after the backup this
            # database was restored from ends the review (the stamper reconciles it with the bank)
            on_chain = conn.execute(select(ST.c.status).where(ST.c.payer_id == c.payer_id,
                                                              ST.c.claim_id == c.chain_claim_id)).scalar()
            change, given = transitions.review(c.standing, earlier=earlier, reviewer=reviewer, verdict=verdict,
                                               reason=reason, now=now, rejected_by=rejected_by, in_part=in_part,
                                               on_chain=StampStatus(on_chain) if on_chain else None)
            conn.execute(RV.insert().values(claim_id=claim_id, round=given.round, reviewer=given.reviewer,
                                            verdict=given.verdict, reason=given.reason, at=now))
            self._write(conn, [(change, (c.person, c.scheme, c.year))], now=now)
        return self.claim(claim_id)

    def appeal(self, claim_id: str, *, reason: str, actor: str, deductible_fen: int, amount_fen: int) -> Claim:
        """Back to review, once, as :func:`ledger.claims.transitions.appeal` decides it."""
        now = utcnow()
        with self.store._tx() as conn:
            c = self._locked(conn, claim_id)
            change = transitions.appeal(c.standing, reason=reason, actor=actor, deductible_fen=deductible_fen,
                                        amount_fen=amount_fen)
            self._write(conn, [(change, (c.person, c.scheme, c.year))], now=now)
        return self.claim(claim_id)

    # ------------------------------------------------------------------ the post-payment audit

    def post_audit(self, claim_id: str, *, auditor: str, finding: bool, reason: str,
                   code: Reason | None = None) -> Claim:
        """Record a post-payment auditor's verdict as :func:`ledger.claims.transitions.post_audit`
        decides it (whoever approved the claim's payment may not audit it); a finding opens the
        claim's claw-back in the same transaction."""
        now = utcnow()
        with self.store._tx() as conn:
            c = self._locked(conn, claim_id)
            approved_by = set(conn.execute(select(RV.c.reviewer).where(RV.c.claim_id == claim_id,
                                                                       RV.c.verdict == "approve")).scalars())
            change = transitions.post_audit(c, finding=finding, auditor=auditor, reason=reason,
                                            approved_by=approved_by, code=code)
            self._write(conn, [(change, (c.person, c.scheme, c.year))], now=now)
        return self.claim(claim_id)
