"""End to end: two API processes and two workers on one PostgreSQL; the leading worker is killed mid-round.

The guarantee under test (issue 15, several instances): ``ebill serve --role api`` twice and
``ebill serve --role worker`` twice against one database and one anvil node. Uploads and claims
flow through both API processes without a pause; the worker leading the chain worker's lease
(and, having started first, the payer's stamper and the notifier) gets SIGKILL while it works.
The other worker's advisory-lock attempt succeeds as soon as PostgreSQL ends the dead session:
it takes over within :data:`FAILOVER_BOUND` seconds (measured from the kill to the new epoch in
the lease row, and printed). Afterwards every acknowledged upload is anchored, once: one
``BatchAnchored`` event per root on chain; every claim a citizen was answered about exists and
settles; none is reserved, finalised or paid twice.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from test_claims_crash import FINAL, PAYER, PEPPER, ClaimsDeployment, Invoice, category_of, stage
from test_serve_restart import EBILL, _wait_for

from ledger.adapters import anvil
from ledger.devtools import synth
from ledger.devtools.vouchers import dev_issuer

pytestmark = [pytest.mark.anvil, pytest.mark.slow, pytest.mark.postgres]

#: seconds from the leader's death to its successor's new epoch
FAILOVER_BOUND = 5.0
FIRST = 40          # invoices uploaded and anchored before the load (the claims' pool)
LATER = 160         # invoices uploaded during the load, in chunks
CHUNK = 8


class PgCluster(ClaimsDeployment):
    """One data directory and one PostgreSQL database shared by every ``ebill serve`` process."""

    def __init__(self, home: Path, db_url: str) -> None:
        super().__init__(home)
        self.db_url = db_url
        self.env.update(EBILL_DB=db_url, EBILL_CLAIM_WAIT="3")
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.apis: dict[str, httpx.Client] = {}

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.db_url.replace("+psycopg", ""), autocommit=True) as conn:
            return conn.execute(query, args).fetchall()  # type: ignore[arg-type]

    def start_role(self, name: str, role: str) -> subprocess.Popen[bytes]:
        log = (self.home / f"{name}.log").open("wb")
        args = [str(EBILL), "serve", "--home", str(self.home), "--role", role, "--workers", "1",
                "--batch-max-age", "0.2", "--payer", PAYER, "--log-format", "console"]
        port = anvil.free_port()
        if role == "api":
            args += ["--port", str(port)]
        proc = subprocess.Popen(args, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        self.procs[name] = proc
        self._serves.append(proc)
        if role == "api":
            self.apis[name] = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                                           limits=httpx.Limits(max_connections=8))
        return proc

    def wait_api(self, name: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.procs[name].poll() is None, self.log_of(name)
            with contextlib.suppress(httpx.HTTPError):
                if self.apis[name].get("/v1/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"{name} not healthy:\n{self.log_of(name)}")

    def log_of(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""

    def leases(self) -> dict[str, tuple[int, int]]:
        """Lease name -> (holder's pid, epoch), for the leases held."""
        return {name: (int(holder.split(":")[1]), int(epoch))
                for name, holder, epoch in self.sql("SELECT name, holder, epoch FROM leases WHERE holder != ''")}

    def cleanup(self) -> None:
        for client in self.apis.values():
            client.close()
        super().cleanup()


@pytest.fixture
def cluster(tmp_path: Path, fresh_postgres_url: str) -> Iterator[PgCluster]:
    c = PgCluster(tmp_path / "home", fresh_postgres_url)
    c.home.mkdir()
    try:
        yield c
    finally:
        c.cleanup()


def _set_up(c: PgCluster) -> tuple[str, list[dict[str, Any]]]:
    """Node, hospital, payer credential, persons and tokens; the hospital's code and the later uploads."""
    ds = synth.generate(seed=11, hospitals=1, invoices=FIRST + LATER, fee_lines=(FIRST + LATER) * 40, pepper=PEPPER)
    docs = list(synth.iter_documents(ds))
    code, name = ds.hospitals[0].code, ds.hospitals[0].name
    c.start_node()
    c.register_all([(code, name)])
    c.payer_token = c.ebill("credential", "create", "--home", str(c.home), "--role", "payer", "--subject", PAYER,
                            "--label", "e2e reviewer").stdout.strip().splitlines()[-1]
    first = docs[:FIRST]
    nids = sorted({doc["patientId"] for doc in first})
    with (c.home / "persons.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["nationalId", "name", "category"])
        w.writerows([n, f"person {n[-4:]}", category_of(n)] for n in nids)
    c.ebill("person", "enrol", "--home", str(c.home), "--csv", str(c.home / "persons.csv"))
    c.citizens[nids[0]] = c.ebill("citizen", "token", "--home", str(c.home),
                                  "--national-id", nids[0]).stdout.strip().replace("\n", "")
    issuer = dev_issuer(c.home)
    c.citizens.update({n: issuer.mint(n) for n in nids[1:]})
    stage("node, hospital, persons and tokens ready")
    return code, docs


def _upload(client: httpx.Client, token: str, docs: list[dict[str, Any]]) -> list[str]:
    r = client.post("/v1/invoices", json=docs, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert r.status_code == 200, r.text
    return [item["invoice"]["fingerprint"] for item in r.json()["items"] if item["status"] in ("created", "duplicate")]


def test_leading_worker_killed_mid_round_the_other_takes_over(cluster: PgCluster) -> None:
    c = cluster
    code, docs = _set_up(c)
    token = c.tokens[code]
    # the first worker leads everything; then the second worker and both API processes, at once
    c.start_role("worker-1", "worker")
    _wait_for(lambda: {"chain-worker", f"claims-stamper:{PAYER}", "notifications"} <= set(c.leases()), 90,
              "the first worker did not take its leases", every=0.2)
    w1 = c.procs["worker-1"].pid
    assert {pid for pid, _ in c.leases().values()} == {w1}
    for name, role in (("worker-2", "worker"), ("api-1", "api"), ("api-2", "api")):
        c.start_role(name, role)
    c.wait_api("api-1")
    c.wait_api("api-2")
    a1, a2 = c.apis["api-1"], c.apis["api-2"]
    c.http.close()
    c.http = httpx.Client(base_url=a1.base_url, timeout=60)   # (the helpers' reads and approvals)
    stage("two workers and two API processes running on one PostgreSQL")

    acknowledged = _upload(a1, token, docs[:FIRST])
    assert len(acknowledged) == FIRST
    _wait_for(lambda: all(a2.get(f"/v1/invoices/{fp}", headers={"Authorization": f"Bearer {c.auditor}"})
                          .json()["state"] == "anchored" for fp in acknowledged), 60, "first uploads not anchored",
              every=0.3)
    for nid in {d["patientId"] for d in docs[:FIRST]}:
        listing = a2.get("/v1/me/invoices", headers={"Authorization": f"Bearer {c.citizens[nid]}"})
        assert listing.status_code == 200, listing.text
        for i in listing.json()["invoices"]:
            if i["claimable"]:
                c.invoices.append(Invoice(i["fingerprint"], code, nid, 0, i["estimateFen"]))
    assert sum(1 for i in c.invoices if i.estimate_fen) >= 5, "too few invoices with something to pay back"
    stage(f"{FIRST} invoices anchored; {len(c.invoices)} claimable")

    # continuous load through both API processes
    stop = threading.Event()
    claims: list[tuple[Invoice, str]] = []
    errors: list[str] = []
    apis = itertools.cycle([a1, a2])
    lock = threading.Lock()

    def uploader() -> None:
        for n, start in enumerate(range(FIRST, FIRST + LATER, CHUNK)):
            if stop.is_set():
                return
            client = a1 if n % 2 else a2
            try:
                fps = _upload(client, token, docs[start:start + CHUNK])
            except (httpx.HTTPError, AssertionError) as exc:   # unanswered: not acknowledged, may be retried
                errors.append(f"upload: {exc}")
                continue
            with lock:
                acknowledged.extend(fps)
            time.sleep(0.15)

    def claimer() -> None:
        for inv in list(c.invoices):
            if stop.is_set():
                return
            with lock:
                client = next(apis)
            try:
                r = client.post("/v1/claims", json={"fingerprints": [inv.fingerprint]}, timeout=60,
                                headers={"Authorization": f"Bearer {c.citizens[inv.national_id]}",
                                         "Idempotency-Key": f"failover-{inv.fingerprint}"})
            except httpx.HTTPError as exc:
                errors.append(f"claim: {exc}")
                continue
            assert r.status_code in (200, 201, 202), r.text
            with lock:
                claims.extend((inv, cl["id"]) for cl in r.json()["claims"])
            time.sleep(0.2)

    threads = [threading.Thread(target=uploader), threading.Thread(target=claimer)]
    for t in threads:
        t.start()
    time.sleep(2.0)

    def in_flight() -> bool:
        """Work the leader holds in hand: invoices not yet anchored and claims not yet stamped."""
        (waiting,), = c.sql("SELECT count(*) FROM invoices i LEFT JOIN batches b ON b.root = i.batch_root "
                            "WHERE b.state IS DISTINCT FROM 'anchored'")
        (stamping,), = c.sql("SELECT count(*) FROM claims WHERE chain_todo IS NOT NULL")
        return bool(waiting and stamping)

    _wait_for(in_flight, 20, "no round in flight to kill", every=0.02)
    before = c.leases()
    assert before["chain-worker"][0] == w1
    os.killpg(w1, signal.SIGKILL)
    killed = time.monotonic()
    c.procs["worker-1"].wait(timeout=10)
    w2 = c.procs["worker-2"].pid

    def taken_over() -> bool:
        now = c.leases()
        return all(now.get(name, (0, 0))[0] == w2 and now[name][1] > before[name][1] for name in before)

    _wait_for(taken_over, 30, "the second worker did not take over", every=0.05)
    failover = time.monotonic() - killed
    print(f"\nFAILOVER: the second worker led every lease {failover:.2f} s after the leader's SIGKILL "
          f"(bound {FAILOVER_BOUND:.0f} s); epochs {before} -> {c.leases()}", flush=True)
    stage(f"failover in {failover:.2f} s")
    for t in threads:
        t.join(timeout=120)
    stop.set()
    stage(f"load done: {len(acknowledged)} uploads acknowledged, {len(claims)} claims answered, "
          f"{len(errors)} requests unanswered")
    assert failover <= FAILOVER_BOUND, f"failover took {failover:.2f} s"

    # every acknowledged upload anchored, once, on chain
    def unanchored() -> int:
        rows = c.sql("SELECT count(*) FROM invoices i LEFT JOIN batches b ON b.root = i.batch_root "
                     "WHERE b.state IS DISTINCT FROM 'anchored'")
        return int(rows[0][0])

    _wait_for(lambda: unanchored() == 0, 60, "some invoices were not anchored", every=0.3)
    stored = {"0x" + bytes(fp).hex(): "0x" + bytes(root).hex()
              for fp, root in c.sql("SELECT fingerprint, batch_root FROM invoices")}
    assert set(acknowledged) <= set(stored), "an acknowledged upload is missing from the store"
    on_chain = c.anchored_events()
    roots = {stored[fp] for fp in acknowledged}
    assert all(on_chain[root] == 1 for root in roots), {r: on_chain[r] for r in roots if on_chain[r] != 1}
    assert all(n == 1 for n in on_chain.values()), "a root was anchored twice"

    # every answered claim settles; none stamped or paid twice
    settled = {claim_id: c.settle(claim_id, timeout=60) for _, claim_id in claims}
    assert all(s["state"] in FINAL for s in settled.values())
    payments = c.bank_payments()
    assert all(n == 1 for n in payments.values()), payments
    for inv, claim_id in claims:
        s = settled[claim_id]
        chain_id = s["stamp"]["chainClaimId"]
        mine = Counter(e.status for e in c.stamp_events(inv.fingerprint) if e.claim_id == chain_id)
        assert all(n == 1 for n in mine.values()), (claim_id, mine)
        if s["state"] == "paid":
            assert payments[claim_id] == 1 and mine["finalized"] == 1, (s, mine)
    stage(f"{len(roots)} batches anchored once; {len(claims)} claims settled, "
          f"{sum(1 for s in settled.values() if s['state'] == 'paid')} paid once")
    log2 = (c.home / "worker-2.log").read_text(errors="replace")
    assert "leading lease chain-worker (fencing token 2)" in log2 and "Traceback" not in log2, log2[-6000:]
    assert c.procs["worker-2"].poll() is None and all(c.procs[n].poll() is None for n in ("api-1", "api-2"))
