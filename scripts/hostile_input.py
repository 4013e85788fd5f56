"""Hostile input against a real ``ebill serve``: does any one request take it down, or its memory up?

Starts ``ebill serve`` (``--workers`` API workers, default 2, on a managed anvil node) in a
temporary data directory, uploads a few invoices, then sends each attack of issue 11 in
turn and prints what the service answered, how long it took, and the resident memory of
the service's process tree (``ebill serve`` and its API workers; anvil is not counted),
sampled every 20 ms:

- a 1.1 MB body nested 100,000 deep, without credential, to every route with a JSON body;
  with a credential where the route's limit lets it in (enrolment) and 1,500 deep (10 KB)
  to the control routes;
- 200 MB streamed without credential to the upload route, and with a hospital's credential;
- 90 MB of ``[[],[],…]`` streamed to ``POST /v1/persons`` with the admin's credential;
- image bombs at the public verifier: a 16000×16000 and a 12000×12000 RGB PNG;
- the feed cursor beyond a 64-bit block number, a NUL in a web path;
- one invoice with 40,000 broken fee lines (the problem list is capped);
- 2,000 forged QR payloads without credential (rate-limited; counted, not audited).

**Baseline, same run:** the same service answering 2,000 ordinary requests (health,
verification of a real invoice, an invoice read) before the attacks, so the memory a
busy, well-behaved hour costs is printed beside what the attacks cost. Afterwards the
service must still answer, and its log must report no dead API worker.

Usage: ``.venv/bin/python scripts/hostile_input.py [--workers 2]``
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_upload import PEPPER_HEX, free_port, register, rss_of_tree, wait_health  # noqa: E402

from ledger.devtools import synth  # noqa: E402

MIB = 2**20


class Sampler:
    """The RSS of a process tree, sampled in a thread; the peak since the last :meth:`mark`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = self.now = self.highest = rss_of_tree(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.now = rss_of_tree(self.pid)
            self.peak = max(self.peak, self.now)
            self.highest = max(self.highest, self.now)

    def mark(self) -> None:
        self.now = rss_of_tree(self.pid)
        self.peak = self.now

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def deep(levels: int) -> bytes:
    return b'{"a": ' * levels + b"1" + b"}" * levels


def chunks(total: int, fill: bytes, size: int = MIB) -> Iterator[bytes]:
    block = (fill * (size // len(fill) + 1))[:size]
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield block[:n]


def png_bomb(width: int, height: int, *, rgb: bool) -> bytes:
    """A PNG of ``width`` × ``height`` zero pixels: tiny on the wire, huge once decoded."""
    channels = 3 if rgb else 1
    row = b"\0" * (1 + width * channels)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2 if rgb else 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="ebill-hostile-"))
    env = {**os.environ, "EBILL_HOME": str(home), "EBILL_PEPPER": PEPPER_HEX,
           "EBILL_KEYSTORE_PASSPHRASE": "hostile-input run, not a secret", "EBILL_ANVIL_PORT": str(free_port())}
    os.environ.update(env)
    ds = synth.generate(seed=11, hospitals=1, invoices=20, fee_lines=400, pepper=bytes.fromhex(PEPPER_HEX))
    docs = list(synth.iter_documents(ds))
    tokens = register(ds, {ds.hospitals[0].code: []})
    hospital = tokens[ds.hospitals[0].code]
    admin = _cli(env, "credential", "create", "--role", "admin", "--subject", "hostile-run")
    payer = _cli(env, "credential", "create", "--role", "payer", "--subject", "330600-ybj")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = subprocess.Popen([str(ROOT / ".venv/bin/ebill"), "serve", "--port", str(port), "--workers",
                              str(args.workers), "--batch-max-age", "0.2"], env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=(home / "serve.log").open("wb"))
    try:
        wait_health(base, serve, home)
        http = httpx.Client(base_url=base, timeout=120)
        h_auth = {"Authorization": f"Bearer {hospital}"}
        up = http.post("/v1/invoices", json=docs, headers=h_auth)
        assert up.status_code == 200, up.text
        fps = [i["invoice"]["fingerprint"] for i in up.json()["items"]]
        while http.get(f"/v1/invoices/{fps[-1]}", headers=h_auth).json()["state"] != "anchored":
            time.sleep(0.2)
        qr = http.get(f"/v1/invoices/{fps[0]}/qr", headers=h_auth).text
        time.sleep(1.0)
        sampler = Sampler(serve.pid)
        before = sampler.now
        print(f"ebill serve with {args.workers} API workers, pid {serve.pid}; service memory (RSS of serve and its "
              f"API workers) at rest: {before / MIB:,.0f} MB\n")
        print(f"{'what':66} {'answers':20} {'seconds':>8} {'peak MB':>9} {'after MB':>9}")

        def run(label: str, attack: Callable[[], list[int]]) -> None:
            sampler.mark()
            t0 = time.perf_counter()
            statuses = attack()
            took = time.perf_counter() - t0
            time.sleep(0.3)
            answers = ", ".join(f"{n}×{s}" if n > 1 else str(s) for s, n in sorted(Counter(statuses).items()))
            print(f"{label:66} {answers:20} {took:8.2f} {sampler.peak / MIB:9,.0f} {sampler.now / MIB:9,.0f}")

        # baseline: ordinary traffic of the same size as the largest attack below
        run("baseline: 2,000 ordinary requests (health, verify, read)", lambda: [
            (http.get("/v1/health", headers=h_auth) if n % 3 == 0 else
             http.post("/v1/verify", json={"payload": qr}, headers=h_auth) if n % 3 == 1 else
             http.get(f"/v1/invoices/{fps[n % len(fps)]}", headers=h_auth)).status_code for n in range(2000)])
        baseline_after, baseline_peak = sampler.now, sampler.peak
        sampler.highest = sampler.now

        json_routes = ["/v1/claims", "/v1/persons", "/v1/delegations", f"/v1/invoices/{fps[1]}/void",
                       "/v1/hospitals", "/v1/credentials", "/v1/claims/clm_00000000000000000000/approve",
                       "/v1/claims/clm_00000000000000000000/reject", "/v1/claims/clm_00000000000000000000/appeal"]
        bomb = deep(160_000)
        js = {"content-type": "application/json"}
        run(f"{len(bomb) / 1e6:.1f} MB nested 160,000 deep, no credential, {len(json_routes)} routes",
            lambda: [http.post(r, content=bomb, headers=js).status_code for r in json_routes])
        a_auth = {**js, "Authorization": f"Bearer {admin}"}
        run(f"{len(bomb) / 1e6:.1f} MB nested 160,000 deep, admin, enrolment/hospitals/credentials",
            lambda: [http.post(r, content=bomb, headers=a_auth).status_code
                     for r in ("/v1/persons", "/v1/hospitals", "/v1/credentials")])
        run("10 KB nested 1,500 deep, admin, enrolment/hospitals/credentials",
            lambda: [http.post(r, content=deep(1_500), headers=a_auth).status_code
                     for r in ("/v1/persons", "/v1/delegations", "/v1/hospitals", "/v1/credentials")])
        run("200 MB streamed, no credential, POST /v1/invoices",
            lambda: [http.post("/v1/invoices", content=chunks(200 * MIB, b"x"), headers=js).status_code])
        run("200 MB streamed, hospital credential, POST /v1/invoices",
            lambda: [http.post("/v1/invoices", content=chunks(200 * MIB, b"[[],"), headers={**js, **h_auth}
                               ).status_code])
        run("90 MB of [[],[],…] streamed, admin, POST /v1/persons",
            lambda: [http.post("/v1/persons", content=chunks(90 * MIB, b"[],"), headers=a_auth).status_code])
        bombs = [("16000×16000 grey", png_bomb(16000, 16000, rgb=False)),
                 ("12000×12000 RGB", png_bomb(12000, 12000, rgb=True))]
        for name, image in bombs:
            run(f"PNG bomb {name} ({len(image) / 1e3:,.0f} KB), POST /v1/verify",
                lambda image=image: [http.post("/v1/verify", content=image,  # type: ignore[misc]
                                               headers={"content-type": "image/png"}).status_code])
        run("feed cursor beyond int64; NUL in a web path", lambda: [
            http.get(f"/v1/feed/batches?after=9223372036854775808:0x{'00' * 32}",
                     headers={"Authorization": f"Bearer {payer}"}).status_code,
            http.get("/app/%00index.html").status_code])
        line = b'{"feeLines": [' + b",".join([b"{}"] * 60) + b"]}\n"
        nd = {"content-type": "application/x-ndjson", **h_auth}
        reports: list[httpx.Response] = []

        def many_problems() -> list[int]:
            reports.append(http.post("/v1/invoices", content=line * 5000, headers=nd))
            return [reports[-1].status_code]

        run(f"5,000 invoices of 60 empty fee lines ({len(line) * 5000 / 1e6:.1f} MB NDJSON)", many_problems)
        print(f"{'':66} (answer: {len(reports[0].content) / 1e6:,.1f} MB, "
              f"{reports[0].json().get('problemCount', 0):,} problems counted)")
        audits_before = _audit_rows(home)
        forged = qr[:-6] + ("AAAAAA" if not qr.endswith("AAAAAA") else "BBBBBB")
        run("2,000 forged QR payloads, no credential, POST /v1/verify",
            lambda: [http.post("/v1/verify", json={"payload": forged}).status_code for _ in range(2000)])
        print(f"{'':66} (audit rows added: {_audit_rows(home) - audits_before})")

        sampler.stop()
        after = rss_of_tree(serve.pid)
        alive = http.get("/v1/health").status_code, http.post("/v1/verify", json={"payload": qr},
                                                              headers=h_auth).json()["status"]
        died = [line for line in (home / "serve.log").read_text(errors="replace").splitlines() if "died" in line]
        print(f"\nservice memory: before {before / MIB:,.0f} MB · after the baseline {baseline_after / MIB:,.0f} MB "
              f"(peak {baseline_peak / MIB:,.0f} MB) · peak during the attacks {sampler.highest / MIB:,.0f} MB · "
              f"after {after / MIB:,.0f} MB")
        print(f"afterwards: /v1/health {alive[0]}, a real invoice verifies as {alive[1]!r}; "
              f"dead API workers reported: {len(died)}")
        for line in died:
            print("  " + line)
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=60)


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(ROOT / ".venv/bin/ebill"), *args], env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip().splitlines()[-1]


def _audit_rows(home: Path) -> int:
    with sqlite3.connect(f"file:{home / 'ebill.sqlite'}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0])


if __name__ == "__main__":
    main()
