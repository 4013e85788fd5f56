"""Failpoints: inert in a deployment, a real crash (exit 86, nothing after it runs) once a test arms one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ledger.devtools.failpoints import ENV, EXIT_CODE

# a process that passes two failpoints, as the claims stamper does, armed as `ebill serve` arms them
_PROCESS = """
from ledger.app.failpoint import failpoint
from ledger.devtools.failpoints import arm_from_environment
arm_from_environment()
failpoint("claims.after-reserve")
print("passed claims.after-reserve", flush=True)
failpoint("claims.after-payout")
print("passed claims.after-payout", flush=True)
"""


def _run(armed: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if armed is not None:
        env[ENV] = armed
    return subprocess.run([sys.executable, "-c", _PROCESS], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("armed", [None, "", "claims.before-payout", ",claims.elsewhere,"])
def test_unarmed_points_do_nothing(armed: str | None) -> None:
    run = _run(armed)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["passed claims.after-reserve", "passed claims.after-payout"]


def test_an_armed_point_kills_the_process_there() -> None:
    run = _run("claims.before-payout,claims.after-payout")
    assert run.returncode == EXIT_CODE
    assert run.stdout.splitlines() == ["passed claims.after-reserve"]
    assert run.stderr == "failpoint claims.after-payout: crashing on purpose\n"


def test_the_first_armed_point_reached_is_the_one_that_kills() -> None:
    run = _run("claims.after-payout,claims.after-reserve")
    assert run.returncode == EXIT_CODE
    assert run.stdout == ""
    assert run.stderr == "failpoint claims.after-reserve: crashing on purpose\n"
