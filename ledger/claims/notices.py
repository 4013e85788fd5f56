"""The message a citizen gets at each step of their claim, as agencies send them by SMS. Pure.

A step is a change of the claim's state (:mod:`ledger.claims.transitions`); the claims
repository writes a step's message into the notification outbox in the transaction that
writes the step, so a step that is rolled back sends nothing and a committed one is never
without its message. A delivery adapter (``ledger.ports.NotificationDelivery``) sends
what is in the outbox.

Which steps send a message (:data:`STEPS`), each once, and only when the state changed:

==========================  ======================================================
kind                        events
==========================  ======================================================
``received``                filed (to be reserved, or to wait for earlier payers)
``in-review``               reserved into review; back to review after an appeal or
                            a payout the bank refused
``approved``                a reviewer approved it (in full or in part)
``paid``                    the bank paid it (with what was kept back, if anything)
``rejected``                a reviewer rejected it: the reviewer's reason
``nothing-payable``         decided: the rules pay nothing (below the deductible …)
``not-paid``                refused: the hospital voided the invoice, or nothing is
                            left to pay on it
``clawback``                paid, then owed back: who returns it, how much
==========================  ======================================================

An instant payout sends *received* and then *paid*: no *approved* a second before the
money arrives. A reservation, finalisation or release on chain, a first of two approvals,
an appeal before its new reservation and a cleared audit send nothing.

What a message holds: the claim's reference (its id without ``clm_``, as the app and the
console show it and the review queue searches it), amounts in yuan, and for a rejection the
reviewer's reason (which the console tells the reviewer the citizen reads). Never the
hospital, the items, a diagnosis or anyone else's data; the recipient is the person whose
claim it is, by pseudonym (the gateway knows the phone number, the ledger does not).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from ledger.claims.clawback_reasons import REASONS, Debtor
from ledger.claims.clawbacks import RETURN_WORKING_DAYS
from ledger.claims.languages import Language
from ledger.claims.states import Event
from ledger.claims.transitions import Change

#: the longest part of a reviewer's reason a message quotes (an SMS is short; the app has it all)
REASON_CHARS = 60


class NoticeKind(StrEnum):
    """Which step a message tells of (the API's and the database's strings)."""

    RECEIVED = "received"
    IN_REVIEW = "in-review"
    APPROVED = "approved"
    PAID = "paid"
    REJECTED = "rejected"
    NOTHING_PAYABLE = "nothing-payable"
    NOT_PAID = "not-paid"
    CLAWBACK = "clawback"


K = NoticeKind
#: the events that send a message, and which (when they change the claim's state)
STEPS: Mapping[Event, NoticeKind] = {
    Event.FILED: K.RECEIVED, Event.FILED_TO_WAIT: K.RECEIVED,
    Event.RESERVED: K.IN_REVIEW, Event.APPEALED_BEFORE_RELEASE: K.IN_REVIEW, Event.PAYOUT_HELD: K.IN_REVIEW,
    Event.APPROVED: K.APPROVED, Event.APPROVED_IN_PART: K.APPROVED,
    Event.PAID: K.PAID,
    Event.REJECTED: K.REJECTED,
    Event.FILED_NOTHING_PAYABLE: K.NOTHING_PAYABLE, Event.EARLIER_DECIDED_NOTHING_PAYABLE: K.NOTHING_PAYABLE,
    Event.FILED_NOTHING_LEFT: K.NOT_PAID, Event.EARLIER_DECIDED_NOTHING_LEFT: K.NOT_PAID,
    Event.CHAIN_REFUSED: K.NOT_PAID, Event.VOIDED: K.NOT_PAID, Event.VOIDED_BEFORE_PAYOUT: K.NOT_PAID,
    Event.FINALIZE_VOIDED_FIRST: K.NOT_PAID,
    Event.CLAWED_BACK: K.CLAWBACK, Event.AUDIT_FOUND: K.CLAWBACK,
}
#: refusals because the hospital voided the invoice (the message says so)
_VOIDS = frozenset({Event.VOIDED, Event.VOIDED_BEFORE_PAYOUT, Event.FINALIZE_VOIDED_FIRST})


@dataclass(frozen=True)
class NoticeFacts:
    """What a message says of its claim, as the claim stands once the step is written."""

    claim_id: str
    person: bytes
    language: Language
    requested_fen: int
    amount_fen: int
    offset_fen: int = 0


@dataclass(frozen=True)
class Notice:
    """A message for the person whose claim it is, in their language."""

    claim_id: str
    person: bytes
    kind: NoticeKind
    event: Event
    language: Language
    text: str


def notice_kind(change: Change) -> NoticeKind | None:
    """Which message ``change`` sends (None: none): a step of :data:`STEPS` that moved the claim."""
    kind = STEPS.get(change.event)
    if kind is None or change.before is change.after:
        return None
    return kind


def notice_for(change: Change, facts: NoticeFacts) -> Notice | None:
    """The message ``change`` sends to the claim's person (None: this change sends none)."""
    kind = notice_kind(change)
    if kind is None:
        return None
    return Notice(facts.claim_id, facts.person, kind, change.event, facts.language, _text(kind, change, facts))


