"""The directory where ``ebill serve``'s processes write their metric values (Prometheus
multiprocess mode), without importing ``prometheus_client``.

``prometheus_client`` decides when it is imported whether values go to files
(``PROMETHEUS_MULTIPROC_DIR`` set) or stay in the process: so ``ebill serve`` calls
:func:`prepare` before anything imports it, and its API workers (started later, with the
environment) inherit the choice. The directory is emptied at every start: values of a
previous run would otherwise be added to this one's (a counter would jump by what the last
run counted), and files of dead processes pile up. :func:`process_exited` drops the live
gauges of an API worker that died (its counters and histograms stay: what it counted happened).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["ENV", "prepare", "process_exited"]

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare(home: Path, *, role: str = "all") -> Path:
    """Empty (or make) ``home/metrics`` (``metrics-api``, ``metrics-worker`` for ``ebill serve --role``: an API
    instance and a worker instance sharing a home must not empty each other's files) and point this process
    and its children at it.

    Raises ``RuntimeError`` if ``prometheus_client`` was imported already: its values would
    then stay in this process, invisible to every scrape.
    """
    if "prometheus_client" in sys.modules and os.environ.get(ENV) is None:
        raise RuntimeError("prometheus_client was imported before the metrics directory was prepared: "
                           "its values would not reach /metrics")
    path = home / ("metrics" if role == "all" else f"metrics-{role}")
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, mode=0o700)
    os.environ[ENV] = str(path)
    return path


def process_exited(pid: int | None) -> None:
    """Forget the live gauges of the exited process ``pid`` (an API worker that died)."""
    if pid is None or not os.environ.get(ENV):
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
