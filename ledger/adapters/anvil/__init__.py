"""A managed anvil dev node whose chain survives restarts (see :mod:`.node`)."""

from __future__ import annotations

from ledger.adapters.anvil.node import (
    BINARY_ENV,
    AnvilConfig,
    AnvilNode,
    anvil_binary,
    free_port,
    start_detached,
    status,
    stop_detached,
)

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
