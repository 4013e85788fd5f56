"""The anchoring outbox and the voids outbox.

The invoice rows themselves are the anchoring outbox: an invoice without a batch is
waiting; closing a batch (by the one batching rule, :class:`~ledger.batch.BatchPolicy`)
assigns its invoices and records the batch in the same transaction, so a batch's leaves
never change once it may have been sent. Void requests wait in ``voids`` until stamped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from ledger.adapters.sql.base import CT, B, I, StoreBase, V, _aware, utcnow
from ledger.batch import Batch, BatchPolicy
from ledger.errors import ChainError, NotFound
from ledger.hashing import Fingerprint
from ledger.records import (
    ARRIVALS,
    BATCHES_SEALED,
    INVOICES_BATCHED,
    INVOICES_STORED,
    VOIDS_REQUESTED,
    BatchOrigin,
    OutboxFigures,
    VoidRecord,
)
from ledger.voids import VoidReason, VoidRequest


class AnchoringOutbox(StoreBase):
    """Batches to close and anchor, voids to stamp."""

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
            self._bump(conn, {BATCHES_SEALED: len(closed), INVOICES_BATCHED: sum(b.leaf_count for b in closed)})
        return closed

    def outbox_figures(self) -> OutboxFigures:
        """The store's figures and what waits to be anchored, in one read (the chain worker's, every few
        seconds: see :class:`~ledger.records.OutboxFigures`). Counts only small sets through their
        indexes (invoices in no batch, batches not anchored, voids pending); the totals come from the
        arrival counters."""
        with self._read() as conn:
            arrivals = {name: int(n) for name, n in conn.execute(
                select(CT.c.name, CT.c.count).where(CT.c.name.in_(ARRIVALS)))}
            oldest = conn.execute(select(func.min(I.c.received_at)).where(I.c.batch_root.is_(None))).scalar_one()
            by_state = {state: int(n) for state, n in conn.execute(select(B.c.state, func.count())
                                                                    .group_by(B.c.state))}
            waiting = sum(n for state, n in by_state.items() if state != "anchored")
            if waiting:
                # the oldest invoice of a batch sealed but not anchored yet (few batches: the batch_root index)
                in_batch = conn.execute(select(func.min(I.c.received_at)).select_from(I)
                                        .join(B, B.c.root == I.c.batch_root)
                                        .where(B.c.state != "anchored")).scalar_one()
                oldest = min((t for t in (_aware(oldest), _aware(in_batch)) if t is not None), default=None)
            voids = conn.execute(select(func.count()).select_from(V).where(V.c.state == "pending")).scalar_one()
        invoices = arrivals.get(INVOICES_STORED, 0)
        return OutboxFigures(
            invoices=invoices, unbatched=max(0, invoices - arrivals.get(INVOICES_BATCHED, 0)),
            batches_waiting=waiting, batches_anchored=by_state.get("anchored", 0), voids_pending=int(voids),
            oldest_waiting=_aware(oldest), batches_sealed=arrivals.get(BATCHES_SEALED, 0),
            voids_requested=arrivals.get(VOIDS_REQUESTED, 0))

    def arrivals(self) -> dict[str, int]:
        """The arrival counters now (:data:`~ledger.records.ARRIVALS`), one indexed read."""
        with self._read() as conn:
            return {name: int(n) for name, n in conn.execute(
                select(CT.c.name, CT.c.count).where(CT.c.name.in_(ARRIVALS)))}

    def batch_origins(self, roots: Sequence[bytes]) -> dict[bytes, BatchOrigin]:
        """For each batch of ``roots``: when its oldest invoice was acknowledged, and the requests that
        uploaded its invoices (for the anchoring's log line and delay)."""
        oldest: dict[bytes, datetime] = {}
        uploads: dict[bytes, list[tuple[datetime, str]]] = {}
        with self._read() as conn:
            for start in range(0, len(roots), 500):
                chunk = [bytes(r) for r in roots[start:start + 500]]
                for raw, first, request_id in conn.execute(
                        select(I.c.batch_root, func.min(I.c.received_at), I.c.request_id)
                        .where(I.c.batch_root.in_(chunk)).group_by(I.c.batch_root, I.c.request_id)):
                    root, at = bytes(raw), _aware(first)
                    assert at is not None
                    oldest[root] = min(oldest.get(root, at), at)
                    if request_id is not None:
                        uploads.setdefault(root, []).append((at, request_id))
        return {root: BatchOrigin(at, tuple(r for _, r in sorted(uploads.get(root, ()))))
                for root, at in oldest.items()}

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

    def request_void(self, fingerprint: bytes, *, issuer: str, request: VoidRequest,
                     actor: str, request_id: str | None = None) -> tuple[VoidRecord, bool]:
        """Record a red-letter reversal request; ``(record, True)`` when recorded now, or the
        void already recorded for the invoice and False (whatever it says: the caller judges)."""
        with self._tx() as conn:
            inv = conn.execute(select(I.c.issuer).where(I.c.fingerprint == bytes(fingerprint))).first()
            if inv is None or inv.issuer != issuer:
                # another hospital's invoice is "not found" for this caller: no oracle
                raise NotFound(f"no invoice 0x{bytes(fingerprint).hex()} of {issuer}")
            existing = conn.execute(select(V).where(V.c.fingerprint == bytes(fingerprint))).first()
            if existing is not None:
                return void_record(existing, None), False
            now = utcnow()
            conn.execute(insert(V).values(fingerprint=bytes(fingerprint), issuer=issuer, reason=request.note,
                                          reason_code=request.code.value, requested_at=now, state="pending",
                                          request_id=request_id))
            self.audit(conn, actor=actor, action="invoice.void", subject="0x" + bytes(fingerprint).hex(),
                       detail={"reasonCode": request.code.value, "noteChars": len(request.note)})
            self._bump(conn, {VOIDS_REQUESTED: 1})
            return VoidRecord(Fingerprint(bytes(fingerprint)), issuer, request.code, request.note, now, "pending",
                              None, None, None, request_id=request_id), True

    def voids_pending(self, *, limit: int = 500) -> list[tuple[VoidRecord, bytes | None, int]]:
        """Pending voids with their invoice's batch root (None until anchored) and total."""
        with self._read() as conn:
            rows = conn.execute(
                select(V, I.c.total_fen, I.c.batch_root, B.c.state.label("batch_state"))
                .join(I, I.c.fingerprint == V.c.fingerprint).outerjoin(B, B.c.root == I.c.batch_root)
                .where(V.c.state == "pending").order_by(V.c.requested_at).limit(limit)).all()
        return [(void_record(r, None), bytes(r.batch_root) if r.batch_state == "anchored" else None, r.total_fen)
                for r in rows]

    def mark_void(self, fingerprint: bytes, *, state: str, tx: str | None = None, block: int | None = None,
                  error: str | None = None) -> None:
        with self._tx() as conn:
            values: dict[str, Any] = {"state": state, "last_error": error[:500] if error else None,
                                      "attempts": V.c.attempts + 1}
            if tx is not None:
                values.update(voided_tx=tx, voided_block=block)
            conn.execute(update(V).where(V.c.fingerprint == bytes(fingerprint)).values(**values))


def void_record(row: Any, claw: Any) -> VoidRecord:
    """A ``voids`` row (and its claw-back row, if any) as the domain's record."""
    return VoidRecord(
        Fingerprint(bytes(row.fingerprint)), row.issuer, VoidReason(row.reason_code), row.reason,
        _aware(row.requested_at),  # type: ignore[arg-type]
        row.state, row.voided_tx, row.voided_block, row.last_error,
        row.paid_fen if claw is None else claw.paid_fen, row.reserved_fen if claw is None else claw.reserved_fen,
        getattr(row, "request_id", None),
    )
