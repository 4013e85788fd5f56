"""Sealing many invoices on every core.

Fingerprinting is CPU-bound pure Python (~7 us per fee line), so a year of a city's
invoices (1.3 M lines) is split across worker processes. Workers are forked after the
invoices are in memory and read them copy-on-write: only indices go in and 96 bytes
per invoice (fingerprint, fee-lines root, salts) come back, so there is no pickling
of the invoices themselves.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Sequence

from ledger.fingerprint import SealedInvoice, seal
from ledger.hashing import Fingerprint, MerkleRoot
from ledger.invoice import Invoice

_SHARED: Sequence[Invoice] = ()


def _seal_range(bounds: tuple[int, int]) -> list[tuple[bytes, bytes, bytes, bytes]]:
    out: list[tuple[bytes, bytes, bytes, bytes]] = []
    for inv in _SHARED[bounds[0] : bounds[1]]:
        s = seal(inv)
        out.append((s.salt, s.line_key, s.fee_lines_root, s.fingerprint))
    return out


def seal_all(invoices: Sequence[Invoice], *, workers: int | None = None) -> list[SealedInvoice]:
    """Seal every invoice (fresh random salts), in order, using ``workers`` processes."""
    global _SHARED
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(invoices) < 200 or "fork" not in mp.get_all_start_methods():
        return [seal(inv) for inv in invoices]
    chunk = max(50, len(invoices) // (workers * 8))  # small chunks balance uneven invoices
    ranges = [(i, min(i + chunk, len(invoices))) for i in range(0, len(invoices), chunk)]
    _SHARED = invoices
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_seal_range, ranges)
    finally:
        _SHARED = ()
    sealed = []
    for (lo, _), part in zip(ranges, parts, strict=True):
        for offset, (salt, key, root, fp) in enumerate(part):
            sealed.append(SealedInvoice(invoices[lo + offset], salt, key, MerkleRoot(root), Fingerprint(fp)))
    return sealed
