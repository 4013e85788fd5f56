"""What the chain worker last reported about the chain and the store, for whoever asks often.

The chain worker writes a :class:`WorkerStatus` to the store (``meta`` row ``worker.status``)
every few seconds, and at once when the chain stops or starts answering. ``GET /v1/health``
and ``GET /readyz`` read that one row, in any API worker process: no request counts rows
(the five ``COUNT(*)`` a health check ran before) or asks the chain node itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.records import OutboxFigures

__all__ = ["META_KEY", "WorkerStatus"]

#: the ``meta`` row the status lives in
META_KEY = "worker.status"


@dataclass(frozen=True)
class WorkerStatus:
    """The chain worker's report: when, the chain as it saw it, and the store's figures."""

    at: datetime
    #: the node answered the worker's last round (False: ``chain_error`` says what failed)
    chain_ok: bool
    head: int | None
    indexed: int | None
    figures: OutboxFigures | None
    chain_error: str | None = None

    def age(self, now: datetime) -> float:
        """Seconds since the report."""
        return max(0.0, (now - self.at).total_seconds())

    def to_json(self) -> str:
        f = self.figures
        return json.dumps({
            "at": self.at.isoformat(), "chainOk": self.chain_ok, "head": self.head, "indexed": self.indexed,
            "chainError": self.chain_error,
            "figures": None if f is None else {
                **f.to_json(), "oldestWaiting": f.oldest_waiting.isoformat() if f.oldest_waiting else None,
                "batchesSealed": f.batches_sealed, "voidsRequested": f.voids_requested},
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WorkerStatus:
        """Raises ``ValueError`` for text that is not a status."""
        try:
            d: dict[str, Any] = json.loads(text)
            f = d.get("figures")
            figures = None if f is None else OutboxFigures(
                invoices=int(f["invoices"]), unbatched=int(f["unbatched"]), batches_waiting=int(f["batchesWaiting"]),
                batches_anchored=int(f["batchesAnchored"]), voids_pending=int(f["voidsPending"]),
                oldest_waiting=datetime.fromisoformat(f["oldestWaiting"]) if f.get("oldestWaiting") else None,
                batches_sealed=int(f.get("batchesSealed", 0)), voids_requested=int(f.get("voidsRequested", 0)))
            return cls(at=datetime.fromisoformat(d["at"]), chain_ok=bool(d["chainOk"]), head=d.get("head"),
                       indexed=d.get("indexed"), figures=figures, chain_error=d.get("chainError"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a chain worker status: {exc}") from None
