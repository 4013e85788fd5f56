"""The citizen's message at each step of a claim (ledger/claims/notices.py) and the outbox's states
(ledger/claims/notice_outbox.py): which steps send one, in which words, and what a delivery makes of it.

Expected texts are written out by hand, in both languages.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.claims.clawbacks import Reason, Request
from ledger.claims.languages import DEFAULT_LANGUAGE, Language, language_of, parse_language
from ledger.claims.notice_outbox import (
    MAX_ATTEMPTS,
    DeliveryState,
    OutboxMessage,
    Receipt,
    delivered,
    failed_attempt,
)
from ledger.claims.notices import (
    REASON_CHARS,
    STEPS,
    NoticeFacts,
    NoticeKind,
    claim_reference,
    money,
    notice_for,
    notice_kind,
    quoted_reason,
)
from ledger.claims.states import TRANSITIONS, ClaimState, Event
from ledger.claims.transitions import Change, ClaimValues, YearDelta
from ledger.errors import InvalidInput

S, K = ClaimState, NoticeKind
NOW = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
CLAIM = "clm_0123456789abcdef0123"
PERSON = bytes.fromhex("ab" * 32)


def change(event: Event, before: ClaimState | None, after: ClaimState, *, clawback: Request | None = None,
           **values: Any) -> Change:
    return Change(CLAIM, event, before, after, ClaimValues(**values), YearDelta(0, 0), "actor", "claim.x", {},
                  clawback)


def facts(language: Language = Language.ZH, *, requested: int = 123_456, amount: int = 80_010,
          offset: int = 0) -> NoticeFacts:
    return NoticeFacts(CLAIM, PERSON, language, requested, amount, offset)


# ---------------------------------------------------------------------- which steps send a message

#: (event, state before, state after) -> the message it sends (None: none); every case hand-picked
CASES: list[tuple[Event, ClaimState | None, ClaimState, NoticeKind | None]] = [
    (Event.FILED, None, S.SUBMITTED, K.RECEIVED),
    (Event.FILED_TO_WAIT, None, S.WAITING, K.RECEIVED),
    (Event.FILED_NOTHING_PAYABLE, None, S.NOTHING_PAYABLE, K.NOTHING_PAYABLE),
    (Event.FILED_NOTHING_LEFT, None, S.REFUSED, K.NOT_PAID),
    (Event.RESERVED, S.SUBMITTED, S.IN_REVIEW, K.IN_REVIEW),
    (Event.RESERVED, S.APPEALED, S.IN_REVIEW, K.IN_REVIEW),          # an appeal back in review
    (Event.RESERVED, S.IN_REVIEW, S.IN_REVIEW, None),                # reserved again after lost blocks
    (Event.RESERVED, S.PAID, S.PAID, None),
    (Event.RESERVED_INSTANT, S.SUBMITTED, S.APPROVED, None),         # instant: "paid" follows in seconds
    (Event.FINALIZED, S.APPROVED, S.APPROVED, None),
    (Event.RELEASED, S.REJECTED, S.REJECTED, None),
    (Event.STAMP_RETRY, S.SUBMITTED, S.SUBMITTED, None),
    (Event.APPROVAL_RECORDED, S.IN_REVIEW, S.IN_REVIEW, None),       # the first of two approvals
    (Event.APPROVED, S.IN_REVIEW, S.APPROVED, K.APPROVED),
    (Event.APPROVED_IN_PART, S.IN_REVIEW, S.APPROVED, K.APPROVED),
    (Event.REJECTED, S.IN_REVIEW, S.REJECTED, K.REJECTED),
    (Event.APPEALED, S.REJECTED, S.APPEALED, None),                  # "in review" once reserved again
    (Event.APPEALED_BEFORE_RELEASE, S.REJECTED, S.IN_REVIEW, K.IN_REVIEW),
    (Event.PAID, S.APPROVED, S.PAID, K.PAID),
    (Event.PAYOUT_HELD, S.APPROVED, S.IN_REVIEW, K.IN_REVIEW),
    (Event.VOIDED, S.IN_REVIEW, S.REFUSED, K.NOT_PAID),
    (Event.VOIDED, S.WAITING, S.REFUSED, K.NOT_PAID),
    (Event.VOIDED_BEFORE_PAYOUT, S.APPROVED, S.REFUSED, K.NOT_PAID),
    (Event.FINALIZE_VOIDED_FIRST, S.APPROVED, S.REFUSED, K.NOT_PAID),
    (Event.FINALIZE_VOIDED_FIRST, S.PAID, S.PAID, None),             # paid: the claw-back says it
    (Event.CHAIN_REFUSED, S.SUBMITTED, S.REFUSED, K.NOT_PAID),
    (Event.CHAIN_REFUSED, S.PAID, S.PAID, None),                     # paid already: a person must look
    (Event.CLAWED_BACK, S.PAID, S.CLAWBACK, K.CLAWBACK),
    (Event.AUDIT_FOUND, S.PAID, S.CLAWBACK, K.CLAWBACK),
    (Event.AUDIT_CLEARED, S.PAID, S.PAID, None),
    (Event.EARLIER_DECIDED, S.WAITING, S.SUBMITTED, None),           # decided: in review or paid follows
    (Event.EARLIER_DECIDED_NOTHING_PAYABLE, S.WAITING, S.NOTHING_PAYABLE, K.NOTHING_PAYABLE),
    (Event.EARLIER_DECIDED_NOTHING_LEFT, S.WAITING, S.REFUSED, K.NOT_PAID),
]


@pytest.mark.parametrize(("event", "before", "after", "kind"), CASES,
                         ids=[f"{e}:{b}->{a}" for e, b, a, _ in CASES])
def test_each_step_sends_its_message_and_nothing_else_sends_one(event: Event, before: ClaimState | None,
                                                               after: ClaimState, kind: NoticeKind | None) -> None:
    assert TRANSITIONS[(before, event)].target is after, "the case is a move of the state machine"
    assert notice_kind(change(event, before, after)) is kind


def test_every_move_of_the_state_machine_is_decided_by_the_table() -> None:
    """Across the whole transition table: a message exactly when a step of STEPS moves the state."""
    for (before, event), move in TRANSITIONS.items():
        expected = STEPS.get(event) if move.target is not before else None
        assert notice_kind(change(event, before, move.target)) is expected, (event, before)


def test_a_claims_life_sends_one_message_per_step() -> None:
    """Filed → in review → rejected → appealed → in review → approved → finalised → paid → owed back."""
    life = [(Event.FILED, None, S.SUBMITTED), (Event.RESERVED, S.SUBMITTED, S.IN_REVIEW),
            (Event.APPROVAL_RECORDED, S.IN_REVIEW, S.IN_REVIEW), (Event.REJECTED, S.IN_REVIEW, S.REJECTED),
            (Event.RELEASED, S.REJECTED, S.REJECTED), (Event.APPEALED, S.REJECTED, S.APPEALED),
            (Event.RESERVED, S.APPEALED, S.IN_REVIEW), (Event.APPROVED, S.IN_REVIEW, S.APPROVED),
            (Event.FINALIZED, S.APPROVED, S.APPROVED), (Event.PAID, S.APPROVED, S.PAID),
            (Event.CLAWED_BACK, S.PAID, S.CLAWBACK)]
    kinds = [notice_kind(change(e, b, a)) for e, b, a in life]
    assert [k for k in kinds if k] == [K.RECEIVED, K.IN_REVIEW, K.REJECTED, K.IN_REVIEW, K.APPROVED, K.PAID,
                                       K.CLAWBACK]


# ---------------------------------------------------------------------- the words

def _request(reason: Reason, amount: int = 80_010) -> Request:
    return Request(CLAIM, "330600-ybj", b"\x01" * 32, "H33060200001", PERSON, amount, reason, "note", "auditor")


REF = "0123456789abcdef0123"
TEXTS: list[tuple[str, Change, NoticeFacts, str]] = [
    ("received zh", change(Event.FILED, None, S.SUBMITTED), facts(),
     f"【医保报销】您的报销申请已受理，申请金额1,234.56元，单号{REF}。审核结果将短信告知。"),
    ("received en", change(Event.FILED, None, S.SUBMITTED), facts(Language.EN),
     f"[Medical insurance] Your claim {REF} was received: ¥1,234.56 requested. We will text you the result."),
    ("in review zh", change(Event.RESERVED, S.SUBMITTED, S.IN_REVIEW), facts(),
     f"【医保报销】您的报销申请（单号{REF}，申请金额1,234.56元）已转人工审核，一般5个工作日内办结。"),
    ("approved zh", change(Event.APPROVED, S.IN_REVIEW, S.APPROVED), facts(),
     f"【医保报销】您的报销申请（单号{REF}）已审核通过，报销800.10元，将转入您的账户。"),
    ("approved en", change(Event.APPROVED_IN_PART, S.IN_REVIEW, S.APPROVED), facts(Language.EN, amount=7),
     f"[Medical insurance] Your claim {REF} was approved: ¥0.07 will be paid to your account."),
    ("paid zh", change(Event.PAID, S.APPROVED, S.PAID), facts(),
     f"【医保报销】报销款800.10元已转入您的账户，单号{REF}。"),
    ("paid with an offset zh", change(Event.PAID, S.APPROVED, S.PAID), facts(offset=10_000),
     f"【医保报销】报销款700.10元已转入您的账户（另100.00元已抵扣您应退的款项），单号{REF}。"),
    ("paid with an offset en", change(Event.PAID, S.APPROVED, S.PAID), facts(Language.EN, offset=10_000),
     f"[Medical insurance] ¥700.10 was paid to your account for claim {REF}; ¥100.00 was kept back for money "
     "you owed."),
    ("rejected zh", change(Event.REJECTED, S.IN_REVIEW, S.REJECTED, rejection="缺少转诊证明。"), facts(),
     f"【医保报销】您的报销申请（单号{REF}）未通过审核，原因：缺少转诊证明。可在应用内申诉一次。"),
    ("rejected en", change(Event.REJECTED, S.IN_REVIEW, S.REJECTED, rejection="No referral\nletter."),
     facts(Language.EN),
     f"[Medical insurance] Your claim {REF} was not approved: No referral letter. You may appeal once in the app."),
    ("nothing payable zh", change(Event.FILED_NOTHING_PAYABLE, None, S.NOTHING_PAYABLE), facts(amount=0),
     f"【医保报销】您的报销申请（单号{REF}）已办结，按规定本次无可报销金额（如未超过起付线），详见应用。"),
    ("voided zh", change(Event.VOIDED, S.IN_REVIEW, S.REFUSED), facts(),
     f"【医保报销】您的报销申请（单号{REF}）未能报销：医院已作废该票据。"),
    ("refused by the chain en", change(Event.CHAIN_REFUSED, S.SUBMITTED, S.REFUSED), facts(Language.EN),
     f"[Medical insurance] Your claim {REF} cannot be paid; the app says why."),
    ("claw-back from the hospital zh",
     change(Event.CLAWED_BACK, S.PAID, S.CLAWBACK, clawback=_request(Reason.INVOICE_VOIDED)), facts(),
     f"【医保报销】单号{REF}已支付的800.10元需追回，由医院退回，您无需办理。"),
    ("claw-back from the person zh",
     change(Event.AUDIT_FOUND, S.PAID, S.CLAWBACK, clawback=_request(Reason.PAID_ELSEWHERE, 50_000)), facts(),
     f"【医保报销】单号{REF}已支付的500.00元经核查需由您退回，请于20个工作日内退回，未退部分将从您下次报销款中扣回。"),
    ("claw-back from the person en",
     change(Event.AUDIT_FOUND, S.PAID, S.CLAWBACK, clawback=_request(Reason.OVERPAID, 50_000)), facts(Language.EN),
     f"[Medical insurance] The ¥500.00 paid for claim {REF} must be returned by you within 20 working days; what is "
     "not returned is kept back from your next reimbursement."),
]


@pytest.mark.parametrize(("name", "step", "of", "text"), TEXTS, ids=[t[0] for t in TEXTS])
def test_the_words_of_each_message(name: str, step: Change, of: NoticeFacts, text: str) -> None:
    notice = notice_for(step, of)
    assert notice is not None
    assert (notice.text, notice.claim_id, notice.person, notice.language, notice.event) == (
        text, CLAIM, PERSON, of.language, step.event)


def test_no_message_for_a_step_that_sends_none() -> None:
    assert notice_for(change(Event.FINALIZED, S.APPROVED, S.APPROVED), facts()) is None


def test_a_long_reason_is_cut_and_put_on_one_line() -> None:
    long = "核对" * 50
    assert quoted_reason(long) == long[:REASON_CHARS - 1] + "…" and len(quoted_reason(long)) == REASON_CHARS
    assert quoted_reason("  two\n lines.  ") == "two lines"
    assert quoted_reason("") == ""


@pytest.mark.parametrize(("fen", "zh", "en"), [(0, "0.00元", "¥0.00"), (5, "0.05元", "¥0.05"), (100, "1.00元", "¥1.00"),
                                               (123_456, "1,234.56元", "¥1,234.56"),
                                               (100_000_000, "1,000,000.00元", "¥1,000,000.00"),
                                               (-250, "-2.50元", "¥-2.50")])
def test_money_in_yuan(fen: int, zh: str, en: str) -> None:
    assert (money(fen, Language.ZH), money(fen, Language.EN)) == (zh, en)


def test_a_message_holds_the_claim_reference_and_nothing_of_the_bill() -> None:
    """Whatever the claim's decision holds (items, the hospital), the message is the template's words."""
    items = {"lines": [{"itemCode": "XA01", "itemName": "阿莫西林胶囊"}], "invoice": {"issuer": "H33060200001"}}
    for kind_change in (change(Event.APPROVED, S.IN_REVIEW, S.APPROVED, decision=items),
                        change(Event.PAID, S.APPROVED, S.PAID)):
        notice = notice_for(kind_change, facts())
        assert notice is not None and claim_reference(CLAIM) in notice.text
        assert "阿莫西林" not in notice.text and "H3306" not in notice.text and PERSON.hex() not in notice.text


def test_languages() -> None:
    assert DEFAULT_LANGUAGE is Language.ZH
    assert (language_of(None), language_of("en"), language_of("zh"), language_of("fr")) == (
        Language.ZH, Language.EN, Language.ZH, Language.ZH)
    assert parse_language("en") is Language.EN
    with pytest.raises(InvalidInput) as err:
        parse_language("EN", field="[3].language")
    assert err.value.problems[0].field == "[3].language"


# ---------------------------------------------------------------------- the outbox's states

def _message(state: DeliveryState = DeliveryState.PENDING, attempts: int = 0) -> OutboxMessage:
    return OutboxMessage(7, CLAIM, PERSON, K.PAID, "paid", Language.ZH, "text", NOW, state, attempts)


def test_a_delivered_message_records_its_channel_and_reference() -> None:
    u = delivered(_message(attempts=2), Receipt("sms-gateway", "msg-991"), at=NOW)
    assert (u.message_id, u.state, u.attempts, u.channel, u.reference, u.error) == (
        7, DeliveryState.DELIVERED, 3, "sms-gateway", "msg-991", None)


@pytest.mark.parametrize(("attempts", "for_good", "state"), [
    (0, False, DeliveryState.PENDING), (MAX_ATTEMPTS - 2, False, DeliveryState.PENDING),
    (MAX_ATTEMPTS - 1, False, DeliveryState.FAILED), (0, True, DeliveryState.FAILED)])
def test_a_failed_attempt_is_tried_again_until_given_up(attempts: int, for_good: bool, state: DeliveryState) -> None:
    u = failed_attempt(_message(attempts=attempts), "x" * 400, at=NOW, for_good=for_good)
    assert (u.state, u.attempts, len(u.error or "")) == (state, attempts + 1, 300)


@pytest.mark.parametrize("state", [DeliveryState.DELIVERED, DeliveryState.FAILED])
def test_only_a_pending_message_is_delivered(state: DeliveryState) -> None:
    with pytest.raises(ValueError):
        delivered(_message(state), Receipt("x"), at=NOW)
    with pytest.raises(ValueError):
        failed_attempt(_message(state), "no", at=NOW, for_good=False)
