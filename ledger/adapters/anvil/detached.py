"""A node known only by its pid file: its status and its stop, from any process.

``ebill node start`` returns while its node runs on; ``ebill node status`` and ``ebill node
stop`` run later in other processes, which know the node only by ``anvil.pid`` in its data
directory. The pid file is written by :meth:`AnvilNode.start <ledger.adapters.anvil.node.AnvilNode.start>`
once the node answers, and removed when the node is stopped, or found stale.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

import httpx

from ledger.adapters.anvil.config import PID_FILE
from ledger.adapters.anvil.probes import chain_id, drain_mempool, runs, wait_gone

log = logging.getLogger(__name__)


def status(data_dir: Path) -> dict[str, Any] | None:
    """The pid-file record of the node serving ``data_dir`` plus ``responding``, or None.

    A pid file whose process is gone, or whose pid now belongs to another program, is stale:
    it is removed and None is returned.
    """
    pid_file = Path(data_dir).resolve() / PID_FILE
    try:
        record: dict[str, Any] = json.loads(pid_file.read_text())
        pid = int(record["pid"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("removing unreadable pid file %s: %s", pid_file, exc)
        pid_file.unlink(missing_ok=True)
        return None
    if not runs(pid, record.get("args")):
        log.info("removing stale pid file %s: pid %d no longer runs that anvil", pid_file, pid)
        remove_pid_file(pid_file, pid)
        return None
    with httpx.Client(timeout=1.0) as client:
        record["responding"] = chain_id(client, str(record.get("url", ""))) is not None
    return record


def stop_detached(data_dir: Path, *, timeout: float = 10.0, drain: float = 5.0) -> bool:
    """Stop the node serving ``data_dir`` as :meth:`AnvilNode.stop` does, by its pid; False if none ran."""
    record = status(data_dir)
    if record is None:
        return False
    pid = int(record["pid"])
    drain_mempool(str(record["url"]), timeout=drain)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not wait_gone(pid, timeout=timeout):
        log.warning("anvil (pid %d) ignored SIGTERM for %.1f s; sending SIGKILL", pid, timeout)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_gone(pid, timeout=5.0)
    remove_pid_file(Path(data_dir).resolve() / PID_FILE, pid)
    return True


def remove_pid_file(pid_file: Path, pid: int) -> None:
    """Remove ``pid_file`` if it still names ``pid`` (a newer node may have replaced it)."""
    try:
        if int(json.loads(pid_file.read_text())["pid"]) != pid:
            return
    except FileNotFoundError:
        return
    except (OSError, ValueError, KeyError, TypeError):
        pass  # unreadable: nobody can use it
    pid_file.unlink(missing_ok=True)


def write_pid_file(path: Path, record: dict[str, Any]) -> None:
    """Write a node's pid-file record at once: a reader sees the old file or the new, never a part."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, path)
