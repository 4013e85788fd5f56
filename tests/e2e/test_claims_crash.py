"""End to end: the claims service crashes in its dangerous windows and comes back without paying twice.

The guarantee under test (issue 5, crash safety): whatever moment ``ebill serve`` dies,
after a restart every claim is reserved on chain at most once, paid by the bank at most
once and finalised on chain at most once, and none is left stuck; a client that lost its
answer retries with the same ``Idempotency-Key`` and gets the same claim back.

Everything runs as the operator would: ``ebill node start`` (anvil, automine), ``ebill
hospital register --json``, ``ebill person enrol --csv``, ``ebill credential create
--role payer``, ``ebill citizen token``, and ``ebill serve --workers 1`` in a throw-away
``--home`` with free ports. The crashes are the failpoints of :mod:`ledger.devtools.failpoints`
(``EBILL_FAILPOINTS`` in serve's environment: the process ``os._exit``\\s at that point,
like a SIGKILL) and a real SIGKILL of serve's process group with 20 claims in flight.
The checks read the service over HTTP, its SQLite file directly while it is dead, the
simulated bank's file, and the chain itself (``ReimbursementReserved`` /
``ReimbursementFinalized`` events, ``invoiceRecord``, ``claimOf``).

One anvil node and one data directory serve the whole module (set-up is the slow part);
each test claims invoices no other test touches.
"""

from __future__ import annotations

import contextlib
import csv
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_serve_restart import EBILL, Deployment, _group_alive, _wait_for

from ledger.adapters.bank import SimulatedBank
from ledger.adapters.events import EventReader
from ledger.devtools import synth
from ledger.devtools.failpoints import EXIT_CODE
from ledger.devtools.vouchers import dev_issuer

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

PEPPER = b"e2e-claims-crash-pepper-0123456789"
PAYER = "330600-ybj"
INVOICES = 48
FINAL = {"paid", "refused", "nothing-payable", "rejected"}
SETTLED = FINAL | {"in-review"}     # a claim may wait for a reviewer; it must not wait for the machine


def category_of(national_id: str) -> str:
    """As in tests/api/claims_stack.py: retired from 60, else employee or resident."""
    born = int(national_id[6:10])
    if born <= 1964:
        return "retired"
    return "employee" if int(national_id[14:17]) % 3 else "resident"


# ---------------------------------------------------------------------------------- the deployment


