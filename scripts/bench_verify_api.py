"""POST /v1/verify under load, against ``ebill serve`` on a managed anvil node.

Uploads a few hundred invoices, waits until they are anchored, then measures on loopback:

- **baseline, same run:** a bare ``eth_call`` round trip to the node (``invoiceRecord``,
  the one call a verification must make every time), p50/p99;
- POST /v1/verify one request at a time: p50/p99 latency;
- POST /v1/verify paced at ``--rate`` requests/s by ``--clients`` concurrent clients for
  ``--seconds``: achieved rate and p50/p99/max latency (target: p99 ≤ 10 ms at 1,000/s).

The load generator is Python and shares the machine's two cores with the service and
anvil, so the figures are a floor of what the service does on its own machine.

Usage: ``.venv/bin/python scripts/bench_verify_api.py [--rate 1000] [--seconds 10] [--clients 16]``
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

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_upload import PEPPER_HEX, free_port, pct, register, wait_health  # noqa: E402

from ledger import synth  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--invoices", type=int, default=300)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="ebill-verify-bench-"))
    env = {**os.environ, "EBILL_HOME": str(home), "EBILL_PEPPER": PEPPER_HEX,
           "EBILL_KEYSTORE_PASSPHRASE": "benchmark passphrase, not a secret", "EBILL_ANVIL_PORT": str(free_port())}
    os.environ.update(env)
    ds = synth.generate(seed=5, hospitals=3, invoices=args.invoices, fee_lines=args.invoices * 20,
                        pepper=bytes.fromhex(PEPPER_HEX))
    per_hospital: dict[str, list[bytes]] = {}
    for doc in synth.iter_documents(ds):
        per_hospital.setdefault(doc["issuer"], []).append(orjson.dumps(doc) + b"\n")
    tokens = register(ds, per_hospital)
    port = free_port()
    serve = subprocess.Popen([str(ROOT / ".venv/bin/ebill"), "serve", "--port", str(port), "--workers",
                              str(args.workers), "--batch-max-age", "0.2"], env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=(home / "serve.log").open("wb"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_health(base, serve, home)
        qrs = []
        with httpx.Client(base_url=base, timeout=120) as http:
            for h, lines in per_hospital.items():
                r = http.post("/v1/invoices", content=b"".join(lines),
                              headers={"Authorization": f"Bearer {tokens[h]}", "Content-Type": "application/x-ndjson"})
                qrs += [i["invoice"]["qr"] for i in r.json()["items"]]
            deadline = time.monotonic() + 60
            while http.get("/v1/health").json()["store"]["batchesWaiting"] or \
                    http.get("/v1/health").json()["store"]["unbatched"]:
                if time.monotonic() > deadline:
                    sys.exit("not anchored in 60 s")
                time.sleep(0.2)
            first = http.post("/v1/verify", json={"payload": qrs[0]}).json()
            assert first["status"] == "anchored", first
        print(f"{len(qrs)} invoices uploaded and anchored; verifying them round-robin")
        baseline_eth_call(home, next(iter(per_hospital)))
        sequential(base, qrs)
        loaded(base, qrs, args)
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=60)


def baseline_eth_call(home: Path, issuer: str) -> None:
    from ledger.adapters import anvil
    from ledger.adapters.chains import open_node

    state = anvil.status(home / "node")
    assert state is not None
    session = open_node("anvil", url=state["url"], home=home, deploy=False)
    fn = session.ledger.contract.functions.invoiceRecord(issuer.encode().ljust(32, b"\0"), b"\1" * 32)
    times = []
    for _ in range(500):
        t = time.perf_counter()
        fn.call()
        times.append(time.perf_counter() - t)
    times.sort()
    print(f"  baseline: eth_call via web3 contract    p50 {pct(times, 50) * 1000:6.2f} ms   "
          f"p99 {pct(times, 99) * 1000:6.2f} ms")
    raw = []
    for _ in range(500):
        t = time.perf_counter()
        session.ledger.invoice_state(issuer, b"\1" * 32)  # type: ignore[arg-type]
        raw.append(time.perf_counter() - t)
    raw.sort()
    print(f"  baseline: bare eth_call (raw JSON-RPC)  p50 {pct(raw, 50) * 1000:6.2f} ms   "
          f"p99 {pct(raw, 99) * 1000:6.2f} ms")


def sequential(base: str, qrs: list[str]) -> None:
    times = []
    with httpx.Client(base_url=base) as http:
        for i in range(1000):
            t = time.perf_counter()
            r = http.post("/v1/verify", json={"payload": qrs[i % len(qrs)]})
            times.append(time.perf_counter() - t)
            assert r.status_code == 200
    times.sort()
    print(f"  POST /v1/verify, one at a time          p50 {pct(times, 50) * 1000:6.2f} ms   "
          f"p99 {pct(times, 99) * 1000:6.2f} ms   ({1 / (sum(times) / len(times)):,.0f} req/s)")


def loaded(base: str, qrs: list[str], args: argparse.Namespace) -> None:
    interval = args.clients / args.rate            # each client sends every `interval` seconds
    stop_at = time.perf_counter() + args.seconds
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def client(k: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            next_at = time.perf_counter() + k * interval / args.clients
            i = k
            while True:
                now = time.perf_counter()
                if now >= stop_at:
                    return
                if next_at > now:
                    time.sleep(next_at - now)
                t = time.perf_counter()
                r = http.post("/v1/verify", json={"payload": qrs[i % len(qrs)]})
                d = time.perf_counter() - t
                with lock:
                    lat.append(d)
                    errors[0] += r.status_code != 200
                next_at += interval
                i += args.clients

    threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t0
    lat.sort()
    print(f"  POST /v1/verify at {args.rate:,.0f}/s asked    achieved {len(lat) / elapsed:,.0f}/s   "
          f"p50 {pct(lat, 50) * 1000:6.2f} ms   p99 {pct(lat, 99) * 1000:6.2f} ms   max {lat[-1] * 1000:6.1f} ms   "
          f"errors {errors[0]}   (target p99 ≤ 10 ms at 1,000/s)")


if __name__ == "__main__":
    main()
