"""The monthly report as CSV, for a spreadsheet (``text/csv``; UTF-8 with a byte-order mark,
so Excel in China opens the Chinese names without asking for the encoding).

One table, one header row, CRLF line ends. Each row has a ``section``:

- ``hospital``: one hospital's month; ``hospital-rule`` and ``hospital-item``: its
  refusals and flags by rule and by item, right after it (hospitals by id);
- ``total``, ``total-rule``, ``total-item``: the same over every hospital of the report,
  last (``hospital_id`` empty, ``hospital_name`` "Total 合计").

Columns (:data:`COLUMNS`; a cell that does not apply to its section is empty; money in
yuan with two decimals, exact, no thousands separator; see docs/claims-api.md):

``month`` (YYYY-MM, China time), ``complete`` (true once the month had ended when the
report was made), ``as_of`` (when it was made, China time), ``section``, ``hospital_id``,
``hospital_name``, ``rule_set`` (``id@vN``; empty for a reviewer's reason), ``rule``,
``rule_name``, ``rule_name_zh``, ``kind`` (refusal | flag), ``item_code`` (normalised),
``item_name``, ``claims``, ``claimed_yuan``, ``paid_yuan``, ``instant_claims``,
``manual_claims``, ``manual_claimed_yuan``, ``manual_paid_yuan``, ``window_claims``,
``rejected_claims``, ``clawback_claims``, ``lines`` (fee lines a rule refused or flagged),
``refused_lines``, ``refused_yuan``, ``flagged_claims``, ``flags``, ``flagged_lines``.

Text that comes from hospitals and rule files (names, codes) is written so that a
spreadsheet never runs it: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return gets a leading apostrophe (OWASP's advice on CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from ledger.claims.reports import HospitalFigures, MonthlyReport
from ledger.workdays import CHINA_TZ

BOM = "\ufeff"
COLUMNS: tuple[str, ...] = (
    "month", "complete", "as_of", "section", "hospital_id", "hospital_name", "rule_set", "rule", "rule_name",
    "rule_name_zh", "kind", "item_code", "item_name", "claims", "claimed_yuan", "paid_yuan", "instant_claims",
    "manual_claims", "manual_claimed_yuan", "manual_paid_yuan", "window_claims", "rejected_claims",
    "clawback_claims", "lines", "refused_lines", "refused_yuan", "flagged_claims", "flags", "flagged_lines",
)
TOTAL_NAME = "Total 合计"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def yuan(fen: int) -> str:
    """Integer fen as yuan with two decimals (``123456`` → ``1234.56``), exact."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def text(value: str) -> str:
    """``value`` safe from being run as a formula by a spreadsheet."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def render_report_csv(report: MonthlyReport) -> bytes:
    """The report as CSV bytes (UTF-8 with a BOM)."""
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    w.writeheader()
    head = {"month": str(report.month), "complete": "true" if report.complete else "false",
            "as_of": report.generated_at.astimezone(CHINA_TZ).isoformat(timespec="seconds")}
    for h in report.hospitals:
        w.writerows({**head, **row} for row in _rows(h, "hospital"))
    w.writerows({**head, **row} for row in _rows(report.total, "total"))
    return (BOM + out.getvalue()).encode("utf-8")


def _rows(h: HospitalFigures, section: str) -> Iterator[dict[str, str | int]]:
    who: dict[str, str | int] = {"hospital_id": text(h.hospital_id or ""),
                                 "hospital_name": text(h.hospital_name if h.hospital_id else TOTAL_NAME)}
    yield {**who, "section": section, "claims": h.claims, "claimed_yuan": yuan(h.claimed_fen),
           "paid_yuan": yuan(h.paid_fen), "instant_claims": h.instant_claims, "manual_claims": h.manual_claims,
           "manual_claimed_yuan": yuan(h.manual_claimed_fen), "manual_paid_yuan": yuan(h.manual_paid_fen),
           "window_claims": h.window_claims, "rejected_claims": h.rejected_claims,
           "clawback_claims": h.clawback_claims, "refused_lines": h.refused_lines,
           "refused_yuan": yuan(h.refused_fen), "flagged_claims": h.flagged_claims, "flags": h.flags}
    for r in h.by_rule:
        yield {**who, "section": f"{section}-rule", "rule_set": text(r.rule_set), "rule": text(r.rule),
               "rule_name": text(r.name.en), "rule_name_zh": text(r.name.zh), "kind": r.kind, "claims": r.claims,
               "lines": r.lines, "refused_yuan": yuan(r.refused_fen)}
    for i in h.by_item:
        yield {**who, "section": f"{section}-item", "item_code": text(i.item_code), "item_name": text(i.item_name),
               "claims": i.claims, "refused_lines": i.refused_lines, "refused_yuan": yuan(i.refused_fen),
               "flagged_lines": i.flagged_lines}
