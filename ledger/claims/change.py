"""One event applied to one claim (:class:`Change`): the columns it writes, its year-to-date effect, its
audit entry and the claw-back it may open; made by :func:`change_of` from the transition table.

The year-to-date rule is one line: a claim counts towards the person's year (its deductible
used and its amount) exactly while it is in a counting state
(:data:`~ledger.claims.states.COUNTING_STATES`), so every change adds what it counts after less
what it counted before (:func:`year_effect`): a rejection, a refusal or a claw-back gives the
year back, an appeal takes it again, a smaller reservation takes less.

The events themselves are decided in :mod:`ledger.claims.transitions` (filing, the chain's
answers, the bank, voids) and :mod:`ledger.claims.reviews` (reviewers, appeals, the
post-payment audit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypedDict

from ledger.claims.clawbacks import Reason, Request
from ledger.claims.model import Claim, Standing
from ledger.claims.sampling import PostAudit
from ledger.claims.stamps import StampOp, StampStatus
from ledger.claims.states import COUNTING_STATES, ClaimState, Event, Party, step


class ClaimValues(TypedDict, total=False):
    """The columns a change writes (a key that is absent is left as it is)."""

    state: ClaimState
    chain_todo: StampOp | None
    stamp: StampStatus | None
    stamp_tx: str | None
    stamp_block: int | None
    refusal: str | None
    rejection: str
    appeal: str
    decided_at: datetime | None
    amount_fen: int
    deductible_used_fen: int
    attempt: int
    chain_claim_id: bytes
    decision: dict[str, Any]
    payment_ref: str
    paid_at: datetime
    post_audit: PostAudit
    # a waiting claim decided once the earlier payers did (payers in order)
    decided_fen: int
    flags: list[str]
    instant: bool
    reviews_needed: int


class YearDelta(NamedTuple):
    """What to add to the person's year-to-date figures (negative: given back)."""

    deductible_fen: int
    reimbursed_fen: int


@dataclass(frozen=True)
class Change:
    """One event applied to one claim: what the repository writes, in one transaction."""

    claim_id: str
    event: Event
    before: ClaimState | None     # None: the claim is being filed
    after: ClaimState
    values: ClaimValues
    year: YearDelta
    actor: str
    action: str                   # the audit entry's action, e.g. ``claim.approved``
    detail: dict[str, Any]
    #: the claw-back a move into ``clawback`` opens (:mod:`ledger.claims.clawbacks`), in the same transaction
    clawback: Request | None = None


def year_effect(*, before: ClaimState | None, after: ClaimState, old: tuple[int, int],
                new: tuple[int, int]) -> YearDelta:
    """What a change from ``before`` with figures ``old`` (deductible, amount) to ``after`` with
    ``new`` does to the person's year."""
    d0, a0 = old if before in COUNTING_STATES else (0, 0)
    d1, a1 = new if after in COUNTING_STATES else (0, 0)
    return YearDelta(d1 - d0, a1 - a0)


def change_of(s: Standing, event: Event, by: Party, values: ClaimValues, *, actor: str, action: str,
            detail: dict[str, Any], refusal: str | None = None, names_state: bool = True) -> Change:
    """The change ``event`` makes to ``s``: the state from the table, the year from the figures.
    The audit action is ``action``, or (``names_state``) the new state's when the state changed."""
    after = step(s.state, event, by=by, refusal=refusal)
    if after is not s.state:
        values["state"] = after
        if names_state:
            action = f"claim.{after}"
    old = (s.deductible_used_fen, s.amount_fen)
    new = (values.get("deductible_used_fen", s.deductible_used_fen), values.get("amount_fen", s.amount_fen))
    return Change(s.id, event, s.state, after, values, year_effect(before=s.state, after=after, old=old, new=new),
                  actor, action, detail)


def clawback_request(c: Claim, reason: Reason, note: str, *, actor: str) -> Request:
    """The claw-back of the paid claim ``c`` (its whole amount) for ``reason``."""
    return Request(c.id, c.payer_id, c.fingerprint, c.issuer, c.person, c.amount_fen, reason, note, actor)
