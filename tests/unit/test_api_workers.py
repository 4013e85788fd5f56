"""ledger.adapters.api_workers.death_cause: a worker's end in words (the e2e test kills real workers)."""

from __future__ import annotations

import signal

import pytest

from ledger.adapters.api_workers import death_cause


@pytest.mark.parametrize(("exitcode", "hung", "expected"), [
    (-signal.SIGSEGV, False, "was killed by SIGSEGV (a crash in native code; its Python stack is printed above"),
    (-signal.SIGKILL, False, "was killed by SIGKILL (the kernel's OOM killer sends it when memory runs out)"),
    (-signal.SIGKILL, True, "did not answer the supervisor's health check within 5 s and was killed"),
    (-signal.SIGTERM, False, "was killed by SIGTERM"),
    (3, False, "failed to start (exit status 3; its error is printed above)"),
    (1, False, "exited with status 1 (its traceback is printed above)"),
    (0, False, "exited with status 0"),
    (-200, False, "was killed by signal 200"),
])
def test_causes(exitcode: int, hung: bool, expected: str) -> None:
    assert death_cause(exitcode, hung=hung, timeout=5).startswith(expected)