def claim_reference(claim_id: str) -> str:
    """A claim's reference in a message: its id without the ``clm_`` prefix."""
    return claim_id.removeprefix("clm_")


def money(fen: int, language: Language) -> str:
    """``fen`` in yuan as a message writes it: ``1,234.56元`` or ``¥1,234.56``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    figure = f"{sign}{whole:,}.{cents:02d}"
    return f"{figure}元" if language is Language.ZH else f"¥{figure}"


def quoted_reason(reason: str) -> str:
    """A reviewer's reason as a message quotes it: on one line, at most :data:`REASON_CHARS` characters."""
    text = " ".join(reason.split()).rstrip("。.")
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS - 1] + "…"


_ZH = "【医保报销】"
_EN = "[Medical insurance] "
_TEXTS: Mapping[Language, Mapping[str, str]] = {
    Language.ZH: {
        "received": _ZH + "您的报销申请已受理，申请金额{requested}，单号{ref}。审核结果将短信告知。",
        "in-review": _ZH + "您的报销申请（单号{ref}，申请金额{requested}）已转人工审核，一般5个工作日内办结。",
        "approved": _ZH + "您的报销申请（单号{ref}）已审核通过，报销{amount}，将转入您的账户。",
        "paid": _ZH + "报销款{transferred}已转入您的账户，单号{ref}。",
        "paid-offset": _ZH + "报销款{transferred}已转入您的账户（另{offset}已抵扣您应退的款项），单号{ref}。",
        "rejected": _ZH + "您的报销申请（单号{ref}）未通过审核，原因：{reason}。可在应用内申诉一次。",
        "nothing-payable": _ZH + "您的报销申请（单号{ref}）已办结，按规定本次无可报销金额（如未超过起付线），"
                                 "详见应用。",
        "not-paid": _ZH + "您的报销申请（单号{ref}）未能报销，原因请在应用内查看。",
        "not-paid-voided": _ZH + "您的报销申请（单号{ref}）未能报销：医院已作废该票据。",
        "clawback-hospital": _ZH + "单号{ref}已支付的{amount}需追回，由医院退回，您无需办理。",
        "clawback-person": _ZH + "单号{ref}已支付的{amount}经核查需由您退回，请于{days}个工作日内退回，"
                                 "未退部分将从您下次报销款中扣回。",
    },
    Language.EN: {
        "received": _EN + "Your claim {ref} was received: {requested} requested. We will text you the result.",
        "in-review": _EN + "Your claim {ref} ({requested}) is with a reviewer; a decision usually comes within "
                           "5 working days.",
        "approved": _EN + "Your claim {ref} was approved: {amount} will be paid to your account.",
        "paid": _EN + "{transferred} was paid to your account for claim {ref}.",
        "paid-offset": _EN + "{transferred} was paid to your account for claim {ref}; {offset} was kept back for "
                             "money you owed.",
        "rejected": _EN + "Your claim {ref} was not approved: {reason}. You may appeal once in the app.",
        "nothing-payable": _EN + "Your claim {ref} is decided: the rules pay nothing this time (e.g. below the "
                                 "deductible). Details in the app.",
        "not-paid": _EN + "Your claim {ref} cannot be paid; the app says why.",
        "not-paid-voided": _EN + "Your claim {ref} cannot be paid: the hospital voided the invoice.",
        "clawback-hospital": _EN + "The {amount} paid for claim {ref} is being recovered from the hospital; you need "
                                   "do nothing.",
        "clawback-person": _EN + "The {amount} paid for claim {ref} must be returned by you within {days} working "
                                 "days; what is not returned is kept back from your next reimbursement.",
    },
}


def _text(kind: NoticeKind, change: Change, f: NoticeFacts) -> str:
    lang = f.language
    template = kind.value
    amount = f.amount_fen
    if kind is K.PAID and f.offset_fen:
        template = "paid-offset"
    elif kind is K.NOT_PAID and change.event in _VOIDS:
        template = "not-paid-voided"
    elif kind is K.CLAWBACK:
        request = change.clawback
        debtor = REASONS[request.reason].debtor if request is not None else Debtor.HOSPITAL
        amount = request.amount_due_fen if request is not None else f.amount_fen
        template = f"clawback-{debtor.value}"
    return _TEXTS[lang][template].format(
        ref=claim_reference(f.claim_id), requested=money(f.requested_fen, lang), amount=money(amount, lang),
        transferred=money(f.amount_fen - f.offset_fen, lang), offset=money(f.offset_fen, lang),
        reason=quoted_reason(change.values.get("rejection") or ""), days=RETURN_WORKING_DAYS)
