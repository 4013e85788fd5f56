"""What the printed invoice says, whichever way it is drawn (HTML page or PDF).

The values come in the API's shapes (the ``GET /v1/invoices/{fp}`` body and its fee
lines); every label is bilingual, Chinese and English, as on the paper invoice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.voids import VoidReason
from ledger.workdays import CHINA_TZ

CATEGORY = {"A": "甲类 A", "B": "乙类 B", "C": "丙类 C"}
VISIT = {"outpatient": "门诊 outpatient", "inpatient": "住院 inpatient", "emergency": "急诊 emergency",
         "pharmacy": "药店 pharmacy"}
STATE = {"stored": "stored, not yet anchored", "anchored": "anchored on chain", "voided": "VOIDED (red-letter)"}
TITLE = "医疗收费电子票据 · Medical e-invoice"
#: the fee table's columns: (label, width in mm; None takes the rest) for A4 portrait, 182 mm between margins
COLUMNS: tuple[tuple[str, float | None], ...] = (
    ("#", 7), ("Item code 项目编码", 39), ("Item 项目名称", None), ("Class 类别", 12), ("Qty 数量", 11),
    ("Unit 单位", 9), ("Unit price 单价", 19), ("Amount 金额", 21), ("Date 日期", 17),
)
#: the columns whose values are right-aligned (numbers)
NUMERIC = (0, 4, 6, 7)


def yuan(fen: int) -> str:
    """¥1,234.56 from integer fen (exact: no floats)."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}¥{fen // 100:,}.{fen % 100:02d}"


@dataclass(frozen=True)
class VoidNote:
    """An invoice's red-letter reversal as the print shows it."""

    #: the day the hospital voided it (China time), YYYY-MM-DD
    date: str
    #: the reason code in words, English and Chinese
    reason_en: str
    reason_zh: str
    #: True once the void is on chain (the invoice is void); False while it is pending
    final: bool

    @property
    def words(self) -> str:
        """"2024-03-06 · Refunded 退费"."""
        return f"{self.date} · {self.reason_en} {self.reason_zh}"


def void_note(invoice: Mapping[str, Any]) -> VoidNote | None:
    """The invoice's void (``invoice["void"]``), or None when there is none or it failed."""
    void = invoice.get("void")
    if not void or void.get("state") == "failed":
        return None
    requested = void["requestedAt"]
    when = requested if isinstance(requested, datetime) else datetime.fromisoformat(str(requested))
    try:
        reason = VoidReason(void["reasonCode"])
        en, zh = reason.label_en, reason.label_zh
    except ValueError:
        en, zh = str(void["reasonCode"]), ""
    final = invoice.get("state") == "voided" or void.get("state") == "voided"
    return VoidNote(date=when.astimezone(CHINA_TZ).date().isoformat(), reason_en=en, reason_zh=zh, final=final)


def header_fields(invoice: Mapping[str, Any], hospital_name: str) -> list[tuple[str, str]]:
    """The labelled header values of the printable invoice (HTML and PDF), in print order."""
    fields = [
        ("Issuer 开票单位", f"{hospital_name} ({invoice['issuer']})"),
        ("Invoice code 票据代码", str(invoice["invoiceCode"])),
        ("Invoice number 票据号码", str(invoice["invoiceNumber"])),
        ("Check code 校验码", str(invoice["checkCode"])), ("Issued 开票时间", str(invoice["issuedAt"])),
        ("Visit 就诊类型", VISIT.get(invoice["visitType"], str(invoice["visitType"]))),
        ("Fund paid 统筹支付", yuan(int(invoice["fundPaidFen"]))),
        ("Account paid 个人账户", yuan(int(invoice["accountPaidFen"]))),
        ("Cash paid 个人现金", yuan(int(invoice["cashPaidFen"]))),
        ("Status 状态", STATE.get(invoice["state"], str(invoice["state"]))),
    ]
    note = void_note(invoice)
    if note is not None and note.final:
        fields.append(("Voided 作废日期", note.words))
    elif note is not None:
        fields.append(("Void requested 申请作废", f"{note.words} (pending on chain 待上链)"))
    return fields


def stamp_lines(note: VoidNote) -> tuple[str, str]:
    """The two lines stamped across a void invoice: the mark, and its date and reason."""
    return "作废 VOID", f"voided 作废于 {note.words}"