class ClaimsDeployment(Deployment):
    """A payer's ``ebill serve`` (claims enabled, instant payout for any amount) that tests crash on purpose."""

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.env.update(EBILL_PEPPER=PEPPER.hex(), EBILL_PAYER_ID=PAYER, EBILL_INSTANT_MAX_FEN="10000000",
                        EBILL_CLAIM_WAIT="15")
        self.payer_token = ""
        self.citizens: dict[str, str] = {}        # national id -> e-voucher
        self.invoices: list[Invoice] = []         # anchored, something to pay, one per person: the tests' pool
        self.others: list[Invoice] = []           # the rest of the anchored invoices
        self._pool_lock = threading.Lock()

    def start_claims_serve(self, *, failpoints: str = "") -> subprocess.Popen[bytes]:
        """``ebill serve --workers 1`` (API, chain worker and stamper in one process), maybe armed to crash."""
        if self.serve is not None and self.serve.poll() is None:
            self.kill_serve()
        n = len(self._serves)
        log = (self.home / f"serve-{n}.log").open("wb")
        env = dict(self.env)
        if failpoints:
            env["EBILL_FAILPOINTS"] = failpoints
        args = [str(EBILL), "serve", "--home", str(self.home), "--port", str(self.api_port), "--workers", "1",
                "--batch-max-age", "0.2", "--payer", PAYER]
        proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        self.serve = proc
        self._serves.append(proc)
        self.http.close()
        self.http = httpx.Client(base_url=self.url, timeout=60, limits=httpx.Limits(max_connections=32))
        t0 = time.monotonic()
        self.wait_healthy(proc)
        stage(f"serve healthy after {time.monotonic() - t0:.1f} s")
        return proc

    def wait_crashed(self, timeout: float = 20) -> None:
        """serve hit its failpoint: it exited with the failpoint's code, and nothing of it lives on."""
        assert self.serve is not None
        try:
            code = self.serve.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"serve did not reach its failpoint within {timeout} s\n{self.serve_log()}") from None
        assert code == EXIT_CODE, f"serve exited {code}, not at a failpoint\n{self.serve_log()}"
        pgid = self.serve.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        _wait_for(lambda: not _group_alive(pgid), 10, "serve's process group outlived it")
        self.serve = None

    # -------------------------------------------------------------- claims over HTTP

    def take(self, n: int) -> list[Invoice]:
        """``n`` invoices with something to pay back, of different persons, that no other test claims."""
        with self._pool_lock:
            assert len(self.invoices) >= n, f"the data set has only {len(self.invoices)} such invoices left"
            taken, self.invoices = self.invoices[:n], self.invoices[n:]
        return taken

    def take_any(self, n: int) -> list[Invoice]:
        """``n`` invoices no other test claims (some persons twice; some may pay nothing after the deductible)."""
        with self._pool_lock:
            pool = self.invoices + self.others
            assert len(pool) >= n, f"the data set has only {len(pool)} unclaimed invoices left"
            taken = pool[:n]
            self.invoices = [i for i in self.invoices if i not in taken]
            self.others = [i for i in self.others if i not in taken]
        return taken

    def post_claim(self, inv: Invoice, key: str, *, timeout: float = 30) -> httpx.Response:
        return self.http.post("/v1/claims", json={"fingerprints": [inv.fingerprint]}, timeout=timeout,
                              headers={"Authorization": f"Bearer {self.citizens[inv.national_id]}",
                                       "Idempotency-Key": key})

    def claim(self, claim_id: str) -> dict[str, Any]:
        r = self.http.get(f"/v1/claims/{claim_id}", headers={"Authorization": f"Bearer {self.payer_token}"})
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def settle(self, claim_id: str, *, timeout: float = 30) -> dict[str, Any]:
        """Until the claim is final and nothing is pending on chain; a claim in review is approved first."""
        deadline = time.monotonic() + timeout
        c: dict[str, Any] = {}
        while time.monotonic() < deadline:
            c = self.claim(claim_id)
            if c["state"] == "in-review":
                r = self.http.post(f"/v1/claims/{claim_id}/approve", json={"reason": "e2e: looks right"},
                                   headers={"Authorization": f"Bearer {self.payer_token}"})
                assert r.status_code in (200, 409), r.text
                continue
            if c["state"] in FINAL and c["stamp"]["pending"] is None:
                return c
            time.sleep(0.1)
        raise AssertionError(f"claim {claim_id} not settled within {timeout} s: {c}\n{self.serve_log()}")

    # -------------------------------------------------------------- money, read where it lives

    def bank_payments(self) -> Counter[str]:
        """Payments per request id (= claim id) in the simulated bank's file."""
        return Counter(p.request_id for p in SimulatedBank(self.home / "bank.sqlite").payments())

    def stamp_events(self, fingerprint: str) -> list[Any]:
        return EventReader(self.ledger).stamps(bytes.fromhex(fingerprint[2:]))

    def claim_row(self, claim_id: str) -> tuple[Any, ...]:
        rows = self.store_rows(f"select state, chain_todo, stamp, payment_ref from claims where id = '{claim_id}'")
        assert len(rows) == 1, rows
        return rows[0]

    def assert_paid_once(self, c: dict[str, Any], inv: Invoice) -> None:
        """Paid by the bank once, reserved once and finalised once on chain, for exactly its amount."""
        assert c["state"] == "paid" and c["stamp"]["status"] == "finalized", c
        assert self.bank_payments()[c["id"]] == 1
        payment = SimulatedBank(self.home / "bank.sqlite").payment(c["id"])
        assert payment is not None and payment.amount_fen == c["amountFen"]
        assert payment.reference == c["payment"]["reference"]
        chain_id = c["stamp"]["chainClaimId"]
        mine = [e for e in self.stamp_events(inv.fingerprint) if e.claim_id == chain_id]
        assert Counter(e.status for e in mine) == {"reserved": 1, "finalized": 1}, mine
        assert all(e.amount_fen == c["amountFen"] for e in mine), mine
        state = self.ledger.invoice_state(inv.issuer, bytes.fromhex(inv.fingerprint[2:]))
        assert (state.reserved_fen, state.paid_fen) == (0, c["amountFen"]), state


