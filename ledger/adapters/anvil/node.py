"""A managed anvil dev node whose chain survives restarts.

Files in ``AnvilConfig.data_dir``::

    anvil-state.json        chain state: loaded at start, dumped every ``state_interval``
                            seconds and on SIGTERM (anvil's ``--state``)
    anvil-state.prev.json   copy of the state file taken at the last successful start
    anvil-state.unreadable.json  a state file anvil refused, moved aside when the node
                            recovered from the ``.prev`` copy (managed nodes only)
    anvil.log               anvil's stdout and stderr, appended to on every start
    anvil.pid               JSON: pid, port, url, started_at, args, ... of the running node

Two facts about anvil 1.7.1 shape this module:

- A SIGKILL (or a crash) loses whatever happened since the last interval dump.
- anvil rewrites the state file in place (open with O_TRUNC, then write; no rename), so
  a kill *during* a dump leaves a truncated file that anvil then refuses to load. Hence
  the ``.prev`` copy: managed nodes (:func:`start_detached`) fall back to it on their own,
  :class:`AnvilNode` by default refuses with the recovery hint in
  :class:`~ledger.errors.ChainUnavailable`.

Errors: :class:`~ledger.errors.ToolchainError` when the binary is missing,
:class:`~ledger.errors.ChainUnavailable` when the node does not come up (port taken,
state file unreadable, another node already serving this data directory, timeout),
:class:`~ledger.errors.InvalidInput` for a configuration anvil would reject.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from ledger.errors import ChainUnavailable, InvalidInput, StateFileUnreadable, ToolchainError

__all__ = [
    "BINARY_ENV",
    "AnvilConfig",
    "AnvilNode",
    "anvil_binary",
    "free_port",
    "start_detached",
    "status",
    "stop_detached",
]

log = logging.getLogger(__name__)

#: environment variable naming the anvil binary to use
BINARY_ENV = "EBILL_ANVIL"
_NPM_BINARY = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
_REPO = Path(__file__).resolve().parents[3]
_POLL_S = 0.05
_STATE_FILE = "anvil-state.json"
_PREV_STATE_FILE = "anvil-state.prev.json"
_LOG_FILE = "anvil.log"
_PID_FILE = "anvil.pid"
_UNREADABLE_STATE_FILE = "anvil-state.unreadable.json"


def anvil_binary() -> Path:
    """The anvil executable: ``$EBILL_ANVIL``, else the npm package's, else ``anvil`` on PATH."""
    override = os.environ.get(BINARY_ENV)
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ToolchainError(
                f"{BINARY_ENV}={override} is not an executable file; unset it to use "
                f"{_REPO / _NPM_BINARY}, or point it at an anvil binary"
            )
        return path
    bundled = _REPO / _NPM_BINARY
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return bundled
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise ToolchainError(
        f"anvil binary not found: {BINARY_ENV} is unset, {bundled} does not exist and no "
        "`anvil` is on PATH; run `./dev setup` (or `npm ci`) to install "
        "@foundry-rs/anvil-linux-amd64"
    )


