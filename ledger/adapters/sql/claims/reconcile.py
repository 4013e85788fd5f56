"""After a restore from an older backup, in SQL: the claims whose payment the chain finalised
while this database has them unpaid (reconciled with the bank by the stamper, see
:mod:`ledger.claims.reconcile`), and this payer's stamps of claims it does not hold at all
(``ebill claims release-forgotten``, see :mod:`ledger.chain_gaps`).

Both are read from the chain index (the ``stamps`` table the chain worker rebuilds from the
contract's events at the first start after a restore); whatever is done is confirmed with
the contract first, by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, or_, select

from ledger.adapters.sql.base import ST
from ledger.adapters.sql.claims.rows import CL, ClaimTables, audit_many
from ledger.adapters.sql.store import utcnow
from ledger.chain_gaps import FORGOTTEN_RELEASED, UnknownStamp, chain_claim_ids
from ledger.claims.reconcile import BankPayment, ChainAhead, reconciled
from ledger.claims.stamps import StampStatus, behind_chain
from ledger.claims.states import BEHIND_CHAIN, ClaimState
from ledger.claims.transitions import Change
from ledger.errors import TransitionRefused

_FINALIZED = StampStatus.FINALIZED.value


class ChainReconciliation(ClaimTables):
    """What a restore left behind the chain, and what the stamper and the operator do about it."""

    def claims_behind_chain(self, *, limit: int = 200) -> list[ChainAhead]:
        """Claims whose stamp the chain index holds finalised while this database has them unpaid
        (:func:`~ledger.claims.stamps.behind_chain`), oldest block first."""
        q = (select(CL.c.id, CL.c.chain_claim_id, CL.c.state, CL.c.stamp, ST.c.status, ST.c.amount_fen,
                    ST.c.block_number, ST.c.tx_hash)
             .join(ST, and_(ST.c.payer_id == CL.c.payer_id, ST.c.claim_id == CL.c.chain_claim_id))
             .where(ST.c.status == _FINALIZED, CL.c.state.in_(sorted(s.value for s in BEHIND_CHAIN)),
                    or_(CL.c.state != ClaimState.APPROVED.value, CL.c.stamp.is_distinct_from(_FINALIZED)))
             .order_by(ST.c.block_number).limit(limit))
        with self.store._read() as conn:
            rows = conn.execute(q).all()
        return [ChainAhead(r.id, bytes(r.chain_claim_id), StampStatus(r.status), int(r.amount_fen),
                           int(r.block_number), r.tx_hash)
                for r in rows
                if behind_chain(ClaimState(r.state), StampStatus(r.stamp) if r.stamp else None, StampStatus(r.status))]

    def reconcile_behind(self, found: Sequence[tuple[ChainAhead, BankPayment | None]]) -> tuple[list[str], list[str]]:
        """Record each claim the chain is ahead of as the bank answered (``found``: the chain's stamp,
        the bank's payment or None), as :func:`~ledger.claims.reconcile.reconciled` decides, in one
        transaction. Returns (the claims reconciled, why others were not): a claim that moved on
        meanwhile is left alone, one that needs a person is named."""
        now = utcnow()
        changes: list[tuple[Change, tuple[bytes, str, int]]] = []
        refused: list[str] = []
        with self.store._tx() as conn:
            for ahead, payment in found:
                c = self._locked(conn, ahead.claim_id)
                try:
                    change = reconciled(c.standing, ahead, payment, now=now)
                except TransitionRefused as exc:
                    if behind_chain(c.state, c.stamp, ahead.on_chain):   # still behind: a person must look
                        refused.append(str(exc))
                    continue
                changes.append((change, (c.person, c.scheme, c.year)))
            self._write(conn, changes, now=now)
        return [c.claim_id for c, _ in changes], refused

    def forgotten_stamps(self, payer_id: str) -> list[tuple[UnknownStamp, set[bytes]]]:
        """``payer_id``'s reservations the chain index holds for chain claim ids no claim here has,
        oldest first, each with the chain claim ids that the claims held here on its invoice take
        (:func:`~ledger.chain_gaps.chain_claim_ids`: earlier and later reservations of a claim)."""
        with self.store._read() as conn:
            stamps = [UnknownStamp(r.payer_id, bytes(r.claim_id), bytes(r.fingerprint), r.issuer, int(r.amount_fen),
                                   r.status, int(r.block_number), r.tx_hash)
                      for r in conn.execute(select(ST).where(
                          ST.c.payer_id == payer_id, ST.c.status == StampStatus.RESERVED.value,
                          ~select(CL.c.id).where(CL.c.payer_id == ST.c.payer_id,
                                                 CL.c.chain_claim_id == ST.c.claim_id).exists())
                          .order_by(ST.c.block_number))]
            held = conn.execute(select(CL.c.id, CL.c.fingerprint, CL.c.attempt).where(
                CL.c.payer_id == payer_id, CL.c.fingerprint.in_({s.fingerprint for s in stamps}))).all() \
                if stamps else []
        owned: dict[bytes, set[bytes]] = {}
        for r in held:
            owned.setdefault(bytes(r.fingerprint), set()).update(chain_claim_ids(payer_id, r.id, int(r.attempt)))
        return [(s, owned.get(s.fingerprint, set())) for s in stamps]

    def record_forgotten_released(self, released: Sequence[tuple[UnknownStamp, str, int]], *, actor: str) -> None:
        """Audit the forgotten claims' reservations released on chain (each with its tx and block)."""
        if not released:
            return
        with self.store._tx() as conn:
            audit_many(conn, utcnow(), [
                (actor, FORGOTTEN_RELEASED, "0x" + s.chain_claim_id.hex(),
                 {"payer": s.payer_id, "fingerprint": "0x" + s.fingerprint.hex(), "issuer": s.issuer,
                  "amountFen": s.amount_fen, "reservedBlock": s.block, "reservedTx": s.tx, "tx": tx, "block": block})
                for s, tx, block in released])

    def unknown_stamped(self, payer_id: str, fingerprints: Sequence[bytes]) -> set[bytes]:
        """Those of ``fingerprints`` on which the chain holds ``payer_id``'s stamp (reserved or paid) of a
        claim this database does not hold: a new claim on them is refused (``unknown-stamp``)."""
        if not fingerprints:
            return set()
        with self.store._read() as conn:
            return {bytes(fp) for fp in conn.execute(select(ST.c.fingerprint).where(
                ST.c.payer_id == payer_id, ST.c.fingerprint.in_(list(fingerprints)),
                ST.c.status.in_((StampStatus.RESERVED.value, _FINALIZED)),
                ~select(CL.c.id).where(CL.c.payer_id == ST.c.payer_id,
                                       CL.c.chain_claim_id == ST.c.claim_id).exists())).scalars()}
