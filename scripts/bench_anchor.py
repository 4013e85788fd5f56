#!/usr/bin/env python3
"""Benchmark: fingerprint, batch and anchor a city's year of e-invoices on anvil.

Default size is one prefecture-level city's year (DOMAIN.md): 132 hospitals, 15,605
self-paid invoices, 1,332,000 fee lines. Prints, for the ledger's design:
  - fingerprinting rate (invoices/s, fee lines/s, on all cores),
  - batching time, anchoring transactions and gas, wall time of the whole pipeline;
and, in the same run on the same anvil node, the naive design as the baseline: one
anchoring transaction per invoice (transactions, gas, wall time).

Usage: python scripts/bench_anchor.py [--invoices N] [--fee-lines N] [--hospitals N]
                                      [--skip-baseline] [--json]
Targets (issue #2): whole pipeline <= 10 s with <= 20 transactions; >= 100x less gas
than per-invoice anchoring.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.adapters.anvil import AnvilConfig, AnvilNode, free_port
from ledger.adapters.chains import open_node
from ledger.anchoring import Anchorer
from ledger.app.parallel import seal_all
from ledger.batch import batches_of
from ledger.devtools.synth import generate
from ledger.hashing import keccak256


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hospitals", type=int, default=132)
    ap.add_argument("--invoices", type=int, default=15_605)
    ap.add_argument("--fee-lines", type=int, default=1_332_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args()
    figures: dict[str, float | int | str] = {"cores": os.cpu_count() or 1}

    def say(msg: str) -> None:
        if not args.json:
            print(msg, flush=True)

    t = time.perf_counter()
    data = generate(args.seed, hospitals=args.hospitals, invoices=args.invoices,
                    fee_lines=args.fee_lines, pepper=os.urandom(32))
    invoices = [inv for inv, _ in data]
    lines = sum(len(i.fee_lines) for i in invoices)
    say(f"generated {len(invoices):,} invoices, {lines:,} fee lines, {len(data.hospitals)} hospitals "
        f"in {time.perf_counter() - t:.1f} s (not timed below)")
    figures.update(invoices=len(invoices), fee_lines=lines, hospitals=len(data.hospitals))

    with tempfile.TemporaryDirectory() as tmp:
        # 1 s blocks and a 1 G gas limit: the same node serves both designs; the naive
        # design needs the large blocks to finish in reasonable time at all.
        config = AnvilConfig(data_dir=Path(tmp) / "node", port=free_port(), block_time=1.0, gas_limit=1_000_000_000)
        with AnvilNode(config) as node:
            session = open_node("anvil", url=node.url, home=Path(tmp), passphrase="bench anchor passphrase")
            session.ensure_hospitals([h.code for h in data.hospitals])  # registry set-up, not timed
            tx0, gas0 = session.ledger.tx_count, session.ledger.gas_used_total

            # ---------------------------------------------------------------- the design
            start = time.perf_counter()
            sealed = seal_all(invoices, workers=args.workers)
            t_seal = time.perf_counter() - start
            t1 = time.perf_counter()
            batches = batches_of([(s.invoice.issuer, s.fingerprint, s.invoice.total_fen) for s in sealed])
            roots = [b.root for b in batches]  # builds every batch tree
            t_batch = time.perf_counter() - t1
            t2 = time.perf_counter()
            report = Anchorer(session.ledger, signer_of=session.signer_of).anchor(batches)
            t_anchor = time.perf_counter() - t2
            total = time.perf_counter() - start
            assert len(report.anchored) == len(roots)
            txs = session.ledger.tx_count - tx0
            gas = session.ledger.gas_used_total - gas0
            figures.update(
                seal_s=round(t_seal, 3), invoices_per_s=round(len(sealed) / t_seal),
                fee_lines_per_s=round(lines / t_seal), batch_s=round(t_batch, 3), batches=len(batches),
                anchor_s=round(t_anchor, 3), anchor_txs=txs, anchor_gas=gas, pipeline_s=round(total, 3),
            )
            say(f"\nledger design (fingerprint + batch + anchor), {args.workers} worker process(es):")
            say(f"  fingerprinting  {t_seal:6.2f} s  {len(sealed) / t_seal:10,.0f} invoices/s  "
                f"{lines / t_seal:12,.0f} fee lines/s")
            say(f"  batching        {t_batch:6.2f} s  {len(batches)} Merkle batches (one per hospital, <= 1024 leaves)")
            say(f"  anchoring       {t_anchor:6.2f} s  {txs} transactions, {gas:,} gas")
            say(f"  TOTAL           {total:6.2f} s   (target <= 10 s, <= 20 transactions)")

            if not args.skip_baseline:
                # ------------------------------------------------------- naive baseline
                # One anchorBatch transaction per invoice, sent by the invoice's own
                # hospital (a one-leaf "batch": root = its leaf), pipelined.
                led = session.ledger
                calls = []
                for s in sealed:
                    leaf = keccak256(keccak256(s.fingerprint + s.invoice.total_fen.to_bytes(32, "big")))
                    fn = led.contract.functions.anchorBatch(leaf, 1)
                    calls.append((session.signer_of(s.invoice.issuer), fn, 90_000))
                t3 = time.perf_counter()
                receipts = led.send_pipelined(calls, in_flight=2_000)
                t_naive = time.perf_counter() - t3
                naive_gas = sum(r.gas_used for r in receipts)
                figures.update(naive_txs=len(receipts), naive_gas=naive_gas, naive_s=round(t_naive, 3),
                               gas_ratio=round(naive_gas / gas, 1), tx_ratio=round(len(receipts) / txs, 1))
                say("\nbaseline, same anvil node: one transaction per invoice")
                say(f"  anchoring       {t_naive:6.2f} s  {len(receipts):,} transactions, {naive_gas:,} gas")
                say(f"\nratio: {naive_gas / gas:,.0f}x less gas, {len(receipts) / txs:,.0f}x fewer transactions "
                    f"(target >= 100x less gas)")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
