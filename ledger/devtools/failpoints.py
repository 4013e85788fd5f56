"""Crash points for crash-safety tests: ``EBILL_FAILPOINTS=name[,name…]`` makes the
process die (``os._exit``, like a SIGKILL: no cleanup, no flush) when it reaches one.

Inert unless the variable is set; the names mark the windows the claims design must
survive (see :mod:`ledger.app.claim_worker`):

- ``claims.after-reserve``: the chain reserved a batch, the database has not recorded it;
- ``claims.before-payout``: claims are approved and finalised on chain, the bank has not been called;
- ``claims.after-payout``: the bank paid, the database has not recorded it.
"""

from __future__ import annotations

import os
import sys

EXIT_CODE = 86
_ACTIVE = frozenset(filter(None, os.environ.get("EBILL_FAILPOINTS", "").split(",")))


def failpoint(name: str) -> None:
    """Die here if ``name`` is armed."""
    if name in _ACTIVE:
        sys.stderr.write(f"failpoint {name}: crashing on purpose\n")
        sys.stderr.flush()
        os._exit(EXIT_CODE)
