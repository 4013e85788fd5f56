"""What the earlier payers in an order hold of one invoice on chain, as a later payer sees it.

Values only: :mod:`ledger.rules.coordination` computes them from stamps and decides with
them; a :class:`~ledger.rules.decision.Decision` carries them to show the citizen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.rules.ruleset import Coordination


@dataclass(frozen=True, slots=True)
class EarlierPayer:
    """What one earlier payer holds on the invoice on chain: reserved (not decided yet) and paid."""

    payer_id: str
    reserved_fen: int
    paid_fen: int
    claims: int          # chain claims of this payer on the invoice (released ones included)

    @property
    def decided(self) -> bool:
        """True once it stamped and none of its claims is only reserved."""
        return self.claims > 0 and self.reserved_fen == 0

    @property
    def taken_fen(self) -> int:
        """What it holds of the invoice: reserved and paid."""
        return self.reserved_fen + self.paid_fen

    def to_json(self) -> dict[str, Any]:
        return {"payer": self.payer_id, "reservedFen": self.reserved_fen, "paidFen": self.paid_fen,
                "claims": self.claims, "decided": self.decided}


@dataclass(frozen=True, slots=True)
class EarlierPayers:
    """The earlier payers' figures on one invoice as a later payer sees them at ``seen_at``."""

    coordination: Coordination
    payers: tuple[EarlierPayer, ...]
    window_ends: datetime
    seen_at: datetime

    @property
    def undecided(self) -> tuple[str, ...]:
        """The earlier payers that have not decided yet."""
        return tuple(p.payer_id for p in self.payers if not p.decided)

    @property
    def window_passed(self) -> bool:
        return self.seen_at >= self.window_ends

    @property
    def must_wait(self) -> bool:
        """True while an earlier payer has not decided and the window is open."""
        return bool(self.undecided) and not self.window_passed

    @property
    def taken_fen(self) -> int:
        """What the earlier payers together hold of the invoice (reserved and paid)."""
        return sum(p.taken_fen for p in self.payers)

    def why_waiting(self) -> str:
        """Why the claim waits, in words for the citizen."""
        who = ", ".join(self.undecided)
        return (f"waiting for {who} to decide first (payers in order); decided by "
                f"{self.window_ends:%Y-%m-%d %H:%M} UTC at the latest")

    def to_json(self) -> dict[str, Any]:
        c = self.coordination
        return {"rank": c.rank, "base": c.base, "after": list(c.after), "waitDays": c.wait_days,
                "windowEnds": self.window_ends.isoformat(), "seenAt": self.seen_at.isoformat(),
                "windowPassed": self.window_passed, "undecided": list(self.undecided),
                "payers": [p.to_json() for p in self.payers], "takenFen": self.taken_fen}
