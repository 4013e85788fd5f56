"""What one round of the claims stamper did (:class:`StampReport`), and its log line per operation.

The counts go to the telemetry port (``ebill_stamper_outcomes_total``); each operation of a
round (reservations, finalisations, releases) is one log line naming its transactions, its
claims and the requests that filed them (``X-Request-Id``), so a claim's request can be
followed from the API's access line to the reservation on chain.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from ledger.claims.stamps import StampTask
from ledger.onchain import StampOutcome

__all__ = ["StampReport", "log_stamps"]

log = logging.getLogger("ebill.claims")

#: request ids and claim ids named in one log line (a large round names the first and counts the rest)
_IDS_LOGGED = 50
#: what a round counts, as the metrics label them
OUTCOMES = ("reserved", "finalized", "released", "refused", "paid", "voided", "lost", "decided")


@dataclass
class StampReport:
    reserved: int = 0
    finalized: int = 0
    released: int = 0
    refused: int = 0
    paid: int = 0
    voided: int = 0
    #: claims whose stamp the chain lost, put back in the outbox
    lost: int = 0
    #: claims that waited for earlier payers, decided
    decided: int = 0
    #: claims the chain paid after the backup this database was restored from, recorded from the bank
    reconciled: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return bool(self.reserved or self.finalized or self.released or self.refused or self.paid or self.voided
                    or self.lost or self.decided or self.reconciled)

    def done(self) -> dict[str, int]:
        """The round's counts by outcome (:data:`OUTCOMES`)."""
        return {k: getattr(self, k) for k in OUTCOMES}


def log_stamps(todo: Sequence[StampTask], outcomes: Sequence[StampOutcome]) -> None:
    """One line for one operation of a round: its transactions, and the claims and the requests that
    filed them (``X-Request-Id``), so a claim's request can be followed to its reservation."""
    request_ids = list(dict.fromkeys(t.request_id for t in todo if t.request_id))
    log.info("claims stamped", extra={
        "op": todo[0].op.value, "claims": len(todo), "refused": sum(1 for o in outcomes if o.refused is not None),
        "txs": list(dict.fromkeys(o.tx for o in outcomes if o.tx)), "block": max((o.block or 0 for o in outcomes),
                                                                                 default=None),
        "claim_ids": [t.claim_id for t in todo[:_IDS_LOGGED]], "request_ids": request_ids[:_IDS_LOGGED],
        "more_request_ids": max(0, len(request_ids) - _IDS_LOGGED)})
