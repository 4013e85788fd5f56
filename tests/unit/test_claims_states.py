"""The claim's state machine: every move it allows, by whom, and every one it refuses.

The table below is written out by hand from the behaviour of issue 11 (docs/claims-api.md,
the claims tests), independently of ``ledger.claims.states.TABLE``: every (state, event,
party) is tried, 11 x 34 x 4 cases, without a database.
"""

from __future__ import annotations

import pytest

from ledger.claims.states import (
    COUNTING_STATES,
    DEAD_STATES,
    DUTIES,
    LIVE_STATES,
    TABLE,
    TRANSITIONS,
    Bar,
    ClaimState,
    Event,
    Party,
    Stage,
    bar_of,
    review_stage,
    review_stages,
    step,
)
from ledger.errors import Conflict, TransitionRefused

S, E = ClaimState, Event
NEW = None
# a claim waiting for earlier payers was never on chain: no answer of the chain reaches it
EVERY = tuple(s for s in ClaimState if s is not S.WAITING)
UNPAID = tuple(s for s in EVERY if s not in (S.PAID, S.CLAWBACK))
SAME = "same"   # the event leaves the state as it is

# (event, from states, to state (or SAME), the one party that may cause it)
ALLOWED = [
    # filing: the decision picks the event
    (E.FILED, (NEW,), S.SUBMITTED, Party.CLAIMANT),
    (E.FILED_NOTHING_PAYABLE, (NEW,), S.NOTHING_PAYABLE, Party.CLAIMANT),
    (E.FILED_NOTHING_LEFT, (NEW,), S.REFUSED, Party.CLAIMANT),
    # the reservation is confirmed on chain
    (E.RESERVED_INSTANT, (S.SUBMITTED,), S.APPROVED, Party.STAMPER),
    (E.RESERVED, (S.SUBMITTED, S.APPEALED), S.IN_REVIEW, Party.STAMPER),
    (E.RESERVED, (S.IN_REVIEW, S.APPROVED, S.PAID, S.CLAWBACK, S.REJECTED, S.REFUSED, S.NOTHING_PAYABLE), SAME,
     Party.STAMPER),
    # the chain's other answers leave the state alone...
    (E.FINALIZED, EVERY, SAME, Party.STAMPER),
    (E.RELEASED, EVERY, SAME, Party.STAMPER),
    (E.STAMP_RETRY, EVERY, SAME, Party.STAMPER),
    (E.STAMP_LOST, EVERY, SAME, Party.STAMPER),
    (E.STAMP_AS_ON_CHAIN, EVERY, SAME, Party.STAMPER),
    (E.STAMP_REQUEUED, EVERY, SAME, Party.STAMPER),
    (E.RELEASE_REFUSED, EVERY, SAME, Party.STAMPER),
    (E.AMOUNT_REDUCED, (S.SUBMITTED, S.APPEALED), SAME, Party.STAMPER),
    # ... but a refusal refuses a claim whose money has not moved
    (E.FINALIZE_VOIDED_FIRST, UNPAID, S.REFUSED, Party.STAMPER),
    (E.FINALIZE_VOIDED_FIRST, (S.PAID, S.CLAWBACK), SAME, Party.STAMPER),
    (E.CHAIN_REFUSED, UNPAID, S.REFUSED, Party.STAMPER),
    (E.CHAIN_REFUSED, (S.PAID, S.CLAWBACK), SAME, Party.STAMPER),
    # reviewers
    (E.APPROVAL_RECORDED, (S.IN_REVIEW,), SAME, Party.REVIEWER),
    (E.APPROVED, (S.IN_REVIEW,), S.APPROVED, Party.REVIEWER),
    (E.APPROVED_IN_PART, (S.IN_REVIEW,), S.APPROVED, Party.REVIEWER),
    (E.REJECTED, (S.IN_REVIEW,), S.REJECTED, Party.REVIEWER),
    # the citizen's appeal
    (E.APPEALED, (S.REJECTED,), S.APPEALED, Party.CLAIMANT),
    (E.APPEALED_BEFORE_RELEASE, (S.REJECTED,), S.IN_REVIEW, Party.CLAIMANT),
    # the bank
    (E.PAID, (S.APPROVED,), S.PAID, Party.PAYOUT),
    (E.PAYOUT_HELD, (S.APPROVED,), S.IN_REVIEW, Party.PAYOUT),
    # the hospital's void
    (E.VOIDED, (S.SUBMITTED, S.IN_REVIEW, S.APPROVED, S.APPEALED, S.NOTHING_PAYABLE), S.REFUSED, Party.STAMPER),
    (E.VOIDED_BEFORE_PAYOUT, (S.APPROVED,), S.REFUSED, Party.STAMPER),
    (E.CLAWED_BACK, (S.PAID,), S.CLAWBACK, Party.STAMPER),
    # after a restore from an older backup: the chain finalised a claim the store has not paid
    # (nor refused: a void refuses a claim it finalised, and the chain keeps that finalisation)
    (E.RECONCILED_PAID, (S.SUBMITTED, S.IN_REVIEW, S.APPROVED, S.APPEALED, S.REJECTED), S.PAID, Party.STAMPER),
    (E.RECONCILED_FINALIZED, (S.SUBMITTED, S.IN_REVIEW, S.APPROVED, S.APPEALED, S.REJECTED), S.APPROVED,
     Party.STAMPER),
    # the post-payment audit of a sampled claim
    (E.AUDIT_CLEARED, (S.PAID,), SAME, Party.REVIEWER),
    (E.AUDIT_FOUND, (S.PAID,), S.CLAWBACK, Party.REVIEWER),
    # payers in order (issue 13 §3): filed to wait, decided once the earlier payers decided
    (E.FILED_TO_WAIT, (NEW,), S.WAITING, Party.CLAIMANT),
    (E.EARLIER_DECIDED, (S.WAITING,), S.SUBMITTED, Party.STAMPER),
    (E.EARLIER_DECIDED_NOTHING_PAYABLE, (S.WAITING,), S.NOTHING_PAYABLE, Party.STAMPER),
    (E.EARLIER_DECIDED_NOTHING_LEFT, (S.WAITING,), S.REFUSED, Party.STAMPER),
    (E.VOIDED, (S.WAITING,), S.REFUSED, Party.STAMPER),
]

