"""Upload benchmark: a city's year of invoices through the HTTP API until every one is anchored.

Starts ``ebill serve`` (managed anvil, SQLite by default or ``--db postgresql://…``) in a
temporary data directory, registers the hospitals, then uploads the whole generated year
(132 hospitals, 15,605 invoices, 1,332,000 fee lines) as NDJSON with a few concurrent
clients, and waits until every invoice is anchored. It prints:

- invoices/s and fee lines/s end to end (first request sent → last invoice anchored);
- p50/p99 latency per upload request;
- anchoring lag per invoice (upload acknowledged → its batch seen anchored), p50/p99/max;
- the service's memory (RSS of ``ebill serve`` and its workers) over the run: flat or not;
- **baseline, same run:** the same rows bulk-inserted with plain SQLAlchemy
  (``conn.execute(insert(table), rows)``) into a fresh database of the same kind: what
  the service adds on top of the database.

Usage::

    .venv/bin/python scripts/bench_upload.py                      # the full year, SQLite
    .venv/bin/python scripts/bench_upload.py --invoices 2000 --fee-lines 170000
    .venv/bin/python scripts/bench_upload.py --db postgresql://user@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ledger.devtools import synth  # noqa: E402

PEPPER_HEX = "be" * 32


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hospitals", type=int, default=132)
    ap.add_argument("--invoices", type=int, default=15_605)
    ap.add_argument("--fee-lines", type=int, default=1_332_000)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--clients", type=int, default=4, help="concurrent upload clients")
    ap.add_argument("--chunk", type=int, default=200, help="invoices per request")
    ap.add_argument("--workers", type=int, default=2, help="API worker processes of ebill serve")
    ap.add_argument("--db", default=None, help="database URL (default: SQLite in the temporary data directory)")
    ap.add_argument("--batch-max-age", type=float, default=1.0)
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="ebill-bench-"))
    env = {**os.environ, "EBILL_HOME": str(home), "EBILL_PEPPER": PEPPER_HEX,
           "EBILL_KEYSTORE_PASSPHRASE": "benchmark passphrase, not a secret"}
    if args.db:
        env["EBILL_DB"] = args.db
    os.environ.update(env)
    print(f"data directory {home}")

    t = time.perf_counter()
    ds = synth.generate(seed=args.seed, hospitals=args.hospitals, invoices=args.invoices,
                        fee_lines=args.fee_lines, pepper=bytes.fromhex(PEPPER_HEX))
    per_hospital: dict[str, list[bytes]] = defaultdict(list)
    n_lines = 0
    for doc in synth.iter_documents(ds):
        per_hospital[doc["issuer"]].append(orjson.dumps(doc) + b"\n")
        n_lines += len(doc["feeLines"])
    n_invoices = sum(len(v) for v in per_hospital.values())
    size = sum(len(x) for v in per_hospital.values() for x in v)
    print(f"generated {n_invoices:,} invoices / {n_lines:,} fee lines ({size / 2**20:,.0f} MB NDJSON) "
          f"from {len(per_hospital)} hospitals in {time.perf_counter() - t:.1f} s (not timed)")

    tokens = register(ds, per_hospital)
    port = free_port()
    node_port = free_port()
    serve = subprocess.Popen(
        [str(ROOT / ".venv/bin/ebill"), "serve", "--port", str(port), "--workers", str(args.workers),
         "--batch-max-age", str(args.batch_max_age)],
        env={**env, "EBILL_ANVIL_PORT": str(node_port)}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=(home / "serve.log").open("wb"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_health(base, serve, home)
        result = run_upload(base, tokens, per_hospital, args, serve.pid)
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
    report(result, n_invoices, n_lines)
    if not args.skip_baseline:
        baseline(args, home, per_hospital, n_invoices, n_lines, result)
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)


def register(ds: Any, per_hospital: dict[str, list[bytes]]) -> dict[str, str]:
    """Hospitals registered directly in the store (the service registers them on chain)."""
    from ledger.adapters.sql.engine import upgrade
    from ledger.adapters.sql.store import SqlStore
    from ledger.composition import ledger_service
    from ledger.composition.settings import Settings

    settings = Settings()
    upgrade(settings.db_url)
    service = ledger_service(SqlStore.open(settings.db_url), pepper=settings.pepper_bytes(),
                            passphrase=settings.passphrase())
    tokens = {}
    for h in ds.hospitals:
        if h.code in per_hospital:
            _, tokens[h.code] = service.register_hospital(institution_id=h.code, name=h.name, region="330100")
    service.store.close()
    return tokens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_health(base: str, proc: subprocess.Popen[bytes], home: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"ebill serve exited with {proc.returncode}:\n{(home / 'serve.log').read_text()[-3000:]}")
        try:
            if httpx.get(base + "/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit("ebill serve did not become healthy")


def rss_of_tree(root_pid: int) -> int:
    """Resident memory (bytes) of a process and all its descendants (from /proc)."""
    children: dict[int, list[int]] = defaultdict(list)
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children[ppid].append(int(entry))
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(entry)] = int(line.split()[1]) * 1024
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def anvil_rss() -> int:
    total = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == "anvil":
                    for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
            except OSError:
                pass
    return total


def run_upload(base: str, tokens: dict[str, str], per_hospital: dict[str, list[bytes]], args: Any,
               serve_pid: int) -> dict[str, Any]:
    work: queue.Queue[tuple[str, bytes, int]] = queue.Queue()
    # interleave hospitals, as a city's HIS systems upload concurrently
    chunks = {h: [b"".join(lines[i:i + args.chunk]) for i in range(0, len(lines), args.chunk)]
              for h, lines in per_hospital.items()}
    total_requests = 0
    for k in range(max(len(c) for c in chunks.values())):
        for h, c in chunks.items():
            if k < len(c):
                work.put((h, c[k], c[k].count(b"\n")))
                total_requests += 1
    latencies: list[float] = []
    acks: dict[str, float] = {}
    failures: list[str] = []
    lock = threading.Lock()
    done_items = [0]

    def client() -> None:
        with httpx.Client(base_url=base, timeout=600) as http:
            while True:
                try:
                    h, body, _ = work.get_nowait()
                except queue.Empty:
                    return
                t0 = time.perf_counter()
                r = http.post("/v1/invoices", content=body, headers={
                    "Authorization": f"Bearer {tokens[h]}", "Content-Type": "application/x-ndjson"})
                t1 = time.perf_counter()
                with lock:
                    latencies.append(t1 - t0)
                    if r.status_code != 200:
                        failures.append(f"{r.status_code} {r.text[:300]}")
                        continue
                    for item in r.json()["items"]:
                        if item["status"] in ("created", "duplicate"):
                            acks[item["invoice"]["fingerprint"]] = t1
                        else:
                            failures.append(f"{item['ref']}: {item['problems'][:1]}")
                    done_items[0] += 1

    from ledger.adapters.sql.store import SqlStore
    from ledger.composition.settings import Settings

    store = SqlStore.open(Settings().db_url)
    seen_anchored: dict[bytes, float] = {}
    memory: list[tuple[float, int, int]] = []
    stop = threading.Event()

    def watch() -> None:
        from sqlalchemy import select

        from ledger.adapters.sql.store import B
        while not stop.is_set():
            now = time.perf_counter()
            with store.engine.connect() as conn:
                for (root,) in conn.execute(select(B.c.root).where(B.c.state == "anchored")):
                    seen_anchored.setdefault(bytes(root), now)
            memory.append((now, rss_of_tree(serve_pid), anvil_rss()))
            stop.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    start = time.perf_counter()
    watcher.start()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    uploaded = time.perf_counter()
    while True:
        c = store.counts()
        if c["invoices"] >= len(acks) and not c["unbatched"] and not c["batchesWaiting"]:
            break
        if time.perf_counter() - uploaded > 600:
            sys.exit(f"not anchored within 600 s after the upload: {c}")
        time.sleep(0.1)
    anchored = time.perf_counter()
    stop.set()
    watcher.join()
    # one more look so every batch has a first-seen time
    from sqlalchemy import select

    from ledger.adapters.sql.store import B, I
    with store.engine.connect() as conn:
        for (root,) in conn.execute(select(B.c.root).where(B.c.state == "anchored")):
            seen_anchored.setdefault(bytes(root), anchored)
        batch_of = {"0x" + bytes(fp).hex(): bytes(root) for fp, root in conn.execute(select(I.c.fingerprint,
                                                                                             I.c.batch_root))}
        tx_count = len({tx for (tx,) in conn.execute(select(B.c.anchored_tx))})
        batches = len(seen_anchored)
    store.close()
    lags = sorted(seen_anchored[batch_of[fp]] - t for fp, t in acks.items())
    return {"start": start, "uploaded": uploaded, "anchored": anchored, "latencies": sorted(latencies),
            "lags": lags, "failures": failures, "requests": total_requests, "acked": len(acks),
            "memory": memory, "batches": batches, "transactions": tx_count}


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def report(r: dict[str, Any], n_invoices: int, n_lines: int) -> None:
    total = r["anchored"] - r["start"]
    up = r["uploaded"] - r["start"]
    print(f"\nupload service ({r['requests']} requests)")
    if r["failures"]:
        print(f"  !! {len(r['failures'])} failures, first: {r['failures'][:3]}")
    print(f"  acknowledged              {r['acked']:,} of {n_invoices:,} invoices")
    print(f"  upload phase              {up:6.2f} s   {n_invoices / up:8,.0f} invoices/s  "
          f"{n_lines / up:10,.0f} fee lines/s")
    print(f"  end to end (all anchored) {total:6.2f} s   {n_invoices / total:8,.0f} invoices/s  "
          f"{n_lines / total:10,.0f} fee lines/s   (target ≤ 30 s)")
    lat = r["latencies"]
    print(f"  request latency           p50 {pct(lat, 50) * 1000:7.0f} ms   p99 {pct(lat, 99) * 1000:7.0f} ms   "
          f"max {lat[-1] * 1000:7.0f} ms")
    lags = r["lags"]
    print(f"  anchoring lag             p50 {pct(lags, 50):7.2f} s    p99 {pct(lags, 99):7.2f} s    "
          f"max {lags[-1]:7.2f} s   ({r['batches']} batches in {r['transactions']} transactions)")
    mem = r["memory"]
    if mem:
        quarters = [mem[min(len(mem) - 1, int(q * (len(mem) - 1)))][1] / 2**20 for q in (0.25, 0.5, 0.75, 1.0)]
        print(f"  service memory (RSS)      max {max(m[1] for m in mem) / 2**20:6.0f} MB;  at 25/50/75/100 % of "
              f"the run: " + " / ".join(f"{q:.0f}" for q in quarters) + " MB"
              f";  anvil max {max(m[2] for m in mem) / 2**20:.0f} MB")


def baseline(args: Any, home: Path, per_hospital: dict[str, list[bytes]], n_invoices: int, n_lines: int,
             result: dict[str, Any]) -> None:
    """The same rows, bulk-inserted with plain SQLAlchemy into a fresh database of the same kind."""
    from sqlalchemy import insert

    from ledger.adapters.sql.engine import open_engine, upgrade
    from ledger.adapters.sql.store import SqlStore, _invoice_row
    from ledger.composition import ledger_service
    from ledger.composition.settings import Settings
    from ledger.qr import QrDomain, sign_seal
    from ledger.uploads import prepare_invoice

    if args.db:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        url = make_url(args.db)
        admin = open_engine(args.db)
        name = f"{url.database}_baseline"
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        db = url.set(database=name).render_as_string(hide_password=False)
    else:
        db = f"sqlite:///{home / 'baseline.sqlite'}"
    upgrade(db)
    settings = Settings(db=db)
    service = ledger_service(SqlStore.open(db), pepper=settings.pepper_bytes(), passphrase=settings.passphrase())
    for h in per_hospital:
        service.register_hospital(institution_id=h, name=h, region="330100")
    print("\nbaseline: plain SQLAlchemy bulk insert of the same rows (preparing rows, not timed)…")
    domain = QrDomain(chain_id=31337, verifying_contract="0x" + "11" * 20)
    key = b"\x01" * 32
    chunks: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    next_id = 0
    for h, lines in per_hospital.items():
        for i in range(0, len(lines), args.chunk):
            inv_rows, line_rows = [], []
            for raw in lines[i:i + args.chunk]:
                p = prepare_invoice(orjson.loads(raw), pepper=settings.pepper_bytes(), issuer=h,
                                    sign_qr=lambda s: sign_seal(s, private_key=key, domain=domain).encode())
                next_id += 1
                inv_rows.append(_invoice_row(p, now, next_id))
                line_rows += [{"invoice_id": next_id, "seq": li.seq, "item_code": li.item_code,
                               "item_name": li.item_name,
                               "category": li.category.value, "quantity": li.quantity, "unit": li.unit,
                               "unit_price_fen": li.unit_price_fen, "amount_fen": li.amount_fen,
                               "service_date": li.service_date} for li in p.invoice.fee_lines]
            chunks.append((inv_rows, line_rows))
    engine = open_engine(db)
    from ledger.adapters.sql.store import I, L

    t = time.perf_counter()
    for inv_rows, line_rows in chunks:
        with engine.begin() as conn:
            conn.execute(insert(I), inv_rows)
            conn.execute(insert(L), line_rows)
    dt = time.perf_counter() - t
    engine.dispose()
    service.store.close()
    total = result["anchored"] - result["start"]
    print(f"  bulk insert               {dt:6.2f} s   {n_invoices / dt:8,.0f} invoices/s  {n_lines / dt:10,.0f} rows/s "
          f"(fee lines) in {len(chunks)} transactions")
    print(f"  the service end to end takes {total / dt:.1f}x the raw insert time "
          f"(validation, fingerprints, signatures, HTTP, anchoring on top)")


if __name__ == "__main__":
    main()
