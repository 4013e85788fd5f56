"""What the machine and a node answer: free and taken ports, live processes, the node's JSON-RPC.

A pid alone proves little (pids get reused, a killed child lingers as a zombie until it is
reaped) and a port answering proves little (another program may hold it), so each probe
says what it checks. None of them raises: a node that does not answer is an answer.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import time
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

#: seconds between two looks at a process or a node that is expected to change
POLL_S = 0.05


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (for tests; another process may take it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """Whether a process listens on ``host:port`` (so anvil could not bind it)."""
    # SO_REUSEADDR as anvil's listener has it: a socket in TIME_WAIT does not count, a
    # listening one does.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def alive(pid: int) -> bool:
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


def runs(pid: int, args: object) -> bool:
    """Whether ``pid`` is alive and, where /proc exists, runs exactly ``args`` (pids get reused)."""
    if not alive(pid):
        return False
    try:
        cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc").is_dir()
    except OSError:
        return False
    return cmdline.decode(errors="replace").split("\0")[:-1] == args


def wait_gone(pid: int, *, timeout: float) -> bool:
    """Wait until ``pid`` is gone; False if it still lives after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True


def chain_id(client: httpx.Client, url: str) -> int | None:
    """The chain id the node at ``url`` answers, or None if nothing answers it as a node."""
    payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    try:
        answer = client.post(url, json=payload).json()
        return int(answer["result"], 16)
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def pending_count(client: httpx.Client, url: str) -> int:
    """The number of transactions the node at ``url`` holds unmined; 0 if it does not answer."""
    payload = {"jsonrpc": "2.0", "id": 1, "method": "txpool_status", "params": []}
    try:
        return int(client.post(url, json=payload).json()["result"]["pending"], 16)
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return 0  # not answering: nothing to wait for


def drain_mempool(url: str, *, timeout: float) -> None:
    """Wait until anvil has mined every pending transaction, or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while (pending := pending_count(client, url)) and time.monotonic() < deadline:
            time.sleep(POLL_S)
    if pending:
        log.warning(
            "stopping anvil at %s with %d transactions still pending: they are lost", url, pending
        )
