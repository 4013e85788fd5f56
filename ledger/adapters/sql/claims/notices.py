"""The notification outbox in SQL: a step's message written in the step's transaction, and the
outbox read and updated by the dispatcher and the admin's listing.

:func:`write_notices` is what the claims' writers call in the transaction that writes claim
changes (:meth:`~ledger.adapters.sql.claims.rows.ClaimTables._write`, and filing): each
change that is a step of :mod:`ledger.claims.notices` writes its one message, worded with
the claim's figures as the change leaves them and the person's language as enrolled. A
change that is rolled back takes its message with it. Nothing here decides what a message
says or whether there is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, select, true, update

from ledger.adapters.sql import schema as s
from ledger.adapters.sql.base import _aware
from ledger.claims.languages import Language, language_of
from ledger.claims.notice_outbox import DeliveryState, DeliveryUpdate, OutboxMessage
from ledger.claims.notices import Notice, NoticeFacts, NoticeKind, notice_for, notice_kind
from ledger.claims.transitions import Change

_T = s.metadata.tables
NT: Table = _T["notifications"]
_CL: Table = _T["claims"]
_PE: Table = _T["persons"]


def write_notices(conn: Connection, changes: Sequence[Change], *, now: datetime) -> int:
    """The messages ``changes`` send, written in the caller's transaction (after the changes' own
    columns, so a message says what the claim holds now); how many. One query reads the claims
    and their persons' languages, and only when some change is a step (a stamp sends none)."""
    steps = [c for c in changes if notice_kind(c) is not None]
    if not steps:
        return 0
    rows = {r.id: r for r in conn.execute(
        select(_CL.c.id, _CL.c.person, _CL.c.requested_fen, _CL.c.amount_fen, _CL.c.offset_fen, _PE.c.language)
        .outerjoin(_PE, _PE.c.pseudonym == _CL.c.person)
        .where(_CL.c.id.in_(sorted({c.claim_id for c in steps}))))}
    notices: list[Notice] = []
    for change in steps:
        r = rows[change.claim_id]
        facts = NoticeFacts(r.id, bytes(r.person), language_of(r.language), r.requested_fen, r.amount_fen,
                            r.offset_fen or 0)
        notice = notice_for(change, facts)
        if notice is not None:
            notices.append(notice)
    insert(conn, notices, now=now)
    return len(notices)


def insert(conn: Connection, notices: Sequence[Notice], *, now: datetime) -> None:
    """Put ``notices`` in the outbox, pending."""
    if notices:
        conn.execute(NT.insert(), [{"claim_id": n.claim_id, "person": n.person, "kind": n.kind.value,
                                    "event": n.event.value, "language": n.language.value, "text": n.text,
                                    "created_at": now, "state": DeliveryState.PENDING.value, "attempts": 0}
                                   for n in notices])


def select_messages(conn: Connection, *cond: Any, limit: int, oldest_first: bool) -> list[OutboxMessage]:
    """Messages matching ``cond``, by id (newest first unless ``oldest_first``)."""
    q = select(NT).where(and_(true(), *cond)).order_by(NT.c.id if oldest_first else NT.c.id.desc()).limit(limit)
    return [_message(r) for r in conn.execute(q)]


def record(conn: Connection, updates: Sequence[DeliveryUpdate]) -> int:
    """Record delivery attempts; a message no longer pending (another dispatcher got there first)
    is left as it is. How many were recorded."""
    done = 0
    for u in updates:
        done += conn.execute(update(NT).where(NT.c.id == u.message_id, NT.c.state == DeliveryState.PENDING.value)
                             .values(state=u.state.value, attempts=u.attempts, channel=u.channel,
                                     reference=u.reference, error=u.error,
                                     delivered_at=u.at if u.state is DeliveryState.DELIVERED else None)).rowcount
    return done


def _message(r: Any) -> OutboxMessage:
    created = _aware(r.created_at)
    assert created is not None   # a NOT NULL column
    return OutboxMessage(id=r.id, claim_id=r.claim_id, person=bytes(r.person), kind=NoticeKind(r.kind),
                         event=r.event, language=Language(r.language), text=r.text, created_at=created,
                         state=DeliveryState(r.state), attempts=r.attempts, channel=r.channel,
                         reference=r.reference, delivered_at=_aware(r.delivered_at), error=r.error)
