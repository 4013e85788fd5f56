"""End to end: one request must never take ``ebill serve`` down, and a dead API worker is seen.

- a 1.1 MB body of 100,000 nested objects, posted with a valid credential, answers 400
  (or 413 where a body limit stops it first) and the service still answers; before the
  fix the process died of SIGSEGV (the stdlib JSON decoder under the recursion limit
  py_ecc raises to 100,000);
- ``ebill serve --workers 2``: an API worker killed with SIGSEGV (or SIGKILL, as the OOM
  killer does) is named, with its pid and the signal, on the service's own stderr, with
  its Python stack (faulthandler), and the service keeps answering: uvicorn restarts it.
  Before, nothing but the kernel log said a worker had died.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from polling import until

from ledger.adapters import anvil
from ledger.errors import ToolchainError

pytestmark = [pytest.mark.slow]

EBILL = Path(sys.executable).with_name("ebill")
if not EBILL.exists():  # pragma: no cover
    pytest.skip(f"no ebill entry point next to {sys.executable}", allow_module_level=True)


class Serve:
    """``ebill serve`` in its own session, its output in ``serve.log``."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = anvil.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("EBILL_") or k == anvil.BINARY_ENV}
        self.env.update(EBILL_HOME=str(home), NO_COLOR="1", TERM="dumb", COLUMNS="200", PYTHONUNBUFFERED="1")
        self.proc: subprocess.Popen[bytes] | None = None

    def ebill(self, *args: str) -> str:
        done = subprocess.run([str(EBILL), *args, "--home", str(self.home)], env=self.env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, f"ebill {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, *args: str) -> None:
        with (self.home / "serve.log").open("wb") as log:
            self.proc = subprocess.Popen([str(EBILL), "serve", "--home", str(self.home), "--port", str(self.port),
                                          *args], env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"ebill serve exited with {self.proc.returncode}:\n{self.log()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/v1/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"ebill serve not healthy within 120 s:\n{self.log()}")

    def log(self) -> str:
        path = self.home / "serve.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        node = anvil.status(self.home / "node")  # serve stops the node it started; if it could not, we do
        if node is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(node["pid"]), signal.SIGKILL)

    def api_workers(self) -> list[int]:
        """Pids of uvicorn's worker processes (spawned children of serve; not its resource tracker)."""
        assert self.proc is not None
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (entry / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                continue
            if ppid == self.proc.pid and b"spawn_main" in cmdline:
                found.append(int(entry.name))
        return sorted(found)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    s = Serve(tmp_path)
    yield s
    s.stop()


def test_a_deeply_nested_body_does_not_kill_the_service(serve: Serve) -> None:
    admin = serve.ebill("credential", "create", "--role", "admin", "--subject", "bureau").strip().splitlines()[-1]
    serve.start("--chain", "embedded", "--workers", "1")
    body = b'{"nested":' * 100_000 + b"1" + b"}" * 100_000
    assert len(body) > 1_100_000
    r = httpx.post(serve.url + "/v1/persons", content=body, timeout=60,
                   headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"})
    assert r.status_code in (400, 413), r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert serve.proc is not None and serve.proc.poll() is None, f"the service died:\n{serve.log()}"
    assert httpx.get(serve.url + "/v1/health", timeout=10).status_code == 200


@pytest.mark.anvil
def test_a_dead_api_worker_is_reported_with_its_cause_and_replaced(serve: Serve) -> None:
    try:
        anvil.anvil_binary()
    except ToolchainError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"no anvil binary: {exc}")
    serve.ebill("node", "start", "--port", str(anvil.free_port()))  # on a free port; stop() stops it
    serve.start("--workers", "2")

    def two_workers() -> list[int] | None:
        found = serve.api_workers()
        return found if len(found) == 2 else None

    workers = until(two_workers, 60, "two API workers")
    assert isinstance(workers, list)
    for victim, sig, name in ((workers[0], signal.SIGSEGV, "SIGSEGV"), (workers[1], signal.SIGKILL, "SIGKILL")):
        os.kill(victim, sig)
        line = f"API worker {victim} was killed by {name}"
        until(lambda line=line: line in serve.log(), 30, f"{line!r} in the service's log:\n{serve.log()}")
        until(lambda victim=victim: (found := two_workers()) and victim not in found, 60, "a new worker")
        for _ in range(10):  # whichever worker takes the connection answers
            assert httpx.get(serve.url + "/v1/health", timeout=10).status_code == 200
    log = serve.log()
    assert "Fatal Python error: Segmentation fault" in log  # the worker's own stack, from faulthandler
    assert "OOM killer" in log and "replaces it" in log
    assert serve.proc is not None and serve.proc.poll() is None


@pytest.mark.anvil
@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_stops_serve_cleanly_with_its_node_and_lease(serve: Serve, workers: str) -> None:
    """SIGTERM (what systemd, docker and ``kill`` send) to ``ebill serve`` alone: it exits 0 after
    stopping the anvil node it started and giving up the chain worker's lease, so a successor
    starts at once. With one API worker uvicorn re-raised SIGTERM under the default handler and
    the process died before its clean-up: the node kept running and the lease stayed taken."""
    try:
        anvil.anvil_binary()
    except ToolchainError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"no anvil binary: {exc}")
    serve.env["EBILL_ANVIL_PORT"] = str(anvil.free_port())  # the node serve starts itself
    serve.start("--workers", workers)
    node = anvil.status(serve.home / "node")
    assert node is not None, f"serve started no node:\n{serve.log()}"
    db = sqlite3.connect(serve.home / "ebill.sqlite")
    held = "SELECT count(*) FROM leases WHERE holder != ''"   # (a released lease keeps its row and epoch)
    until(lambda: db.execute(held).fetchone()[0], 30, "the chain worker's lease")
    assert serve.proc is not None
    serve.proc.send_signal(signal.SIGTERM)  # to serve only, not its process group
    assert serve.proc.wait(timeout=60) == 0, serve.log()
    assert anvil.status(serve.home / "node") is None, f"the node serve started still runs:\n{serve.log()}"
    assert not _pid_alive(int(node["pid"]))
    assert db.execute(held).fetchone()[0] == 0, "the lease was not given up"
    assert "Traceback" not in serve.log()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if Path(f"/proc/{pid}").exists() else "X"
    return state not in ("Z", "X")  # a zombie is dead
