"""A claw-back: money a payer paid and asks back, who owes it, and how it is settled. Pure.

A claim enters ``clawback`` (:mod:`ledger.claims.states`) when its money must come back:
its invoice was voided after the payout, or a post-payment audit found it wrong. That
state says the money is owed; a :class:`ClawBack` says how much, by whom, by when, and
every step of getting it back, each with who acted and when. One per claim
(:func:`clawback_id` is derived from the claim id), opened in the transaction that moves
the claim into ``clawback``.

**Who owes** — one debtor per reason code (:data:`~ledger.claims.clawback_reasons.REASONS`):

- *the invoice was voided after the payout* (``invoice-voided``): **the hospital** that
  voided it. A red-letter reversal (冲红) is the hospital taking the bill back and refunding
  it. Before it voided, the chain showed it the payer's "reimbursed" stamp (the contract
  records the void of a reimbursed invoice and raises a claw-back event for the payers), so
  what it refunded includes the payer's share: the hospital holds that money, and the
  payer's agreement is with the designated hospital. The patient owes nothing.
- *a post-payment audit finding*: whoever the finding's code names. The fraud patterns
  DOMAIN.md lists for a bill — duplicate and unbundled charging, item substitution (串换),
  false invoices, extra charges, over-prescribing and off-label use — are the hospital's
  charging: **the hospital** owes. What the person did or was is the person's: repeat
  prescriptions collected at several hospitals beyond the days' supply ("the excess is
  self-paid"), no entitlement to the benefit, the same care reimbursed elsewhere, or an
  office error that paid the person more than the rules pay: **the person** (the payee) owes.

**How much:** the claim's whole amount, as the claim's move into ``clawback`` gives the
person's whole year back (:func:`ledger.claims.transitions.voided`, ``post_audit``).

**States** (:data:`TABLE`): requested → recovered | offset | written-off. Settlements may be
partial (money returned in instalments, an offset smaller than the debt): a claw-back stays
``requested`` while anything is outstanding, and the event that settles the last fen moves
it on. The state says how it ended; ``recovered_fen``, ``offset_fen`` and
``written_off_fen`` say how each fen was settled. Nothing is settled beyond what is due: a
recovery or offset above what is left is refused
(:class:`~ledger.errors.SettlementExceedsOutstanding`), never cut down. A recovery or an
office's offset carries the reference of the transfer or settlement; the same reference
again with the same amount is the same act (a retry), with another amount it is refused.

**Offsets against a later payout** (:func:`plan_offsets`): when the person who owes is due
the payout of a later claim at this payer, that payout keeps back what they owe. The offset
is planned before the bank is asked (``offset-planned``: pending, so nobody else can settle
that money twice), applied when the payout is recorded (``offset``), and cancelled if that
payout is never made (``offset-cancelled``). Only a person receives payouts from a payer: a
hospital is paid by the fund through the counter settlement, outside this ledger, so a
hospital's debt is offset against its next settlement there and the office records that
offset here, with the settlement's reference (``offset`` by the office).

**Writing off** is maker-checker: a member of the payer's office proposes it with a reason,
another approves it (not with the credential that proposed it: the office gives each member
their own), and what is outstanding then is written off. Writing off gives up the fund's
money, so nobody does it alone; declining a proposal keeps the debt and needs no second
person. A write-off waits while an offset is pending (its payout decides first).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from ledger.claims.clawback_reasons import FINDINGS, REASONS, By, Debtor, Reason, ReasonRule
from ledger.errors import ClawbackRefused, InvalidInput, SettlementExceedsOutstanding, WriteOffSeparated

__all__ = ["FINDINGS", "REASONS", "RETURN_WORKING_DAYS", "TABLE", "Action", "By", "ClawBack", "ClawbackChange",
           "ClawbackEvent", "ClawbackState", "Debtor", "OfficeAct", "Reason", "ReasonRule", "Request", "act",
           "clawback_id", "offset_applied", "offset_cancelled", "plan_offsets", "requested", "step"]

#: working days the debtor has to return the money (the national limit DOMAIN.md gives a payer to pay)
RETURN_WORKING_DAYS = 20
#: longest note, and reference of a transfer or settlement, kept with an action
NOTE_CHARS = 500
REFERENCE_CHARS = 64


class ClawbackState(StrEnum):
    """Where a claw-back stands (the API's and the database's strings)."""

    REQUESTED = "requested"      # something is outstanding
    RECOVERED = "recovered"      # settled; the last of it was paid back
    OFFSET = "offset"            # settled; the last of it was kept back from a payment to the debtor
    WRITTEN_OFF = "written-off"  # settled; what was left was written off (two people agreed)


class ClawbackEvent(StrEnum):
    """What happened to a claw-back (past tense); also the kind of its :class:`Action`."""

    REQUESTED = "requested"
    RECOVERED = "recovered"                  # the debtor paid (some of) it back
    OFFSET = "offset"                        # (some of it) kept back from a payment to the debtor
    OFFSET_PLANNED = "offset-planned"        # a later payout to the person will keep this back (pending)
    OFFSET_CANCELLED = "offset-cancelled"    # ... that payout will not be made
    WRITE_OFF_PROPOSED = "write-off-proposed"
    WRITE_OFF_DECLINED = "write-off-declined"
    WRITTEN_OFF = "written-off"


@dataclass(frozen=True)
class Rule:
    """``event`` may happen to a claw-back in one of ``origins`` (None: being requested), caused
    by one of ``by``; once nothing is outstanding after it, the claw-back is ``settles_to``
    (None: the event never settles it), else it stays requested."""

    event: ClawbackEvent
    origins: tuple[ClawbackState | None, ...]
    settles_to: ClawbackState | None
    by: frozenset[By]


E, R = ClawbackEvent, ClawbackState.REQUESTED
#: every move a claw-back can make; anything else is refused
TABLE: tuple[Rule, ...] = (
    Rule(E.REQUESTED, (None,), None, frozenset({By.STAMPER, By.AUDITOR})),
    Rule(E.RECOVERED, (R,), ClawbackState.RECOVERED, frozenset({By.OFFICE})),
    Rule(E.OFFSET, (R,), ClawbackState.OFFSET, frozenset({By.PAYOUT, By.OFFICE})),
    Rule(E.OFFSET_PLANNED, (R,), None, frozenset({By.PAYOUT})),
    Rule(E.OFFSET_CANCELLED, (R,), None, frozenset({By.PAYOUT})),
    Rule(E.WRITE_OFF_PROPOSED, (R,), None, frozenset({By.OFFICE})),
    Rule(E.WRITE_OFF_DECLINED, (R,), None, frozenset({By.OFFICE})),
    Rule(E.WRITTEN_OFF, (R,), ClawbackState.WRITTEN_OFF, frozenset({By.OFFICE})),
)
_RULES: Mapping[ClawbackEvent, Rule] = {r.event: r for r in TABLE}


def step(state: ClawbackState | None, event: ClawbackEvent, *, by: By, outstanding_after: int,
         subject: str = "the claw-back") -> ClawbackState:
    """The state ``event`` (caused by ``by``) moves a claw-back in ``state`` to, given what is
    outstanding after it. Raises :class:`~ledger.errors.ClawbackRefused` for a move the table
    does not have, or not by ``by``."""
    rule = _RULES[event]
    if state not in rule.origins:
        why = "it is requested already" if state is R else f"it is {state}: nothing is outstanding"
        if state is None:
            why = "there is no such claw-back"
        raise ClawbackRefused(f"{event} cannot happen to {subject}: {why}", state=state, event=event, by=by)
    if by not in rule.by:
        allowed = " or the ".join(sorted(b.value for b in rule.by))
        raise ClawbackRefused(f"{event} is for the {allowed} to cause, not the {by}", state=state, event=event, by=by)
    return rule.settles_to if rule.settles_to is not None and outstanding_after == 0 else R


@dataclass(frozen=True)
class Action:
    """One step of a claw-back: what, how much, who, when; the ``reference`` of the office's
    transfer or settlement, or the later claim whose ``payout`` keeps an offset back."""

    event: ClawbackEvent
    amount_fen: int
    actor: str
    at: datetime
    reference: str | None = None
    payout: str | None = None
    note: str = ""


@dataclass(frozen=True)
class ClawBack:
    """What a paid claim owes back and how much of it is settled (amounts in fen)."""

    id: str
    claim_id: str
    payer_id: str
    fingerprint: bytes
    issuer: str              # the invoice's hospital
    person: bytes            # the person the claim paid
    debtor: Debtor
    reason: Reason
    note: str                # in words: the auditor's finding, or the void
    amount_due_fen: int
    requested_at: datetime
    requested_by: str
    due_working_days: int
    state: ClawbackState = ClawbackState.REQUESTED
    recovered_fen: int = 0
    offset_fen: int = 0
    written_off_fen: int = 0
    pending_offset_fen: int = 0
    write_off_proposed_by: str | None = None
    write_off_reason: str | None = None
    closed_at: datetime | None = None
    actions: tuple[Action, ...] = ()
    # what the invoice says, for whoever reads the claw-back (not the state machine's)
    invoice_code: str = ""
    invoice_number: str = ""
    hospital_name: str = ""

    @property
    def settled_fen(self) -> int:
        """What is settled: returned, kept back from payments, written off."""
        return self.recovered_fen + self.offset_fen + self.written_off_fen

    @property
    def outstanding_fen(self) -> int:
        """What is still owed (offsets pending against a payout included)."""
        return self.amount_due_fen - self.settled_fen

    @property
    def available_fen(self) -> int:
        """What may still be settled now: outstanding, less offsets pending against a payout."""
        return self.outstanding_fen - self.pending_offset_fen

    @property
    def debtor_id(self) -> str:
        """Who owes: the hospital's institution id, or the person's pseudonym in hex."""
        return self.issuer if self.debtor is Debtor.HOSPITAL else self.person.hex()


@dataclass(frozen=True)
class ClawbackChange:
    """One event applied to a claw-back: the claw-back after it (its new action last)."""

    before: ClawbackState | None
    clawback: ClawBack

    @property
    def action(self) -> Action:
        return self.clawback.actions[-1]


def clawback_id(claim_id: str) -> str:
    """The id of a claim's claw-back: ``cbk_`` and 20 hex digits of a hash of the claim id (one per
    claim; it does not show the claim id to whoever sees only the claw-back)."""
    return "cbk_" + hashlib.sha256(f"ebill claw-back of {claim_id}".encode()).hexdigest()[:20]


def _moved(cb: ClawBack, action: Action, *, by: By, at: datetime, **figures: int | str | None) -> ClawbackChange:
    """``cb`` after ``action`` (caused by ``by``) with its new ``figures``, its state from the table."""
    after = replace(cb, **figures)  # type: ignore[arg-type]
    state = step(cb.state, action.event, by=by, outstanding_after=after.outstanding_fen, subject=f"claw-back {cb.id}")
    closed = at if state is not ClawbackState.REQUESTED else None
    return ClawbackChange(cb.state, replace(after, state=state, closed_at=closed, actions=(*cb.actions, action)))


# ---------------------------------------------------------------------- requested


@dataclass(frozen=True)
class Request:
    """A claim's money asked back, as its move into ``clawback`` decides it
    (:func:`ledger.claims.transitions.voided`, ``post_audit``)."""

    claim_id: str
    payer_id: str
    fingerprint: bytes
    issuer: str
    person: bytes
    amount_due_fen: int
    reason: Reason
    note: str
    actor: str


def requested(req: Request, *, at: datetime, due_working_days: int = RETURN_WORKING_DAYS) -> ClawbackChange:
    """The claw-back a claim's move into ``clawback`` opens, owed by the debtor of its reason."""
    if req.amount_due_fen <= 0:
        raise ValueError(f"claim {req.claim_id} paid nothing: there is nothing to claw back")
    rule = REASONS[req.reason]
    state = step(None, E.REQUESTED, by=rule.by, outstanding_after=req.amount_due_fen, subject=f"claim {req.claim_id}")
    action = Action(E.REQUESTED, req.amount_due_fen, req.actor, at, note=req.note[:NOTE_CHARS])
    cb = ClawBack(clawback_id(req.claim_id), req.claim_id, req.payer_id, req.fingerprint, req.issuer, req.person,
                  rule.debtor, req.reason, req.note[:NOTE_CHARS], req.amount_due_fen, at, req.actor, due_working_days,
                  state=state, actions=(action,))
    return ClawbackChange(None, cb)


