"""``ebill``, the command line of ebill-ledger: :data:`app` is the console script's entry point.

One module per group of commands (``main`` assembles them); every command turns a
foreseen failure into one line on stderr and an exit status, never a traceback.
"""

from ledger.cli.main import app, main

__all__ = ["app", "main"]
