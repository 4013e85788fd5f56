"""The rules a decision names, in words (English and Chinese), for reports.

A stored decision (:meth:`ledger.rules.Decision.to_json`) names each rule that changed a
fee line or flagged it by its id: ``class-c-self-pay``, ``negative-list:<code or
prefix>``, ``class-b-first-self-pay-10pct``, ``duplicate-same-day``, … (see
:mod:`ledger.rules.adjudicate`); a reviewer's approval in part names each line's reason code
(:class:`~ledger.claims.lines.LineReason`), which reports write ``review:<code>``. This module
gives each its name. An id it does not know (a rule type added later) is named by itself,
never refused: a report must not fail on a decision made by newer rules.

A *refusal* is a rule that made part of a fee line the patient's to pay because the line,
or part of it, is not reimbursed. The Class B first self-pay share is not one: it is the
scheme's co-payment on an eligible item (:func:`refuses` says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ledger.claims.lines import WORDS, LineReason

#: what reports write before a reviewer's reason code
REVIEW_PREFIX = "review:"
#: the Class B co-payment's rule ids start with this (``class-b-first-self-pay-10pct``)
CO_PAYMENT = "class-b-first-self-pay"


@dataclass(frozen=True)
class RuleName:
    """A rule's name in English and in Chinese."""

    en: str
    zh: str


#: the adjudication's rules by id (the part before ``:`` for ``negative-list:<entry>``)
_RULES: Mapping[str, RuleName] = {
    "class-c-self-pay": RuleName("Class C item, not reimbursed", "丙类项目不予报销"),
    "negative-list": RuleName("On the negative list", "负面清单项目"),
    "duplicate-item": RuleName("One item charged more than once on one day", "同一项目同日重复收费"),
    "quantity-limit": RuleName("Quantity above the limit", "超出限定数量"),
    "period-limit": RuleName("Quantity above the period limit (all hospitals)", "超出周期限量（跨院累计）"),
    CO_PAYMENT: RuleName("Class B first self-pay share", "乙类先行自付"),
    "duplicate-same-day": RuleName("Charged repeatedly on one day beyond the limit", "同日重复收费超限"),
    "lines-not-summing-to-total": RuleName("Fee lines do not add up to the invoice total", "明细合计与票据金额不符"),
    "several-codes-one-item": RuleName("One item billed under several codes", "同一项目多个编码"),
}

#: a reviewer's reasons for not approving a line, in Chinese (the English is the citizen's words)
_REVIEW_ZH: Mapping[LineReason, str] = {
    LineReason.NOT_NECESSARY: "非医疗必需",
    LineReason.NOT_COVERED: "不属于报销范围",
    LineReason.QUANTITY: "超量",
    LineReason.UNBUNDLED: "分解收费",
    LineReason.DUPLICATE: "重复收费",
    LineReason.NO_REFERRAL: "无处方或转诊",
    LineReason.DOCUMENTATION: "缺少证明材料",
    LineReason.PRICE: "超标准收费",
}


def review_rule(reason: str) -> str:
    """The rule id a report gives a reviewer's reason code."""
    return REVIEW_PREFIX + reason


def rule_name(rule: str) -> RuleName:
    """The name of the rule ``rule`` (an id of a decision, or ``review:<reason code>``)."""
    if rule.startswith(REVIEW_PREFIX):
        code = rule.removeprefix(REVIEW_PREFIX)
        try:
            reason = LineReason(code)
        except ValueError:
            return RuleName(f"Reviewer: {code}", f"审核人员：{code}")
        return RuleName(f"Reviewer: {WORDS[reason]}", f"审核人员：{_REVIEW_ZH[reason]}")
    kind, _, entry = rule.partition(":")
    if kind.startswith(CO_PAYMENT):
        kind = CO_PAYMENT
    known = _RULES.get(kind)
    if known is None:
        return RuleName(rule, rule)
    if entry:
        return RuleName(f"{known.en} ({entry})", f"{known.zh}（{entry}）")
    return known


def refuses(rule: str) -> bool:
    """Whether a line reason with this id refuses money (every one but the Class B co-payment)."""
    return not rule.startswith(CO_PAYMENT)
