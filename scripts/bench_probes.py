"""GET /livez and GET /readyz (and /v1/health, /metrics) against ``ebill serve``, with a baseline in the same run.

Starts ``ebill serve --workers 2`` on a managed anvil node with ``--invoices`` invoices uploaded and
anchored, then on loopback, one request at a time on one keep-alive connection (``--requests``
each, after a warm-up), prints p50/p99/max latency in ms of:

- **baseline, same run:** a bare uvicorn serving a 3-line ASGI app that answers 200 ``ok``
  (the HTTP stack and the client, nothing of ours), started by this script with the same
  uvicorn settings; and ``ebill serve``'s own answer to a path no route serves (404: its
  middleware, edge and router, no I/O);
- ``/livez`` (no I/O), ``/readyz`` (two small reads of the database: schema version, the
  chain worker's status), ``/v1/health`` (one read, plus the calendar), ``/metrics`` (every
  process's files, a monitor credential);
- in this process, on the same database: the five ``COUNT(*)`` the health check ran per call
  before (``store.counts()``) against the reads it makes now; and again on a scratch database
  with ``--rows`` invoice rows (a city's years of invoices), where counting rows costs what
  the table's size says and the reads of now do not.

Target: /livez and /readyz each under 5 ms (p99). The figures include the client's own time
(httpx, ≈ 0.2 ms a request) and share the machine's 2 cores with anvil and the chain worker.

Usage: ``.venv/bin/python scripts/bench_probes.py [--invoices 5000] [--requests 2000]``
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_upload import PEPPER_HEX, free_port, pct, register, wait_health  # noqa: E402

from ledger.devtools import synth  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--invoices", type=int, default=5000)
    ap.add_argument("--requests", type=int, default=2000, help="requests per target")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rows", type=int, default=1_000_000, help="invoice rows of the scratch database")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="ebill-probes-bench-"))
    env = {**os.environ, "EBILL_HOME": str(home), "EBILL_PEPPER": PEPPER_HEX,
           "EBILL_KEYSTORE_PASSPHRASE": "benchmark passphrase, not a secret", "EBILL_ANVIL_PORT": str(free_port()),
           # probes come from one address: lift the per-client budget (its check still runs each time)
           "EBILL_PUBLIC_RATE_LIMIT": "1000000/second"}
    os.environ.update(env)
    ds = synth.generate(seed=9, hospitals=2, invoices=args.invoices, fee_lines=args.invoices * 4,
                        pepper=bytes.fromhex(PEPPER_HEX))
    per_hospital: dict[str, list[bytes]] = {}
    for doc in synth.iter_documents(ds):
        per_hospital.setdefault(doc["issuer"], []).append(orjson.dumps(doc) + b"\n")
    tokens = register(ds, per_hospital)
    monitor = _monitor_token(home)
    port, base_port = free_port(), free_port()
    serve = subprocess.Popen([str(ROOT / ".venv/bin/ebill"), "serve", "--port", str(port), "--workers",
                              str(args.workers), "--batch-max-age", "0.2"], env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=(home / "serve.log").open("wb"))
    base = f"http://127.0.0.1:{port}"
    baseline_server = _bare_uvicorn(base_port)
    try:
        wait_health(base, serve, home)
        with httpx.Client(base_url=base, timeout=120) as http:
            for h, lines in per_hospital.items():
                for start in range(0, len(lines), 2000):
                    r = http.post("/v1/invoices", content=b"".join(lines[start:start + 2000]),
                                  headers={"Authorization": f"Bearer {tokens[h]}",
                                           "Content-Type": "application/x-ndjson"})
                    assert r.status_code == 200, r.text
            deadline = time.monotonic() + 120
            while http.get("/readyz").status_code != 200 or http.get("/v1/health").json().get(
                    "store", {}).get("invoices") != args.invoices or http.get("/v1/health").json()["store"][
                    "unbatched"] or http.get("/v1/health").json()["store"]["batchesWaiting"]:
                if time.monotonic() > deadline:
                    sys.exit(f"not anchored and reported in 120 s: {http.get('/readyz').text}")
                time.sleep(0.3)
        print(f"{args.invoices:,} invoices uploaded and anchored; {args.workers} API workers, {os.cpu_count()} CPUs; "
              f"{args.requests:,} sequential requests per target on one keep-alive connection\n")
        print(f"{'target':44} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        auth = {"Authorization": f"Bearer {monitor}"}
        for label, url, headers, status in (
                ("baseline: bare uvicorn, 200 ok", f"http://127.0.0.1:{base_port}/", {}, 200),
                ("baseline: ebill serve, unmatched path (404)", base + "/no-such-path", {}, 404),
                ("GET /livez", base + "/livez", {}, 200),
                ("GET /readyz", base + "/readyz", {}, 200),
                ("GET /v1/health", base + "/v1/health", {}, 200),
                ("GET /metrics", base + "/metrics", auth, 200)):
            lat = _sequential(url, headers, status, args.requests)
            print(f"{label:44} {pct(lat, 50):8.2f} {pct(lat, 99):8.2f} {lat[-1]:8.2f}")
        _in_process(f"sqlite:///{home / 'ebill.sqlite'}", f"the service's database ({args.invoices:,} invoices)")
        _in_process(_scratch(home, args.rows), f"a scratch database with {args.rows:,} invoice rows")
    finally:
        baseline_server.should_exit = True
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=60)


def _monitor_token(home: Path) -> str:
    from ledger.composition import open_service
    from ledger.composition.settings import Settings
    from ledger.records import Role

    service = open_service(Settings(home=home))
    try:
        return service.create_credential(role=Role.MONITOR, subject="bench-scraper")
    finally:
        service.store.close()


def _bare_uvicorn(port: int) -> Any:
    """A uvicorn server (this process, a thread) whose app answers 200 ``ok``: the HTTP baseline."""
    import uvicorn

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return server


def _sequential(url: str, headers: dict[str, str], status: int, n: int) -> list[float]:
    lat = []
    with httpx.Client(timeout=30, headers=headers) as c:
        for _ in range(200):   # warm-up (connections, caches)
            assert c.get(url).status_code == status
        for _ in range(n):
            t = time.perf_counter()
            r = c.get(url)
            lat.append((time.perf_counter() - t) * 1000)
            assert r.status_code == status, (url, r.status_code, r.text[:300])
    return sorted(lat)


def _in_process(url: str, what: str) -> None:
    """The health check's reads, timed in this process on ``url``: before and now."""
    from ledger.adapters.clock import SystemClock
    from ledger.adapters.sql.engine import head_revision
    from ledger.adapters.sql.store import SqlStore
    from ledger.app.readiness import Readiness

    store = SqlStore.open(url)
    readiness = Readiness(store, schema=head_revision(), clock=SystemClock())
    print(f"\nin this process, {what} (ms per call):")
    for label, fn in (("before: store.counts() (five COUNT(*))", store.counts),
                      ("now: /v1/health's reads (Readiness.health)", readiness.health),
                      ("now: /readyz's reads (Readiness.check)", readiness.check)):
        runs = 20 if label.startswith("before") else 300
        fn()
        lat = []
        for _ in range(runs):
            t = time.perf_counter()
            fn()
            lat.append((time.perf_counter() - t) * 1000)
        lat.sort()
        print(f"  {label:44} p50 {pct(lat, 50):8.3f}  p99 {pct(lat, 99):8.3f}")
    store.close()


