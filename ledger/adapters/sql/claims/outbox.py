"""The stamper's outbox and the payouts, in SQL: what must change on chain, what the chain did,
which approved claims the bank pays, and what voids do to claims.

The ``chain_todo`` column is the stamper's outbox, the same pattern as the invoices'
anchoring outbox: a claim whose on-chain stamp must change says so in the row that the
user-visible state lives in, so a crash between the chain and the database is repaired by
sending again (the contract refuses a second reservation of one claim id, and the stamper
then reads what the chain has).

Money moves in this order: reserved on chain → approved → **finalised on chain** → paid by
the bank. The chain decides whether a void or a payment came first: the contract refuses to
finalise a claim on a voided invoice, so a void stamped before the finalisation means the
claim is refused and released, and the bank is never asked. A void this service accepted
(a ``voids`` row, pending or stamped) blocks new claims and payouts at once, before it
reaches the chain. Every change is decided by :mod:`ledger.claims.transitions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update

from ledger.adapters.sql.claims.clawback_rows import CBK
from ledger.adapters.sql.claims.rows import (
    CL,
    CLAIM_COLS,
    STANDING_COLS,
    SUB,
    ClaimTables,
    accepted_voids,
    audit_many,
    claim_of,
    standing_of,
    void_accepted,
    void_on_chain,
)
from ledger.adapters.sql.store import INDEXER_BLOCK, ST, B, I, M, utcnow
from ledger.claims import transitions
from ledger.claims.clawbacks import ClawbackState, Debtor
from ledger.claims.model import PayoutDue, StampCheck
from ledger.claims.stamps import Repair, StampOp, StampResult, StampStatus, StampTask
from ledger.claims.states import STOPPED_BY_VOID, ClaimState
from ledger.claims.transitions import Change
from ledger.errors import TransitionRefused

#: the one state, and the stamp, in which a claim is paid out
_PAYABLE = (ClaimState.APPROVED.value, StampStatus.FINALIZED.value)


class StampOutbox(ClaimTables):
    """What the stamper sends and records, and what the payout pays."""

    def stamp_tasks(self, *, limit: int = 500, exclude: Sequence[str] = ()) -> list[StampTask]:
        """Claims whose chain stamp must change, oldest first.

        A finalisation waits while its invoice has a void accepted here (``apply_voids`` turns
        it into a release): only a void the chain learnt elsewhere can still race it, and the
        contract then refuses to finalise.
        """
        q = (select(CL.c.id, CL.c.chain_todo, CL.c.chain_claim_id, CL.c.fingerprint, CL.c.issuer, CL.c.amount_fen,
                    CL.c.state, I.c.total_fen, I.c.batch_root, B.c.anchored_block, SUB.c.request_id)
             .join(I, I.c.fingerprint == CL.c.fingerprint).outerjoin(B, B.c.root == I.c.batch_root)
             .outerjoin(SUB, SUB.c.id == CL.c.submission_id)
             .where(CL.c.chain_todo.is_not(None),
                    or_(CL.c.chain_todo != StampOp.FINALIZE.value, ~void_accepted(CL.c.fingerprint, CL.c.issuer)))
             .order_by(CL.c.updated_at).limit(limit))
        if exclude:
            q = q.where(CL.c.id.not_in(list(exclude)))
        with self.store._read() as conn:
            return [StampTask(r.id, StampOp(r.chain_todo), bytes(r.chain_claim_id), bytes(r.fingerprint), r.issuer,
                              r.total_fen, r.amount_fen, bytes(r.batch_root) if r.batch_root else None,
                              r.anchored_block is not None, ClaimState(r.state), r.request_id)
                    for r in conn.execute(q)]

    def claims_by_state(self) -> dict[str, int]:
        """How many claims stand in each state (the stamper's snapshot for the metrics)."""
        with self.store._read() as conn:
            return {state: int(n) for state, n in conn.execute(
                select(CL.c.state, func.count()).group_by(CL.c.state))}

    def apply_stamps(self, results: Sequence[StampResult]) -> list[str]:
        """Record what the chain did (:func:`ledger.claims.transitions.after_stamp`), in one
        transaction; returns the ids of the claims that changed.

        A claim that moved on since its task was read (its ``chain_todo`` or chain claim id is
        not the task's: e.g. an appeal cancelled a release) is left alone.
        """
        now = utcnow()
        changes: list[tuple[Change, tuple[bytes, str, int]]] = []
        with self.store._tx() as conn:
            ids = [r.task.claim_id for r in results]
            rows = {r.id: r for r in conn.execute(select(*STANDING_COLS).where(CL.c.id.in_(ids)))}
            for result in results:
                task, row = result.task, rows.get(result.task.claim_id)
                if row is None or row.chain_todo != task.op or bytes(row.chain_claim_id) != task.chain_claim_id:
                    continue
                changes.append((transitions.after_stamp(standing_of(row), result, now=now),
                                (bytes(row.person), row.scheme, row.year)))
            self._write(conn, changes, now=now)
        return [c.claim_id for c, _ in changes]

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
        return indexed, [StampCheck(r.id, ClaimState(r.state), StampStatus(r.stamp), int(r.block),
                                    bytes(r.chain_claim_id),
                                    StampStatus(r.on_chain or "none") if r.block <= indexed else None) for r in rows]

    def requeue_lost(self, repairs: Sequence[tuple[StampCheck, StampStatus, Repair]]) -> int:
        """Put claims whose stamp the chain lost back in the outbox, in one transaction.

        Each repair is ``(check, status on chain, repair)`` as
        :func:`~ledger.claims.stamps.stamp_repair` decided it; the chain claim id stays the
        same. A claim that moved on since the check is left alone. Returns how many claims
        were requeued.
        """
        if not repairs:
            return 0
        now = utcnow()
        done: list[Change] = []
        with self.store._tx() as conn:
            for check, on_chain, repair in repairs:
                change = transitions.requeued(check, repair, on_chain=on_chain)
                n = conn.execute(update(CL).where(
                    CL.c.id == check.claim_id, CL.c.chain_todo.is_(None), CL.c.stamp == check.stamp.value,
                    CL.c.chain_claim_id == check.chain_claim_id).values(
                        chain_todo=repair.resend.value if repair.resend else None,
                        stamp=repair.stamp.value if repair.stamp else None, updated_at=now)).rowcount
                if n:
                    done.append(change)
            audit_many(conn, now, [(c.actor, c.action, c.claim_id, c.detail) for c in done])
        return len(done)

    # ------------------------------------------------------------------ payouts

    def payouts_due(self, *, limit: int = 200, ids: Sequence[str] | None = None) -> list[PayoutDue]:
        """Approved claims finalised on chain and not paid yet, whose invoice has no void accepted
        here or stamped on chain (the void wins: ``apply_voids`` refuses them once the void is on
        chain, and pays nothing); ``ids`` keeps only those of a list (to check again, just before
        paying them, that they are still due). Each says what it keeps back for claw-backs its person
        owes (planned already), or whether the person owes one and nothing is planned yet."""
        state, stamp = _PAYABLE
        owes = and_(CL.c.offset_fen.is_(None), select(CBK.c.id).where(
            CBK.c.person == CL.c.person, CBK.c.debtor == Debtor.PERSON.value,
            CBK.c.state == ClawbackState.REQUESTED.value,
            CBK.c.amount_due_fen > CBK.c.recovered_fen + CBK.c.offset_fen + CBK.c.written_off_fen
            + CBK.c.pending_offset_fen).exists())
        q = (select(CL.c.id, CL.c.person, CL.c.amount_fen, I.c.invoice_code, I.c.invoice_number, CL.c.offset_fen,
                    owes.label("owes"))
             .join(I, I.c.fingerprint == CL.c.fingerprint)
             .where(CL.c.state == state, CL.c.stamp == stamp, CL.c.chain_todo.is_(None),
                    CL.c.payment_ref.is_(None), ~void_accepted(CL.c.fingerprint, CL.c.issuer))
             .order_by(CL.c.updated_at).limit(limit))
        if ids is not None:
            q = q.where(CL.c.id.in_(list(ids)))
        with self.store._read() as conn:
            return [PayoutDue(r.id, bytes(r.person), r.amount_fen, r.invoice_code, r.invoice_number,
                              r.offset_fen or 0, bool(r.owes)) for r in conn.execute(q)]

    def hold_payout(self, claim_id: str, *, reason: str) -> None:
        """Take an approved claim out of the payout queue (the bank refused it for good), as
        :func:`ledger.claims.transitions.payout_held` decides; a claim no longer approved is
        left alone."""
        now = utcnow()
        with self.store._tx() as conn:
            c = self._locked(conn, claim_id)
            try:
                change = transitions.payout_held(c.standing, reason=reason)
            except TransitionRefused:
                return
            self._write(conn, [(change, (c.person, c.scheme, c.year))], now=now)

    def mark_paid_many(self, payments: Sequence[tuple[str, str, datetime]]) -> None:
        """Record the bank's payments ``(claim id, reference, paid at)`` in one transaction (the
        claims were finalised on chain before the bank was asked); a claim no longer approved
        is left alone."""
        if not payments:
            return
        now = utcnow()
        with self.store._tx() as conn:
            q = select(*STANDING_COLS).where(CL.c.id.in_([p[0] for p in payments]))
            if self.store.dialect == "postgresql":
                q = q.with_for_update()
            rows = {r.id: r for r in conn.execute(q)}
            changes: list[tuple[Change, tuple[bytes, str, int]]] = []
            for claim_id, reference, paid_at in payments:
                row = rows.get(claim_id)
                if row is None:
                    continue
                try:
                    change = transitions.paid(standing_of(row), reference=reference, paid_at=paid_at)
                except TransitionRefused:
                    continue
                changes.append((change, (bytes(row.person), row.scheme, row.year)))
            self._write(conn, changes, now=now)

    # ------------------------------------------------------------------ voids

    def payouts_stopped_by_void(self, *, limit: int = 200) -> list[str]:
        """Approved claims finalised on chain, not recorded paid, whose invoice's void is on chain:
        those :meth:`apply_voids` would refuse as never paid. A crash between the bank's payment
        and its record leaves exactly such a claim, so the stamper asks the bank about these first."""
        state, stamp = _PAYABLE
        q = (select(CL.c.id).where(CL.c.state == state, CL.c.stamp == stamp, CL.c.chain_todo.is_(None),
                                   CL.c.payment_ref.is_(None), void_on_chain(CL.c.fingerprint, CL.c.issuer))
             .order_by(CL.c.updated_at).limit(limit))
        with self.store._read() as conn:
            return [r.id for r in conn.execute(q)]

    def apply_voids(self, *, hold: Sequence[str] = ()) -> list[str]:
        """Claims on voided invoices: a void this service accepted (pending or stamped) or one
        the chain recorded (``InvoiceVoided``: all that a payer's mirror of another service
        sees), changed as :func:`ledger.claims.transitions.voided` decides, except the claims in
        ``hold`` (whose payout the bank could not confirm or deny). Returns the changed claim ids."""
        now = utcnow()
        voided = accepted_voids()
        changes: list[tuple[Change, tuple[bytes, str, int]]] = []
        with self.store._tx() as conn:
            q = (select(*CLAIM_COLS, void_on_chain(CL.c.fingerprint, CL.c.issuer).label("void_on_chain"))
                 .join(I, I.c.fingerprint == CL.c.fingerprint)
                 .join(voided, and_(voided.c.fingerprint == CL.c.fingerprint, voided.c.issuer == CL.c.issuer))
                 .where(CL.c.state.in_([s.value for s in STOPPED_BY_VOID])))
            if hold:
                q = q.where(CL.c.id.not_in(list(hold)))
            rows = conn.execute(q).all()
            for row in rows:
                c = claim_of(row)
                change = transitions.voided(c, void_on_chain=bool(row.void_on_chain), now=now)
                if change is not None:
                    changes.append((change, (c.person, c.scheme, c.year)))
            self._write(conn, changes, now=now)
        return [c.claim_id for c, _ in changes]
