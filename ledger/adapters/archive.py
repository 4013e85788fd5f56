"""A local archive of anchored batches (SQLite, stdlib): fingerprint -> batch -> proof.

This is what ``ebill proof`` reads. It keeps each batch's OpenZeppelin ``standard-v1``
tree dump, so a proof can be produced for any archived fingerprint, and where the
batch was anchored. One archive file per chain deployment. The full invoice store of
the upload service supersedes it; it stays the portable, audit-friendly export.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from ledger.batch import Batch
from ledger.errors import NotFound
from ledger.hashing import Fingerprint, to_hex
from ledger.ports import AnchoredBatch
from ledger.proofdoc import ChainRef, InvoiceInclusion

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch (
    root TEXT PRIMARY KEY, issuer TEXT NOT NULL, leaf_count INTEGER NOT NULL,
    chain_id INTEGER NOT NULL, contract TEXT NOT NULL, anchor_tx TEXT, anchor_block INTEGER,
    tree_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leaf (
    fingerprint TEXT PRIMARY KEY, root TEXT NOT NULL REFERENCES batch(root), total_fen INTEGER NOT NULL
);
"""


class BatchArchive:
    """SQLite file of anchored batches and their leaves."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> BatchArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def save(self, batch: Batch, *, anchored: AnchoredBatch, chain: ChainRef) -> None:
        """Record an anchored batch and its leaves (idempotent)."""
        root = to_hex(batch.root)
        with self._db:  # one transaction: a batch is archived whole or not at all
            self._db.execute(
                "INSERT OR IGNORE INTO batch VALUES (?,?,?,?,?,?,?,?)",
                (root, batch.issuer, batch.leaf_count, chain.chain_id, chain.contract,
                 chain.anchor_tx, anchored.block_number, json.dumps(batch.to_json())),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO leaf VALUES (?,?,?)",
                [(to_hex(fp), root, total) for fp, total in batch.leaves],
            )

    def inclusion(self, fingerprint: Fingerprint) -> InvoiceInclusion:
        """The inclusion proof document of an archived fingerprint."""
        row = self._db.execute(
            "SELECT b.tree_json, b.chain_id, b.contract, b.anchor_tx, b.anchor_block "
            "FROM leaf l JOIN batch b ON b.root = l.root WHERE l.fingerprint = ?",
            (to_hex(fingerprint),),
        ).fetchone()
        if row is None:
            raise NotFound(f"fingerprint {to_hex(fingerprint)} is in no archived batch ({self.path})")
        batch = Batch.from_json(json.loads(row[0]))
        proof = batch.proof(fingerprint)
        total = int(proof.values[1])
        return InvoiceInclusion(
            fingerprint, total, batch.issuer, batch.root, proof.proof,
            ChainRef(row[1], row[2], row[3], row[4]),
        )

    def stats(self) -> dict[str, Any]:
        batches, = self._db.execute("SELECT COUNT(*) FROM batch").fetchone()
        leaves, = self._db.execute("SELECT COUNT(*) FROM leaf").fetchone()
        return {"batches": batches, "invoices": leaves}
