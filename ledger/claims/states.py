"""The claim's states, the events that move it, and who may cause each: one table.

A claim is filed by a citizen (or a claims-window clerk for them), reserved on chain,
decided at once or by reviewers, finalised on chain and then paid by the bank; a void
or the chain can stop it on the way. Every change is an :class:`Event`, and
:data:`TRANSITIONS` says from which state each event moves a claim, to which state,
and which :class:`Party` may cause it. :func:`step` reads the table; whatever is not in
it is refused with :class:`TransitionRefused`. The figures each event writes (the
stamp, the amounts, the year-to-date effect) are in :mod:`ledger.claims.transitions`.

The main road, and the turns off it::

    (filed) ─FILED→ submitted ─RESERVED_INSTANT→ approved ─FINALIZED→ approved ─PAID→ paid
                        └─RESERVED→ in-review ─APPROVED→ approved        (finalised first)
                                        ├─APPROVAL_RECORDED→ in-review   (one of two reviewers)
                                        ├─APPROVED_IN_PART→ approved     (some lines not approved: released,
                                        │                                 reserved again for less, finalised)
                                        └─REJECTED→ rejected ─APPEALED→ appealed ─RESERVED→ in-review
    (filed) ─FILED_NOTHING_PAYABLE→ nothing-payable     (the rules pay ¥0; the deductible counts)
    (filed) ─FILED_NOTHING_LEFT→ refused                (other payers took it all, or nothing was self-paid)
    submitted, in-review, approved, appealed, nothing-payable ─VOIDED→ refused
    approved (finalised) ─VOIDED_BEFORE_PAYOUT→ refused  (the void is on chain: nothing is paid)
    paid ─CLAWED_BACK→ clawback                          (voided after the payout: owed back)
    paid ─AUDIT_FOUND→ clawback                          (a post-payment audit found it wrong: owed back)
    paid ─AUDIT_CLEARED→ paid                            (a post-payment audit found nothing)
    approved ─PAYOUT_HELD→ in-review                     (the bank refused the payout for good)

After a restore from an older backup, the chain can hold a claim's payment that the store
never heard of (decided after the backup): the stamper reconciles it with the bank::

    submitted, in-review, approved, appealed, rejected ─RECONCILED_PAID→ paid       (the bank paid it)
                                                       └RECONCILED_FINALIZED→ approved  (not paid: paid once)

Payers in order (:mod:`ledger.rules.coordination`): a payer that must let earlier payers
decide first files a claim to wait, and decides it once they have (or its window passed)::

    (filed) ─FILED_TO_WAIT→ waiting-for-earlier-payers ─EARLIER_DECIDED→ submitted
                                 ├─EARLIER_DECIDED_NOTHING_PAYABLE→ nothing-payable
                                 ├─EARLIER_DECIDED_NOTHING_LEFT→ refused
                                 └─VOIDED→ refused

The chain's answers to a stamp mostly leave the state alone (a stamp made again after
the chain lost blocks, a release, a retry); a refused reservation or finalisation
refuses the claim, except a paid one, whose money has moved already.

A claim holds money (or will) in :data:`LIVE_STATES`; those and ``nothing-payable``
count towards the person's year (:data:`COUNTING_STATES`); the others hold nothing. A
waiting claim holds nothing yet, counts for nothing and was never on chain, so none of the
chain's answers applies to it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

from ledger.errors import TransitionRefused


class ClaimState(StrEnum):
    """Where a claim stands (the strings are the API's and the database's)."""

    SUBMITTED = "submitted"              # stored; its reservation on chain is not confirmed yet
    IN_REVIEW = "in-review"              # reserved; a reviewer must decide
    APPROVED = "approved"                # decided; finalised on chain, then paid
    PAID = "paid"                        # the bank paid it
    APPEALED = "appealed"                # a rejection appealed; reserved again, then back to review
    REJECTED = "rejected"                # a reviewer said no (appealable once)
    REFUSED = "refused"                  # the chain or a void stopped it; ``refusal`` says why
    NOTHING_PAYABLE = "nothing-payable"  # the rules pay ¥0
    CLAWBACK = "clawback"                # paid, then the invoice was voided: owed back
    WAITING = "waiting-for-earlier-payers"  # not decided yet: payers before this one decide first


class Event(StrEnum):
    """What happened to a claim (past tense: the fact, not the wish)."""

    FILED = "filed"
    FILED_NOTHING_PAYABLE = "filed-nothing-payable"
    FILED_NOTHING_LEFT = "filed-nothing-left"
    RESERVED_INSTANT = "reserved-instant"          # reservation confirmed; instant payout
    RESERVED = "reserved"                          # reservation confirmed (first, after an appeal, or again)
    FINALIZED = "finalized"                        # the payment is stamped on chain
    RELEASED = "released"                          # the reservation is given back on chain
    STAMP_RETRY = "stamp-retry"                    # the chain cannot take it yet (batch not anchored)
    AMOUNT_REDUCED = "amount-reduced"              # less is left on the invoice: reserve that
    STAMP_LOST = "stamp-lost"                      # the chain does not know the claim (lost blocks)
    STAMP_AS_ON_CHAIN = "stamp-as-on-chain"        # the chain holds another final status than asked
    STAMP_REQUEUED = "stamp-requeued"              # a recorded stamp the chain lost: stamped again
    FINALIZE_VOIDED_FIRST = "finalize-voided-first"  # the void reached the chain before the payment
    CHAIN_REFUSED = "chain-refused"                # a reservation or finalisation refused for good
    RELEASE_REFUSED = "release-refused"
    APPROVAL_RECORDED = "approval-recorded"        # one approval; another reviewer must approve too
    APPROVED = "approved"
    APPROVED_IN_PART = "approved-in-part"          # some fee lines not approved: it pays less
    REJECTED = "rejected"
    APPEALED = "appealed"                          # released already: reserved again under a new id
    APPEALED_BEFORE_RELEASE = "appealed-before-release"  # the reservation is still held: back to review
    PAID = "paid"
    PAYOUT_HELD = "payout-held"
    VOIDED = "voided"                              # before the finalisation: nothing was paid
    VOIDED_BEFORE_PAYOUT = "voided-before-payout"  # finalised, not paid, and the void is on chain
    CLAWED_BACK = "clawed-back"
    # after a restore: the chain finalised the claim after the backup (see BEHIND_CHAIN)
    RECONCILED_PAID = "reconciled-paid"            # ... and the bank paid it: paid, with the bank's record
    RECONCILED_FINALIZED = "reconciled-finalized"  # ... and the bank did not: approved and finalised, paid once
    AUDIT_CLEARED = "audit-cleared"                # a sampled paid claim: the post-payment audit found nothing
    AUDIT_FOUND = "audit-found"                    # ... found it wrong: a claw-back is requested
    # payers in order
    FILED_TO_WAIT = "filed-to-wait"                # the earlier payers have not decided yet
    EARLIER_DECIDED = "earlier-decided"            # they have (or the window passed): decided, to reserve
    EARLIER_DECIDED_NOTHING_PAYABLE = "earlier-decided-nothing-payable"
    EARLIER_DECIDED_NOTHING_LEFT = "earlier-decided-nothing-left"


class Party(StrEnum):
    """Who causes an event."""

    CLAIMANT = "claimant"    # the citizen, or a claims-window clerk filing for one
    REVIEWER = "reviewer"    # a reviewer of this payer
    STAMPER = "stamper"      # the stamper, reporting the chain and the voids
    PAYOUT = "payout"        # the payout, reporting the bank


S = ClaimState
#: states in which a claim still holds (or will hold) money
LIVE_STATES: tuple[ClaimState, ...] = (S.SUBMITTED, S.IN_REVIEW, S.APPROVED, S.PAID, S.APPEALED)
#: decided claims that hold no money, on chain or in the bank
DEAD_STATES: tuple[ClaimState, ...] = (S.REFUSED, S.REJECTED, S.NOTHING_PAYABLE)
#: claims that count towards the person's year (deductible used, amount reimbursed)
COUNTING_STATES: frozenset[ClaimState] = frozenset((*LIVE_STATES, S.NOTHING_PAYABLE))
#: states whose reservation is a first one (or an appeal's): the only ones that may shrink
#: to what the invoice has left; a claim reserved again after lost blocks keeps its amount
FIRST_RESERVATION: frozenset[ClaimState] = frozenset((S.SUBMITTED, S.APPEALED))
#: claims whose money is owed or paid: once reserved, they are finalised on chain
FINALISED_WHEN_RESERVED: frozenset[ClaimState] = frozenset((S.APPROVED, S.PAID, S.CLAWBACK))
#: the states a claim request waits through before the API answers
WAITING_FOR_CHAIN: tuple[ClaimState, ...] = (S.SUBMITTED,)
#: the one state after which an invoice may be claimed again at this payer
CLAIMABLE_AGAIN = S.REFUSED
#: an approved claim whose reservation is released was approved in part: its smaller amount is
#: reserved again under a new chain claim id once the old reservation is given back (then finalised)
RESERVED_AGAIN_AFTER_RELEASE: frozenset[ClaimState] = frozenset((S.APPROVED,))
#: claims whose money the bank has paid: a refusal or a void on chain no longer refuses them
PAID_STATES: frozenset[ClaimState] = frozenset((S.PAID, S.CLAWBACK))
#: states a claim can be left in by a restore while the chain finalised its payment after the
#: backup (an approved one only while its finalisation is not recorded): the stamper reconciles
#: them with the bank; none of them has its payment recorded, none is finalised in the store's
#: normal course (a rejection is reviewed before any finalisation, and released)
BEHIND_CHAIN: frozenset[ClaimState] = frozenset((S.SUBMITTED, S.IN_REVIEW, S.APPROVED, S.APPEALED, S.REJECTED))
#: claims a void of their invoice changes (a waiting one is refused before it is decided)
STOPPED_BY_VOID: frozenset[ClaimState] = frozenset((*COUNTING_STATES, S.WAITING))

#: every state the chain's answers reach: all but a waiting claim, which was never on chain
_ALL = tuple(s for s in ClaimState if s is not S.WAITING)
_UNPAID = tuple(s for s in _ALL if s not in PAID_STATES)


@dataclass(frozen=True)
class Rule:
    """One row of the table: ``event`` moves a claim from each of ``origins`` to ``target``
    (``None``: it stays where it is); only ``by`` may cause it. An origin of ``None`` is a
    claim being filed."""

    event: Event
    origins: tuple[ClaimState | None, ...]
    target: ClaimState | None
    by: Party


#: every move a claim can make; anything else is refused
TABLE: tuple[Rule, ...] = (
    # filing: the decision picks the event
    Rule(Event.FILED, (None,), S.SUBMITTED, Party.CLAIMANT),
    Rule(Event.FILED_NOTHING_PAYABLE, (None,), S.NOTHING_PAYABLE, Party.CLAIMANT),
    Rule(Event.FILED_NOTHING_LEFT, (None,), S.REFUSED, Party.CLAIMANT),
    # the chain's answers to the stamper
    Rule(Event.RESERVED_INSTANT, (S.SUBMITTED,), S.APPROVED, Party.STAMPER),
    Rule(Event.RESERVED, (S.SUBMITTED, S.APPEALED), S.IN_REVIEW, Party.STAMPER),
    # ... and a reservation made again (after lost blocks, or after an appeal kept it)
    Rule(Event.RESERVED, tuple(s for s in _ALL if s not in (S.SUBMITTED, S.APPEALED)), None, Party.STAMPER),
    Rule(Event.FINALIZED, _ALL, None, Party.STAMPER),
    Rule(Event.RELEASED, _ALL, None, Party.STAMPER),
    Rule(Event.STAMP_RETRY, _ALL, None, Party.STAMPER),
    Rule(Event.AMOUNT_REDUCED, tuple(FIRST_RESERVATION), None, Party.STAMPER),
    Rule(Event.STAMP_LOST, _ALL, None, Party.STAMPER),
    Rule(Event.STAMP_AS_ON_CHAIN, _ALL, None, Party.STAMPER),
    Rule(Event.STAMP_REQUEUED, _ALL, None, Party.STAMPER),
    Rule(Event.FINALIZE_VOIDED_FIRST, _UNPAID, S.REFUSED, Party.STAMPER),
    Rule(Event.FINALIZE_VOIDED_FIRST, tuple(PAID_STATES), None, Party.STAMPER),  # the claw-back follows
    Rule(Event.CHAIN_REFUSED, _UNPAID, S.REFUSED, Party.STAMPER),
    Rule(Event.CHAIN_REFUSED, tuple(PAID_STATES), None, Party.STAMPER),   # paid: a person must look
    Rule(Event.RELEASE_REFUSED, _ALL, None, Party.STAMPER),              # decided already: it stands
    # reviewers (maker-checker: two different approvals above the threshold)
    Rule(Event.APPROVAL_RECORDED, (S.IN_REVIEW,), None, Party.REVIEWER),
    Rule(Event.APPROVED, (S.IN_REVIEW,), S.APPROVED, Party.REVIEWER),
    Rule(Event.APPROVED_IN_PART, (S.IN_REVIEW,), S.APPROVED, Party.REVIEWER),
    Rule(Event.REJECTED, (S.IN_REVIEW,), S.REJECTED, Party.REVIEWER),
    # the citizen's appeal (once: see transitions.appeal)
    Rule(Event.APPEALED, (S.REJECTED,), S.APPEALED, Party.CLAIMANT),
    Rule(Event.APPEALED_BEFORE_RELEASE, (S.REJECTED,), S.IN_REVIEW, Party.CLAIMANT),
    # the bank
    Rule(Event.PAID, (S.APPROVED,), S.PAID, Party.PAYOUT),
    Rule(Event.PAYOUT_HELD, (S.APPROVED,), S.IN_REVIEW, Party.PAYOUT),
    # the hospital's void (a void that came first wins)
    Rule(Event.VOIDED, (S.SUBMITTED, S.IN_REVIEW, S.APPROVED, S.APPEALED, S.NOTHING_PAYABLE), S.REFUSED,
         Party.STAMPER),
    Rule(Event.VOIDED_BEFORE_PAYOUT, (S.APPROVED,), S.REFUSED, Party.STAMPER),
    Rule(Event.CLAWED_BACK, (S.PAID,), S.CLAWBACK, Party.STAMPER),
    # a restore from an older backup: the chain finalised the payment after the backup
    Rule(Event.RECONCILED_PAID, tuple(sorted(BEHIND_CHAIN)), S.PAID, Party.STAMPER),
    Rule(Event.RECONCILED_FINALIZED, tuple(sorted(BEHIND_CHAIN)), S.APPROVED, Party.STAMPER),
    # the post-payment audit of a sampled claim (see transitions.post_audit)
    Rule(Event.AUDIT_CLEARED, (S.PAID,), None, Party.REVIEWER),
    Rule(Event.AUDIT_FOUND, (S.PAID,), S.CLAWBACK, Party.REVIEWER),
    # payers in order: filed to wait, decided by the stamper once the earlier payers decided
    Rule(Event.FILED_TO_WAIT, (None,), S.WAITING, Party.CLAIMANT),
    Rule(Event.EARLIER_DECIDED, (S.WAITING,), S.SUBMITTED, Party.STAMPER),
    Rule(Event.EARLIER_DECIDED_NOTHING_PAYABLE, (S.WAITING,), S.NOTHING_PAYABLE, Party.STAMPER),
    Rule(Event.EARLIER_DECIDED_NOTHING_LEFT, (S.WAITING,), S.REFUSED, Party.STAMPER),
    Rule(Event.VOIDED, (S.WAITING,), S.REFUSED, Party.STAMPER),
)


# ---------------------------------------------------------------------- review stages and duties


class Stage(StrEnum):
    """Where a claim stands in the office's review: the machine audit (the payer's rules and
    fraud flags, when it is filed), a first review, and a final review by another reviewer
    for claims above :attr:`~ledger.claims.policy.ClaimsPolicy.final_review_from_fen`."""

    MACHINE_AUDIT = "machine-audit"
    FIRST_REVIEW = "first-review"
    FINAL_REVIEW = "final-review"
    POST_PAYMENT_AUDIT = "post-payment-audit"     # a sampled claim paid at once, looked at after the payout


class Bar(StrEnum):
    """What an earlier act of a reviewer bars them from (separation of duties)."""

    REJECTED_IT = "rejected-it"                  # rejected the claim: its appeal is heard by someone else
    REVIEWED_THIS_ROUND = "reviewed-this-round"  # approved it at this round's first review: not its final reviewer
    APPROVED_IT = "approved-it"                  # approved its payment: not its post-payment auditor


@dataclass(frozen=True)
class Duty:
    """Who may act at a ``stage``: the ``by`` party, causing one of ``events``, unless one of
    ``barred`` applies to them."""

    stage: Stage
    by: Party
    events: tuple[Event, ...]
    barred: frozenset[Bar]


#: who may act at each stage of the office's review
DUTIES: Mapping[Stage, Duty] = {d.stage: d for d in (
    # the payer's policy decides a claim as it is filed: instant payout, review, or nothing to pay
    Duty(Stage.MACHINE_AUDIT, Party.CLAIMANT, (Event.FILED, Event.FILED_NOTHING_PAYABLE, Event.FILED_NOTHING_LEFT),
         frozenset()),
    # one reviewer decides a claim below the final-review threshold, or approves it for the final review
    Duty(Stage.FIRST_REVIEW, Party.REVIEWER,
         (Event.APPROVED, Event.APPROVED_IN_PART, Event.APPROVAL_RECORDED, Event.REJECTED),
         frozenset({Bar.REJECTED_IT})),
    # another reviewer decides it for good (maker-checker)
    Duty(Stage.FINAL_REVIEW, Party.REVIEWER, (Event.APPROVED, Event.APPROVED_IN_PART, Event.REJECTED),
         frozenset({Bar.REJECTED_IT, Bar.REVIEWED_THIS_ROUND})),
    # after the payout, a sampled claim is audited by someone who did not approve its payment
    Duty(Stage.POST_PAYMENT_AUDIT, Party.REVIEWER, (Event.AUDIT_CLEARED, Event.AUDIT_FOUND),
         frozenset({Bar.APPROVED_IT})),
)}


def review_stages(reviews_needed: int) -> tuple[Stage, ...]:
    """The review stages of a claim that needs ``reviews_needed`` approvals (what its policy
    decided when it was filed): the first review, and the final review if it needs two."""
    return (Stage.FIRST_REVIEW, Stage.FINAL_REVIEW)[:max(1, min(reviews_needed, 2))]


def review_stage(*, approvals: int) -> Stage:
    """The stage of a claim in review that has ``approvals`` in this round (of the ones it needs):
    the first review until someone approved it, then the final review."""
    return Stage.FIRST_REVIEW if approvals == 0 else Stage.FINAL_REVIEW


def bar_of(stage: Stage, reviewer: str, *, this_round: Mapping[str, str], rejected_by: Collection[str],
           approved_by: Collection[str] = ()) -> Bar | None:
    """Why ``reviewer`` may not act at ``stage`` (None: they may), given the verdicts of this
    round (``this_round``: reviewer -> verdict), who rejected the claim in earlier rounds and
    who approved it in any round."""
    barred = DUTIES[stage].barred
    if Bar.REJECTED_IT in barred and reviewer in rejected_by:
        return Bar.REJECTED_IT
    if Bar.REVIEWED_THIS_ROUND in barred and reviewer in this_round:
        return Bar.REVIEWED_THIS_ROUND
    if Bar.APPROVED_IT in barred and reviewer in approved_by:
        return Bar.APPROVED_IT
    return None


@dataclass(frozen=True)
class Move:
    """Where an event takes a claim from one state, and who may cause it."""

    target: ClaimState
    by: Party


def _index(table: tuple[Rule, ...]) -> dict[tuple[ClaimState | None, Event], Move]:
    out: dict[tuple[ClaimState | None, Event], Move] = {}
    for rule in table:
        for origin in rule.origins:
            if (origin, rule.event) in out:
                raise ValueError(f"two rules for {rule.event} from {origin}")
            target = rule.target or origin
            if target is None:
                raise ValueError(f"{rule.event} files a claim: it must name the state it files it in")
            out[origin, rule.event] = Move(target, rule.by)
    return out


#: (state before, event) -> where it goes and who may cause it; built from :data:`TABLE`
TRANSITIONS: Mapping[tuple[ClaimState | None, Event], Move] = _index(TABLE)


def step(state: ClaimState | None, event: Event, *, by: Party, refusal: str | None = None) -> ClaimState:
    """The state ``event`` moves a claim in ``state`` to (``state`` None: a claim being filed).

    Raises :class:`TransitionRefused` (with ``refusal`` as its message, if given) when the
    table has no such move, or when ``by`` may not cause it.
    """
    move = TRANSITIONS.get((state, event))
    if move is None:
        where = "a new claim" if state is None else f"a claim that is {state}"
        raise TransitionRefused(refusal or f"{event} cannot happen to {where}", state=state, event=event, by=by)
    if move.by is not by:
        raise TransitionRefused(f"{event} is for the {move.by} to cause, not the {by}", state=state, event=event,
                                by=by)
    return move.target
