"""Failpoints: named places in the claims stamper where a crash-safety test may kill the process.

The names mark the windows the claims design must survive (see :mod:`ledger.app.claim_worker`):

- ``claims.after-reserve``: the chain reserved a batch, the database has not recorded it;
- ``claims.before-payout``: claims are approved and finalised on chain, the bank has not been called;
- ``claims.after-offset``: a payout's offsets for claw-backs are recorded, the bank has not been called;
- ``claims.after-payout``: the bank paid, the database has not recorded it.

In a deployment nothing is armed and :func:`failpoint` costs one dictionary lookup. Only
development tooling arms points (:func:`ledger.devtools.failpoints.arm_from_environment`,
which ``ebill serve`` calls), so the service holds no test code and reads no test switch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NoReturn

_armed: dict[str, Callable[[str], NoReturn]] = {}


def failpoint(name: str) -> None:
    """Crash here if a test armed ``name``; otherwise do nothing."""
    crash = _armed.get(name)
    if crash is not None:
        crash(name)


def arm(names: Iterable[str], crash: Callable[[str], NoReturn]) -> None:
    """Make :func:`failpoint` call ``crash(name)`` at each of ``names``; the other points stay inert."""
    for name in names:
        _armed[name] = crash