# ---------------------------------------------------------------------- the payer's office


@dataclass(frozen=True)
class OfficeAct:
    """What a member of the payer's office records: a recovery or an offset done outside (an
    ``amount_fen`` with the ``reference`` of the transfer or settlement), or a write-off
    proposed, declined or approved (``note``: the reason)."""

    event: ClawbackEvent
    actor: str
    amount_fen: int = 0
    reference: str | None = None
    note: str = ""


_OFFICE = (E.RECOVERED, E.OFFSET, E.WRITE_OFF_PROPOSED, E.WRITE_OFF_DECLINED, E.WRITTEN_OFF)


def act(cb: ClawBack, a: OfficeAct, *, at: datetime) -> ClawbackChange | None:
    """``a`` applied to ``cb``; None when it repeats a recovery or offset recorded already (the same
    reference and amount: a retry changes nothing).

    Raises :class:`~ledger.errors.InvalidInput` for an amount below 1 fen or a missing reference
    or reason, :class:`~ledger.errors.SettlementExceedsOutstanding` for more than is left,
    :class:`~ledger.errors.WriteOffSeparated` for a write-off approved by its proposer, and
    :class:`~ledger.errors.ClawbackRefused` for any other move the claw-back does not allow.
    """
    if a.event not in _OFFICE:
        raise ValueError(f"{a.event} is not the office's to record")
    if a.event in (E.RECOVERED, E.OFFSET):
        return _settle(cb, a, at=at)
    note = a.note.strip()
    if not note:
        raise InvalidInput.single("reason", "required", "say why, in words")
    refused = {"state": cb.state, "event": a.event, "by": By.OFFICE}
    if a.event is E.WRITE_OFF_PROPOSED:
        if cb.state is R and cb.write_off_proposed_by is not None:
            raise ClawbackRefused(f"a write-off of claw-back {cb.id} was proposed already by "
                                  f"{cb.write_off_proposed_by}: another member of the office approves or declines it",
                                  **refused)
        return _moved(cb, Action(a.event, cb.outstanding_fen, a.actor, at, note=note[:NOTE_CHARS]), by=By.OFFICE,
                      at=at, write_off_proposed_by=a.actor, write_off_reason=note[:NOTE_CHARS])
    if cb.state is R and cb.write_off_proposed_by is None:
        raise ClawbackRefused(f"no write-off of claw-back {cb.id} is proposed: one member of the office proposes it, "
                              "another approves it", **refused)
    if a.event is E.WRITE_OFF_DECLINED:
        return _moved(cb, Action(a.event, 0, a.actor, at, note=note[:NOTE_CHARS]), by=By.OFFICE, at=at,
                      write_off_proposed_by=None, write_off_reason=None)
    if cb.state is R and a.actor == cb.write_off_proposed_by:
        raise WriteOffSeparated(f"you proposed the write-off of claw-back {cb.id}; another member of the office must "
                                "approve it (maker-checker)", **refused)
    if cb.state is R and cb.pending_offset_fen:
        raise ClawbackRefused(f"¥{_yuan(cb.pending_offset_fen)} of claw-back {cb.id} is being kept back from a "
                              "payout; write off what is left once that payout is made or cancelled", **refused)
    amount = cb.outstanding_fen
    return _moved(cb, Action(a.event, amount, a.actor, at, note=note[:NOTE_CHARS]), by=By.OFFICE, at=at,
                  written_off_fen=cb.written_off_fen + amount)


