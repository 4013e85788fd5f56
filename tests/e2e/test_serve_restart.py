"""End to end: ``ebill serve`` and a real anvil node run as subprocesses, get SIGKILLed and restarted.

The guarantee under test (DESIGN.md, reliability rules): an upload is acknowledged only
once it is durably stored, and every acknowledged invoice ends up anchored exactly once,
whatever crashes: the service killed in the middle of a batch, anvil killed so that it
loses its latest blocks (anchors and hospital registrations), or both at once. A client
that re-sends an upload whose response it lost creates no duplicates.

Everything runs as the operator would: ``ebill node start``, ``ebill hospital register
--json``, ``ebill serve`` (two API worker processes plus the chain worker) and ``ebill
upload``, in a throw-away ``--home`` with free ports; uploads go over HTTP. The checks
read the service (GET /v1/invoices/{fp}, /v1/batches/{root}) and the chain itself
(``BatchAnchored`` events, ``batchesOf``, ``isAnchored`` with each inclusion proof).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from web3 import Web3

from ledger.adapters import anvil
from ledger.adapters.events import EventReader
from ledger.adapters.keyring import Keyring
from ledger.adapters.web3_chain import Web3Ledger
from ledger.devtools import synth
from ledger.errors import LedgerError, ToolchainError
from ledger.hashing import Fingerprint, MerkleRoot, parse_hash32
from ledger.merkle import process_proof, standard_leaf_hash

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

EBILL = Path(sys.executable).with_name("ebill")

try:
    anvil.anvil_binary()
except ToolchainError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"no anvil binary: {exc}", allow_module_level=True)
if not EBILL.exists():  # pragma: no cover
    pytest.skip(f"no ebill entry point next to {sys.executable}", allow_module_level=True)

PEPPER = b"e2e-restart-pepper-0123456789abcdef"
CHUNK = 12            # invoices per upload request
MAX_LEAVES = 16       # --batch-max-leaves: several batches per hospital
MAX_AGE = 0.5         # --batch-max-age


# ---------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Data:
    hospitals: list[tuple[str, str]]                 # (institution code, name)
    docs: dict[str, list[dict[str, Any]]]             # issuer -> its invoices, in issue order


_DATA: list[Data] = []


def data() -> Data:
    """A few hundred synthetic invoices (~20 fee lines each) of five hospitals."""
    if not _DATA:
        ds = synth.generate(seed=2026, hospitals=5, invoices=420, fee_lines=420 * 20, pepper=PEPPER)
        docs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for d in synth.iter_documents(ds):
            docs[d["issuer"]].append(d)
        hospitals = sorted(((h.code, h.name) for h in ds.hospitals), key=lambda h: -len(docs[h[0]]))
        _DATA.append(Data(hospitals, dict(docs)))
    return _DATA[0]


def chunks(docs: Sequence[dict[str, Any]], size: int = CHUNK) -> list[list[dict[str, Any]]]:
    return [list(docs[i:i + size]) for i in range(0, len(docs), size)]


# ---------------------------------------------------------------------------------- processes


class Deployment:
    """One data directory with its anvil node and ``ebill serve``, all as subprocesses."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.node_dir = home / "node"
        self.node_port = anvil.free_port()
        self.api_port = anvil.free_port()
        self.url = f"http://127.0.0.1:{self.api_port}"
        # nothing of the caller's EBILL_* settings (home, db, URL, token) leaks in, except the anvil binary
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("EBILL_") or k == anvil.BINARY_ENV}
        self.env.update(EBILL_HOME=str(home), NO_COLOR="1", TERM="dumb", COLUMNS="200", PYTHONUNBUFFERED="1",
                        # the harness polls /v1/health every 50 ms from one address: lift the budget of
                        # callers without credential (tests/api/test_edge.py tests the limit itself)
                        EBILL_PUBLIC_RATE_LIMIT="1000000/minute")
        self.serve: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=60)
        self._serves: list[subprocess.Popen[bytes]] = []
        self._anvil_pids: set[int] = set()
        self.tokens: dict[str, str] = {}          # institution code -> API token
        self.accounts: dict[str, str] = {}        # institution code -> signing account
        self.auditor: str | None = None
        self._ledger: Web3Ledger | None = None

    # -------------------------------------------------------------- CLI

    def ebill(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(EBILL), *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"ebill {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def register(self, code: str, name: str) -> str:
        """``ebill hospital register --json``: the hospital's API token."""
        done = self.ebill("hospital", "register", "--home", str(self.home), "--id", code, "--name", name,
                          "--region", code[1:7], "--json")
        doc = json.loads(done.stdout)
        assert doc["institutionId"] == code
        self.tokens[code], self.accounts[code] = doc["apiToken"], doc["account"]
        return str(doc["apiToken"])

    def register_all(self, hospitals: Sequence[tuple[str, str]]) -> None:
        """The first one alone (it creates the keystore's KDF parameters), the others in parallel."""
        first, *rest = hospitals
        self.register(*first)
        with ThreadPoolExecutor(len(rest) or 1) as pool:
            list(pool.map(lambda h: self.register(*h), rest))
        if self.auditor is None:
            done = self.ebill("credential", "create", "--home", str(self.home), "--role", "auditor",
                              "--subject", "e2e-audit")
            self.auditor = done.stdout.strip().splitlines()[-1]

    # -------------------------------------------------------------- anvil

    def start_node(self, *, block_time: float | None = None) -> int:
        args = ["node", "start", "--home", str(self.home), "--port", str(self.node_port)]
        if block_time is not None:
            args += ["--block-time", f"{block_time:g}"]
        self.ebill(*args)
        pid = self.node_pid()
        assert pid is not None, "ebill node start returned but no node runs"
        self._anvil_pids.add(pid)
        self._ledger = None
        return pid

    def node_pid(self) -> int | None:
        record = anvil.status(self.node_dir)
        if record is None:
            return None
        self._anvil_pids.add(int(record["pid"]))
        return int(record["pid"])

    def kill_node(self) -> int:
        """SIGKILL anvil, as a crash would: no state dump since the last interval one."""
        pid = self.node_pid()
        assert pid is not None, "no anvil node to kill"
        os.kill(pid, signal.SIGKILL)
        _wait_for(lambda: not _alive(pid), 10, f"anvil pid {pid} did not die")
        self._ledger = None
        return pid

    @property
    def node_url(self) -> str:
        return f"http://127.0.0.1:{self.node_port}"

    def pending_txs(self) -> int:
        try:
            r = httpx.post(self.node_url, json={"jsonrpc": "2.0", "id": 1, "method": "txpool_status", "params": []},
                           timeout=1)
            return int(r.json()["result"]["pending"], 16)
        except (httpx.HTTPError, KeyError, ValueError):
            return 0

    def dumped_block(self) -> int | None:
        """The newest block in anvil's state file (what a restart after SIGKILL comes back with)."""
        try:
            number = json.loads((self.node_dir / "anvil-state.json").read_text())["best_block_number"]
        except (OSError, ValueError, KeyError):
            return None
        return number if isinstance(number, int) else int(number, 0)

    # -------------------------------------------------------------- ebill serve

    def start_serve(self, *, workers: int = 2, max_age: float = MAX_AGE, wait: bool = True) -> subprocess.Popen[bytes]:
        n = len(self._serves)
        log = (self.home / f"serve-{n}.log").open("wb")
        args = [str(EBILL), "serve", "--home", str(self.home), "--port", str(self.api_port), "--workers", str(workers),
                "--batch-max-age", str(max_age), "--batch-max-leaves", str(MAX_LEAVES)]
        # its own session: a SIGKILL of the process group takes the API workers with it, as a crash would
        proc = subprocess.Popen(args, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        self.serve = proc
        self.http.close()  # no keep-alive connection to a dead process
        self.http = httpx.Client(base_url=self.url, timeout=60, limits=httpx.Limits(max_connections=16))
        self._serves.append(proc)
        if wait:
            self.wait_healthy(proc)
        return proc

    def wait_healthy(self, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"ebill serve exited with {proc.returncode}:\n{self.serve_log()}")
            with contextlib.suppress(httpx.HTTPError):
                if self.http.get("/v1/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"ebill serve not healthy within {timeout} s:\n{self.serve_log()}")

    def kill_serve(self) -> None:
        """SIGKILL the whole process group of ``ebill serve`` (API workers included)."""
        assert self.serve is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.serve.pid, signal.SIGKILL)
        self.serve.wait(timeout=10)
        # the API workers die with the group; wait until the port is free again
        _wait_for(lambda: not _group_alive(self.serve.pid), 10, "serve's API workers outlived the SIGKILL")  # type: ignore[union-attr]
        self.serve = None

    def stop_serve(self) -> int:
        """A clean stop (SIGTERM to serve): returns its exit code."""
        assert self.serve is not None
        self.serve.send_signal(signal.SIGTERM)
        code = self.serve.wait(timeout=60)
        _wait_for(lambda: not _group_alive(self.serve.pid), 10, "serve's API workers outlived its exit")  # type: ignore[union-attr]
        self.serve = None
        return code

    def serve_log(self) -> str:
        parts = []
        for n in range(len(self._serves)):
            path = self.home / f"serve-{n}.log"
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- serve-{n}.log ---\n{text[-6000:]}")
        return "\n".join(parts)

    def cleanup(self) -> None:
        """Kill whatever this deployment left running, whatever happened to the test."""
        self.http.close()
        for proc in self._serves:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        with contextlib.suppress(Exception):
            self.node_pid()
        for pid in self._anvil_pids:
            if _is_our_anvil(pid, self.home):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    # -------------------------------------------------------------- HTTP

    def health(self) -> dict[str, Any]:
        r = self.http.get("/v1/health", timeout=5)
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]

    def get(self, path: str, token: str | None = None) -> httpx.Response:
        return self.http.get(path, headers={"Authorization": f"Bearer {token or self.auditor}"})

    # -------------------------------------------------------------- the chain, read directly

    @property
    def ledger(self) -> Web3Ledger:
        """A read-only view of the ledger contract on the current node."""
        if self._ledger is None:
            doc = json.loads((self.home / "chains" / "anvil" / "deployment.json").read_text())
            w3 = Web3(Web3.HTTPProvider(self.node_url, request_kwargs={"timeout": 10}))
            self._ledger = Web3Ledger(w3, address=doc["contract"], keyring=Keyring(),
                                      relayer=doc["governance"]["address"])
        return self._ledger

    def anchored_events(self) -> Counter[str]:
        """How many ``BatchAnchored`` events the current chain holds per root."""
        reader = EventReader(self.ledger)
        events = reader.read(0, reader.head())
        return Counter(e["args"]["root"] for e in events if e["name"] == "BatchAnchored")

    def registered_on_chain(self, code: str) -> bool:
        info = self.ledger.account_info(self.accounts[code])
        return info.member_id == code and info.kind == "hospital"

    # -------------------------------------------------------------- the store, read directly (serve may be dead)

    def store_rows(self, sql: str) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(f"file:{self.home / 'ebill.sqlite'}?mode=ro", uri=True,
                                                timeout=10)) as conn:
            return conn.execute(sql).fetchall()