@dataclass(frozen=True)
class Invoice:
    fingerprint: str
    issuer: str
    national_id: str
    total_fen: int
    estimate_fen: int


@dataclass
class Tap:
    """One citizen's one touch, and what they were told."""

    invoice: Invoice
    key: str
    claim_ids: list[str] = field(default_factory=list)
    lost: int = 0


_T0 = [time.monotonic()]


def stage(what: str) -> None:
    print(f"[{time.monotonic() - _T0[0]:6.2f} s] {what}", flush=True)


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClaimsDeployment]:
    """One anvil, one payer's serve with one hospital's anchored invoices, persons enrolled, tokens minted."""
    _T0[0] = time.monotonic()
    d = ClaimsDeployment(tmp_path_factory.mktemp("claims") / "home")
    d.home.mkdir()
    try:
        _set_up(d)
        yield d
    finally:
        d.cleanup()


def _set_up(d: ClaimsDeployment, *, invoices: int = INVOICES) -> None:
    ds = synth.generate(seed=7, hospitals=1, invoices=invoices, fee_lines=invoices * 80, pepper=PEPPER)
    docs = list(synth.iter_documents(ds))
    code, name = ds.hospitals[0].code, ds.hospitals[0].name
    d.start_node()
    d.register_all([(code, name)])                         # the hospital, and an auditor credential
    d.payer_token = d.ebill("credential", "create", "--home", str(d.home), "--role", "payer", "--subject", PAYER,
                            "--label", "e2e reviewer").stdout.strip().splitlines()[-1]
    nids = sorted({doc["patientId"] for doc in docs})
    with (d.home / "persons.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["nationalId", "name", "category"])
        w.writerows([n, f"person {n[-4:]}", category_of(n)] for n in nids)
    d.ebill("person", "enrol", "--home", str(d.home), "--csv", str(d.home / "persons.csv"))
    # one token through the CLI (it creates the development issuer key in $EBILL_HOME/secrets); the others
    # are minted in-process with that very key, as the CLI would, to spare ~40 interpreter start-ups
    d.citizens[nids[0]] = d.ebill("citizen", "token", "--home", str(d.home),
                                  "--national-id", nids[0]).stdout.strip().replace("\n", "")
    issuer = dev_issuer(d.home)
    d.citizens.update({n: issuer.mint(n) for n in nids[1:]})
    stage("node, hospital, persons and tokens ready")

    d.start_claims_serve()
    r = d.http.post("/v1/invoices", json=docs, headers={"Authorization": f"Bearer {d.tokens[code]}"})
    assert r.status_code == 200, r.text
    fps = [(item["invoice"]["fingerprint"], doc["patientId"], item["invoice"]["totalFen"])
           for item, doc in zip(r.json()["items"], docs, strict=True) if item["status"] == "created"]
    assert len(fps) == len(docs)
    _wait_for(lambda: all(d.get(f"/v1/invoices/{fp}").json()["state"] == "anchored" for fp, _, _ in fps), 30,
              "the invoices were not anchored within 30 s", every=0.2)
    # what each citizen sees: claimable invoices with something to pay back
    estimates: dict[str, int] = {}
    for nid in {n for _, n, _ in fps}:
        listing = d.http.get("/v1/me/invoices", headers={"Authorization": f"Bearer {d.citizens[nid]}"})
        assert listing.status_code == 200, listing.text
        estimates.update({i["fingerprint"]: i["estimateFen"] for i in listing.json()["invoices"]
                          if i["claimable"] and i["estimateFen"]})
    # one invoice per person: a person's second claim would see the first one's year-to-date figures
    seen: set[str] = set()
    for fp, nid, total in sorted(fps, key=lambda f: -estimates.get(f[0], 0)):
        if fp in estimates and nid not in seen:
            seen.add(nid)
            d.invoices.append(Invoice(fp, code, nid, total, estimates[fp]))
        else:
            d.others.append(Invoice(fp, code, nid, total, estimates.get(fp, 0)))
    stage(f"{len(fps)} invoices anchored, {len(d.invoices)} with something to pay by distinct persons")


# ---------------------------------------------------------------------------------- tests


def test_crash_after_reservation_before_commit_then_retry_gets_the_same_claim(dep: ClaimsDeployment) -> None:
    """Killed after the chain reserved but before the database recorded it: the client's request fails;
    after the restart its retry with the same key gets the same claim, reserved once on chain, paid once."""
    inv, = dep.take(1)
    dep.start_claims_serve(failpoints="claims.after-reserve")
    with pytest.raises(httpx.HTTPError):   # the connection dies with the process: no answer at all
        dep.post_claim(inv, "tap-after-reserve-1")
    dep.wait_crashed()
    stage("crashed after the reservation")

    # the window: the chain holds the reservation, the database still says "to reserve"
    (claim_id, chain_id), = dep.store_rows(
        f"select id, chain_claim_id from claims where fingerprint = x'{inv.fingerprint[2:]}'")
    assert dep.claim_row(claim_id)[:3] == ("submitted", "reserve", None)
    status, amount = dep.ledger.claim_of(PAYER, bytes(chain_id))[:2]
    assert status == "reserved" and amount > 0

    dep.start_claims_serve()
    stage("restarted")
    r = dep.post_claim(inv, "tap-after-reserve-1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["replayed"] is True
    c, = body["claims"]
    assert c["id"] == claim_id and c["amountFen"] == amount
    assert c["state"] in ("approved", "paid"), c
    c = dep.settle(claim_id)
    dep.assert_paid_once(c, inv)
    assert dep.bank_payments()[claim_id] == 1
    # and the retry after that is still the same claim, and changes nothing
    again = dep.post_claim(inv, "tap-after-reserve-1")
    assert again.status_code == 200 and again.json()["claims"][0]["id"] == claim_id
    dep.assert_paid_once(dep.claim(claim_id), inv)


@pytest.mark.parametrize("point", ["claims.before-payout", "claims.after-payout"])
def test_crash_around_the_payout_pays_exactly_once(dep: ClaimsDeployment, point: str) -> None:
    """Killed between the finalisation and the bank call, or after the bank paid but before the database
    knew: after the restart the claim is paid once (one bank payment) and finalised once on chain.

    The claim is finalised on chain before the bank is asked (so that a void the chain took first
    stops the payment): in both windows the database holds it approved and finalised, unpaid."""
    inv, = dep.take(1)
    key = f"tap-{point}"
    dep.start_claims_serve(failpoints=point)
    answer: list[Any] = []

    def tap() -> None:   # the answer may come before the stamper reaches the payout, or never
        try:
            r = dep.post_claim(inv, key)
            if r.status_code == 201 and r.json()["claims"][0]["state"] == "in-review":   # flagged: approve it
                dep.http.post(f"/v1/claims/{r.json()['claims'][0]['id']}/approve", json={"reason": "e2e"},
                              headers={"Authorization": f"Bearer {dep.payer_token}"})
            answer.append(r)
        except httpx.HTTPError as exc:
            answer.append(exc)

    t = threading.Thread(target=tap)
    t.start()
    dep.wait_crashed()
    t.join(timeout=30)
    stage(f"crashed at {point}")
    (claim_id,), = dep.store_rows(f"select id from claims where fingerprint = x'{inv.fingerprint[2:]}'")
    state, todo, stamp, ref = dep.claim_row(claim_id)
    assert (state, todo, stamp, ref) == ("approved", None, "finalized", None), (state, todo, stamp, ref)
    paid_before = dep.bank_payments()[claim_id]
    assert paid_before == (1 if point == "claims.after-payout" else 0)

    dep.start_claims_serve()
    stage("restarted")
    r = dep.post_claim(inv, key)
    assert r.status_code == 200 and r.json()["claims"][0]["id"] == claim_id, r.text
    stage("retried")
    c = dep.settle(claim_id)
    stage("settled")
    dep.assert_paid_once(c, inv)


def test_sigkill_with_claims_in_flight_then_retries(dep: ClaimsDeployment) -> None:
    """SIGKILL of serve's process group at a random moment while 20 claims are in flight; after the
    restart the clients retry with their keys: no claim is paid twice, none is stuck, and no invoice
    has more reserved and paid on chain than its total."""
    seed = int(os.environ.get("EBILL_E2E_SEED") or random.randrange(1 << 30))
    rnd = random.Random(seed)
    taps = [Tap(inv, f"tap-kill-{n:02d}-{seed}") for n, inv in enumerate(dep.take_any(20))]
    dep.start_claims_serve()

    jitter = [rnd.uniform(0, 0.2) for _ in taps]

    def send(tap: Tap, pause: float) -> None:
        time.sleep(pause)
        try:
            r = dep.post_claim(tap.invoice, tap.key)
        except httpx.HTTPError:
            tap.lost += 1
            return
        if r.status_code >= 500:
            tap.lost += 1
            return
        assert r.status_code in (200, 201, 202), r.text
        tap.claim_ids.append(r.json()["claims"][0]["id"])

    # the moment, whatever the machine's speed: once a random number of the claims is stored (before
    # the answers: reservations in flight) or answered (payouts and finalisations in flight), and a
    # random few milliseconds more
    wanted, until, extra = rnd.randrange(1, 20), rnd.choice(["stored", "answered"]), rnd.uniform(0.0, 0.03)
    in_list = ", ".join(f"x'{t.invoice.fingerprint[2:]}'" for t in taps)

    def reached() -> bool:
        if until == "answered":
            return sum(len(t.claim_ids) for t in taps) >= wanted
        with contextlib.suppress(sqlite3.Error):
            return dep.store_rows(f"select count(*) from claims where fingerprint in ({in_list})")[0][0] >= wanted
        return False

    with ThreadPoolExecutor(len(taps)) as pool:
        t0 = time.monotonic()
        futures = [pool.submit(send, t, p) for t, p in zip(taps, jitter, strict=True)]
        while not reached() and time.monotonic() - t0 < 30:
            time.sleep(0.002)
        time.sleep(extra)
        delay = time.monotonic() - t0
        dep.kill_serve()
        for f in futures:
            f.result()
    lost = sum(t.lost for t in taps)
    # where the kill caught them (the database as the dead process left it)
    rows = dep.store_rows(f"select state, chain_todo, chain_claim_id from claims where fingerprint in ({in_list})")
    caught = Counter(f"{state}/{todo or '-'}" for state, todo, _ in rows)
    window = sum(1 for _, todo, cid in rows
                 if todo == "reserve" and dep.ledger.claim_of(PAYER, bytes(cid))[0] != "none")
    stage(f"SIGKILL after {delay:.2f} s, {wanted} {until} (seed {seed}): {lost} of {len(taps)} answers lost; "
          f"stored: {dict(caught)}, {window} reserved on chain but not in the database")

    dep.start_claims_serve()
    for tap in taps:   # every client retries with its key (those that got an answer too: nothing changes)
        r = dep.post_claim(tap.invoice, tap.key)
        assert r.status_code in (200, 201), f"seed {seed}: {r.text}"
        tap.claim_ids.append(r.json()["claims"][0]["id"])
        assert len(set(tap.claim_ids)) == 1, f"seed {seed}: one key, several claims: {tap.claim_ids}"

    for tap in taps:
        c = dep.settle(tap.claim_ids[0], timeout=30)
        assert c["state"] in SETTLED, c
        inv = tap.invoice
        # one claim per invoice at this payer, whatever the client did
        assert len(dep.store_rows(f"select id from claims where fingerprint = x'{inv.fingerprint[2:]}'")) == 1
        events = dep.stamp_events(inv.fingerprint)
        reserved = Counter(e.claim_id for e in events if e.status == "reserved")
        finalized = Counter(e.claim_id for e in events if e.status == "finalized")
        assert all(n == 1 for n in reserved.values()) and all(n == 1 for n in finalized.values()), events
        state = dep.ledger.invoice_state(inv.issuer, bytes.fromhex(inv.fingerprint[2:]))
        assert state.reserved_fen + state.paid_fen <= inv.total_fen
        if c["state"] == "paid":
            dep.assert_paid_once(c, inv)
    bank = dep.bank_payments()
    assert all(n == 1 for n in bank.values()), f"seed {seed}: paid twice: {bank}"
    stage(f"settled: {Counter(dep.claim(t.claim_ids[0])['state'] for t in taps)}")
