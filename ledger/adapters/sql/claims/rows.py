"""What every part of the claims store shares: its tables, a claim read from its row, the
void look-ups, and the writing of a :class:`~ledger.claims.transitions.Change`.

A change is written as the state machine decided it: its columns, its year-to-date
effect and its audit entry, in the caller's transaction. Nothing here chooses a state.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, or_, select, true, union, update
from sqlalchemy.sql.elements import ColumnElement

from ledger.adapters.sql import schema as s
from ledger.adapters.sql.claims.clawback_rows import after_claim_changes
from ledger.adapters.sql.claims.notices import write_notices
from ledger.adapters.sql.claims.years import YearFigures
from ledger.adapters.sql.store import A, E, I, SqlStore, V, _aware
from ledger.claims.model import Claim, Review, Standing
from ledger.claims.sampling import PostAudit
from ledger.claims.stamps import StampOp, StampStatus
from ledger.claims.states import ClaimState
from ledger.claims.transitions import Change
from ledger.errors import NotFound

_T = s.metadata.tables
P: Table = _T["payers"]
PE: Table = _T["persons"]
D: Table = _T["delegations"]
SUB: Table = _T["claim_submissions"]
CL: Table = _T["claims"]
RV: Table = _T["claim_reviews"]
H: Table = _T["hospitals"]

#: void requests this service accepted (``voids.state``): they block claims and payouts at
#: once; a request the chain refused (``failed``) blocks nothing
ACCEPTED_VOIDS = ("pending", "voided")

CLAIM_COLS = (CL, I.c.invoice_code, I.c.invoice_number,
              select(H.c.name).where(H.c.institution_id == CL.c.issuer).scalar_subquery().label("hospital_name"))
#: what the state machine reads of a claim whose stamp changed (not its decision document)
STANDING_COLS = (CL.c.id, CL.c.state, CL.c.instant, CL.c.amount_fen, CL.c.deductible_used_fen, CL.c.reviews_needed,
                 CL.c.appeal.is_not(None).label("appealed"), CL.c.attempt, CL.c.chain_claim_id, CL.c.chain_todo,
                 CL.c.stamp, CL.c.person, CL.c.scheme, CL.c.year, CL.c.post_audit)


class ClaimTables:
    """The store (its writer path: SQLite writers take turns, PostgreSQL rows are locked) and
    the person-year figures; each part of :class:`~ledger.adapters.sql.claims.ClaimStore`
    builds on these."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.years = YearFigures(store)

    def _claims(self, conn: Connection, *cond: Any, limit: int | None = None,
                oldest_first: bool = True) -> list[Claim]:
        q = select(*CLAIM_COLS).join(I, I.c.fingerprint == CL.c.fingerprint).where(and_(true(), *cond))
        q = q.order_by(CL.c.created_at if oldest_first else CL.c.created_at.desc(),
                       CL.c.id if oldest_first else CL.c.id.desc())
        if limit is not None:
            q = q.limit(limit)
        return [claim_of(r) for r in conn.execute(q)]

    def _with_reviews(self, conn: Connection, claims: list[Claim]) -> list[Claim]:
        """``claims`` with their reviews, read in one query."""
        if not claims:
            return claims
        by_claim: dict[str, list[Review]] = {}
        q = select(RV).where(RV.c.claim_id.in_([c.id for c in claims])).order_by(RV.c.at, RV.c.round, RV.c.reviewer)
        for r in conn.execute(q):
            by_claim.setdefault(r.claim_id, []).append(review_of(r))
        return [replace(c, reviews=tuple(by_claim.get(c.id, ()))) for c in claims]

    def _locked(self, conn: Connection, claim_id: str) -> Claim:
        """The claim, its row locked until the transaction ends (PostgreSQL; SQLite's writer holds the file)."""
        q = select(*CLAIM_COLS).join(I, I.c.fingerprint == CL.c.fingerprint).where(CL.c.id == claim_id)
        if self.store.dialect == "postgresql":
            q = q.with_for_update(of=CL)
        row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"no claim {claim_id!r}")
        return claim_of(row)

    def _write(self, conn: Connection, changes: Sequence[tuple[Change, tuple[bytes, str, int]]], *,
               now: datetime) -> None:
        """Write ``changes`` (each with its claim's (person, scheme, year)): columns, year-to-date
        effects and audit entries, what they do to claw-backs (a move into ``clawback`` opens
        one; a payout made or never to be made settles the offsets planned against it), and the
        message each step sends its person (:mod:`ledger.claims.notices`). Changes that write the
        same columns go in one statement."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for change, (person, scheme, year) in changes:
            row = {k: _column_value(v) for k, v in change.values.items()}
            groups[tuple(sorted(row))].append({"cid": change.claim_id, **{f"v_{k}": v for k, v in row.items()}})
            if change.year != (0, 0):
                self.years.add(conn, person, scheme, year, *change.year)
        for columns, params in groups.items():
            conn.execute(update(CL).where(CL.c.id == bindparam("cid")).values(
                updated_at=now, **{k: bindparam(f"v_{k}") for k in columns}), params)
        audit_many(conn, now, [(c.actor, c.action, c.claim_id, c.detail) for c, _ in changes])
        after_claim_changes(conn, [c for c, _ in changes], now=now, dialect=self.store.dialect)
        write_notices(conn, [c for c, _ in changes], now=now)


def _column_value(value: Any) -> Any:
    if isinstance(value, ClaimState | StampOp | StampStatus | PostAudit):
        return value.value
    if isinstance(value, dict):   # the decision document
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):   # the flags
        return json.dumps(value)
    return value


def audit_many(conn: Connection, at: datetime, entries: Sequence[tuple[str, str, str, dict[str, Any]]]) -> None:
    """Audit entries ``(actor, action, subject, detail)`` in one statement."""
    if entries:
        conn.execute(A.insert(), [{"at": at, "actor": actor, "action": action, "subject": subject,
                                   "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True)}
                                  for actor, action, subject, detail in entries])


def claim_of(r: Any) -> Claim:
    """A claim from a row of :data:`CLAIM_COLS` (without its reviews)."""
    return Claim(
        id=r.id, submission_id=r.submission_id, payer_id=r.payer_id, fingerprint=bytes(r.fingerprint),
        issuer=r.issuer, invoice_code=r.invoice_code, invoice_number=r.invoice_number, person=bytes(r.person),
        hospital_name=r.hospital_name or "",
        actor=r.actor, relation=r.relation, state=ClaimState(r.state), scheme=r.scheme, year=r.year,
        requested_fen=r.requested_fen, decided_fen=r.decided_fen, amount_fen=r.amount_fen,
        deductible_used_fen=r.deductible_used_fen, decision=json.loads(r.decision), flags=tuple(json.loads(r.flags)),
        instant=bool(r.instant), reviews_needed=r.reviews_needed, attempt=r.attempt,
        chain_claim_id=bytes(r.chain_claim_id), chain_todo=StampOp(r.chain_todo) if r.chain_todo else None,
        stamp=StampStatus(r.stamp) if r.stamp else None, stamp_tx=r.stamp_tx,
        stamp_block=r.stamp_block, refusal=r.refusal, rejection=r.rejection, appeal=r.appeal,
        payment_ref=r.payment_ref, paid_at=_aware(r.paid_at), created_at=_utc(r.created_at),
        updated_at=_utc(r.updated_at), decided_at=_aware(r.decided_at),
        post_audit=PostAudit(r.post_audit) if r.post_audit else None, offset_fen=r.offset_fen)


def standing_of(r: Any) -> Standing:
    """The state machine's view of a claim from a row of :data:`STANDING_COLS`."""
    return Standing(r.id, ClaimState(r.state), bool(r.instant), r.amount_fen, r.deductible_used_fen, r.reviews_needed,
                    bool(r.appealed), r.attempt, bytes(r.chain_claim_id),
                    StampOp(r.chain_todo) if r.chain_todo else None, StampStatus(r.stamp) if r.stamp else None,
                    PostAudit(r.post_audit) if r.post_audit else None)


