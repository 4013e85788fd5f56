"""Scale-out benchmark: claims/s and uploaded fee lines/s with one and with two API processes.

Everything on this machine: a throw-away PostgreSQL cluster (``tests/pg.py``), ``ebill node
start`` (anvil, automine), one ``ebill serve --role worker`` (chain worker, stamper), and
``ebill serve --role api --workers 1`` processes in front of one database. A hospital is
registered, the patients enrolled with the city supplement insurer (``sx-huiminbao``: no
deductible, so a claim pays something and is reserved on chain before it is answered) and
given e-vouchers minted in-process; a pool of invoices is uploaded and anchored first.

Then, for one API process and then for two (the second started next to the first; the
load spread over both in turn), a closed-loop load of ``--clients`` concurrent clients
for ``--duration`` seconds each:

- **uploads**: each client posts batches of ``--chunk`` new invoices (NDJSON); figure: fee
  lines acknowledged per second;
- **claims**: each client files one claim at a time on a pool invoice no claim touched;
  figure: claims answered 201 with their reservation confirmed per second.

The one-process figure is the baseline; the table shows the ratio. On a machine with few
cores the API processes, the worker, PostgreSQL and anvil share them: read the ratio with
the core count printed next to it.

Usage::

    .venv/bin/python scripts/bench_scale.py
    .venv/bin/python scripts/bench_scale.py --duration 20 --clients 16
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import pg  # noqa: E402

from ledger.adapters import anvil  # noqa: E402
from ledger.devtools import synth  # noqa: E402
from ledger.evoucher import VoucherIssuer  # noqa: E402

PEPPER_HEX = "c3" * 32
EBILL = Path(sys.executable).with_name("ebill")
ISSUER = "bench-evoucher"
PAYER = "sx-huiminbao"


@dataclass
class Figures:
    apis: int
    lines_per_s: float
    uploads: int
    claims_per_s: float
    claims: int
    other: int   # claim answers not counted (refused, not reserved in time, errors)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pool", type=int, default=1500, help="invoices uploaded first, for the claims")
    ap.add_argument("--lines", type=int, default=16, help="fee lines per invoice (on average)")
    ap.add_argument("--fresh", type=int, default=6000, help="invoices generated for the upload loads")
    ap.add_argument("--chunk", type=int, default=50, help="invoices per upload request")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients per load")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per load")
    ap.add_argument("--seed", type=int, default=2029)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="ebill-bench-scale-"))
    cluster = pg.Cluster().start()
    bench = Bench(home, cluster.url(), args)
    try:
        results = bench.run()
    finally:
        bench.stop()
        cluster.stop()
        if bench.refusal:   # the processes' logs say why
            print(f"claims not counted: see the logs in {home}", flush=True)
        else:
            shutil.rmtree(home, ignore_errors=True)
    report(results, args)


class Bench:
    def __init__(self, home: Path, db_url: str, args: Any) -> None:
        self.home, self.args = home, args
        self.issuer = VoucherIssuer.generate(ISSUER)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("EBILL_") or k == anvil.BINARY_ENV}
        self.env.update(EBILL_HOME=str(home), EBILL_DB=db_url, EBILL_PEPPER=PEPPER_HEX, EBILL_PAYER_ID=PAYER,
                        EBILL_KEYSTORE_PASSPHRASE="benchmark passphrase, not a secret",
                        EBILL_INSTANT_MAX_FEN=str(10**12), EBILL_FINAL_REVIEW_FROM_FEN=str(10**12),
                        EBILL_CLAIM_WAIT="30", EBILL_VOUCHER_PUBLIC_KEY=self.issuer.public_pem().decode(),
                        EBILL_VOUCHER_ISSUER=ISSUER, EBILL_PUBLIC_RATE_LIMIT="1000000/minute",
                        EBILL_LOG_LEVEL="warning")
        self.procs: list[subprocess.Popen[bytes]] = []
        self.apis: list[str] = []
        self.node_port = anvil.free_port()
        self.refusal = ""   # the first claim answer not counted, to show

    def ebill(self, *argv: str) -> str:
        done = subprocess.run([str(EBILL), *argv, "--home", str(self.home)], env=self.env, capture_output=True,
                              text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise SystemExit(f"ebill {' '.join(argv)}: {done.stdout}{done.stderr}")
        return done.stdout

    def serve(self, role: str) -> None:
        port = anvil.free_port()
        log = (self.home / f"serve-{len(self.procs)}-{role}.log").open("wb")
        argv = [str(EBILL), "serve", "--home", str(self.home), "--role", role, "--workers", "1", "--port", str(port),
                "--batch-max-age", "0.5"]
        self.procs.append(subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True))
        log.close()
        if role == "api":
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or self.procs[-1].poll() is not None:
                    raise SystemExit(f"serve --role api not healthy; see {log.name}")
                time.sleep(0.2)
            self.apis.append(base)

    def run(self) -> list[Figures]:
        a = self.args
        t = time.perf_counter()
        total = a.pool + a.fresh   # the pool, and new invoices for the upload loads
        ds = synth.generate(seed=a.seed, hospitals=1, invoices=total, fee_lines=total * a.lines,
                            pepper=bytes.fromhex(PEPPER_HEX))
        docs = list(synth.iter_documents(ds))
        h = ds.hospitals[0]
        self.ebill("node", "start", "--port", str(self.node_port))
        self.token = json.loads(self.ebill("hospital", "register", "--id", h.code, "--name", h.name, "--region",
                                           h.code[1:7], "--json"))["apiToken"]
        pool, self.fresh = docs[:a.pool], docs[a.pool:]
        nids = sorted({d["patientId"] for d in pool})
        with (self.home / "persons.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["nationalId", "name", "category"])
            w.writerows([n, f"person {n[-4:]}", "employee"] for n in nids)
        self.ebill("person", "enrol", "--csv", str(self.home / "persons.csv"))
        self.serve("worker")
        # the first instance deploys the contract on the managed dev node: the API process starts once the
        # worker leads (two first starts at once would each deploy one; production deploys beforehand)
        deadline = time.monotonic() + 120
        while not self._leading():
            if time.monotonic() > deadline or self.procs[0].poll() is not None:
                raise SystemExit("the worker did not take its lease; see serve-0-worker.log")
            time.sleep(0.2)
        self.serve("api")
        print(f"set-up: {len(docs):,} invoices generated; PostgreSQL, node, worker and API up in "
              f"{time.perf_counter() - t:.1f} s", flush=True)
        t = time.perf_counter()
        fps = self._upload_all(pool)
        tokens = {n: self.issuer.mint(n) for n in nids}
        self.taps = [(fp, tokens[d["patientId"]]) for fp, d in zip(fps, pool, strict=True)
                     if d["totalFen"] - d["fundPaidFen"] > 0]
        print(f"pool: {len(fps):,} invoices uploaded and anchored in {time.perf_counter() - t:.1f} s; "
              f"{len(self.taps):,} to claim", flush=True)
        fresh, taps = self.fresh, self.taps
        self.fresh, self.taps = fresh[:len(fresh) // 2], taps[:len(taps) // 2]
        results = [self.measure(1)]
        self.serve("api")
        self.fresh, self.taps = fresh[len(fresh) // 2:], taps[len(taps) // 2:]
        results.append(self.measure(2))
        return results

    def _leading(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.env["EBILL_DB"].replace("+psycopg", ""), autocommit=True) as conn:
                return bool(conn.execute("SELECT count(*) FROM leases WHERE name = 'chain-worker' "
                                         "AND holder != ''").fetchone()[0])  # type: ignore[index]
        except psycopg.Error:
            return False   # (not migrated yet)

    def _upload_all(self, docs: list[dict[str, Any]]) -> list[str]:
        fps: list[str] = []
        with httpx.Client(base_url=self.apis[0], headers={"Authorization": f"Bearer {self.token}"}, timeout=300) as c:
            for i in range(0, len(docs), 500):
                r = c.post("/v1/invoices", content=_ndjson(docs[i:i + 500]),
                           headers={"Content-Type": "application/x-ndjson"})
                r.raise_for_status()
                fps += [item["invoice"]["fingerprint"] for item in r.json()["items"] if item["status"] == "created"]
            while c.get("/v1/invoices", params={"state": "stored", "limit": 1}).json()["items"]:
                time.sleep(0.5)
        return fps

    def measure(self, apis: int) -> Figures:
        a = self.args
        lock = threading.Lock()
        counts = {"lines": 0, "uploads": 0, "claims": 0, "other": 0}

        def closed_loop(kind: str, n: int) -> None:
            base = self.apis[n % apis]
            with httpx.Client(base_url=base, timeout=120) as c:
                while time.monotonic() < deadline:
                    if kind == "uploads":
                        with lock:
                            chunk, self.fresh = self.fresh[:a.chunk], self.fresh[a.chunk:]
                        if not chunk:
                            return
                        r = c.post("/v1/invoices", content=_ndjson(chunk), headers={
                            "Authorization": f"Bearer {self.token}", "Content-Type": "application/x-ndjson"})
                        with lock:
                            if r.status_code == 200:
                                counts["uploads"] += 1
                                counts["lines"] += sum(len(d["feeLines"]) for d in chunk)
                        continue
                    with lock:
                        if not self.taps:
                            return
                        fp, token = self.taps.pop()
                    r = c.post("/v1/claims", json={"fingerprints": [fp]},
                               headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"scale-{fp}"})
                    ok = r.status_code == 201 and all(cl["state"] in ("approved", "paid", "in-review")
                                                      for cl in r.json().get("claims", []))
                    with lock:
                        counts["claims" if ok else "other"] += 1
                        if not ok and not self.refusal:
                            self.refusal = f"{r.status_code} {r.text[:300]}"

        figures: dict[str, float] = {}
        for kind in ("uploads", "claims"):
            deadline = time.monotonic() + a.duration
            started = time.monotonic()
            threads = [threading.Thread(target=closed_loop, args=(kind, n)) for n in range(a.clients)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            figures[kind] = time.monotonic() - started
            time.sleep(2.0)   # the worker catches up between loads
        f = Figures(apis, counts["lines"] / figures["uploads"], counts["uploads"],
                    counts["claims"] / figures["claims"], counts["claims"], counts["other"])
        print(f"{apis} API process(es): {f.lines_per_s:,.0f} fee lines/s ({f.uploads} uploads), "
              f"{f.claims_per_s:,.1f} claims/s ({f.claims} answered, {f.other} not counted"
              f"{': ' + self.refusal if self.refusal else ''})", flush=True)
        return f

    def stop(self) -> None:
        for p in reversed(self.procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
        subprocess.run([str(EBILL), "node", "stop", "--home", str(self.home)], env=self.env, capture_output=True,
                       timeout=60, check=False)


def _ndjson(docs: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(d) + b"\n" for d in docs)


def report(results: list[Figures], args: Any) -> None:
    base = results[0]
    print()
    print(f"scale-out on {os.cpu_count()} cores (API processes, worker, PostgreSQL and anvil share them); "
          f"{args.clients} clients, {args.duration:g} s per load, {args.chunk} invoices per upload")
    print(f"{'API processes':>13} | {'fee lines/s':>11} | {'x':>5} | {'claims/s':>8} | {'x':>5}")
    print(f"{'-' * 13}-+-{'-' * 11}-+-{'-' * 5}-+-{'-' * 8}-+-{'-' * 5}")
    for r in results:
        print(f"{r.apis:>13} | {r.lines_per_s:>11,.0f} | {r.lines_per_s / max(base.lines_per_s, 1e-9):>5.2f} | "
              f"{r.claims_per_s:>8,.1f} | {r.claims_per_s / max(base.claims_per_s, 1e-9):>5.2f}")


if __name__ == "__main__":
    main()
