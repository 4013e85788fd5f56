"""Claw-backs in SQL: reading them, what the payer's office records, and the offsets a payout
plans before the bank is asked (``ledger.ports.ClawbackRepository``).

Each change is one transaction on the store's writer path, the claw-back's row locked
(PostgreSQL; SQLite's writer holds the file), decided by :mod:`ledger.claims.clawbacks`
from the claw-back as it stands in that transaction: a recovery and an offset racing for
the same money are decided one after the other, and the second sees what the first took.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, or_, select, update

from ledger.adapters.sql.base import utcnow
from ledger.adapters.sql.claims import clawback_rows as rows
from ledger.adapters.sql.claims.clawback_rows import CBK
from ledger.adapters.sql.claims.rows import CL, ClaimTables, void_accepted
from ledger.claims import clawbacks as cbk
from ledger.claims.clawbacks import ClawBack, ClawbackState, Debtor, OfficeAct
from ledger.claims.stamps import StampStatus
from ledger.claims.states import ClaimState
from ledger.claims.transitions import PAYOUT
from ledger.errors import NotFound


class ClawbackRecords(ClaimTables):
    """Claw-backs: reading, the office's acts, offsets against payouts."""

    def clawbacks(self, *, states: Sequence[ClawbackState] | None = None, issuer: str | None = None,
                  debtor: Debtor | None = None, persons: Sequence[bytes] | None = None, claim_id: str | None = None,
                  after: str | None = None, limit: int = 100) -> list[ClawBack]:
        """Claw-backs that match, newest first, paged by the id of the last one seen (``after``)."""
        cond: list[Any] = []
        if states:
            cond.append(CBK.c.state.in_([s.value for s in states]))
        if issuer is not None:
            cond.append(CBK.c.issuer == issuer)
        if debtor is not None:
            cond.append(CBK.c.debtor == debtor.value)
        if persons is not None:
            cond.append(CBK.c.person.in_(list(persons)))
        if claim_id is not None:
            cond.append(CBK.c.claim_id == claim_id)
        with self.store._read() as conn:
            if after is not None:
                last = conn.execute(select(CBK.c.requested_at, CBK.c.id).where(CBK.c.id == after)).first()
                if last is None:
                    return []
                cond.append(or_(CBK.c.requested_at < last.requested_at,
                                and_(CBK.c.requested_at == last.requested_at, CBK.c.id < last.id)))
            return rows.load(conn, *cond, limit=limit, newest_first=True)

    def clawback(self, clawback_id: str) -> ClawBack:
        """The claw-back with its actions; :class:`NotFound` if there is none."""
        with self.store._read() as conn:
            found = rows.load(conn, CBK.c.id == clawback_id)
        if not found:
            raise NotFound(f"no claw-back {clawback_id!r}")
        return found[0]

    def clawback_of(self, claim_id: str) -> ClawBack:
        """The claim's claw-back; :class:`NotFound` if the claim owes none."""
        with self.store._read() as conn:
            found = rows.load(conn, CBK.c.claim_id == claim_id)
        if not found:
            raise NotFound(f"claim {claim_id!r} owes no claw-back")
        return found[0]

    def clawback_act(self, clawback_id: str, act: OfficeAct) -> tuple[ClawBack, bool]:
        """Record what the office did (:func:`ledger.claims.clawbacks.act`); (the claw-back after
        it, whether it repeated an act recorded already and changed nothing)."""
        now = utcnow()
        with self.store._tx() as conn:
            found = rows.load(conn, CBK.c.id == clawback_id, lock=True, dialect=self.store.dialect)
            if not found:
                raise NotFound(f"no claw-back {clawback_id!r}")
            change = cbk.act(found[0], act, at=now)
            if change is None:
                return found[0], True
            rows.write(conn, [change], now=now)
        return self.clawback(clawback_id), False

    def plan_offsets(self, claim_ids: Sequence[str]) -> dict[str, int]:
        """For each of ``claim_ids`` still due its payout with nothing planned, what the payout keeps
        back for the claw-backs its person owes (:func:`ledger.claims.clawbacks.plan_offsets`),
        recorded with its claim in one transaction before the bank is asked; returns what each
        of those claims keeps back (0: its person owes nothing it could keep back). A payout's
        offsets are planned once: the bank is always asked for the same amount."""
        if not claim_ids:
            return {}
        now = utcnow()
        planned: dict[str, int] = {}
        with self.store._tx() as conn:
            q = select(CL.c.id, CL.c.person, CL.c.amount_fen).where(
                CL.c.id.in_(list(claim_ids)), CL.c.state == ClaimState.APPROVED.value,
                CL.c.stamp == StampStatus.FINALIZED.value, CL.c.payment_ref.is_(None), CL.c.offset_fen.is_(None),
                ~void_accepted(CL.c.fingerprint, CL.c.issuer)).order_by(CL.c.id)
            if self.store.dialect == "postgresql":
                q = q.with_for_update(of=CL)
            for claim in conn.execute(q).all():
                owed = rows.load(conn, CBK.c.person == claim.person, CBK.c.debtor == Debtor.PERSON.value,
                                 CBK.c.state == ClawbackState.REQUESTED.value, lock=True, dialect=self.store.dialect)
                changes = cbk.plan_offsets(owed, person=bytes(claim.person), payout=claim.id,
                                           payout_fen=claim.amount_fen, actor=PAYOUT, at=now)
                rows.write(conn, changes, now=now)
                kept = sum(ch.action.amount_fen for ch in changes)
                if kept:
                    conn.execute(update(CL).where(CL.c.id == claim.id).values(offset_fen=kept, updated_at=now))
                planned[claim.id] = kept
        return planned
