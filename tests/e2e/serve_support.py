"""An ``ebill serve`` subprocess with its own data directory, for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from polling import until  # noqa: F401  (the e2e tests wait with it)

from ledger.adapters import anvil

EBILL = Path(sys.executable).with_name("ebill")


class Serve:
    """One payer's data directory and its ``ebill serve`` subprocess."""

    def __init__(self, home: Path, env: dict[str, str], node_url: str, *, workers: int = 1,
                 chain: str = "anvil", host: str = "127.0.0.1", prefix: tuple[str, ...] = ()) -> None:
        """``prefix`` runs the service under a command (``ip netns exec NS``: on a host of its own),
        listening on ``host``."""
        self.home, self.node_url, self.workers, self.chain = home, node_url, workers, chain
        self.host, self.prefix = host, prefix
        # (the harness polls /v1/health from one address: the budget of callers without credential is lifted)
        self.env = {**env, "EBILL_HOME": str(home), "EBILL_PUBLIC_RATE_LIMIT": "1000000/minute"}
        self.port = anvil.free_port()
        self.url = f"http://{host}:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``ebill ARGS --home HOME`` as an operator types it; the caller judges the outcome."""
        return subprocess.run([str(EBILL), *args, "--home", str(self.home)], env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=120, check=False)

    def ebill(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, f"ebill {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, *extra: str) -> None:
        log = (self.home / "serve.log").open("wb")
        self.proc = subprocess.Popen(
            [*self.prefix, str(EBILL), "serve", "--home", str(self.home), "--host", self.host, "--port", str(self.port),
             "--workers", str(self.workers),
             "--chain", self.chain, "--rpc-url", self.node_url, "--batch-max-age", "0.2", *extra],
            env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()
            with contextlib.suppress(httpx.HTTPError):
                if self.http.get("/v1/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"serve not healthy:\n{self.log()}")

    def log(self, *, tail: int | None = 5000) -> str:
        """The service's log: its last ``tail`` characters (for a failure message), or all of it (``None``:
        to search it; a busy service's JSON lines push a line out of any tail)."""
        path = self.home / "serve.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return text[-tail:] if tail is not None else text

    def stop(self) -> None:
        self.http.close()
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