EXPECTED: dict[tuple[ClaimState | None, Event], tuple[ClaimState, Party]] = {}
for _event, _origins, _target, _by in ALLOWED:
    for _origin in _origins:
        assert (_origin, _event) not in EXPECTED, f"the test table lists {_event} from {_origin} twice"
        _to = _origin if _target == SAME else _target
        assert isinstance(_to, ClaimState)
        EXPECTED[_origin, _event] = (_to, _by)


@pytest.mark.parametrize("by", list(Party))
@pytest.mark.parametrize("event", list(Event))
@pytest.mark.parametrize("state", [NEW, *ClaimState])
def test_every_move(state: ClaimState | None, event: Event, by: Party) -> None:
    expected = EXPECTED.get((state, event))
    if expected is not None and expected[1] is by:
        assert step(state, event, by=by) is expected[0]
        return
    with pytest.raises(TransitionRefused) as refused:
        step(state, event, by=by)
    assert (refused.value.state, refused.value.event, refused.value.by) == (state, event, by)
    assert isinstance(refused.value, Conflict)   # a 409 over HTTP


def test_the_table_is_the_one_written_out_here() -> None:
    """Nothing allowed beyond the cases above (the parametrised test checks each one)."""
    assert {k: (m.target, m.by) for k, m in TRANSITIONS.items()} == EXPECTED


def test_a_refusal_names_the_state_or_the_party() -> None:
    with pytest.raises(TransitionRefused, match="cannot happen to a claim that is paid"):
        step(S.PAID, E.APPROVED, by=Party.REVIEWER)
    with pytest.raises(TransitionRefused, match="cannot happen to a new claim"):
        step(NEW, E.PAID, by=Party.PAYOUT)
    with pytest.raises(TransitionRefused, match="for the reviewer to cause, not the claimant"):
        step(S.IN_REVIEW, E.APPROVED, by=Party.CLAIMANT)
    with pytest.raises(TransitionRefused, match=r"^claim x is paid, not in review$"):
        step(S.PAID, E.APPROVED, by=Party.REVIEWER, refusal="claim x is paid, not in review")


def test_the_state_strings_are_the_apis() -> None:
    assert [s.value for s in ClaimState] == ["submitted", "in-review", "approved", "paid", "appealed", "rejected",
                                             "refused", "nothing-payable", "clawback", "waiting-for-earlier-payers"]
    assert ClaimState.IN_REVIEW == "in-review" and {"paid": 1}[ClaimState.PAID] == 1


def test_what_counts_for_the_year() -> None:
    assert set(LIVE_STATES) == {S.SUBMITTED, S.IN_REVIEW, S.APPROVED, S.PAID, S.APPEALED}
    assert set(DEAD_STATES) == {S.REFUSED, S.REJECTED, S.NOTHING_PAYABLE}
    # the deductible of a claim that pays nothing still counts; a claw-back gives the year back
    assert {*LIVE_STATES, S.NOTHING_PAYABLE} == COUNTING_STATES
    assert S.CLAWBACK not in COUNTING_STATES and S.CLAWBACK not in DEAD_STATES
    # a waiting claim holds nothing and counts for nothing until it is decided
    assert S.WAITING not in COUNTING_STATES and S.WAITING not in DEAD_STATES and S.WAITING not in LIVE_STATES


