"""A managed anvil dev node whose chain survives restarts.

Files in ``AnvilConfig.data_dir``::

    anvil-state.json        chain state: loaded at start, dumped every ``state_interval``
                            seconds and on SIGTERM (anvil's ``--state``)
    anvil-state.prev.json   copy of the state file taken at the last successful start
    anvil-state.unreadable.json  a state file anvil refused, moved aside when the node
                            recovered from the ``.prev`` copy (managed nodes only)
    anvil.log               anvil's stdout and stderr, appended to on every start
    anvil.pid               JSON: pid, port, url, started_at, args, ... of the running node

Two facts about anvil 1.7.1 shape this package:

- A SIGKILL (or a crash) loses whatever happened since the last interval dump.
- anvil rewrites the state file in place (open with O_TRUNC, then write; no rename), so
  a kill *during* a dump leaves a truncated file that anvil then refuses to load. Hence
  the ``.prev`` copy: managed nodes (:func:`start_detached`) fall back to it on their own,
  :class:`AnvilNode` by default refuses with the recovery hint in
  :class:`~ledger.errors.ChainUnavailable`.

One module per concern:

- :mod:`.config`: which binary, how one node is run (:class:`AnvilConfig`, its command
  line and its files);
- :mod:`.node`: a node process this Python process starts and owns (:class:`AnvilNode`:
  start with state-file recovery, stop, kill), and :func:`start_detached`, which starts
  one that outlives it (``ebill node start``, ``ebill serve``);
- :mod:`.detached`: a node known only by its pid file, from any process:
  :func:`status` and :func:`stop_detached` (``ebill node status|stop``);
- :mod:`.probes`: what the machine and the node answer (is a process alive and still
  the one started, is a port taken, which chain id, how many transactions pending).

Errors: :class:`~ledger.errors.ToolchainError` when the binary is missing,
:class:`~ledger.errors.ChainUnavailable` when the node does not come up (port taken,
state file unreadable, another node already serving this data directory, timeout),
:class:`~ledger.errors.InvalidInput` for a configuration anvil would reject.
"""

from __future__ import annotations

from ledger.adapters.anvil.config import BINARY_ENV, AnvilConfig, anvil_binary
from ledger.adapters.anvil.detached import status, stop_detached
from ledger.adapters.anvil.node import AnvilNode, start_detached
from ledger.adapters.anvil.probes import free_port

__all__ = [
    "BINARY_ENV",
    "AnvilConfig",
    "AnvilNode",
    "anvil_binary",
    "free_port",
    "start_detached",
    "status",
    "stop_detached",
]