def _settle(cb: ClawBack, a: OfficeAct, *, at: datetime) -> ClawbackChange | None:
    reference = (a.reference or "").strip()
    if not reference or len(reference) > REFERENCE_CHARS:
        raise InvalidInput.single("reference", "required", f"the reference of the transfer or settlement, 1-"
                                                           f"{REFERENCE_CHARS} characters")
    if a.amount_fen < 1:
        raise InvalidInput.single("amountFen", "positive", f"at least 1 fen, not {a.amount_fen}")
    earlier = next((x for x in cb.actions if x.event is a.event and x.reference == reference), None)
    if earlier is not None:
        if earlier.amount_fen == a.amount_fen:
            return None
        raise ClawbackRefused(f"reference {reference!r} was recorded on claw-back {cb.id} as {a.event} of "
                              f"¥{_yuan(earlier.amount_fen)} by {earlier.actor}; another amount needs its own "
                              "reference", state=cb.state, event=a.event, by=By.OFFICE)
    if cb.state is R and a.amount_fen > cb.available_fen:
        pending = (f", and ¥{_yuan(cb.pending_offset_fen)} of it is being kept back from a payout"
                   if cb.pending_offset_fen else "")
        raise SettlementExceedsOutstanding(
            f"¥{_yuan(a.amount_fen)} is more than claw-back {cb.id} has left to settle: ¥{_yuan(cb.outstanding_fen)} "
            f"is outstanding of ¥{_yuan(cb.amount_due_fen)}{pending}", asked_fen=a.amount_fen,
            outstanding_fen=cb.outstanding_fen, available_fen=cb.available_fen)
    action = Action(a.event, a.amount_fen, a.actor, at, reference=reference, note=a.note.strip()[:NOTE_CHARS])
    if a.event is E.RECOVERED:
        return _moved(cb, action, by=By.OFFICE, at=at, recovered_fen=cb.recovered_fen + a.amount_fen)
    return _moved(cb, action, by=By.OFFICE, at=at, offset_fen=cb.offset_fen + a.amount_fen)


