"""End to end: the organisations on hosts of their own, over a slow network that breaks.

Four network namespaces (``tests/netns.py``): ``chain`` runs the one chain node (anvil, free
gas as on the consortium's Besu chain), ``hosp`` the hospitals' service (``ebill serve
--payer none``: hospitals upload there), ``pa`` payer A (basic insurance, ``330600-ybj``)
and ``pb`` payer B (the commercial supplement insurer, ``sx-huiminbao``), each with its own
SQLite database, each payer mirroring the anchored invoices from the hospitals' service
(``--mirror-from``) and each service talking to the chain with ``--chain rpc``. Every path
between them runs through a delaying proxy of ``tests/netfaults.py`` in the test's own
namespace: each organisation to the chain, each payer's mirror to the hospitals' service,
and the outside world (a hospital's billing system, citizens' phones) to each service.

While the hospital uploads and citizens claim the same invoices at both payers (each request
retried, with the same payload or Idempotency-Key, until it is answered), the network gets
:data:`DELAY_S` of latency each way (plus up to :data:`JITTER_S`), every proxied connection
is reset, some requests are served and lose their answer (:data:`LOST_REPLIES`: uploads,
claims, the organisations' transactions, the mirrors' pages), and for :data:`PARTITION_S`
the chain node and payer B are cut off (their links down: their packets vanish). Afterwards:

- every upload acknowledged (2xx) is in exactly one batch, and every batch is anchored
  exactly once on chain (``BatchAnchored`` events against the hospitals' feed);
- no invoice is reserved or paid beyond its total (the stamps' events, summed over both
  payers, and the contract's own figures), and what the chain says each payer paid is what
  its books say;
- each payer's bank made one payment per paid claim and none for any other claim, of the
  amount the claim says;
- every service is ready again within :data:`READY_BOUND_S` of the partition's end, and all
  the work (the backlog of anchoring, mirroring and claims) is done within
  :data:`RECOVERY_BOUND_S`.

The figures (uploads, claims, latency, partition, recovery) are printed (``-s`` shows them).
Needs root for the namespaces: skipped without, failed instead with EBILL_REQUIRE_NETNS=1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import netns
import pytest
from eth_account import Account
from netfaults import ProxyHub
from serve_support import Serve, until
from web3 import Web3

from ledger.adapters import anvil
from ledger.adapters.bank import SimulatedBank
from ledger.adapters.events import EventReader
from ledger.adapters.keyring import Keyring
from ledger.adapters.web3_chain import Web3Ledger
from ledger.devtools import synth
from ledger.errors import ToolchainError
from ledger.evoucher import VoucherIssuer
from ledger.hashing import Fingerprint

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

try:
    anvil.anvil_binary()
except ToolchainError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"no anvil binary: {exc}", allow_module_level=True)

PEPPER = b"e2e-netns-orgs-pepper-0123456789"
PAYER_A, PAYER_B = "330600-ybj", "sx-huiminbao"
INVOICES, PER_UPLOAD = 36, 3            # uploaded as 12 bulk requests
DELAY_S, JITTER_S = 0.03, 0.02          # one way, on every path
PARTITION_S = 6.0
RECOVERY_BOUND_S = 45.0
FINAL = ("paid", "refused", "nothing-payable", "in-review", "rejected", "clawback")
RPC_PORT, API_PORT = 8545, 8000
CLAIMS_AT_ONCE = 6                      # citizens claiming at one payer at the same moment
#: every service's /readyz green again after the heal: a chain worker that failed round after round
#: waits up to 10 s before its next (its back-off doubles from 0.25 s), and a request whose answer is
#: lost after the heal costs one more such wait (seen: 4.5 to 14.8 s)
READY_BOUND_S = 25.0
#: requests that reach their target and lose their answer: (proxies named so, how many, the request)
LOST_REPLIES = (("outside-hosp", 3, b"POST /v1/invoices"), ("outside-p", 2, b"POST /v1/claims"),
                ("hosp-chain", 2, b"eth_sendRawTransaction"), ("pa-chain", 2, b"eth_sendRawTransaction"),
                ("pb-chain", 2, b"eth_sendRawTransaction"), ("pa-feed", 1, b"GET /v1/feed/batches"),
                ("pb-feed", 1, b"GET /v1/feed/batches"))


@pytest.fixture
def network() -> Iterator[netns.Network]:
    """The run's namespaces, removed afterwards even when the test fails or is stopped by SIGTERM."""
    try:
        net = netns.Network()
    except netns.NetnsUnavailable as exc:
        if netns.required():
            pytest.fail(f"{netns.REQUIRE_ENV}=1 but {exc}", pytrace=False)
        pytest.skip(f"organisations on their own hosts need network namespaces: {exc}")

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(f"signal {signum}")     # unwind through the finalisers below

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield net
    finally:
        net.close()
        signal.signal(signal.SIGTERM, previous)