def test_a_rule_names_its_events_origins_once() -> None:
    seen = [(o, r.event) for r in TABLE for o in r.origins]
    assert len(seen) == len(set(seen)) == len(TRANSITIONS)


# ---------------------------------------------------------------------- review stages: who may act

# (stage) -> (the party, the events it may cause, what bars a reviewer), written out by hand
STAGES = {
    Stage.MACHINE_AUDIT: (Party.CLAIMANT, {E.FILED, E.FILED_NOTHING_PAYABLE, E.FILED_NOTHING_LEFT}, set()),
    Stage.FIRST_REVIEW: (Party.REVIEWER, {E.APPROVED, E.APPROVED_IN_PART, E.APPROVAL_RECORDED, E.REJECTED},
                         {Bar.REJECTED_IT}),
    Stage.FINAL_REVIEW: (Party.REVIEWER, {E.APPROVED, E.APPROVED_IN_PART, E.REJECTED},
                         {Bar.REJECTED_IT, Bar.REVIEWED_THIS_ROUND}),
    Stage.POST_PAYMENT_AUDIT: (Party.REVIEWER, {E.AUDIT_CLEARED, E.AUDIT_FOUND}, {Bar.APPROVED_IT}),
}


def test_the_duties_are_the_ones_written_out_here() -> None:
    assert {st: (d.by, set(d.events), set(d.barred)) for st, d in DUTIES.items()} == STAGES
    # each stage's events are the table's, caused by the stage's party
    for d in DUTIES.values():
        for event in d.events:
            assert {m.by for (_, e), m in TRANSITIONS.items() if e is event} == {d.by}


def test_the_stage_follows_the_approvals_of_the_round() -> None:
    assert review_stage(approvals=0) is Stage.FIRST_REVIEW
    assert review_stage(approvals=1) is Stage.FINAL_REVIEW
    assert review_stage(approvals=2) is Stage.FINAL_REVIEW   # approved, then the bank held it


# (stage, this round's verdicts, earlier rejecters, reviewer) -> the bar, or None (may act)
BAR_CASES: list[tuple[Stage, dict[str, str], set[str], str, Bar | None]] = [
    (Stage.FIRST_REVIEW, {}, set(), "r1", None),
    # approvers ("a1": see the test) are barred from the post-payment audit only
    (Stage.POST_PAYMENT_AUDIT, {}, set(), "a1", Bar.APPROVED_IT),
    (Stage.POST_PAYMENT_AUDIT, {}, {"r1"}, "r1", None),
    (Stage.POST_PAYMENT_AUDIT, {}, set(), "r2", None),
    (Stage.FIRST_REVIEW, {}, set(), "a1", None),
    (Stage.FINAL_REVIEW, {"r1": "approve"}, set(), "a1", None),
    (Stage.FIRST_REVIEW, {}, {"r1"}, "r1", Bar.REJECTED_IT),
    (Stage.FIRST_REVIEW, {}, {"r1"}, "r2", None),
    (Stage.FINAL_REVIEW, {"r1": "approve"}, set(), "r1", Bar.REVIEWED_THIS_ROUND),
    (Stage.FINAL_REVIEW, {"r1": "approve"}, set(), "r2", None),
    (Stage.FINAL_REVIEW, {"r2": "approve"}, {"r1"}, "r1", Bar.REJECTED_IT),
    (Stage.FINAL_REVIEW, {"r1": "approve"}, {"r1"}, "r1", Bar.REJECTED_IT),   # the appeal bar is named first
    (Stage.FINAL_REVIEW, {"r2": "approve"}, {"r1"}, "r3", None),
    (Stage.MACHINE_AUDIT, {}, {"r1"}, "r1", None),   # no person acts at the machine audit
]


@pytest.mark.parametrize(("stage", "this_round", "rejected_by", "reviewer", "bar"), BAR_CASES)
def test_who_a_stage_bars(stage: Stage, this_round: dict[str, str], rejected_by: set[str], reviewer: str,
                          bar: Bar | None) -> None:
    assert bar_of(stage, reviewer, this_round=this_round, rejected_by=rejected_by, approved_by={"a1"}) is bar


def test_the_review_stages_of_a_claim() -> None:
    assert review_stages(1) == (Stage.FIRST_REVIEW,)
    assert review_stages(2) == (Stage.FIRST_REVIEW, Stage.FINAL_REVIEW)