# ---------------------------------------------------------------------- offsets against a later payout


def plan_offsets(owed: Sequence[ClawBack], *, person: bytes, payout: str, payout_fen: int, actor: str,
                 at: datetime) -> list[ClawbackChange]:
    """What the payout ``payout`` (a later claim's, of ``payout_fen``) to ``person`` keeps back of
    the claw-backs ``person`` owes: the oldest first, each as much as is left of it and of the
    payout. The total never exceeds the payout, nor any claw-back what it has left.

    Raises ValueError for a claw-back ``person`` does not owe (only a person is paid out),
    and :class:`~ledger.errors.ClawbackRefused` for one that planned an offset of this
    payout already (a payout's offsets are planned once).
    """
    left = payout_fen
    out: list[ClawbackChange] = []
    for cb in sorted(owed, key=lambda c: (c.requested_at, c.id)):
        if cb.debtor is not Debtor.PERSON or cb.person != person:
            raise ValueError(f"claw-back {cb.id} is not owed by the person paid out: it cannot be kept back")
        if any(x.event is E.OFFSET_PLANNED and x.payout == payout for x in cb.actions):
            raise ClawbackRefused(f"claw-back {cb.id} is kept back from the payout of {payout} already",
                                  state=cb.state, event=E.OFFSET_PLANNED, by=By.PAYOUT)
        amount = min(left, cb.available_fen)
        if left == 0 or cb.state is not R or amount <= 0:
            continue
        action = Action(E.OFFSET_PLANNED, amount, actor, at, payout=payout)
        out.append(_moved(cb, action, by=By.PAYOUT, at=at, pending_offset_fen=cb.pending_offset_fen + amount))
        left -= amount
    return out


