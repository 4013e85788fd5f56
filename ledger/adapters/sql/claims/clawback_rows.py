"""Claw-backs in SQL, the ground floor: their tables, a claw-back read from its rows, and the
writing of a :class:`~ledger.claims.clawbacks.ClawbackChange` in the caller's transaction.

A change is written as :mod:`ledger.claims.clawbacks` decided it: the claw-back's figures,
its new action and an audit entry whose subject is the claim (``GET /v1/claims/{id}/audit``
shows every step). Nothing here chooses a state. :func:`after_claim_changes` is what the
claims' writer (:meth:`~ledger.adapters.sql.claims.rows.ClaimTables._write`) calls in the
same transaction as a claim's change: a move into ``clawback`` opens its claw-back (once per
claim: the unique claim id says so too), a payout recorded applies the offsets planned
against it, and a claim whose payout will not be made gives them back.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, select, true, update

from ledger.adapters.sql import schema as s
from ledger.adapters.sql.base import _aware
from ledger.adapters.sql.store import A, H, I
from ledger.claims import clawbacks as cbk
from ledger.claims.clawbacks import Action, ClawBack, ClawbackChange, ClawbackEvent, ClawbackState, Debtor, Reason
from ledger.claims.states import DEAD_STATES, ClaimState
from ledger.claims.transitions import PAYOUT, Change

_T = s.metadata.tables
CBK: Table = _T["claim_clawbacks"]
CBA: Table = _T["claim_clawback_actions"]
_CL: Table = _T["claims"]

#: a claw-back's row with what its invoice says
CLAWBACK_COLS = (CBK, I.c.invoice_code, I.c.invoice_number,
                 select(H.c.name).where(H.c.institution_id == CBK.c.issuer).scalar_subquery().label("hospital_name"))


def load(conn: Connection, *cond: Any, lock: bool = False, dialect: str = "sqlite", limit: int | None = None,
         newest_first: bool = False) -> list[ClawBack]:
    """Claw-backs matching ``cond`` with their actions (two queries), oldest first unless
    ``newest_first``; their rows locked until the transaction ends if ``lock`` (PostgreSQL)."""
    q = select(*CLAWBACK_COLS).join(I, I.c.fingerprint == CBK.c.fingerprint).where(and_(true(), *cond))
    q = q.order_by(CBK.c.requested_at.desc(), CBK.c.id.desc()) if newest_first else q.order_by(
        CBK.c.requested_at, CBK.c.id)
    if limit is not None:
        q = q.limit(limit)
    if lock and dialect == "postgresql":
        q = q.with_for_update(of=CBK)
    rows = conn.execute(q).all()
    if not rows:
        return []
    actions: dict[str, list[Action]] = defaultdict(list)
    for a in conn.execute(select(CBA).where(CBA.c.clawback_id.in_([r.id for r in rows])).order_by(CBA.c.id)):
        actions[a.clawback_id].append(Action(ClawbackEvent(a.event), a.amount_fen, a.actor, _utc(a.at), a.reference,
                                             a.payout, a.note))
    return [_clawback(r, tuple(actions[r.id])) for r in rows]


def _clawback(r: Any, actions: tuple[Action, ...]) -> ClawBack:
    return ClawBack(
        id=r.id, claim_id=r.claim_id, payer_id=r.payer_id, fingerprint=bytes(r.fingerprint), issuer=r.issuer,
        person=bytes(r.person), debtor=Debtor(r.debtor), reason=Reason(r.reason), note=r.note,
        amount_due_fen=r.amount_due_fen, requested_at=_utc(r.requested_at), requested_by=r.requested_by,
        due_working_days=r.due_working_days, state=ClawbackState(r.state), recovered_fen=r.recovered_fen,
        offset_fen=r.offset_fen, written_off_fen=r.written_off_fen, pending_offset_fen=r.pending_offset_fen,
        write_off_proposed_by=r.write_off_proposed_by, write_off_reason=r.write_off_reason,
        closed_at=_aware(r.closed_at), actions=actions, invoice_code=r.invoice_code or "",
        invoice_number=r.invoice_number or "", hospital_name=r.hospital_name or "")


def _utc(t: datetime) -> datetime:
    aware = _aware(t)
    assert aware is not None   # a NOT NULL column
    return aware


def write(conn: Connection, changes: Sequence[ClawbackChange], *, now: datetime) -> None:
    """Write ``changes``: each claw-back's figures (inserted when it is new), its new action and
    an audit entry on its claim."""
    for ch in changes:
        cb = ch.clawback
        figures = dict(state=cb.state.value, recovered_fen=cb.recovered_fen, offset_fen=cb.offset_fen,
                       written_off_fen=cb.written_off_fen, pending_offset_fen=cb.pending_offset_fen,
                       write_off_proposed_by=cb.write_off_proposed_by, write_off_reason=cb.write_off_reason,
                       closed_at=cb.closed_at, updated_at=now)
        if ch.before is None:
            conn.execute(CBK.insert().values(
                id=cb.id, claim_id=cb.claim_id, payer_id=cb.payer_id, fingerprint=cb.fingerprint, issuer=cb.issuer,
                person=cb.person, debtor=cb.debtor.value, reason=cb.reason.value, note=cb.note,
                amount_due_fen=cb.amount_due_fen, due_working_days=cb.due_working_days, requested_by=cb.requested_by,
                requested_at=cb.requested_at, **figures))
        else:
            conn.execute(update(CBK).where(CBK.c.id == cb.id).values(**figures))
        a = ch.action
        conn.execute(CBA.insert().values(clawback_id=cb.id, event=a.event.value, amount_fen=a.amount_fen,
                                         actor=a.actor, at=a.at, reference=a.reference, payout=a.payout,
                                         note=a.note))
    if changes:
        conn.execute(A.insert(), [{"at": now, "actor": ch.action.actor, "action": f"clawback.{ch.action.event}",
                                   "subject": ch.clawback.claim_id,
                                   "detail": json.dumps(audit_detail(ch), ensure_ascii=False, sort_keys=True)}
                                  for ch in changes])


def audit_detail(ch: ClawbackChange) -> dict[str, Any]:
    """What the claim's audit trail says of a claw-back's step."""
    cb, a = ch.clawback, ch.action
    detail: dict[str, Any] = {"clawback": cb.id, "amountFen": a.amount_fen, "state": cb.state.value,
                              "outstandingFen": cb.outstanding_fen, "pendingOffsetFen": cb.pending_offset_fen}
    if ch.before is None:
        detail |= {"debtor": cb.debtor.value, "debtorId": cb.debtor_id, "reason": cb.reason.value,
                   "amountDueFen": cb.amount_due_fen, "dueWorkingDays": cb.due_working_days}
    for key, value in (("reference", a.reference), ("payout", a.payout), ("note", a.note or None)):
        if value is not None:
            detail[key] = value
    return detail


# ---------------------------------------------------------------------- what a claim's change does to claw-backs


def after_claim_changes(conn: Connection, changes: Sequence[Change], *, now: datetime, dialect: str) -> None:
    """In the transaction of ``changes`` to claims: open the claw-backs their moves into ``clawback``
    ask for (each claim's once), and settle the offsets planned against the payout of a claim
    that was paid (applied) or will not be paid (given back)."""
    opened: list[ClawbackChange] = []
    for ch in changes:
        if ch.clawback is not None and conn.execute(
                select(CBK.c.id).where(CBK.c.claim_id == ch.clawback.claim_id)).first() is None:
            opened.append(cbk.requested(ch.clawback, at=now))
    write(conn, opened, now=now)
    ending = {ch.claim_id: ch for ch in changes
              if ch.before is not ch.after and (ch.after is ClaimState.PAID or ch.after in DEAD_STATES)}
    if ending:
        _settle_offsets(conn, ending, now=now, dialect=dialect)


def _settle_offsets(conn: Connection, ending: dict[str, Change], *, now: datetime, dialect: str) -> None:
    planned = conn.execute(select(CBA.c.clawback_id, CBA.c.payout).where(
        CBA.c.payout.in_(list(ending)), CBA.c.event == ClawbackEvent.OFFSET_PLANNED.value)).all()
    if not planned:
        return
    owed = {cb.id: cb for cb in load(conn, CBK.c.id.in_({p.clawback_id for p in planned}), lock=True,
                                     dialect=dialect)}
    done: list[ClawbackChange] = []
    given_back: set[str] = set()
    for p in sorted(planned, key=lambda p: (p.payout, p.clawback_id)):
        claim = ending[p.payout]
        cb = owed[p.clawback_id]
        if claim.after is ClaimState.PAID:
            ch = cbk.offset_applied(cb, payout=p.payout, actor=PAYOUT, at=now)
        else:
            ch = cbk.offset_cancelled(cb, payout=p.payout, actor=claim.actor, at=now,
                                      why=f"claim {p.payout} is {claim.after}: its payout will not be made")
            given_back.add(p.payout)
        if ch is not None:
            owed[cb.id] = ch.clawback
            done.append(ch)
    write(conn, done, now=now)
    if given_back:
        # a payout's offsets are planned once: should the claim come back to its payout (an appeal
        # approved), it is paid in full, and the person's debt waits for another payout or the office
        conn.execute(update(_CL).where(_CL.c.id.in_(given_back)).values(offset_fen=0))
