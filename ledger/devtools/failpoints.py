"""Crash points for crash-safety tests: ``EBILL_FAILPOINTS=name[,name…]`` makes the process die
(``os._exit``, like a SIGKILL: no cleanup, no flush) when it reaches one of those
:func:`~ledger.app.failpoint.failpoint` calls (the names are listed in :mod:`ledger.app.failpoint`).

``ebill serve`` calls :func:`arm_from_environment` before its claims stamper starts; without
the variable nothing is armed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import NoReturn

from ledger.app.failpoint import arm

ENV = "EBILL_FAILPOINTS"
EXIT_CODE = 86


def arm_from_environment(environ: Mapping[str, str] = os.environ) -> frozenset[str]:
    """Arm the failpoints that ``EBILL_FAILPOINTS`` names (comma-separated); the names armed."""
    names = frozenset(filter(None, environ.get(ENV, "").split(",")))
    arm(names, crash)
    return names


def crash(name: str) -> NoReturn:
    """Die at failpoint ``name`` with :data:`EXIT_CODE`, saying so on stderr."""
    sys.stderr.write(f"failpoint {name}: crashing on purpose\n")
    sys.stderr.flush()
    os._exit(EXIT_CODE)
