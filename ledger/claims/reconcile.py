"""A claim the chain paid while the store still has it unpaid: reconciled with the bank.

A restore from a backup older than a claim's decision brings the claim back as it stood
then (submitted, in review, approved but not finalised, rejected with its appeal lost...),
while the chain kept what happened after: the claim was approved, finalised, and most
likely paid. Deciding it again would contradict the chain (a rejection of a claim whose
payment is on chain), and paying it again is what the whole design forbids. So the
stamper asks the bank, by the claim's id (the request id of its payout, see
:class:`ledger.ports.PayoutPort`), and :func:`reconciled` records:

- the bank paid it: ``paid``, with the bank's reference and time (never a new payment);
- the bank did not: ``approved`` and finalised on chain, so the payout is made, once (the
  bank is idempotent by that same id).

Either way the audit entry is ``claim.reconciled``, naming the chain's stamp and the bank's
answer. A claim whose amount on chain is not the store's is left for a person: the chain's
stamp then belongs to a decision the store cannot see (an approval in part, say).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.claims.change import Change, ClaimValues, change_of
from ledger.claims.model import Standing
from ledger.claims.stamps import StampStatus, behind_chain
from ledger.claims.states import ClaimState, Event, Party
from ledger.claims.transitions import STAMPER
from ledger.errors import TransitionRefused

#: the audit action of a reconciliation (named in the console's words)
RECONCILED = "claim.reconciled"


@dataclass(frozen=True)
class ChainAhead:
    """A claim's stamp as the chain index holds it, further than the store recorded."""

    claim_id: str
    chain_claim_id: bytes
    on_chain: StampStatus
    amount_fen: int
    block: int
    tx: str


@dataclass(frozen=True)
class BankPayment:
    """What the bank says it paid for a claim (its request id is the claim's id)."""

    reference: str
    paid_at: datetime
    amount_fen: int


def reconciled(s: Standing, ahead: ChainAhead, payment: BankPayment | None, *, now: datetime) -> Change:
    """The claim ``s``, whose payment the chain finalised (``ahead``), recorded as the bank
    answered: paid with the bank's ``payment``, or (None) approved and finalised, to be paid once.

    Raises :class:`~ledger.errors.TransitionRefused` for a claim the chain is not ahead of
    (paid, refused, finalised and recorded so...) and for one whose amount on chain is not its own.
    """
    event = Event.RECONCILED_PAID if payment is not None else Event.RECONCILED_FINALIZED
    if not behind_chain(s.state, s.stamp, ahead.on_chain):
        raise TransitionRefused(f"claim {s.id} is {s.state} (stamp {s.stamp}, on chain {ahead.on_chain}): the chain "
                                "is not ahead of it, nothing to reconcile", state=s.state, event=event,
                                by=Party.STAMPER)
    if ahead.chain_claim_id != s.chain_claim_id:
        raise TransitionRefused(f"claim {s.id} was reserved again under another chain claim id meanwhile",
                                state=s.state, event=event, by=Party.STAMPER)
    if ahead.amount_fen != s.amount_fen:
        raise TransitionRefused(f"claim {s.id}: the chain finalised ¥{ahead.amount_fen / 100:.2f} for it, this "
                                f"database holds ¥{s.amount_fen / 100:.2f}; a person must reconcile it with the bank",
                                state=s.state, event=event, by=Party.STAMPER)
    if payment is not None and payment.amount_fen > s.amount_fen:
        raise TransitionRefused(f"claim {s.id}: the bank paid ¥{payment.amount_fen / 100:.2f} ({payment.reference}), "
                                f"more than its ¥{s.amount_fen / 100:.2f}; a person must reconcile it",
                                state=s.state, event=event, by=Party.STAMPER)
    values = ClaimValues(stamp=StampStatus.FINALIZED, chain_todo=None, stamp_tx=ahead.tx, stamp_block=ahead.block,
                         refusal=None)
    if s.state is not ClaimState.APPROVED:
        values["decided_at"] = now
    detail: dict[str, Any] = {"from": s.state.value, "recorded": s.stamp.value if s.stamp else None,
                              "onChain": ahead.on_chain.value, "block": ahead.block, "tx": ahead.tx,
                              "chainClaimId": "0x" + ahead.chain_claim_id.hex(), "amountFen": s.amount_fen}
    if payment is None:
        detail |= {"outcome": "approved", "bank": "no payment: paid once now"}
    else:
        values |= ClaimValues(payment_ref=payment.reference, paid_at=payment.paid_at)
        detail |= {"outcome": "paid", "reference": payment.reference, "paidAt": payment.paid_at.isoformat(),
                   "transferFen": payment.amount_fen}
        if payment.amount_fen < s.amount_fen:   # a payout that kept something back for a claw-back
            detail["keptBackFen"] = s.amount_fen - payment.amount_fen
    return change_of(s, event, Party.STAMPER, values, actor=STAMPER, action=RECONCILED, detail=detail,
                   names_state=False)
