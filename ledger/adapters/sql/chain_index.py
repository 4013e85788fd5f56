"""The chain-derived index: contract events stored and projected onto the tables they change.

Everything here is rebuilt from the chain's events (``ebill reindex``, or when the node lost
blocks); the hospitals' and payers' own records are never touched by a rebuild.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, select, update

from ledger.adapters.sql.base import CB, ST, B, E, H, I, M, StoreBase, V, utcnow
from ledger.claims.stamps import STAMP_EVENTS
from ledger.voids import VoidReason, reason_from_bytes32

#: meta keys: the indexer's cursor (block and its hash), and how many times the chain index
#: was rebuilt. The generation outlives rebuilds (it is not an ``indexer.`` key): whoever
#: acts on chain from this store (the claims stamper, maybe in another process) compares
#: it with the one it saw last, and checks its own stamps against the chain when it moved.
INDEXER_BLOCK, INDEXER_HASH, INDEX_GENERATION = "indexer.block", "indexer.hash", "index.generation"
#: the note of a void learnt from the chain alone (the hospital's words were never in this database)
VOID_FROM_CHAIN = "(voided on chain; the request is not in this database: restored from an older backup)"


class ChainIndex(StoreBase):
    """Events saved with the indexer cursor, and projected, in one transaction."""

    def index_generation(self) -> int:
        """How many times the chain index was rebuilt (it moves when the node lost blocks)."""
        return int(self.get_meta(INDEX_GENERATION) or 0)

    def save_events(self, events: Sequence[dict[str, Any]], *, cursor: tuple[int, str] | None = None) -> None:
        """Store decoded contract events, apply them to the derived tables and move the
        indexer cursor to ``(block, block hash)``, in one transaction."""
        with self._tx() as conn:
            self._save_events(conn, events)
            if cursor is not None:
                self.set_meta(INDEXER_BLOCK, str(cursor[0]), conn)
                self.set_meta(INDEXER_HASH, cursor[1], conn)

    def _save_events(self, conn: Connection, events: Sequence[dict[str, Any]]) -> None:
        if events:
            stmt = self._insert(E).on_conflict_do_nothing(index_elements=["block_number", "log_index"])
            conn.execute(stmt, [{
                "block_number": e["block"], "log_index": e["logIndex"], "block_hash": e["blockHash"],
                "tx_hash": e["tx"], "name": e["name"], "fingerprint": e.get("fingerprint"),
                "issuer": _issuer_of(e["args"]), "args": json.dumps(e["args"], sort_keys=True)} for e in events])
        for e in events:
            self._apply(conn, e)

    def _apply(self, conn: Connection, e: dict[str, Any]) -> None:
        name, a = e["name"], e["args"]
        if name == "BatchAnchored":
            root = bytes.fromhex(a["root"][2:])
            conn.execute(update(B).where(B.c.root == root, B.c.issuer == a["institutionId"])
                         .values(state="anchored", anchored_block=e["block"], anchored_tx=e["tx"],
                                 anchored_at=e.get("time") or utcnow(), last_error=None))
        elif name == "InvoiceVoided":
            done = conn.execute(update(V).where(V.c.fingerprint == e["fingerprint"], V.c.issuer == a["institutionId"])
                                .values(state="voided", voided_tx=e["tx"], voided_block=e["block"], last_error=None))
            if not done.rowcount:
                self._void_from_chain(conn, e)
        elif name == "ClawbackRequired":
            stmt = self._insert(CB).values(fingerprint=e["fingerprint"], issuer=a["institutionId"],
                                           paid_fen=int(a["paidFen"]), reserved_fen=int(a["reservedFen"]),
                                           block_number=e["block"], tx_hash=e["tx"])
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["fingerprint", "issuer"]))
            # per issuer, as InvoiceVoided: another hospital's copy of the fingerprint is its own record
            conn.execute(update(V).where(V.c.fingerprint == e["fingerprint"], V.c.issuer == a["institutionId"])
                         .values(paid_fen=int(a["paidFen"]), reserved_fen=int(a["reservedFen"])))
        elif name.startswith("Reimbursement"):
            status = STAMP_EVENTS[name].value
            claim = bytes.fromhex(a["claimId"][2:])
            values = {"fingerprint": e["fingerprint"], "issuer": a["institutionId"],
                      "amount_fen": int(a["amountFen"]), "status": status, "block_number": e["block"],
                      "tx_hash": e["tx"]}
            stmt = self._insert(ST).values(payer_id=a["payerId"], claim_id=claim, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=["payer_id", "claim_id"], set_=values))

    def _void_from_chain(self, conn: Connection, e: dict[str, Any]) -> None:
        """A void on chain of an invoice stored here whose request this database does not hold
        (restored from a backup older than the void): recorded as voided, with the reason code
        the chain holds, so that the hospital's desk, its listing and claims all see it. Only
        for hospitals this service anchors for (a mirrored hospital's voids stay events)."""
        a = e["args"]
        code = reason_from_bytes32(bytes.fromhex(a["reason"][2:])).code
        held = (select(I.c.fingerprint, I.c.issuer).select_from(I.join(H, H.c.institution_id == I.c.issuer))
                .where(I.c.fingerprint == e["fingerprint"], I.c.issuer == a["institutionId"], H.c.keystore != ""))
        if conn.execute(held).first() is None:
            return
        row = self._insert(V).values(
            fingerprint=e["fingerprint"], issuer=a["institutionId"], reason=VOID_FROM_CHAIN,
            reason_code=(code or VoidReason.OTHER).value, requested_at=e.get("time") or utcnow(), state="voided",
            attempts=0, voided_tx=e["tx"], voided_block=e["block"])
        conn.execute(row.on_conflict_do_nothing(index_elements=["fingerprint"]))

    def reset_chain_index(self, events: Sequence[dict[str, Any]] = (), *,
                          cursor: tuple[int, str] | None = None) -> None:
        """Replace everything derived from the chain by what ``events`` say, in one transaction
        (readers never see a half-rebuilt index), and count the rebuild (``INDEX_GENERATION``)."""
        with self._tx() as conn:
            conn.execute(delete(E))
            conn.execute(delete(ST))
            conn.execute(delete(CB))
            conn.execute(update(B).values(state="sealed", anchored_block=None, anchored_tx=None, anchored_at=None))
            conn.execute(update(V).where(V.c.state == "voided")
                         .values(state="pending", voided_tx=None, voided_block=None, paid_fen=None,
                                 reserved_fen=None))
            conn.execute(update(H).values(registered_block=None))
            conn.execute(delete(M).where(M.c.key.like("indexer.%")))
            generation = int(conn.execute(select(M.c.value).where(M.c.key == INDEX_GENERATION))
                             .scalar_one_or_none() or 0) + 1
            self.set_meta(INDEX_GENERATION, str(generation), conn)
            self._save_events(conn, events)
            if cursor is not None:
                self.set_meta(INDEXER_BLOCK, str(cursor[0]), conn)
                self.set_meta(INDEXER_HASH, cursor[1], conn)
            self.audit(conn, actor="system", action="index.rebuild", subject="chain index",
                       detail={"events": len(events), "block": cursor[0] if cursor else None,
                               "generation": generation})


def _issuer_of(args: dict[str, Any]) -> str | None:
    issuer = args.get("institutionId")
    return issuer if isinstance(issuer, str) and len(issuer) <= 12 else None