def _scratch(home: Path, rows: int) -> str:
    """A migrated SQLite database with ``rows`` invoice rows (one hospital, anchored batches of 1,024)."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from ledger.adapters.sql.engine import upgrade
    from ledger.adapters.sql.store import B, H, I, SqlStore

    url = f"sqlite:///{home / 'scratch.sqlite'}"
    upgrade(url)
    store = SqlStore.open(url)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with store.engine.begin() as conn:
        conn.execute(insert(H).values(institution_id="H33060000001", name="scratch", region="330600",
                                      account="0x" + "11" * 20, keystore="", created_at=now))
        for start in range(0, rows, 1024):
            root = start.to_bytes(32, "big")
            n = min(1024, rows - start)
            conn.execute(insert(B).values(root=root, issuer="H33060000001", leaf_count=n, sealed_at=now,
                                          state="anchored", attempts=1, anchored_block=1, anchored_tx="0x",
                                          anchored_at=now))
            conn.execute(insert(I), [{
                "fingerprint": (start + i).to_bytes(32, "big"), "id": start + i + 1, "issuer": "H33060000001",
                "invoice_code": "33060001", "invoice_number": f"{start + i:010d}", "check_code": "ABCDEF",
                "issued_at": "2024-01-01T08:00:00+08:00", "issue_date": "2024-01-01", "visit_type": "outpatient",
                "patient": bytes(32), "total_fen": 100, "fund_paid_fen": 0, "account_paid_fen": 0,
                "cash_paid_fen": 100, "fee_line_count": 1, "fee_lines_root": bytes(32), "salt": bytes(16),
                "line_key": bytes(16), "schema_version": 1, "content_digest": bytes(32), "qr": "EBILL:",
                "received_at": now, "batch_root": root, "batch_index": i} for i in range(n)])
    store.add_counts({"store.invoices": rows, "store.invoices.batched": rows, "store.batches.sealed": -(-rows // 1024)})
    store.close()
    print(f"\n(scratch database: {rows:,} invoice rows written in {time.perf_counter() - started:.0f} s)")
    return url


if __name__ == "__main__":
    main()
