"""The store's side of :mod:`ledger.chain_gaps`: what the chain index holds and the store's own
records lack, read in a few queries (``ebill backup gaps``), and the filing check that keeps
an invoice a forgotten claim stamped from being claimed again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, bindparam, select

from ledger.adapters.sql import schema as s
from ledger.adapters.sql.base import ST, B, E, H, M, StoreBase
from ledger.chain_gaps import ChainGaps, ClaimBehind, MissingBatch, UnknownStamp

CL, P = s.ClaimRow.__table__, s.Payer.__table__  # type: ignore[attr-defined]
#: stamps that hold an invoice's money (a released one gives it back)
_HOLDING = ("reserved", "finalized")

#: this payer's stamps on an invoice that hold money under a chain claim id no claim here has
UNKNOWN_STAMPS: Select[Any] = (
    select(ST.c.claim_id, ST.c.amount_fen, ST.c.status, ST.c.block_number)
    .where(ST.c.payer_id == bindparam("payer"), ST.c.fingerprint == bindparam("fp"), ST.c.status.in_(_HOLDING),
           ~select(CL.c.id).where(CL.c.payer_id == ST.c.payer_id, CL.c.chain_claim_id == ST.c.claim_id).exists())
    .order_by(ST.c.block_number))


def unknown_stamp_message(fingerprint: bytes, rows: Sequence[Any]) -> str:
    """Why a claim on an invoice with :data:`UNKNOWN_STAMPS` is refused, in words."""
    r = rows[0]
    what = "paid" if r.status == "finalized" else "reserved"
    return (f"invoice 0x{fingerprint.hex()} was claimed at this payer by a claim this database does not hold: "
            f"the chain holds its stamp ({what}, ¥{int(r.amount_fen) / 100:.2f}, block {r.block_number}, chain claim "
            f"0x{bytes(r.claim_id).hex()}). The database was restored from a backup older than that claim; nothing "
            "is paid twice. The payer's office reconciles it with the bank (`ebill backup gaps`)")


def chain_gaps(store: StoreBase) -> ChainGaps:
    """What the chain index holds that the store's own records lack (see :mod:`ledger.chain_gaps`)."""
    with store._read() as conn:
        meta: dict[str, str] = dict(conn.execute(select(M.c.key, M.c.value).where(
            M.c.key.in_(("indexer.block", "indexer.rebuild", "restore.from")))).all())
        ours = set(conn.execute(select(H.c.institution_id)).scalars())
        held = {bytes(r) for r in conn.execute(select(B.c.root)).scalars()}
        missing = []
        for e in conn.execute(select(E.c.block_number, E.c.tx_hash, E.c.args).where(E.c.name == "BatchAnchored")
                              .order_by(E.c.block_number, E.c.log_index)):
            a = json.loads(e.args)
            root = bytes.fromhex(a["root"][2:])
            if a.get("institutionId") in ours and root not in held:
                missing.append(MissingBatch(root, a["institutionId"], int(a["leafCount"]), int(e.block_number),
                                            e.tx_hash))
        payers = list(conn.execute(select(P.c.payer_id)).scalars())
        unknown = [UnknownStamp(r.payer_id, bytes(r.claim_id), bytes(r.fingerprint), r.issuer, int(r.amount_fen),
                                r.status, int(r.block_number), r.tx_hash)
                   for r in conn.execute(select(ST).where(
                       ST.c.payer_id.in_(payers), ST.c.status.in_(_HOLDING),
                       ~select(CL.c.id).where(CL.c.payer_id == ST.c.payer_id,
                                              CL.c.chain_claim_id == ST.c.claim_id).exists())
                       .order_by(ST.c.block_number))]
        behind = [ClaimBehind(r.id, r.state, r.stamp, r.status, int(r.amount_fen), int(r.block_number))
                  for r in conn.execute(
                      select(CL.c.id, CL.c.state, CL.c.stamp, CL.c.amount_fen, ST.c.status, ST.c.block_number)
                      .join(ST, and_(ST.c.payer_id == CL.c.payer_id, ST.c.claim_id == CL.c.chain_claim_id))
                      .where(CL.c.chain_todo.is_(None), ST.c.status.is_distinct_from(CL.c.stamp))
                      .order_by(ST.c.block_number))]
    indexed = meta.get("indexer.block")
    restored = meta.get("restore.from")
    return ChainGaps(indexed_block=int(indexed) if indexed else None, rebuild_pending=meta.get("indexer.rebuild"),
                     restored_from=json.loads(restored).get("backupCreatedAt") if restored else None,
                     missing_batches=missing, unknown_stamps=unknown, claims_behind=behind)
