"""A claw-back's state machine and figures: every move it allows, by whom, and every one it refuses.

The table of allowed moves is written out by hand from the module's docstring, independently
of ``ledger.claims.clawbacks.TABLE``: every (state, event, party) is tried. The figures are
hand-computed (fen), no database, no clock.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ledger.claims import clawbacks as c
from ledger.claims.clawbacks import (
    FINDINGS,
    REASONS,
    By,
    ClawBack,
    ClawbackEvent,
    ClawbackState,
    Debtor,
    OfficeAct,
    Reason,
    Request,
    step,
)
from ledger.errors import ClawbackRefused, Conflict, InvalidInput, SettlementExceedsOutstanding, WriteOffSeparated

S, E = ClawbackState, ClawbackEvent
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
PERSON, OTHER = b"\x02" * 32, b"\x03" * 32
SAME = "stays requested"

# (origin, event) -> (the parties that may cause it, the state once nothing is outstanding, or SAME)
ALLOWED: dict[tuple[ClawbackState | None, ClawbackEvent], tuple[set[By], ClawbackState | str]] = {
    (None, E.REQUESTED): ({By.STAMPER, By.AUDITOR}, SAME),
    (S.REQUESTED, E.RECOVERED): ({By.OFFICE}, S.RECOVERED),
    (S.REQUESTED, E.OFFSET): ({By.PAYOUT, By.OFFICE}, S.OFFSET),
    (S.REQUESTED, E.OFFSET_PLANNED): ({By.PAYOUT}, SAME),
    (S.REQUESTED, E.OFFSET_CANCELLED): ({By.PAYOUT}, SAME),
    (S.REQUESTED, E.WRITE_OFF_PROPOSED): ({By.OFFICE}, SAME),
    (S.REQUESTED, E.WRITE_OFF_DECLINED): ({By.OFFICE}, SAME),
    (S.REQUESTED, E.WRITTEN_OFF): ({By.OFFICE}, S.WRITTEN_OFF),
}
CASES = [(origin, event, by) for origin in (None, *ClawbackState) for event in ClawbackEvent for by in By]


@pytest.mark.parametrize(("origin", "event", "by"), CASES)
def test_every_move_is_allowed_or_refused_as_written(origin: ClawbackState | None, event: ClawbackEvent,
                                                     by: By) -> None:
    allowed = ALLOWED.get((origin, event))
    if allowed is None or by not in allowed[0]:
        with pytest.raises(ClawbackRefused) as caught:
            step(origin, event, by=by, outstanding_after=0, subject="claw-back cbk_1")
        assert isinstance(caught.value, Conflict)
        assert (caught.value.state, caught.value.event, caught.value.by) == (origin, event, by)
        if allowed is None and origin in (S.RECOVERED, S.OFFSET, S.WRITTEN_OFF):
            assert str(caught.value) == f"{event} cannot happen to claw-back cbk_1: it is {origin}: nothing is " \
                                        "outstanding"
        elif allowed is not None:
            assert str(caught.value).startswith(f"{event} is for the ") and str(caught.value).endswith(
                f", not the {by}")
        return
    settled = allowed[1]
    # something left: it stays requested; nothing left: it is settled as the event says
    assert step(origin, event, by=by, outstanding_after=1) is S.REQUESTED
    assert step(origin, event, by=by, outstanding_after=0) is (S.REQUESTED if settled == SAME else settled)


def test_the_table_says_what_this_test_says() -> None:
    written = {(o, r.event): (set(r.by), r.settles_to or SAME) for r in c.TABLE for o in r.origins}
    assert written == ALLOWED


# ---------------------------------------------------------------------- who owes

DEBTORS = {
    Reason.INVOICE_VOIDED: (Debtor.HOSPITAL, By.STAMPER),
    Reason.DUPLICATE_CHARGING: (Debtor.HOSPITAL, By.AUDITOR), Reason.UNBUNDLING: (Debtor.HOSPITAL, By.AUDITOR),
    Reason.ITEM_SUBSTITUTION: (Debtor.HOSPITAL, By.AUDITOR), Reason.FALSE_BILLING: (Debtor.HOSPITAL, By.AUDITOR),
    Reason.OVER_TREATMENT: (Debtor.HOSPITAL, By.AUDITOR),
    Reason.REPEAT_PRESCRIPTIONS: (Debtor.PERSON, By.AUDITOR), Reason.NOT_ENTITLED: (Debtor.PERSON, By.AUDITOR),
    Reason.PAID_ELSEWHERE: (Debtor.PERSON, By.AUDITOR), Reason.OVERPAID: (Debtor.PERSON, By.AUDITOR),
    Reason.AUDIT_FINDING: (Debtor.PERSON, By.AUDITOR),
}


def test_each_reason_names_its_debtor() -> None:
    assert {r: (rule.debtor, rule.by) for r, rule in REASONS.items()} == DEBTORS
    # an auditor gives any finding's code but the one migration 0011 gave uncoded findings
    assert set(FINDINGS) == {r for r, (_, by) in DEBTORS.items() if by is By.AUDITOR} - {Reason.AUDIT_FINDING}


def request(reason: Reason = Reason.INVOICE_VOIDED, *, claim: str = "clm_1", amount: int = 100_000,
            person: bytes = PERSON) -> Request:
    return Request(claim, "P", b"\x01" * 32, "H1", person, amount, reason, "why", "system:stamper")


@pytest.mark.parametrize("reason", list(Reason))
def test_a_request_owes_the_whole_amount_to_its_reasons_debtor(reason: Reason) -> None:
    ch = c.requested(request(reason), at=NOW)
    cb = ch.clawback
    assert ch.before is None and cb.state is S.REQUESTED
    assert (cb.debtor, cb.amount_due_fen, cb.outstanding_fen, cb.available_fen) == (DEBTORS[reason][0], 100_000,
                                                                                    100_000, 100_000)
    assert cb.debtor_id == ("H1" if DEBTORS[reason][0] is Debtor.HOSPITAL else PERSON.hex())
    assert (cb.due_working_days, cb.requested_at, cb.requested_by) == (20, NOW, "system:stamper")
    assert ch.action == c.Action(E.REQUESTED, 100_000, "system:stamper", NOW, note="why")


def test_nothing_paid_is_nothing_to_claw_back() -> None:
    with pytest.raises(ValueError, match="paid nothing"):
        c.requested(request(amount=0), at=NOW)


def test_the_id_is_one_per_claim_and_does_not_show_the_claim() -> None:
    a, b = c.clawback_id("clm_0123456789abcdef0123"), c.clawback_id("clm_0123456789abcdef0124")
    assert a == c.clawback_id("clm_0123456789abcdef0123") and a != b
    assert re.fullmatch(r"cbk_[0-9a-f]{20}", a) and "0123456789abcdef0123" not in a


# ---------------------------------------------------------------------- the office's recoveries and offsets


def owed(amount: int = 100_000, **kw: object) -> ClawBack:
    return replace(c.requested(request(amount=amount), at=NOW).clawback, **kw)  # type: ignore[arg-type]


def office(event: ClawbackEvent, amount: int = 0, reference: str | None = None, actor: str = "payer:P:k1",
           note: str = "") -> OfficeAct:
    return OfficeAct(event, actor, amount, reference, note)


# (recoveries and offsets in turn, as (event, fen)) -> (state, recovered, offset, outstanding)
SETTLEMENTS = [
    ([(E.RECOVERED, 30_000)], (S.REQUESTED, 30_000, 0, 70_000)),
    ([(E.RECOVERED, 30_000), (E.RECOVERED, 70_000)], (S.RECOVERED, 100_000, 0, 0)),
    ([(E.OFFSET, 100_000)], (S.OFFSET, 0, 100_000, 0)),
    # the event that settles the last fen names the state; the figures say how each fen was settled
    ([(E.RECOVERED, 40_000), (E.OFFSET, 60_000)], (S.OFFSET, 40_000, 60_000, 0)),
    ([(E.OFFSET, 99_999), (E.RECOVERED, 1)], (S.RECOVERED, 1, 99_999, 0)),
]


@pytest.mark.parametrize(("steps", "expected"), SETTLEMENTS)
def test_settlements_add_up_to_at_most_what_is_due(steps: list[tuple[ClawbackEvent, int]],
                                                   expected: tuple[ClawbackState, int, int, int]) -> None:
    cb = owed()
    for n, (event, fen) in enumerate(steps):
        ch = c.act(cb, office(event, fen, f"ref-{n}"), at=NOW + timedelta(minutes=n))
        assert ch is not None and ch.before is cb.state
        cb = ch.clawback
        assert ch.action == c.Action(event, fen, "payer:P:k1", NOW + timedelta(minutes=n), reference=f"ref-{n}")
    assert (cb.state, cb.recovered_fen, cb.offset_fen, cb.outstanding_fen) == expected
    assert cb.closed_at == (NOW + timedelta(minutes=len(steps) - 1) if expected[0] is not S.REQUESTED else None)
    assert [a.event for a in cb.actions] == [E.REQUESTED, *(e for e, _ in steps)]


def test_more_than_is_outstanding_is_refused_not_cut_down() -> None:
    cb = c.act(owed(), office(E.RECOVERED, 60_000, "t-1"), at=NOW)
    assert cb is not None
    with pytest.raises(SettlementExceedsOutstanding) as caught:
        c.act(cb.clawback, office(E.OFFSET, 40_001, "s-1"), at=NOW)
    assert (caught.value.asked_fen, caught.value.outstanding_fen, caught.value.available_fen) == (40_001, 40_000,
                                                                                                  40_000)
    assert str(caught.value) == "¥400.01 is more than claw-back cbk_" + cb.clawback.id[4:] + \
        " has left to settle: ¥400.00 is outstanding of ¥1,000.00"


@pytest.mark.parametrize(("amount", "reference", "field"), [(0, "t", "amountFen"), (-5, "t", "amountFen"),
                                                            (10, None, "reference"), (10, "  ", "reference"),
                                                            (10, "x" * 65, "reference")])
def test_a_settlement_names_an_amount_and_a_reference(amount: int, reference: str | None, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        c.act(owed(), office(E.RECOVERED, amount, reference), at=NOW)
    assert caught.value.problems[0].field == field


def test_the_same_reference_again_is_a_retry_or_refused() -> None:
    first = c.act(owed(), office(E.RECOVERED, 100_000, "BANK-7"), at=NOW)
    assert first is not None and first.clawback.state is S.RECOVERED
    # the same transfer told again (a retry, after it settled the claw-back): nothing changes
    assert c.act(first.clawback, office(E.RECOVERED, 100_000, "BANK-7", actor="payer:P:k2"), at=NOW) is None
    with pytest.raises(ClawbackRefused, match=r"reference 'BANK-7' was recorded on claw-back .* as recovered of "
                                              "¥1,000.00 by payer:P:k1; another amount needs its own reference"):
        c.act(first.clawback, office(E.RECOVERED, 5_000, "BANK-7"), at=NOW)
    # a new reference on a settled claw-back is refused by the table
    with pytest.raises(ClawbackRefused, match="it is recovered: nothing is outstanding"):
        c.act(first.clawback, office(E.RECOVERED, 1, "BANK-8"), at=NOW)


# ---------------------------------------------------------------------- offsets against a later payout


def two_debts() -> list[ClawBack]:
    older = owed(30_000, id="cbk_a", person=PERSON, debtor=Debtor.PERSON, requested_at=NOW - timedelta(days=2))
    newer = owed(50_000, id="cbk_b", person=PERSON, debtor=Debtor.PERSON, requested_at=NOW - timedelta(days=1))
    return [newer, older]


# (payout fen) -> what it keeps back of each debt, oldest first
PLANS = [(60_000, {"cbk_a": 30_000, "cbk_b": 30_000}), (80_000, {"cbk_a": 30_000, "cbk_b": 50_000}),
         (200_000, {"cbk_a": 30_000, "cbk_b": 50_000}), (10_000, {"cbk_a": 10_000})]


@pytest.mark.parametrize(("payout_fen", "kept"), PLANS)
def test_a_payout_keeps_back_the_oldest_debts_first(payout_fen: int, kept: dict[str, int]) -> None:
    changes = c.plan_offsets(two_debts(), person=PERSON, payout="clm_9", payout_fen=payout_fen, actor="system:payout",
                             at=NOW)
    assert {ch.clawback.id: ch.action.amount_fen for ch in changes} == kept
    for ch in changes:
        assert ch.clawback.state is S.REQUESTED and ch.action.event is E.OFFSET_PLANNED
        assert (ch.clawback.pending_offset_fen, ch.clawback.offset_fen) == (ch.action.amount_fen, 0)
        assert ch.action.payout == "clm_9"
    assert sum(kept.values()) <= payout_fen


def test_a_planned_offset_is_applied_when_paid_or_given_back_if_never() -> None:
    a, b = (ch.clawback for ch in c.plan_offsets(two_debts(), person=PERSON, payout="clm_9", payout_fen=60_000,
                                                 actor="system:payout", at=NOW))
    assert (a.id, a.available_fen, b.id, b.available_fen) == ("cbk_a", 0, "cbk_b", 20_000)
    # what is pending is not the office's to settle again, nor to write off
    with pytest.raises(SettlementExceedsOutstanding, match=r"¥300.00 of it is being kept back from a payout"):
        c.act(b, office(E.RECOVERED, 20_001, "t"), at=NOW)
    proposed = c.act(b, office(E.WRITE_OFF_PROPOSED, note="debtor moved abroad"), at=NOW)
    assert proposed is not None
    with pytest.raises(ClawbackRefused, match="is being kept back from a payout"):
        c.act(proposed.clawback, office(E.WRITTEN_OFF, actor="payer:P:k2", note="agreed"), at=NOW)
    # paid: the older debt is settled by the offset, the newer one partly
    done_a = c.offset_applied(a, payout="clm_9", actor="system:payout", at=NOW)
    done_b = c.offset_applied(b, payout="clm_9", actor="system:payout", at=NOW)
    assert done_a is not None and done_b is not None
    assert (done_a.clawback.state, done_a.clawback.offset_fen, done_a.clawback.pending_offset_fen) == (S.OFFSET,
                                                                                                      30_000, 0)
    assert (done_b.clawback.state, done_b.clawback.outstanding_fen, done_b.clawback.available_fen) == (S.REQUESTED,
                                                                                                      20_000, 20_000)
    assert done_a.action == c.Action(E.OFFSET, 30_000, "system:payout", NOW, payout="clm_9")
    # once only: applied again, or cancelled after it was applied, changes nothing
    assert c.offset_applied(done_a.clawback, payout="clm_9", actor="system:payout", at=NOW) is None
    assert c.offset_cancelled(done_b.clawback, payout="clm_9", actor="r", at=NOW, why="x") is None
    # never paid: owed again in full
    back = c.offset_cancelled(b, payout="clm_9", actor="payer:P:k1", at=NOW, why="claim clm_9 is rejected")
    assert back is not None and (back.clawback.pending_offset_fen, back.clawback.available_fen) == (0, 50_000)
    assert back.action.note == "claim clm_9 is rejected"


def test_offsets_against_a_payout_are_planned_once_and_only_for_the_person_paid() -> None:
    planned = c.plan_offsets(two_debts(), person=PERSON, payout="clm_9", payout_fen=10_000, actor="p", at=NOW)
    again = [planned[0].clawback, two_debts()[0]]
    with pytest.raises(ClawbackRefused, match="kept back from the payout of clm_9 already"):
        c.plan_offsets(again, person=PERSON, payout="clm_9", payout_fen=10_000, actor="p", at=NOW)
    with pytest.raises(ValueError, match="not owed by the person paid out"):
        c.plan_offsets(two_debts(), person=OTHER, payout="clm_9", payout_fen=10_000, actor="p", at=NOW)
    hospital = owed(10_000)   # a hospital receives no payout from the payer: its debt is offset outside
    with pytest.raises(ValueError, match="not owed by the person paid out"):
        c.plan_offsets([hospital], person=PERSON, payout="clm_9", payout_fen=10_000, actor="p", at=NOW)
    with pytest.raises(ValueError, match="no offset planned"):
        c.offset_applied(two_debts()[0], payout="clm_9", actor="p", at=NOW)
    # a settled debt keeps nothing back
    settled = c.act(two_debts()[1], office(E.RECOVERED, 30_000, "t"), at=NOW)
    assert settled is not None
    assert c.plan_offsets([settled.clawback], person=PERSON, payout="clm_9", payout_fen=10_000, actor="p",
                          at=NOW) == []


# ---------------------------------------------------------------------- writing off (maker-checker)


def test_a_write_off_is_proposed_by_one_and_approved_by_another() -> None:
    part = c.act(owed(), office(E.RECOVERED, 25_000, "t-1"), at=NOW)
    assert part is not None
    cb = part.clawback
    with pytest.raises(ClawbackRefused, match=r"no write-off of claw-back .* is proposed"):
        c.act(cb, office(E.WRITTEN_OFF, note="x"), at=NOW)
    with pytest.raises(ClawbackRefused, match=r"no write-off of claw-back .* is proposed"):
        c.act(cb, office(E.WRITE_OFF_DECLINED, note="x"), at=NOW)
    proposed = c.act(cb, office(E.WRITE_OFF_PROPOSED, note="the hospital closed"), at=NOW)
    assert proposed is not None
    cb = proposed.clawback
    assert (cb.state, cb.write_off_proposed_by, cb.write_off_reason) == (S.REQUESTED, "payer:P:k1",
                                                                         "the hospital closed")
    assert proposed.action.amount_fen == 75_000
    with pytest.raises(ClawbackRefused, match="was proposed already by payer:P:k1"):
        c.act(cb, office(E.WRITE_OFF_PROPOSED, actor="payer:P:k2", note="again"), at=NOW)
    with pytest.raises(WriteOffSeparated, match=r"you proposed the write-off .* another member of the office") as sep:
        c.act(cb, office(E.WRITTEN_OFF, note="agreed"), at=NOW)
    assert sep.value.kind == "separation-of-duties" and isinstance(sep.value, ClawbackRefused)
    # declined (by anyone, the proposer too): the money stays owed, and it may be proposed again
    declined = c.act(cb, office(E.WRITE_OFF_DECLINED, note="keep asking"), at=NOW)
    assert declined is not None and declined.clawback.write_off_proposed_by is None
    again = c.act(declined.clawback, office(E.WRITE_OFF_PROPOSED, note="insolvent"), at=NOW)
    assert again is not None
    done = c.act(again.clawback, office(E.WRITTEN_OFF, actor="payer:P:k2", note="agreed: insolvent"), at=NOW)
    assert done is not None
    assert (done.clawback.state, done.clawback.written_off_fen, done.clawback.recovered_fen,
            done.clawback.outstanding_fen, done.clawback.closed_at) == (S.WRITTEN_OFF, 75_000, 25_000, 0, NOW)
    assert done.action == c.Action(E.WRITTEN_OFF, 75_000, "payer:P:k2", NOW, note="agreed: insolvent")
    with pytest.raises(ClawbackRefused, match="it is written-off: nothing is outstanding"):
        c.act(done.clawback, office(E.WRITE_OFF_PROPOSED, note="x"), at=NOW)


@pytest.mark.parametrize("event", [E.WRITE_OFF_PROPOSED, E.WRITE_OFF_DECLINED, E.WRITTEN_OFF])
def test_writing_off_says_why(event: ClawbackEvent) -> None:
    with pytest.raises(InvalidInput) as caught:
        c.act(owed(), office(event, note="  "), at=NOW)
    assert caught.value.problems[0].field == "reason"


@pytest.mark.parametrize("event", [E.REQUESTED, E.OFFSET_PLANNED, E.OFFSET_CANCELLED])
def test_the_office_records_only_its_own_acts(event: ClawbackEvent) -> None:
    with pytest.raises(ValueError, match="is not the office's to record"):
        c.act(owed(), office(event, 1, "t"), at=NOW)


def test_the_console_offers_every_findings_code_in_both_languages() -> None:
    """The staff console's post-payment audit lists the codes of FINDINGS (in that order), each labelled in
    English and Chinese, so a new code cannot be missing from the form."""
    import json
    from pathlib import Path

    web = Path(__file__).resolve().parents[2] / "api/web/console"
    listed = re.search(r"const FINDINGS = (\[[^\]]*\]);", (web / "claim.js").read_text(encoding="utf-8"))
    assert listed is not None
    assert json.loads(listed.group(1).replace("'", '"')) == [r.value for r in FINDINGS]
    strings = (web / "strings.js").read_text(encoding="utf-8")
    for code in FINDINGS:
        labels = re.findall(rf"""['"]?finding_{re.escape(code.value)}['"]?\s*:\s*'([^']*)'""", strings)
        assert len(labels) == 2 and all(labels), code
