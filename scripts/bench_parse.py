#!/usr/bin/env python3
"""Benchmark: upload validation and sealing, per fee line, against the pre-optimisation code.

On realistic synthetic invoices (``ledger.devtools.synth``: ~85 fee lines each, Chinese item
names, ~5% fractional quantities) it prints, in microseconds per fee line:

  - ``orjson.loads`` of the upload bytes (for scale: the HTTP layer pays it anyway) and, in
    the same run, ``strict_json.parse`` (orjson plus the duplicate-key check the upload
    readers run: a member count of the tree against ``raw.count(b'":')``),
  - ``parse_invoice`` and, as the baseline in the same run, the pre-optimisation
    validation kept in ``tests/unit/invoice_reference.py``,
  - ``seal`` and, as the baseline, the pre-optimisation sealing loop and tree (copied
    below, reusing the unchanged header functions).

Each figure is CPU time (garbage collection included), the best of ``--repeat`` runs,
ledger and baseline interleaved, so that other load on the machine hits both alike.
The inputs are moved out of the collector's sight first (``gc.freeze()``, as a service
does with its long-lived state): at the full size they are millions of objects that
every full collection during a timed run would walk, charging the benchmark's own
memory to the code timed. ``--no-freeze`` shows that effect. Documents are handled in
batches of ``--batch`` invoices (1,000, a large upload), whose results are dropped when
the batch is done: a process that keeps a year's 1.3 M fee lines alive pays the cyclic
collector about 1.5 us per line more, old and new code alike (``--batch 0``).
Before timing it checks that both parsers return equal invoices and both sealers
byte-identical fingerprints.

Default size: 1,000 invoices, 85,000 fee lines (seed 1, 10 hospitals). ``--full`` is a
city's year: 132 hospitals, 15,605 invoices, 1,332,000 fee lines.
Targets (upload service): parse_invoice <= 4 us per fee line; seal as fast as keccak allows.

Usage: python scripts/bench_parse.py [--full] [--invoices N] [--fee-lines N] [--hospitals N]
                                     [--seed N] [--repeat N] [--batch N] [--no-freeze] [--json]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "unit"))

import invoice_reference  # tests/unit: the pre-optimisation validation
import orjson

from ledger.canonical import encode_flat_unchecked
from ledger.devtools.synth import generate, iter_documents
from ledger.fingerprint import SealedInvoice, fingerprint_of_header, header_document, seal
from ledger.formats import strict_json
from ledger.hashing import Hash32, MerkleRoot, keccak256
from ledger.invoice import FeeLine, Invoice
from ledger.invoice_check import parse_invoice

PEPPER = b"bench-parse-pepper-0123456789abc"
YEAR = {"hospitals": 132, "invoices": 15_605, "fee_lines": 1_332_000}


# --------------------------------------------------------------------------- baseline sealing
# ledger.fingerprint.seal and ledger.merkle.build_tree before they were optimised


def _baseline_doc(line: FeeLine, salt: bytes) -> dict[str, str | int]:
    return {
        "amountFen": line.amount_fen, "category": line.category.value,
        "itemCode": line.item_code, "itemName": line.item_name, "quantity": line.quantity,
        "salt": "0x" + salt.hex(), "seq": line.seq, "serviceDate": line.service_date,
        "unit": line.unit, "unitPriceFen": line.unit_price_fen,
    }


def _baseline_tree(leaves: Sequence[bytes]) -> list[Hash32]:
    n = len(leaves)
    size = 2 * n - 1
    tree: list[Hash32] = [Hash32(b"")] * size
    for i, leaf in enumerate(leaves):
        tree[size - 1 - i] = Hash32(leaf)
    for i in range(size - 1 - n, -1, -1):
        left, right = tree[2 * i + 1], tree[2 * i + 2]
        tree[i] = Hash32(keccak256(left + right if left <= right else right + left))
    return tree


def _baseline_seal(invoice: Invoice, *, salt: bytes, line_key: bytes) -> SealedInvoice:
    count = len(invoice.fee_lines)
    stream = hashlib.shake_256(b"ebill/line-salts/v1" + line_key).digest(16 * count)
    salts = [stream[i : i + 16] for i in range(0, 16 * count, 16)]
    encode, kec, doc = encode_flat_unchecked, keccak256, _baseline_doc
    leaves = [kec(kec(kec(encode(doc(li, s))))) for li, s in zip(invoice.fee_lines, salts, strict=True)]
    root = MerkleRoot(_baseline_tree(sorted(leaves))[0])
    header = header_document(invoice, fee_lines_root=root, salt=salt)
    return SealedInvoice(invoice, salt, line_key, root, fingerprint_of_header(header))


# --------------------------------------------------------------------------- timing


def _salts(i: int) -> tuple[bytes, bytes]:
    """Fixed per-invoice salt and line key, so both sealers must give the same fingerprint."""
    digest = hashlib.sha256(i.to_bytes(8, "big")).digest()
    return digest[:16], digest[16:]


def _timed(fn: Callable[[], Any], runs: list[float]) -> None:
    """Append the CPU time of ``fn()``: other load on a shared machine inflates wall time."""
    gc.collect()
    start = time.process_time()
    fn()
    runs.append(time.process_time() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true", help="a city's year: 15,605 invoices, 1,332,000 fee lines")
    ap.add_argument("--hospitals", type=int, default=10)
    ap.add_argument("--invoices", type=int, default=1_000)
    ap.add_argument("--fee-lines", type=int, default=85_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5, help="runs per figure; the best counts")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ap.add_argument("--batch", type=int, default=1_000,
                    help="invoices handled together, as in one upload; 0 = all at once (default 1000)")
    ap.add_argument("--no-freeze", action="store_true",
                    help="leave the inputs in the collector's sight (full collections then walk them)")
    args = ap.parse_args()
    size = YEAR if args.full else {"hospitals": args.hospitals, "invoices": args.invoices,
                                   "fee_lines": args.fee_lines}

    t = time.perf_counter()
    data = generate(args.seed, pepper=PEPPER, **size)
    raws = [orjson.dumps(doc) for doc in iter_documents(data)]
    del data
    docs = [orjson.loads(raw) for raw in raws]
    lines = sum(len(d["feeLines"]) for d in docs)
    if not args.json:
        print(f"{len(docs):,} invoices, {lines:,} fee lines ({size['hospitals']} hospitals, seed {args.seed}), "
              f"generated in {time.perf_counter() - t:.1f} s; best of {args.repeat} runs", flush=True)

    # equal results first: a fast wrong answer is not a result
    invoices = [parse_invoice(d, pepper=PEPPER) for d in docs]
    if invoices != [invoice_reference.parse_invoice(d, pepper=PEPPER) for d in docs]:
        sys.exit("parse_invoice and the reference disagree")
    salts = [_salts(i) for i in range(len(invoices))]
    fingerprints = [seal(inv, salt=s, line_key=k).fingerprint for inv, (s, k) in zip(invoices, salts, strict=True)]
    baseline = [_baseline_seal(inv, salt=s, line_key=k).fingerprint
                for inv, (s, k) in zip(invoices, salts, strict=True)]
    if fingerprints != baseline:
        sys.exit("seal and the baseline give different fingerprints")

    ref_parse, loads = invoice_reference.parse_invoice, orjson.loads
    pairs = list(zip(invoices, salts, strict=True))
    if not args.no_freeze:
        gc.collect()
        gc.freeze()
    step = args.batch or len(docs)

    def batched(fn: Callable[[Any], Any], inputs: Sequence[Any]) -> Callable[[], None]:
        def run() -> None:
            kept: list[Any] = []
            for i in range(0, len(inputs), step):
                kept[:] = [fn(x) for x in inputs[i : i + step]]  # a batch's results live until it is done
        return run

    if any(strict_json.parse(raw).duplicates for raw in raws):
        sys.exit("strict_json found duplicate keys in documents that have none")
    work: dict[str, Callable[[], None]] = {
        "loads": batched(loads, raws),
        "loads_checked": batched(strict_json.parse, raws),
        "parse": batched(lambda d: parse_invoice(d, pepper=PEPPER), docs),
        "parse_ref": batched(lambda d: ref_parse(d, pepper=PEPPER), docs),
        "seal": batched(lambda p: seal(p[0], salt=p[1][0], line_key=p[1][1]), pairs),
        "seal_ref": batched(lambda p: _baseline_seal(p[0], salt=p[1][0], line_key=p[1][1]), pairs),
    }
    runs: dict[str, list[float]] = {name: [] for name in work}
    for _ in range(args.repeat):
        for name, fn in work.items():
            _timed(fn, runs[name])

    us = {k: min(v) / lines * 1e6 for k, v in runs.items()}
    figures = {"invoices": len(docs), "fee_lines": lines, "repeat": args.repeat, "batch": step,
               **{f"{k}_us_per_line": round(v, 3) for k, v in us.items()}}
    if args.json:
        print(json.dumps(figures))
        return
    year = YEAR["fee_lines"] / 1e6  # seconds for a year's lines, one core, at 1 us per line
    print(f"{'us per fee line':<16}{'ledger':>9}{'baseline':>10}{'speed-up':>10}{'year, 1 core':>14}")
    print(f"{'orjson.loads':<16}{us['loads']:>9.2f}{'':>10}{'':>10}{us['loads'] * year:>12.1f} s")
    print(f"{'+ duplicates':<16}{us['loads_checked']:>9.2f}{us['loads']:>10.2f}"
          f"{us['loads'] / us['loads_checked']:>9.2f}x{us['loads_checked'] * year:>12.1f} s")
    for name, key in (("parse_invoice", "parse"), ("seal", "seal")):
        new, old = us[key], us[f"{key}_ref"]
        print(f"{name:<16}{new:>9.2f}{old:>10.2f}{old / new:>9.2f}x{new * year:>12.1f} s")
    print(f"{'total':<16}{us['loads_checked'] + us['parse'] + us['seal']:>9.2f}"
          f"{us['loads'] + us['parse_ref'] + us['seal_ref']:>10.2f}")


if __name__ == "__main__":
    main()
