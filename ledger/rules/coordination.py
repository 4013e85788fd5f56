"""Payers in order (coordination of benefits): what the earlier payers did, and what is left.

Basic insurance pays first, then serious-illness insurance, medical assistance and
commercial insurers (:class:`~ledger.rules.ruleset.Coordination` in a rule set). A later
payer reads the earlier payers' reimbursement stamps on the invoice from the chain (the one
record every payer shares; each payer's service reads them from its own index of the
chain's events) and:

1. **waits** while an earlier payer has not decided: it has no stamp on the invoice yet,
   or one of its claims is only *reserved* (in review, or not finalised yet). A payer
   whose claims are all *finalised* or *released* has decided (released: it pays nothing);
2. **stops waiting** ``waitDays`` after the invoice's issue time, and decides with what
   the chain shows then (an earlier payer that never stamps, because the citizen never
   claimed there or its rules paid ¥0, must not hold the later one up for ever);
3. decides on a **base**: its own eligible amount, or what the earlier payers left of it
   (eligible less what they reserved or paid: :func:`coordinated_base`), and never pays,
   together with them, more than its own eligible amount (:func:`coordinated_limit`).

Why off-chain ordering suffices (the contract is not changed): the contract keeps the one
invariant a payer cannot check alone, the sum of every payer's reservations and payments
≤ the invoice total. The order is each later payer's own rule (its money, its decision)
and rests on facts the chain already holds and no payer can forge: the earlier payers'
stamps, indexed by invoice and payer. An earlier payer is never limited by a later one
(basic insurance pays what its law says); a later payer that decides after its window,
before an earlier payer stamped, paid on what it knew, and that earlier payer is then
limited by the invoice total on chain only.

Pure: stamps, times and figures come in as arguments; integer fen throughout.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ledger.rules.decision import Step
from ledger.rules.earlier_payers import EarlierPayer, EarlierPayers
from ledger.rules.ruleset import Coordination

__all__ = ["EarlierPayer", "EarlierPayers", "StampFigure", "coordinated_base", "coordinated_limit",
           "earlier_payers", "holdings", "may_decide", "window_end"]


class StampFigure(Protocol):
    """One stamp event of a payer's claim on the invoice (``ledger.onchain.Stamp`` has these)."""

    @property
    def payer_id(self) -> str: ...
    @property
    def claim_id(self) -> str: ...
    @property
    def amount_fen(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def block(self) -> int: ...


def window_end(coordination: Coordination, issued_at: str | datetime) -> datetime:
    """When a later payer stops waiting: ``waitDays`` after the invoice's issue time (ISO 8601 with offset)."""
    start = datetime.fromisoformat(issued_at) if isinstance(issued_at, str) else issued_at
    return (start + timedelta(days=coordination.wait_days)).astimezone(UTC)


def earlier_payers(coordination: Coordination, stamps: Iterable[StampFigure], *, issued_at: str | datetime,
                   now: datetime) -> EarlierPayers:
    """The earlier payers' figures from the invoice's stamp events (any payer's, in any order).

    Each chain claim counts by its newest event (by block; a later event of one block wins):
    reserved, finalised (paid) or released (nothing).
    """
    return EarlierPayers(coordination, holdings(coordination.after, stamps), window_end(coordination, issued_at), now)


def holdings(payers: Iterable[str], stamps: Iterable[StampFigure]) -> tuple[EarlierPayer, ...]:
    """What each of ``payers`` holds of the invoice, from its stamp events (other payers' are ignored)."""
    wanted = tuple(payers)
    latest: dict[tuple[str, str], StampFigure] = {}
    for s in stamps:
        key = (s.payer_id, s.claim_id)
        if s.payer_id in wanted and (key not in latest or s.block >= latest[key].block):
            latest[key] = s
    out = []
    for payer in wanted:
        mine = [s for (p, _), s in latest.items() if p == payer]
        out.append(EarlierPayer(payer, reserved_fen=sum(s.amount_fen for s in mine if s.status == "reserved"),
                                paid_fen=sum(s.amount_fen for s in mine if s.status == "finalized"),
                                claims=len(mine)))
    return tuple(out)


def may_decide(waiting: dict[str, Any], stamps: Iterable[StampFigure], *, now: datetime) -> bool:
    """Whether a claim filed to wait (``waiting``: its ``earlierPayers`` document) may be decided
    now: its window passed or every payer it waits for has decided. A cheap first look, from
    the stored document; the decision itself reads the rule set in force again."""
    if not waiting:
        return True
    if datetime.fromisoformat(waiting["windowEnds"]) <= now:
        return True
    return all(p.decided for p in holdings(waiting["after"], stamps))


def coordinated_base(eligible_fen: int, earlier: EarlierPayers) -> tuple[int, Step | None]:
    """The amount the deductible, ratio and cap apply to: the eligible amount, or (``left-by-earlier``)
    what the earlier payers left of it, with the step that explains it."""
    if earlier.coordination.base != "left-by-earlier":
        return eligible_fen, None
    base = max(0, eligible_fen - earlier.taken_fen)
    return base, Step("left-by-earlier-payers", base,
                      f"¥{_yuan(eligible_fen)} eligible − ¥{_yuan(earlier.taken_fen)} paid or reserved by "
                      f"earlier payers ({_who(earlier)})")


def coordinated_limit(reimbursable_fen: int, eligible_fen: int, earlier: EarlierPayers) -> tuple[int, Step]:
    """What a later payer pays at most: with the earlier payers together, no more than its eligible amount."""
    room = max(0, eligible_fen - earlier.taken_fen)
    amount = min(reimbursable_fen, room)
    said = "limited to" if amount < reimbursable_fen else "within"
    return amount, Step("payers-in-order", amount,
                        f"{said} ¥{_yuan(room)}: ¥{_yuan(eligible_fen)} eligible less ¥{_yuan(earlier.taken_fen)} "
                        f"of earlier payers ({_who(earlier)}), so together they pay no more than is eligible")


def _who(earlier: EarlierPayers) -> str:
    parts = [f"{p.payer_id} ¥{_yuan(p.paid_fen)} paid" + (f", ¥{_yuan(p.reserved_fen)} reserved" if p.reserved_fen
                                                           else "") + ("" if p.claims else " (no claim on chain)")
             for p in earlier.payers]
    return "; ".join(parts)


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"