def _planned(cb: ClawBack, payout: str) -> tuple[int, bool]:
    """(amount planned against ``payout``, whether it was applied or cancelled since)."""
    amount = sum(x.amount_fen for x in cb.actions if x.event is E.OFFSET_PLANNED and x.payout == payout)
    if not amount:
        raise ValueError(f"claw-back {cb.id} has no offset planned against the payout of {payout}")
    done = any(x.event in (E.OFFSET, E.OFFSET_CANCELLED) and x.payout == payout for x in cb.actions)
    return amount, done


def offset_applied(cb: ClawBack, *, payout: str, actor: str, at: datetime) -> ClawbackChange | None:
    """The payout ``payout`` was made, less what it kept back for ``cb``: that much is offset
    (None: it was applied or cancelled already)."""
    amount, done = _planned(cb, payout)
    if done:
        return None
    return _moved(cb, Action(E.OFFSET, amount, actor, at, payout=payout), by=By.PAYOUT, at=at,
                  pending_offset_fen=cb.pending_offset_fen - amount, offset_fen=cb.offset_fen + amount)


def offset_cancelled(cb: ClawBack, *, payout: str, actor: str, at: datetime, why: str) -> ClawbackChange | None:
    """The payout ``payout`` will not be made: what it was to keep back for ``cb`` is owed again
    (None: applied or cancelled already)."""
    amount, done = _planned(cb, payout)
    if done:
        return None
    return _moved(cb, Action(E.OFFSET_CANCELLED, amount, actor, at, payout=payout, note=why[:NOTE_CHARS]),
                  by=By.PAYOUT, at=at, pending_offset_fen=cb.pending_offset_fen - amount)


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"
