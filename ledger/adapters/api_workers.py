"""``ebill serve``'s API worker processes: uvicorn's supervisor, with every death reported and explained.

uvicorn's multiprocess supervisor restarts a worker that died, but says so only at INFO
("Child process [1234] died", below the warning level ``ebill serve`` runs it at) and
never why, so a worker killed by the OOM killer or crashed in native code left a trace
in the kernel log only. :class:`ReportingSupervisor` is that supervisor, reporting each
death on the service's own stderr with the worker's pid and cause: the signal that
killed it (SIGSEGV, SIGKILL...), its exit status, a failed start-up, or a health check
it did not answer. Workers run with ``PYTHONFAULTHANDLER=1`` (see :func:`run_api_workers`),
so a native crash prints the worker's Python stack first.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from ledger.adapters import metrics_dir

__all__ = ["ReportingSupervisor", "death_cause", "run_api_workers"]

_HINTS = {
    signal.SIGKILL: "the kernel's OOM killer sends it when memory runs out",
    signal.SIGSEGV: "a crash in native code; its Python stack is printed above (faulthandler)",
    signal.SIGABRT: "an abort in native code; its Python stack is printed above (faulthandler)",
}


def death_cause(exitcode: int | None, *, hung: bool = False, timeout: float = 0.0) -> str:
    """Why a worker process ended, in words, from its exit code (negative: the signal that killed it)."""
    if hung:
        return f"did not answer the supervisor's health check within {timeout:g} s and was killed"
    if exitcode is None:
        return "ended for an unknown reason"
    if exitcode < 0:
        try:
            sig = signal.Signals(-exitcode)
        except ValueError:
            return f"was killed by signal {-exitcode}"
        hint = _HINTS.get(sig)
        return f"was killed by {sig.name}" + (f" ({hint})" if hint else "")
    if exitcode == STARTUP_FAILURE:
        return f"failed to start (exit status {exitcode}; its error is printed above)"
    return f"exited with status {exitcode}" + (" (its traceback is printed above)" if exitcode == 1 else "")


class ReportingSupervisor(Multiprocess):
    """uvicorn's :class:`Multiprocess` supervisor, calling ``report`` with a sentence for every worker that dies."""

    def __init__(self, config: Config, sockets: list[Any], *, report: Callable[[str], None]) -> None:
        super().__init__(config, sockets)
        self._report = report

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        workers = list(self.processes)
        dead = {id(p) for p in workers if not p.process.is_alive()}  # before the supervisor kills hung ones
        super().keep_subprocess_alive()
        for old in workers:
            if old.exitcode is None:
                continue
            # alive a moment ago and SIGKILLed: the supervisor killed it for a missed health check
            # (a worker dying of another signal can look alive while the kernel writes its core dump)
            hung = id(old) not in dead and old.exitcode == -signal.SIGKILL
            cause = death_cause(old.exitcode, hung=hung, timeout=self.config.timeout_worker_healthcheck)
            metrics_dir.process_exited(old.pid)   # its live gauges go; what it counted stays in /metrics
            if any(p is old for p in self.processes):  # not replaced: the supervisor is stopping
                then = "the service stops" if old.exitcode == STARTUP_FAILURE else "it is not replaced"
            else:
                then = f"worker {_pid(self.processes[workers.index(old)])} replaces it"
            self._report(f"API worker {old.pid} {cause}; {then}")


def _pid(process: Process) -> str:
    return str(process.pid) if process.pid is not None else "(starting)"


def run_api_workers(app: str, *, host: str, port: int, workers: int, report: Callable[[str], None],
                    log_level: str = "warning") -> None:
    """Serve the app factory ``app`` (``module:function``) with ``workers`` processes until stopped.

    What ``uvicorn.run(app, factory=True, workers=n)`` does, with :class:`ReportingSupervisor`.
    """
    os.environ["PYTHONFAULTHANDLER"] = "1"  # the spawned workers' interpreters dump their stack on a fatal signal
    # no uvicorn logging set-up and no uvicorn access lines: each worker's app factory configures the JSON
    # log lines (ledger.adapters.logs), and writes its own access line with the request id (api.observe)
    config = Config(app, host=host, port=port, workers=workers, factory=True, log_level=log_level, log_config=None,
                    access_log=False)
    ReportingSupervisor(config, sockets=[config.bind_socket()], report=report).run()
