"""A node process this Python process starts and owns: :class:`AnvilNode`, and :func:`start_detached`.

Starting is where anvil's failures show, so this module also reads them: a taken port,
a state file anvil refuses (and, for managed nodes, the way back to the copy taken at the
last successful start), an exit before answering, a timeout, each as a
:class:`~ledger.errors.ChainUnavailable` that says what to do.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from ledger.adapters.anvil.config import UNREADABLE_STATE_FILE, AnvilConfig, anvil_binary
from ledger.adapters.anvil.detached import remove_pid_file, status, write_pid_file
from ledger.adapters.anvil.probes import POLL_S, chain_id, drain_mempool, port_in_use
from ledger.errors import ChainUnavailable, StateFileUnreadable

log = logging.getLogger(__name__)


class AnvilNode:
    """One anvil process for one :class:`AnvilConfig`; a context manager that starts and stops it.

    The process runs in its own session, so it outlives this Python process unless stopped.
    """

    def __init__(self, config: AnvilConfig) -> None:
        self.config = config
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.config.url

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        """Whether the process this object started is still alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, *, timeout: float = 15.0, recover: bool = False) -> None:
        """Start anvil and return once it answers ``eth_chainId``; a no-op if already running.

        Raises ToolchainError without a binary, ChainUnavailable when the node does not come
        up within ``timeout`` seconds, the port is taken, another node serves this data
        directory, or anvil refuses the state file (unless ``recover`` can fall back).

        With ``recover``, a state file anvil refuses (truncated by a kill during one of its
        in-place dumps) is moved aside to ``anvil-state.unreadable.json`` and the copy taken
        at the last successful start is loaded instead, with a warning: the chain goes back
        further than the crash took it, and the ledger re-submits what is missing, as after
        any crash. Without it (the default), the error names that way back for an operator.
        """
        if self.is_running():
            return
        cfg = self.config
        binary = anvil_binary()
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        other = status(cfg.data_dir)
        if other is not None:
            raise ChainUnavailable(
                f"an anvil node already runs for {cfg.data_dir} (pid {other['pid']}, "
                f"{other['url']}); two nodes must not share one state file, stop it first "
                "(`ebill node stop`)"
            )
        if port_in_use(cfg.host, cfg.port):
            raise ChainUnavailable(_port_taken_message(cfg))
        argv = cfg.command(binary)
        try:
            self._launch(argv, timeout=timeout)
        except StateFileUnreadable as exc:
            # Without this, a node and its service killed together (power loss) while anvil
            # was dumping could not come back without an operator (seen in
            # tests/e2e/test_serve_restart.py under load): fall back to the last good copy.
            if not (recover and cfg.prev_state_file.exists()):
                raise
            os.replace(cfg.state_file, cfg.data_dir / UNREADABLE_STATE_FILE)
            shutil.copyfile(cfg.prev_state_file, cfg.state_file)
            log.warning(
                "%s; moved it to %s and loaded %s, the state at the last successful start",
                exc, UNREADABLE_STATE_FILE, cfg.prev_state_file,
            )
            self._launch(argv, timeout=timeout)
        assert self._proc is not None
        write_pid_file(
            cfg.pid_file,
            {
                "pid": self._proc.pid,
                "host": cfg.host,
                "port": cfg.port,
                "url": cfg.url,
                "chain_id": cfg.chain_id,
                "started_at": _now(),
                "args": argv,
                "state_file": str(cfg.state_file),
                "log_file": str(cfg.log_file),
            },
        )

    def _launch(self, argv: list[str], *, timeout: float) -> None:
        """Spawn anvil and wait until it answers; then keep a copy of the state it loaded."""
        cfg = self.config
        # Snapshot before spawning: once anvil runs, it may be rewriting the file.
        prev_tmp = cfg.prev_state_file.with_suffix(".tmp")
        if cfg.state_file.exists():
            shutil.copyfile(cfg.state_file, prev_tmp)
        with cfg.log_file.open("ab") as log_out:
            log_out.write(f"--- {_now()} ebill starts: {' '.join(argv)}\n".encode())
            log_out.flush()
            log_offset = log_out.tell()
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_until_ready(timeout=timeout, log_offset=log_offset)
        except BaseException:
            prev_tmp.unlink(missing_ok=True)
            self._abandon()
            raise
        if prev_tmp.exists():
            os.replace(prev_tmp, cfg.prev_state_file)

    def stop(self, *, timeout: float = 10.0, drain: float = 5.0) -> None:
        """Stop the node, keeping its state: SIGTERM, and SIGKILL only after ``timeout`` seconds.

        First waits up to ``drain`` seconds for anvil's mempool to empty: a dump holds mined
        blocks only, and under load automine lags behind accepted transactions.
        """
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            drain_mempool(self.url, timeout=drain)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.warning(
                    "anvil (pid %d) ignored SIGTERM for %.1f s; sending SIGKILL, so state "
                    "since the last interval dump is lost",
                    proc.pid,
                    timeout,
                )
                proc.kill()
                proc.wait()
        remove_pid_file(self.config.pid_file, proc.pid)
        self._proc = None

    def kill(self) -> None:
        """SIGKILL, as a crash would: no state dump, and the pid file is left behind (stale)."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self._proc = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_until_ready(self, *, timeout: float, log_offset: int) -> None:
        assert self._proc is not None
        cfg = self.config
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as client:
            while True:
                code = self._proc.poll()
                if code is not None:
                    output = _read_from(cfg.log_file, log_offset)
                    error = StateFileUnreadable if _state_refusal(output) else ChainUnavailable
                    raise error(_exit_message(cfg, code, output))
                answered = chain_id(client, cfg.url)
                # Re-check liveness: an answer could come from another process on the port.
                if answered is not None and self._proc.poll() is None:
                    if answered != cfg.chain_id:
                        raise ChainUnavailable(
                            f"the node at {cfg.url} answers chain id {answered}, expected "
                            f"{cfg.chain_id}"
                        )
                    return
                if time.monotonic() >= deadline:
                    tail = _tail(_read_from(cfg.log_file, log_offset))
                    raise ChainUnavailable(
                        f"anvil (pid {self._proc.pid}) did not answer eth_chainId at {cfg.url} "
                        f"within {timeout:g} s; log {cfg.log_file} ends with:\n{tail}"
                    )
                time.sleep(POLL_S)

    def _abandon(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


# Processes started by start_detached, kept referenced so Popen does not warn on collection.
_detached: list[AnvilNode] = []


def start_detached(config: AnvilConfig, *, timeout: float = 15.0, recover: bool = True) -> dict[str, Any]:
    """Start a node that outlives this process; return its pid-file record (see :func:`status`).

    This is the managed node of ``ebill node start`` and ``ebill serve``, which must come
    back unattended after a crash: ``recover`` (see :meth:`AnvilNode.start`) is on.
    """
    node = AnvilNode(config)
    node.start(timeout=timeout, recover=recover)
    _detached.append(node)
    record = status(config.data_dir)
    if record is None:
        raise ChainUnavailable(f"anvil started for {config.data_dir} but exited at once")
    return record


def _port_taken_message(cfg: AnvilConfig) -> str:
    # Short timeout: a listener that is not an HTTP server never answers at all.
    with httpx.Client(timeout=0.3) as client:
        answered = chain_id(client, cfg.url)
    who = f" (an Ethereum node answers there, chain id {answered})" if answered else ""
    return (
        f"port {cfg.port} on {cfg.host} is already in use by another process{who}; "
        "stop that process or choose another port"
    )


def _state_refusal(output: str) -> str | None:
    """anvil's line refusing its ``--state`` file, if it printed one."""
    return next((line for line in output.splitlines() if "'--state <PATH>'" in line), None)


def _exit_message(cfg: AnvilConfig, code: int, output: str) -> str:
    if "Address already in use" in output:
        return _port_taken_message(cfg)
    refusal = _state_refusal(output)
    if refusal is not None:
        prev = cfg.prev_state_file
        restore = (
            f"restore the copy taken at the last successful start with `cp {prev} "
            f"{cfg.state_file}` (losing what happened since), or delete"
            if prev.exists()
            else "delete"
        )
        return (
            f"anvil refused the state file {cfg.state_file} ({refusal.strip()}); "
            "anvil rewrites that file in place, so a kill during a dump truncates it; "
            f"{restore} the state file to start an empty chain"
        )
    return f"anvil exited with code {code} before answering at {cfg.url}:\n{_tail(output)}"


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _tail(text: str, *, lines: int = 15) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:]) if kept else "(no output)"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
