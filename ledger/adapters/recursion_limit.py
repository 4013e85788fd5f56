"""The interpreter's recursion limit, held at its default whatever the chain libraries set.

Importing py_ecc (eth-account imports it through eth-keyfile) raises the limit to
100,000, and py-evm (the embedded EVM) to at least 12,288. The limit is what stops C
code that recurses under the interpreter's guard (the stdlib JSON decoder behind the
FHIR reader and FastAPI's ``request.json()``, ``repr`` of nested containers, pickle)
before it overflows the C stack: at 100,000, a 1.1 MB body of 100,000 nested arrays
overflows the 8 MiB stack at about 70,000 levels and the process dies of SIGSEGV where
it should have raised :class:`RecursionError`. Neither library needs it here: py_ecc's
BLS code is never called, and the ledger contract makes no nested calls, so the 1,024
nested EVM calls py-evm provisions for never happen.

:func:`hold_recursion_limit` imports both (so that their import-time side effect is
spent once and for all) and sets the limit back. The chain adapter
(:mod:`ledger.adapters.web3_chain`) calls it when imported, the app factory when it
builds an app, and anything else that imports eth-account; so it holds in ``ebill
serve``'s main process (chain worker, stamper), its API worker processes, the CLI and
the tests.
"""

from __future__ import annotations

import contextlib
import importlib
import sys

__all__ = ["RECURSION_LIMIT", "hold_recursion_limit"]

#: CPython's default
RECURSION_LIMIT = 1000
#: modules that raise the limit when first imported
_RAISERS = ("py_ecc", "eth")


def hold_recursion_limit() -> None:
    """Import the libraries that raise the recursion limit, then set it back to :data:`RECURSION_LIMIT`."""
    for name in _RAISERS:
        if name not in sys.modules:
            # py-evm comes with web3[tester]; without it, it raises nothing either
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
    sys.setrecursionlimit(RECURSION_LIMIT)