_T0 = [time.monotonic()]


def stage(what: str) -> None:
    """Progress with timings (shown with ``pytest -s``)."""
    print(f"[{time.monotonic() - _T0[0]:6.2f} s] {what}", flush=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _group_alive(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _is_our_anvil(pid: int, home: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return "anvil" in cmdline and str(home) in cmdline


def _wait_for(condition: Callable[[], bool], timeout: float, message: str, *, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(every)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    """A fresh data directory; every serve and anvil process it started is killed at teardown, pass or fail."""
    dep = Deployment(tmp_path / "home")
    dep.home.mkdir()
    _T0[0] = time.monotonic()
    try:
        yield dep
    finally:
        dep.cleanup()


# ---------------------------------------------------------------------------------- uploading


@dataclass
class Uploads:
    """What the clients were told: every acknowledged invoice, and the requests whose answer was lost."""

    acked: dict[str, tuple[str, int]] = field(default_factory=dict)   # fingerprint -> (issuer, totalFen)
    lost: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    answered: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, dep: Deployment, issuer: str, docs: list[dict[str, Any]], *,
             expect: set[str] | None = None) -> list[dict[str, Any]] | None:
        """POST one chunk; record its acknowledged items. None if the answer never came (service killed)."""
        body = json.dumps(docs, ensure_ascii=False).encode()
        try:
            r = dep.http.post("/v1/invoices", content=body, headers={
                "Authorization": f"Bearer {dep.tokens[issuer]}", "Content-Type": "application/json"})
        except httpx.HTTPError:
            with self._lock:
                self.lost.append((issuer, docs))
            return None
        if r.status_code >= 500:  # the service died while answering: as good as lost
            with self._lock:
                self.lost.append((issuer, docs))
            return None
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert len(items) == len(docs)
        with self._lock:
            self.answered += 1
            for item in items:
                assert item["status"] in (expect or {"created", "duplicate"}), item
                if item["status"] in ("created", "duplicate"):
                    inv = item["invoice"]
                    fp = inv["fingerprint"]
                    assert self.acked.get(fp, (issuer, inv["totalFen"])) == (issuer, inv["totalFen"])
                    self.acked[fp] = (issuer, inv["totalFen"])
        return items  # type: ignore[no-any-return]

    def post_all(self, dep: Deployment, work: Sequence[tuple[str, list[dict[str, Any]]]], *,
                 threads: int = 4, pace: float = 0.0) -> None:
        """POST every chunk from ``threads`` clients, each pausing ``pace`` seconds between its requests."""
        def one(w: tuple[str, list[dict[str, Any]]]) -> None:
            self.post(dep, *w)
            time.sleep(pace)

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, work))

    def resend_lost(self, dep: Deployment) -> int:
        """The clients retry every request whose answer they lost; return how many items were stored before."""
        lost, self.lost = self.lost, []
        before = 0
        for issuer, docs in lost:
            items = self.post(dep, issuer, docs)
            assert items is not None, "the restarted service did not answer a retry"
            before += sum(1 for i in items if i["status"] == "duplicate")
        return before


def work_for(d: Data, codes: Sequence[str], *, start: int = 0, stop: int | None = None,
             size: int = CHUNK) -> list[tuple[str, list[dict[str, Any]]]]:
    """Upload requests for ``codes``' invoices [start:stop], interleaved across hospitals."""
    per = [[(c, ch) for ch in chunks(d.docs[c][start:stop], size)] for c in codes]
    out = []
    for i in range(max(map(len, per), default=0)):
        out += [p[i] for p in per if i < len(p)]
    return out


# ---------------------------------------------------------------------------------- the guarantee


def wait_drained(dep: Deployment, timeout: float = 60, *, every: float = 0.1) -> dict[str, Any]:
    """Until the service reports nothing waiting: every stored invoice batched, every batch anchored."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            last = dep.health()
            s = last["store"]
            if s["unbatched"] == 0 and s["batchesWaiting"] == 0:
                return last
        time.sleep(every)
    raise AssertionError(f"outbox not drained within {timeout} s: {last}\n{dep.serve_log()}")


def wait_settled(dep: Deployment, timeout: float = 60) -> None:
    """Until the service reports nothing waiting *and* the chain holds every batch the store says is anchored.

    Right after anvil comes back with an older state the service has not noticed yet, so
    its store still reports the lost anchors as done: hence the look at the chain itself.
    """
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, LedgerError, OSError, ValueError):
            wait_drained(dep, max(deadline - time.monotonic(), 0.1))
            roots = [bytes(r) for (r,) in dep.store_rows("select root from batches")]
            on_chain = dep.ledger.batches([MerkleRoot(r) for r in roots])
            missing = [r for r, b in zip(roots, on_chain, strict=True) if b is None]
            state = f"{len(missing)} of {len(roots)} batches not on the current chain"
            if not missing and dep.store_rows("select count(*) from invoices where batch_root is null")[0][0] == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"not settled within {timeout} s: {state}\n{dep.serve_log()}")


def assert_anchored_exactly_once(dep: Deployment, uploads: Uploads, *, timeout: float = 60) -> None:
    """Every acknowledged invoice is anchored on the *current* chain, in exactly one batch, anchored once."""
    assert uploads.acked, "nothing was acknowledged"
    assert not uploads.lost, "some requests were never retried"
    wait_settled(dep, timeout)
    stage("settled")

    # the store holds exactly the acknowledged invoices: nothing lost, no duplicates
    health = dep.health()["store"]
    assert health["invoices"] == len(uploads.acked), (health, len(uploads.acked))

    # each invoice: anchored, and its inclusion proof leads to a root the contract holds
    def check(fp: str) -> tuple[str, str]:
        issuer, total = uploads.acked[fp]
        r = dep.get(f"/v1/invoices/{fp}", dep.tokens[issuer])
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["state"] == "anchored", doc
        proof = doc["inclusionProof"]
        assert proof is not None and proof["batchRoot"] == doc["batchRoot"]
        assert proof["leaf"] == {"fingerprint": fp, "totalFen": total}
        leaf = standard_leaf_hash(["bytes32", "uint256"], [parse_hash32(fp), total])
        root = MerkleRoot(parse_hash32(doc["batchRoot"]))
        assert process_proof(leaf, [parse_hash32(p) for p in proof["proof"]]) == root
        assert dep.ledger.is_anchored(fingerprint=Fingerprint(parse_hash32(fp)), total_fen=total, root=root,
                                      proof=[parse_hash32(p) for p in proof["proof"]]), f"{fp} not anchored on chain"
        return fp, doc["batchRoot"]

    with ThreadPoolExecutor(8) as pool:
        root_of = dict(pool.map(check, list(uploads.acked)))

    # the chain: every root anchored by exactly one BatchAnchored event, by the right hospital
    events = dep.anchored_events()
    twice = {r: n for r, n in events.items() if n > 1}
    assert not twice, f"roots anchored more than once: {twice}"
    roots = sorted(set(root_of.values()))
    missing = [r for r in roots if r not in events]
    assert not missing, f"roots of acknowledged invoices with no BatchAnchored event: {missing}"
    on_chain = dep.ledger.batches([MerkleRoot(parse_hash32(r)) for r in roots])
    assert all(b is not None for b in on_chain)

    # every anchored batch (the chain's list, not the store's): its leaves are acknowledged invoices,
    # and each acknowledged fingerprint is a leaf of exactly one anchored batch
    seen: Counter[str] = Counter()
    for root, record in zip(roots, on_chain, strict=True):
        assert record is not None
        r = dep.get(f"/v1/batches/{root}")
        assert r.status_code == 200, r.text
        batch = r.json()
        assert batch["state"] == "anchored" and batch["issuer"] == record.institution_id
        assert batch["leafCount"] == record.leaf_count == len(batch["leaves"])
        for leaf in batch["leaves"]:
            seen[leaf["fingerprint"]] += 1
            assert uploads.acked[leaf["fingerprint"]] == (batch["issuer"], leaf["totalFen"])
    for root in set(events) - set(roots):  # anchored on chain, yet no acknowledged invoice points there
        r = dep.get(f"/v1/batches/{root}")
        assert r.status_code == 200, f"root {root} anchored on chain is unknown to the store"
        for leaf in r.json()["leaves"]:
            seen[leaf["fingerprint"]] += 1
    assert set(seen) == set(uploads.acked)
    assert all(n == 1 for n in seen.values()), {fp: n for fp, n in seen.items() if n > 1}


# ---------------------------------------------------------------------------------- tests


def test_serve_sigkill_mid_batch_then_restart(deployment: Deployment) -> None:
    """SIGKILL serve (API workers and chain worker) while an anchoring transaction is in flight, then restart.

    anvil mines a block a second here, so each anchoring transaction waits in the mempool
    for a while: the kill lands after it was sent and before its receipt came back, with
    uploads still arriving. The restarted service must find those anchors on chain (not
    anchor them again), anchor the rest, and answer the clients' retries without duplicates.
    """
    dep, d = deployment, data()
    codes = [h[0] for h in d.hospitals[:3]]
    node_pid = dep.start_node(block_time=1)
    dep.register_all(d.hospitals[:3])
    dep.start_serve()
    stage("node, hospitals and serve up")
    uploads = Uploads()
    first, later = work_for(d, codes, stop=45, size=6), work_for(d, codes, start=45, stop=70)

    done = threading.Event()
    uploader = threading.Thread(target=lambda: (uploads.post_all(dep, first, threads=3, pace=0.2), done.set()))
    uploader.start()
    # kill once a third of the requests were answered and an anchoring transaction waits for its block
    _wait_for(lambda: uploads.answered >= len(first) // 3 and dep.pending_txs() > 0, 60,
              f"no anchoring transaction caught in flight\n{dep.serve_log()}", every=0.01)
    in_flight, arriving = dep.pending_txs(), not done.is_set()
    dep.kill_serve()
    stage(f"serve killed after {uploads.answered} answers, {in_flight} transaction(s) in flight"
          f"{', uploads still arriving' if arriving else ''}")
    uploader.join(timeout=60)
    assert not uploader.is_alive()

    # the crash left work behind: acknowledged invoices not anchored (as far as the store knows)
    waiting = dep.store_rows("select count(*) from invoices i left join batches b on b.root = i.batch_root "
                             "where b.state is null or b.state != 'anchored'")[0][0]
    assert waiting > 0
    assert dep.node_pid() == node_pid, "anvil runs on its own: a SIGKILL of serve leaves it running"

    dep.start_serve()
    stage("serve restarted")
    assert dep.node_pid() == node_pid, "the restarted service reuses the running node"
    retried = len(uploads.lost)
    stored_before = uploads.resend_lost(dep)  # the clients retry the requests whose answer they lost
    # a retry of an acknowledged request: every item a duplicate with the same fingerprint
    issuer, docs = first[0]
    again = uploads.post(dep, issuer, docs, expect={"duplicate"}) or []
    assert len(again) == len(docs)
    # a response lost to a client timeout (the service stored the chunk): the retry stores nothing new
    issuer, docs = later[0]
    count = dep.health()["store"]["invoices"]
    with contextlib.suppress(httpx.TimeoutException):
        dep.http.post("/v1/invoices", content=json.dumps(docs).encode(), timeout=httpx.Timeout(30, read=0.001),
                      headers={"Authorization": f"Bearer {dep.tokens[issuer]}", "Content-Type": "application/json"})
    _wait_for(lambda: dep.health()["store"]["invoices"] == count + len(docs), 30, "the timed-out upload was not stored")
    assert len(uploads.post(dep, issuer, docs, expect={"duplicate"}) or []) == len(docs)
    uploads.post_all(dep, later[1:], threads=3)
    stage(f"uploads done ({retried} requests retried, {stored_before} of their items stored before the kill)")
    assert_anchored_exactly_once(dep, uploads)
    stage(f"{len(uploads.acked)} acknowledged invoices anchored exactly once")
    assert dep.stop_serve() == 0
    assert dep.node_pid() == node_pid, "serve stops only a node it started itself"


def test_anvil_sigkill_loses_anchors_and_a_registration(deployment: Deployment) -> None:
    """SIGKILL anvil right after anchoring, and right after a hospital's registration; restart it under serve.

    anvil comes back with the state it dumped up to a second before the kill: the newest
    anchors and the registration are gone. The running service must notice, register the
    hospital again and re-anchor, so every acknowledged invoice is anchored on the
    *current* chain, once. Uploads made while the node is down are acknowledged too.
    """
    dep, d = deployment, data()
    codes = [h[0] for h in d.hospitals[:3]]
    dep.env["EBILL_ANVIL_PORT"] = str(dep.node_port)  # serve starts the node itself, on a free port
    dep.register_all(d.hospitals[:3])
    dep.start_serve()
    node_pid = dep.node_pid()
    assert node_pid is not None, "serve started no node"
    stage("hospitals, serve and its node up")
    uploads = Uploads()
    uploads.post_all(dep, work_for(d, codes, stop=24))
    wait_drained(dep)
    head = dep.ledger.w3.eth.block_number
    _wait_for(lambda: (dep.dumped_block() or -1) >= head, 10, "anvil did not dump its state")

    # 1. anchors lost: upload, and SIGKILL anvil as soon as the service reports everything anchored
    for attempt in range(3):
        uploads.post_all(dep, work_for(d, codes, start=24 + 8 * attempt, stop=32 + 8 * attempt, size=8))
        wait_drained(dep, every=0.005)
        head = dep.ledger.w3.eth.block_number  # the newest anchor is in this block
        dep.kill_node()
        dumped = dep.dumped_block() or 0
        dep.start_node()
        if dumped < head:
            break
        stage(f"attempt {attempt}: anvil had dumped block {head} already; again")
    else:
        raise AssertionError("anvil dumped its state before every kill: no anchor was lost")
    stage(f"anvil killed at block {head} and restarted from block {dumped}")
    assert_anchored_exactly_once(dep, uploads)
    stage("re-anchored")

    # 2. a registration lost: a new hospital, anvil killed the moment the worker registered it
    for code, name in d.hospitals[3:5]:
        dep.register(code, name)
        _wait_for(lambda: dep.registered_on_chain(code), 30, "the worker did not register the new hospital",  # noqa: B023
                  every=0.005)
        registered_by = dep.ledger.w3.eth.block_number
        dep.kill_node()
        dumped = dep.dumped_block() or 0
        # uploads go on while the chain is down: stored and acknowledged, anchored later
        uploads.post_all(dep, work_for(d, [code], stop=10) + work_for(d, codes, start=56, stop=66))
        dep.start_node()
        stage(f"anvil killed after the registration of {code} in block {registered_by}; restarted from {dumped}")
        assert_anchored_exactly_once(dep, uploads)
        assert dep.registered_on_chain(code)
        if dumped < registered_by:
            break  # the registration was lost, and redone by the worker
    else:
        raise AssertionError("anvil dumped both registrations before the kill: none was lost")
    stage(f"{len(uploads.acked)} acknowledged invoices anchored exactly once")
    assert dep.stop_serve() == 0


def test_serve_and_anvil_killed_at_once(deployment: Deployment) -> None:
    """SIGKILL serve and anvil together mid-batch; restarting serve restarts its node from the state file.

    Should the kill have caught anvil rewriting its state file (it truncates, then writes),
    the node comes back from the copy taken at its last start, further back in time; the
    guarantee is the same.
    """
    dep, d = deployment, data()
    codes = [h[0] for h in d.hospitals[:3]]
    dep.env["EBILL_ANVIL_PORT"] = str(dep.node_port)
    dep.register_all(d.hospitals[:3])
    dep.start_serve()
    uploads = Uploads()
    uploads.post_all(dep, work_for(d, codes, stop=20))
    wait_drained(dep)
    assert dep.stop_serve() == 0
    assert dep.node_pid() is None, "serve stops the node it started on a clean exit"
    dep.start_serve()  # starts the node again from its state
    assert dep.node_pid() is not None
    stage("serve, node and first uploads done; both restarted cleanly")
    anchored_before = dep.health()["store"]["batchesAnchored"]
    first, later = work_for(d, codes, start=20, stop=56, size=6), work_for(d, codes, start=56, stop=70)

    done = threading.Event()
    uploader = threading.Thread(target=lambda: (uploads.post_all(dep, first, threads=3, pace=0.2), done.set()))
    uploader.start()
    # kill both the moment the service has anchored more (normally with uploads still arriving)
    _wait_for(lambda: dep.health()["store"]["batchesAnchored"] > anchored_before, 60,
              "the service anchored nothing new", every=0.005)
    arriving = not done.is_set()
    head = dep.ledger.w3.eth.block_number
    node_pid = dep.node_pid()
    assert node_pid is not None and dep.serve is not None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(dep.serve.pid, signal.SIGKILL)
    os.kill(node_pid, signal.SIGKILL)
    dep.kill_serve()
    _wait_for(lambda: not _alive(node_pid), 10, "anvil survived SIGKILL")
    uploader.join(timeout=60)
    dumped = dep.dumped_block()
    stage(f"both killed after {uploads.answered} answers{' (uploads still arriving)' if arriving else ''}; "
          f"chain head {head}, anvil dumped block {dumped}")
    assert dep.node_pid() is None

    dep.start_serve()  # finds no node running: starts it again from the state file
    assert dep.node_pid() not in (None, node_pid)
    recovered = (dep.node_dir / "anvil-state.unreadable.json").exists()
    stage(f"serve restarted, and its node{' (from the copy of its last start)' if recovered else ''}")
    uploads.resend_lost(dep)
    uploads.post_all(dep, later)
    assert_anchored_exactly_once(dep, uploads)
    stage(f"{len(uploads.acked)} acknowledged invoices anchored exactly once")
    assert dep.stop_serve() == 0
    assert dep.node_pid() is None


def test_managed_node_comes_back_from_a_truncated_state_file(deployment: Deployment) -> None:
    """anvil rewrites its state file in place: a kill during a dump truncates it. ``ebill node start``
    (and serve's own node) then load the copy taken at the last start instead of refusing."""
    dep = deployment
    dep.start_node()
    w3 = Web3(Web3.HTTPProvider(dep.node_url))
    recipient = Web3.to_checksum_address("0x" + "e1" * 20)
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": recipient,
                                                                 "value": 7}))
    dep.ebill("node", "stop", "--home", str(dep.home))
    dep.start_node()  # this start keeps a copy of the state it loaded
    dep.ebill("node", "stop", "--home", str(dep.home))
    state = dep.node_dir / "anvil-state.json"
    good = state.read_bytes()
    state.write_bytes(good[: len(good) // 2])  # as a kill during a dump leaves it
    dep.start_node()
    assert w3.eth.get_balance(recipient) == 7
    assert (dep.node_dir / "anvil-state.unreadable.json").read_bytes() == good[: len(good) // 2]
    assert "'--state <PATH>'" in (dep.node_dir / "anvil.log").read_text()  # anvil's refusal, logged
    dep.ebill("node", "stop", "--home", str(dep.home))


def test_upload_command_waits_reports_and_names_refusals(deployment: Deployment, tmp_path: Path) -> None:
    """``ebill upload FILE --wait --report R`` against a running serve, and re-run after a serve SIGKILL."""
    dep, d = deployment, data()
    code, name = d.hospitals[0]
    dep.env["EBILL_ANVIL_PORT"] = str(dep.node_port)
    dep.register_all([(code, name)])
    dep.start_serve(max_age=2.5)  # batches close 2.5 s after an upload: --wait has something to wait for
    node_pid = dep.node_pid()
    docs = d.docs[code]

    def ndjson(name: str, lines: list[dict[str, Any]]) -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in lines))
        return path

    def upload(path: Path, *flags: str) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
        report = path.with_suffix(".report")
        done = dep.ebill("upload", str(path), "--url", dep.url, "--token", dep.tokens[code], "--chunk", "10",
                         "--report", str(report), *flags, check=False)
        return done, [json.loads(line) for line in report.read_text().splitlines()]

    def states(items: list[dict[str, Any]]) -> set[str]:
        return {dep.get(f"/v1/invoices/{i['invoice']['fingerprint']}").json()["state"] for i in items}

    good = ndjson("good.ndjson", docs[:35])
    done, items = upload(good, "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [i["status"] for i in items] == ["created"] * 35
    assert states(items) == {"anchored"}, "--wait returned before the upload was anchored"
    stage("uploaded and waited")

    # one broken invoice (line 16: the second request of --chunk 10) among valid ones: exit 1, the refused
    # item named on stderr by its file and line, one report line per item
    broken = dict(docs[50], totalFen=docs[50]["totalFen"] + 1)
    done, items = upload(ndjson("mixed.ndjson", [*docs[35:50], broken, *docs[51:55]]))
    assert done.returncode == 1, done.stdout + done.stderr
    assert [i["status"] for i in items] == ["created"] * 15 + ["rejected"] + ["created"] * 4
    assert items[15]["ref"] == "mixed.ndjson line 16"
    refused = [line for line in done.stderr.splitlines() if line.startswith("refused")]
    assert len(refused) == 1 and "mixed.ndjson line 16" in refused[0] and "totalFen" in refused[0], done.stderr

    # uploaded, then serve SIGKILLed before the batch closed (12 < 16 leaves: it waits for its 2.5 s);
    # the node serve started keeps running
    wait_drained(dep)
    later = ndjson("later.ndjson", docs[55:67])
    done, items = upload(later)
    assert done.returncode == 0, done.stdout + done.stderr
    dep.kill_serve()
    assert dep.node_pid() == node_pid, "the node serve started survives serve's SIGKILL (its own session)"
    assert dep.store_rows("select count(*) from invoices where batch_root is null")[0][0] == 12
    dep.start_serve(max_age=2.5)
    assert dep.node_pid() == node_pid, "the restarted serve reuses the running node"
    # the operator re-runs the upload with --wait: nothing new stored, and it waits for the anchoring
    done, items = upload(later, "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [i["status"] for i in items] == ["duplicate"] * 12
    assert states(items) == {"anchored"}, "--wait returned before the re-sent invoices were anchored"
    assert dep.health()["store"]["invoices"] == 35 + 19 + 12
    assert dep.stop_serve() == 0
    assert dep.node_pid() == node_pid, "a node this serve did not start outlives its clean exit"