class Client:
    """Someone outside who retries until answered: through a proxy, a short timeout each attempt."""

    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=6, headers={"Authorization": f"Bearer {token}"})
        self.failures: Counter[str] = Counter()

    def until_answered(self, method: str, path: str, *, done: Callable[[httpx.Response], bool], deadline: float,
                       **kwargs: Any) -> httpx.Response:
        while True:
            try:
                r = self.http.request(method, path, **kwargs)
                if done(r):
                    return r
                self.failures[f"HTTP {r.status_code}"] += 1
            except httpx.HTTPError as exc:
                self.failures[type(exc).__name__] += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {path} unanswered by the deadline: {dict(self.failures)}")
            time.sleep(0.3)


def test_three_organisations_on_their_own_hosts_survive_latency_and_a_partition(
        tmp_path: Path, network: netns.Network) -> None:
    t_setup = time.monotonic()
    ds = synth.generate(seed=61, hospitals=1, invoices=INVOICES, fee_lines=INVOICES * 12, pepper=PEPPER)
    docs = list(synth.iter_documents(ds))
    issuer_key = VoucherIssuer.generate("e2e-evoucher")
    pem = tmp_path / "evoucher.pem"
    pem.write_bytes(issuer_key.public_pem())
    env = {k: v for k, v in os.environ.items() if not k.startswith("EBILL_") or k == anvil.BINARY_ENV}
    env.update(EBILL_PEPPER=PEPPER.hex(), EBILL_VOUCHER_PUBLIC_KEY=str(pem), EBILL_VOUCHER_ISSUER="e2e-evoucher",
               EBILL_INSTANT_MAX_FEN="100000000", EBILL_CLAIM_WAIT="4", NO_COLOR="1", COLUMNS="200",
               EBILL_API_NICE="0", EBILL_KEYSTORE_PASSPHRASE="netns e2e keystore passphrase")
    people = sorted({d["patientId"] for d in docs})
    enrol = tmp_path / "persons.csv"
    enrol.write_text("nationalId,name,category\n" + "".join(f"{n},p{n[-4:]},employee\n" for n in people))

    chain, hosp, pa, pb = (network.add(n) for n in ("chain", "hosp", "pa", "pb"))
    hub = ProxyHub()
    serves: list[Serve] = []
    node: subprocess.Popen[bytes] | None = None
    try:
        # ---------------------------------------------------------------- the chain node, on its own host
        cfg = anvil.AnvilConfig(data_dir=tmp_path / "node", host=chain.addr, port=RPC_PORT, base_fee=0, gas_price=0,
                                min_priority_fee=False, hardfork="cancun")
        cfg.data_dir.mkdir(parents=True)
        with cfg.log_file.open("wb") as out:
            node = subprocess.Popen(chain.command(*cfg.command(anvil.anvil_binary())), stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        w3 = Web3(Web3.HTTPProvider(cfg.url, request_kwargs={"timeout": 10}))   # the test reads the chain directly
        until(lambda: _answers(w3), 20, "anvil to answer in its namespace")

        # ---------------------------------------------------------------- the paths between the organisations
        target = (chain.addr, RPC_PORT)
        to_chain = {h.name: hub.add(f"{h.name}-chain", listen=h.gateway, target=target) for h in (hosp, pa, pb)}
        feeds = {h.name: hub.add(f"{h.name}-feed", listen=h.gateway, target=(hosp.addr, API_PORT)) for h in (pa, pb)}
        outside = {h.name: hub.add(f"outside-{h.name}", listen="127.0.0.1", target=(h.addr, API_PORT))
                   for h in (hosp, pa, pb)}

        def org(host: netns.Host) -> Serve:
            s = Serve(tmp_path / host.name, env, to_chain[host.name].url, chain="rpc", host=host.addr,
                      prefix=tuple(host.command()))
            s.port, s.url = API_PORT, f"http://{host.addr}:{API_PORT}"
            s.http = httpx.Client(base_url=s.url, timeout=30)
            serves.append(s)
            return s

        h_srv, a_srv, b_srv = org(hosp), org(pa), org(pb)

        # ------------------------------------------------ set-up, as each organisation's operator does it
        relayer_key = tmp_path / "relayer.key"
        relayer_key.write_text(Account.create().key.hex())
        consortium = Account.create().address
        deployed = json.loads(h_srv.ebill("chain", "deploy", "--rpc-url", cfg.url, "--relayer-key-file",
                                          str(relayer_key), "--proposer", consortium, "--executor", consortium,
                                          "--min-delay", "172800", "--json"))
        record = Path(deployed["record"])
        for s in (a_srv, b_srv):          # the consortium's deployment record, at every organisation
            (s.home / record.parent.relative_to(h_srv.home)).mkdir(parents=True)
            shutil.copy(record, s.home / record.relative_to(h_srv.home))
        h = ds.hospitals[0]
        answers: dict[str, str] = {}

        def setup_hosp() -> None:
            answers["hospital"] = json.loads(h_srv.ebill("hospital", "register", "--id", h.code, "--name", h.name,
                                                         "--region", h.code[1:7], "--json"))["apiToken"]
            for payer in (PAYER_A, PAYER_B):
                answers[f"feed-{payer}"] = h_srv.ebill("credential", "create", "--role", "payer", "--subject",
                                                       payer).split()[-1]
            answers["audit-hosp"] = h_srv.ebill("credential", "create", "--role", "auditor", "--subject",
                                                "audit").split()[-1]

        def setup_payer(s: Serve, payer: str) -> None:
            answers[f"audit-{payer}"] = s.ebill("credential", "create", "--role", "auditor", "--subject",
                                                "audit").split()[-1]
            s.ebill("person", "enrol", "--csv", str(enrol), "--payer", payer)

        jobs = [threading.Thread(target=setup_hosp), threading.Thread(target=setup_payer, args=(a_srv, PAYER_A)),
                threading.Thread(target=setup_payer, args=(b_srv, PAYER_B))]
        for j in jobs:
            j.start()
        for j in jobs:
            j.join()
        assert len(answers) == 6, answers

        starts = [threading.Thread(target=h_srv.start, args=("--payer", "none")),
                  threading.Thread(target=a_srv.start, args=("--payer", PAYER_A, "--mirror-from", feeds["pa"].url,
                                                             "--mirror-token", answers[f"feed-{PAYER_A}"])),
                  threading.Thread(target=b_srv.start, args=("--payer", PAYER_B, "--mirror-from", feeds["pb"].url,
                                                             "--mirror-token", answers[f"feed-{PAYER_B}"]))]
        for j in starts:
            j.start()
        for j in starts:
            j.join()
        for s in serves:
            assert s.proc is not None and s.proc.poll() is None and s.http.get("/livez").status_code == 200, s.log()
        setup_s = time.monotonic() - t_setup

        # ---------------------------------------------------------------- the work, on a bad network
        hub.set_delay(DELAY_S, JITTER_S)
        for name, count, request in LOST_REPLIES:
            for proxy in hub.proxies:
                if proxy.startswith(name):
                    hub.lose_replies(proxy, count, matching=request)
        t0 = time.monotonic()
        deadline = t0 + 100
        audit = {n: {"Authorization": f"Bearer {answers[f'audit-{n}']}"} for n in ("hosp", PAYER_A, PAYER_B)}
        acked: dict[str, dict[str, Any]] = {}          # fingerprint → the document, once a 2xx named it
        acked_lock = threading.Lock()
        uploader = Client(outside["hosp"].url, answers["hospital"])
        upload_requests = 0

        def upload() -> None:
            nonlocal upload_requests
            for k in range(0, len(docs), PER_UPLOAD):
                part = docs[k:k + PER_UPLOAD]
                r = uploader.until_answered("POST", "/v1/invoices", json=part, deadline=deadline,
                                            done=lambda r: r.status_code < 300 or r.status_code == 422)
                upload_requests += 1
                assert r.status_code == 200, r.text
                with acked_lock:
                    for item, doc in zip(r.json()["items"], part, strict=True):
                        assert item["status"] in ("created", "duplicate"), item
                        acked[item["invoice"]["fingerprint"]] = doc
                time.sleep(0.6)

        claimed: dict[tuple[str, str], dict[str, Any]] = {}    # (payer, fingerprint) → the claim as answered
        payers = {PAYER_A: (a_srv, "pa"), PAYER_B: (b_srv, "pb")}
        citizens = {p: Client(outside[name].url, "none") for p, (_, name) in payers.items()}
        staff = {p: Client(outside[name].url, answers[f"audit-{p}"]) for p, (_, name) in payers.items()}

        def claim_one(payer: str, fp: str) -> None:
            token = issuer_key.mint(acked[fp]["patientId"])
            r = citizens[payer].until_answered(
                "POST", "/v1/claims", json={"fingerprints": [fp]}, deadline=deadline,
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"netns-{payer}-{fp[2:18]}"},
                done=lambda r: r.status_code in (200, 201, 202, 409))
            claimed[(payer, fp)] = r.json()

        def claim(payer: str) -> None:
            """Citizens claim every acknowledged invoice at ``payer`` once its mirror holds it, many at once."""
            started: set[str] = set()
            with ThreadPoolExecutor(CLAIMS_AT_ONCE) as pool:
                futures = []
                while time.monotonic() < deadline:
                    with acked_lock:
                        todo = [fp for fp in acked if fp not in started]
                    if not todo and not uploading.is_alive():
                        break
                    try:
                        r = staff[payer].http.get("/v1/invoices", params={"state": "anchored", "limit": 1000})
                        there = {i["fingerprint"] for i in r.json()["items"]} if r.status_code == 200 else set()
                    except httpx.HTTPError:
                        there = set()
                    for fp in todo:
                        if fp in there:
                            started.add(fp)
                            futures.append(pool.submit(claim_one, payer, fp))
                    time.sleep(0.3)
                for f in futures:
                    f.result()

        failed: list[BaseException] = []             # what broke in the clients' threads, raised by the test

        def thread(target: Callable[..., None], *args: Any, name: str) -> threading.Thread:
            def run() -> None:
                try:
                    target(*args)
                except BaseException as exc:
                    failed.append(exc)
            return threading.Thread(target=run, name=name)

        uploading = thread(upload, name="uploads")
        claimers = [thread(claim, p, name=f"claims-{p}") for p in payers]
        uploading.start()
        for c in claimers:
            c.start()

        time.sleep(2.5)
        cuts = hub.cut()                                   # every connection between the organisations reset
        time.sleep(1.0)
        t_part = time.monotonic()
        network.down(chain, pb)                            # the chain node and payer B: cut off
        time.sleep(PARTITION_S)
        network.up(chain, pb)
        t_heal = time.monotonic()
        milestones: dict[str, float] = {}

        def reached(name: str, ok: bool) -> bool:
            if ok:
                milestones.setdefault(name, time.monotonic() - t_heal)
            return ok

        def settled() -> bool:
            if failed:
                raise failed[0]
            ready = all(s.http.get("/readyz").status_code == 200 for s in serves)
            if not reached("ready", ready) or uploading.is_alive():
                return False
            stored = h_srv.http.get("/v1/invoices", params={"state": "stored", "limit": 1},
                                    headers={"Authorization": f"Bearer {answers['hospital']}"}).json()
            if not reached("anchored", not stored["items"]):
                return False
            for payer, (srv, _) in payers.items():
                there = srv.http.get("/v1/invoices", params={"state": "anchored", "limit": 1000},
                                     headers=audit[payer]).json()["items"]
                if not reached(f"mirrored at {payer}", len(there) == len(acked)):
                    return False
            if any(c.is_alive() for c in claimers):
                return False
            for payer, (srv, _) in payers.items():
                got = srv.http.get("/v1/claims", params={"limit": 500}, headers=audit[payer]).json()["claims"]
                if not reached(f"claims settled at {payer}", len(got) == len(acked) and all(
                        c["state"] in FINAL and not c["stamp"]["pending"] for c in got)):
                    return False
            return True

        until(settled, t_heal + RECOVERY_BOUND_S - time.monotonic(), "the services to recover after the partition")
        recovery_s = time.monotonic() - t_heal
        work_s = time.monotonic() - t0
        assert milestones["ready"] <= READY_BOUND_S, f"ready again only {milestones['ready']:.1f} s after the heal"
        assert len(acked) == len(docs), "every upload is acknowledged in the end"

        # ---------------------------------------------------------------- what the chain holds
        contract = json.loads(record.read_text())["contract"]
        reader = EventReader(Web3Ledger(w3, address=contract, keyring=Keyring(), relayer="0x" + "00" * 20))
        events = reader.read(0, reader.head())
        anchored = Counter(e["args"]["root"] for e in events if e["name"] == "BatchAnchored")
        leaf_counts = {e["args"]["root"]: e["args"]["leafCount"] for e in events if e["name"] == "BatchAnchored"}
        assert all(n == 1 for n in anchored.values()), f"a root anchored twice: {anchored.most_common(3)}"

        feed: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            page = h_srv.http.get("/v1/feed/batches", params={"limit": 32, **({"after": after} if after else {})},
                                  headers=audit["hosp"]).json()["batches"]
            if not page:
                break
            feed += page
            after = f"{page[-1]['anchoredBlock']}:{page[-1]['root']}"
        batch_of: dict[str, list[str]] = defaultdict(list)
        for b in feed:
            assert leaf_counts.get(b["root"]) == len(b["invoices"]), f"batch {b['root']} not anchored as served"
            for d in b["invoices"]:
                batch_of[d["fingerprint"]].append(b["root"])
        assert {b["root"] for b in feed} == set(anchored), "the hospitals' batches and the chain's anchors differ"
        for fp in acked:
            assert len(batch_of[fp]) == 1, f"acknowledged upload {fp} is in {len(batch_of[fp])} anchored batches"
        assert all(len(roots) == 1 for roots in batch_of.values())

        # stamps: per claim its last word on chain; per invoice, at most its total
        stamp_of: dict[tuple[str, str], tuple[str, int, str]] = {}
        for e in events:
            if e["name"].startswith("Reimbursement"):
                a = e["args"]
                stamp_of[(a["payerId"], a["claimId"])] = (e["name"], int(a["amountFen"]), "0x" + e["fingerprint"].hex())
        on_chain: dict[str, int] = defaultdict(int)
        paid_on_chain: dict[tuple[str, str], int] = defaultdict(int)
        for (payer, _), (name, amount, fp) in stamp_of.items():
            if name != "ReimbursementReleased":
                on_chain[fp] += amount
            if name == "ReimbursementFinalized":
                paid_on_chain[(payer, fp)] += amount
        totals = {fp: d["totalFen"] for fp, d in acked.items()}
        beyond = {fp: (n, totals[fp]) for fp, n in on_chain.items() if n > totals[fp]}
        assert not beyond, f"invoices stamped beyond their total: {beyond}"
        issuer = h.code
        ledger = reader.ledger
        for fp in acked:
            state = ledger.invoice_state(issuer, Fingerprint(bytes.fromhex(fp[2:])))
            assert state.paid_fen + state.reserved_fen == on_chain.get(fp, 0) <= totals[fp], (fp, state)

        # each payer's books and bank against the chain
        figures: dict[str, dict[str, int]] = {}
        for payer, (srv, _) in payers.items():
            got = srv.http.get("/v1/claims", params={"limit": 500}, headers=audit[payer]).json()["claims"]
            per_invoice = Counter(c["fingerprint"] for c in got)
            assert max(per_invoice.values()) == 1, f"{payer}: an invoice claimed twice {per_invoice.most_common(2)}"
            for (p, fp), answer in claimed.items():
                if p == payer and answer.get("claims"):
                    assert [c["id"] for c in answer["claims"]] == [c["id"] for c in got if c["fingerprint"] == fp]
            paid = {c["id"]: c for c in got if c["state"] == "paid"}
            for c in got:
                stamp = stamp_of.get((payer, c["stamp"]["chainClaimId"]))
                if c["state"] == "paid":
                    assert stamp is not None and stamp[0] == "ReimbursementFinalized" and stamp[1] == c["amountFen"], c
            bank = SimulatedBank(srv.home / "bank.sqlite").payments()
            by_claim = Counter(p.request_id for p in bank)
            assert set(by_claim) == set(paid), f"{payer}: the bank paid {len(by_claim)} claims, the books {len(paid)}"
            assert all(n == 1 for n in by_claim.values())
            for p in bank:
                assert p.amount_fen == paid[p.request_id]["payment"]["transferredFen"], p
            assert not bank or max(Counter(paid[p.request_id]["fingerprint"] for p in bank).values()) == 1, \
                f"{payer}: two payments for one invoice"
            assert sum(c["amountFen"] for c in paid.values()) == sum(
                n for (p2, _), n in paid_on_chain.items() if p2 == payer)
            figures[payer] = {"claims": len(got), "paid": len(paid), "bank payments": len(bank),
                              "fen paid": sum(p.amount_fen for p in bank)}
        limited = sum(1 for fp, n in on_chain.items() if n == totals[fp])

        stats = hub.stats()
        print(f"\n[netns] 4 hosts (chain, hosp, pa, pb) on 10.{network.octet}.0.0/16; set-up {setup_s:.1f} s")
        print(f"[netns] uploads: {len(docs)} invoices in {upload_requests} requests, {len(acked)} acknowledged, "
              f"{len(feed)} batches anchored once each; retries: {dict(uploader.failures)}")
        for payer, f in figures.items():
            print(f"[netns] payer {payer}: {f}; citizens' retries: {dict(citizens[payer].failures)}")
        print(f"[netns] invoices paid up to their total by both payers together: {limited}")
        print(f"[netns] latency injected: {DELAY_S * 1000:.0f} ms each way + up to {JITTER_S * 1000:.0f} ms jitter "
              f"on {len(stats)} paths; connections reset: {cuts}; proxied connections: "
              f"{sum(s.connections for s in stats.values())}, refused while cut off: "
              f"{sum(s.refused for s in stats.values())}")
        print(f"[netns] requests served whose answer was lost: "
              f"{ {n: s.lost_replies for n, s in stats.items() if s.lost_replies} }")
        print(f"[netns] partition: chain node and payer B cut off for {PARTITION_S:.1f} s "
              f"(from {t_part - t0:.1f} s into the work); after it healed: "
              + ", ".join(f"{k} {v:.1f} s" for k, v in milestones.items())
              + f"; all done {recovery_s:.1f} s (bounds: ready {READY_BOUND_S:.0f} s, all {RECOVERY_BOUND_S:.0f} s); "
              f"work {work_s:.1f} s")
    except BaseException:
        for s in serves:
            print(f"--- {s.home.name} serve.log (tail) ---\n{s.log()[-3000:]}")
        raise
    finally:
        for s in serves:
            s.stop()
        if node is not None:
            node.terminate()
            try:
                node.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.kill()
        hub.close()


def _answers(w3: Web3) -> bool:
    try:
        return int(w3.eth.chain_id) > 0
    except Exception:
        return False