def review_of(r: Any) -> Review:
    """A reviewer's verdict from its row."""
    return Review(r.reviewer, r.verdict, r.reason, r.round, _utc(r.at))


def _utc(t: datetime) -> datetime:
    aware = _aware(t)
    assert aware is not None   # a NOT NULL column
    return aware


# Voids are matched by (fingerprint, issuer): the contract keeps invoices per issuing hospital,
# so a hospital that anchors a copy of another hospital's fingerprint and voids it voids its
# own copy only, never the invoice stored here. (Void requests in ``voids`` are made by the
# invoice's own issuer: ``SqlStore.request_void`` checks it.)


def void_accepted(fingerprint: Any, issuer: Any) -> ColumnElement[bool]:
    """True if the invoice has a void request this service accepted (pending or stamped) or a
    void on chain (``InvoiceVoided``: all that a payer's mirror of another service ever sees)."""
    return or_(select(V.c.fingerprint).where(V.c.fingerprint == fingerprint, V.c.issuer == issuer,
                                             V.c.state.in_(ACCEPTED_VOIDS)).exists(),
               select(E.c.fingerprint).where(E.c.name == "InvoiceVoided", E.c.fingerprint == fingerprint,
                                             E.c.issuer == issuer).exists())


def void_on_chain(fingerprint: Any, issuer: Any) -> ColumnElement[bool]:
    """True if the invoice's void is stamped on chain (as this service's store or index knows)."""
    return or_(select(V.c.fingerprint).where(V.c.fingerprint == fingerprint, V.c.issuer == issuer,
                                             V.c.state == "voided").exists(),
               select(E.c.fingerprint).where(E.c.name == "InvoiceVoided", E.c.fingerprint == fingerprint,
                                             E.c.issuer == issuer).exists())


def accepted_voids() -> Any:
    """The (fingerprint, issuer) of :func:`void_accepted` invoices, as one subquery (a short
    list: a query over many claims reads it once instead of probing two tables per claim)."""
    return union(select(V.c.fingerprint, V.c.issuer).where(V.c.state.in_(ACCEPTED_VOIDS)),
                 select(E.c.fingerprint, E.c.issuer).where(E.c.name == "InvoiceVoided",
                                                           E.c.fingerprint.is_not(None))).subquery()


def voided_on_chain(conn: Connection, invoices: Sequence[tuple[bytes, str]]) -> set[tuple[bytes, str]]:
    """Those of ``invoices`` (fingerprint, issuer) whose void the chain recorded."""
    if not invoices:
        return set()
    found = conn.execute(select(E.c.fingerprint, E.c.issuer).where(
        E.c.name == "InvoiceVoided", E.c.fingerprint.in_([bytes(f) for f, _ in invoices]))).all()
    return {(bytes(f), i) for f, i in found} & {(bytes(f), i) for f, i in invoices}