@dataclass(frozen=True)
class AnvilConfig:
    """How to run one anvil node. ``data_dir`` is made absolute; ``block_time=None`` automines."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8545
    chain_id: int = 31337
    block_time: float | None = None
    gas_limit: int | None = None
    #: seconds between state dumps; anvil accepts only whole seconds >= 1
    state_interval: int = 1
    accounts: int = 10
    #: ETH per dev account
    balance: int = 1_000_000
    extra_args: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).resolve())
        checks = [
            ("port", 1 <= self.port <= 65535, f"must be in 1..65535, got {self.port}"),
            ("chain_id", self.chain_id >= 1, f"must be >= 1, got {self.chain_id}"),
            (
                "state_interval",
                isinstance(self.state_interval, int) and self.state_interval >= 1,
                f"must be a whole number of seconds >= 1 (anvil panics on 0 and rejects "
                f"fractions), got {self.state_interval!r}",
            ),
            (
                "block_time",
                self.block_time is None or self.block_time > 0,
                f"must be > 0 or None for automine, got {self.block_time}",
            ),
            (
                "gas_limit",
                self.gas_limit is None or self.gas_limit > 0,
                f"must be > 0 or None, got {self.gas_limit}",
            ),
            ("accounts", self.accounts >= 1, f"must be >= 1, got {self.accounts}"),
            ("balance", self.balance >= 0, f"must be >= 0, got {self.balance}"),
        ]
        for name, ok, message in checks:
            if not ok:
                raise InvalidInput.single(name, "anvil-config", message)

    @property
    def state_file(self) -> Path:
        return self.data_dir / _STATE_FILE

    @property
    def prev_state_file(self) -> Path:
        return self.data_dir / _PREV_STATE_FILE

    @property
    def log_file(self) -> Path:
        return self.data_dir / _LOG_FILE

    @property
    def pid_file(self) -> Path:
        return self.data_dir / _PID_FILE

    @property
    def url(self) -> str:
        """HTTP JSON-RPC URL a client on this machine connects to."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def command(self, binary: Path) -> list[str]:
        """The full argv that starts this node."""
        argv = [
            str(binary),
            "--state", str(self.state_file),
            "--state-interval", str(self.state_interval),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--accounts", str(self.accounts),
            "--balance", str(self.balance),
        ]  # fmt: skip
        if self.block_time is not None:
            argv += ["--block-time", f"{self.block_time:g}"]
        if self.gas_limit is not None:
            argv += ["--gas-limit", str(self.gas_limit)]
        return argv + list(self.extra_args)


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
        if _port_in_use(cfg.host, cfg.port):
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
            os.replace(cfg.state_file, cfg.data_dir / _UNREADABLE_STATE_FILE)
            shutil.copyfile(cfg.prev_state_file, cfg.state_file)
            log.warning(
                "%s; moved it to %s and loaded %s, the state at the last successful start",
                exc, _UNREADABLE_STATE_FILE, cfg.prev_state_file,
            )
            self._launch(argv, timeout=timeout)
        assert self._proc is not None
        _write_json_atomically(
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
            _drain_mempool(self.url, timeout=drain)
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
        _remove_pid_file(self.config.pid_file, proc.pid)
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
                answered = _chain_id(client, cfg.url)
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
                time.sleep(_POLL_S)

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


def status(data_dir: Path) -> dict[str, Any] | None:
    """The pid-file record of the node serving ``data_dir`` plus ``responding``, or None.

    A pid file whose process is gone, or whose pid now belongs to another program, is stale:
    it is removed and None is returned.
    """
    pid_file = Path(data_dir).resolve() / _PID_FILE
    try:
        record: dict[str, Any] = json.loads(pid_file.read_text())
        pid = int(record["pid"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("removing unreadable pid file %s: %s", pid_file, exc)
        pid_file.unlink(missing_ok=True)
        return None
    if not _runs(pid, record.get("args")):
        log.info("removing stale pid file %s: pid %d no longer runs that anvil", pid_file, pid)
        _remove_pid_file(pid_file, pid)
        return None
    with httpx.Client(timeout=1.0) as client:
        record["responding"] = _chain_id(client, str(record.get("url", ""))) is not None
    return record


def stop_detached(data_dir: Path, *, timeout: float = 10.0, drain: float = 5.0) -> bool:
    """Stop the node serving ``data_dir`` as :meth:`AnvilNode.stop` does; False if none ran."""
    record = status(data_dir)
    if record is None:
        return False
    pid = int(record["pid"])
    _drain_mempool(str(record["url"]), timeout=drain)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout=timeout):
        log.warning("anvil (pid %d) ignored SIGTERM for %.1f s; sending SIGKILL", pid, timeout)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, timeout=5.0)
    _remove_pid_file(Path(data_dir).resolve() / _PID_FILE, pid)
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (for tests; another process may take it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_in_use(host: str, port: int) -> bool:
    # SO_REUSEADDR as anvil's listener has it: a socket in TIME_WAIT does not count, a
    # listening one does.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _port_taken_message(cfg: AnvilConfig) -> str:
    # Short timeout: a listener that is not an HTTP server never answers at all.
    with httpx.Client(timeout=0.3) as client:
        answered = _chain_id(client, cfg.url)
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


def _drain_mempool(url: str, *, timeout: float) -> None:
    """Wait until anvil has mined every pending transaction, or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while (pending := _pending_count(client, url)) and time.monotonic() < deadline:
            time.sleep(_POLL_S)
    if pending:
        log.warning(
            "stopping anvil at %s with %d transactions still pending: they are lost", url, pending
        )


def _pending_count(client: httpx.Client, url: str) -> int:
    payload = {"jsonrpc": "2.0", "id": 1, "method": "txpool_status", "params": []}
    try:
        return int(client.post(url, json=payload).json()["result"]["pending"], 16)
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return 0  # not answering: nothing to wait for


def _chain_id(client: httpx.Client, url: str) -> int | None:
    payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    try:
        answer = client.post(url, json=payload).json()
        return int(answer["result"], 16)
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (a killed child nobody reaped yet)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own dead child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return not Path("/proc").is_dir()  # no procfs: trust kill(0)
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _runs(pid: int, args: object) -> bool:
    """Whether ``pid`` is alive and, where /proc exists, runs exactly ``args`` (pids get reused)."""
    if not _alive(pid):
        return False
    try:
        cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc").is_dir()
    except OSError:
        return False
    return cmdline.decode(errors="replace").split("\0")[:-1] == args


def _wait_gone(pid: int, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_S)
    return True


def _remove_pid_file(pid_file: Path, pid: int) -> None:
    """Remove ``pid_file`` if it still names ``pid`` (a newer node may have replaced it)."""
    try:
        if int(json.loads(pid_file.read_text())["pid"]) != pid:
            return
    except FileNotFoundError:
        return
    except (OSError, ValueError, KeyError, TypeError):
        pass  # unreadable: nobody can use it
    pid_file.unlink(missing_ok=True)


def _write_json_atomically(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(tmp, path)


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
