"""The monthly report as PDF, to print, sign and file (the CSV export is for analysis).

A4 landscape, drawn with reportlab in the embedded CJK font of the printable invoice
(:mod:`ledger.adapters.pdf_fonts`: a subset of WenQuanYi Micro Hei in each PDF, Chinese
and Latin alike; item codes in its mono face). Page 1 names the payer, the month (China
time), the scope and when the report was made, and says so when the month had not ended;
then one summary row per hospital and the total; then the refusals and flags by rule and
by item over all hospitals, then each hospital's own. Rule and item tables show their first rows (:data:`TOP_TOTAL`,
:data:`TOP_HOSPITAL`; the order puts the most money refused first) and say how many more
the CSV export holds. Every page is footed with the report, the payer and "page n of N".

Names come from hospitals and rule files: they go into paragraphs XML-escaped, so they
cannot inject markup. Rendering is deterministic (no creation date, no random id).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate, Paragraph, Spacer, Table, TableStyle

from ledger.adapters.invoice_print import yuan
from ledger.adapters.pdf_fonts import FONT, MONO, register_fonts
from ledger.adapters.pdf_parts import MARGIN, NumberedCanvas
from ledger.claims.reports import REFUSAL, HospitalFigures, MonthlyReport
from ledger.workdays import CHINA_TZ

#: rule and item rows shown for the total, and for each hospital
TOP_TOTAL = 50
TOP_HOSPITAL = 25
#: rows per table: reportlab re-measures a table's remaining rows each time it splits it
_CHUNK = 60

_Cols = tuple[tuple[str, float | None], ...]
_SUMMARY: _Cols = (
    ("Hospital 医院", None), ("Claims 件数", 14 * mm), ("Claimed 申报金额", 25 * mm), ("Paid 支付金额", 25 * mm),
    ("Instant 即时", 14 * mm), ("Manual 人工", 14 * mm), ("Manual claimed 人工申报", 25 * mm),
    ("Window 窗口", 14 * mm), ("Rejected 拒绝", 14 * mm), ("Claw-back 追回", 15 * mm),
    ("Refused lines 拒付明细", 16 * mm), ("Refused 拒付金额", 23 * mm), ("Flags 疑点", 13 * mm),
)
_RULES: _Cols = (
    ("Rule set 规则集", 48 * mm), ("Rule 规则", 48 * mm), ("Name 名称", None), ("Kind 类型", 18 * mm),
    ("Claims 件数", 16 * mm), ("Lines 明细", 16 * mm), ("Refused 拒付金额", 26 * mm),
)
_ITEMS: _Cols = (
    ("Item code 项目编码", 62 * mm), ("Item 项目名称", None), ("Claims 件数", 16 * mm),
    ("Refused lines 拒付明细", 22 * mm), ("Refused 拒付金额", 26 * mm), ("Flagged lines 疑点明细", 22 * mm),
)
_KIND = {REFUSAL: "refusal 拒付", "flag": "flag 疑点"}


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=8, leading=10)
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=15, leading=19, spaceAfter=2 * mm),
        "h2": ParagraphStyle("h2", parent=base, fontSize=11, leading=14, spaceBefore=4 * mm, spaceAfter=1.5 * mm),
        "h3": ParagraphStyle("h3", parent=base, fontSize=9, leading=12, spaceBefore=2 * mm, spaceAfter=1 * mm),
        "meta": base,
        "warn": ParagraphStyle("warn", parent=base, textColor=colors.HexColor("#a00000")),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9),
        "code": ParagraphStyle("code", parent=base, fontName=MONO, fontSize=7, leading=9),
        "head": ParagraphStyle("head", parent=base, fontSize=7, leading=8.5, textColor=colors.HexColor("#333333")),
        "small": ParagraphStyle("small", parent=base, fontSize=7, leading=9, textColor=colors.HexColor("#555555")),
    }


def _widths(cols: _Cols, width: float) -> list[float]:
    fixed = sum(w for _, w in cols if w is not None)
    return [w if w is not None else width - fixed for _, w in cols]


def _tables(cols: _Cols, rows: Sequence[Sequence[Any]], st: dict[str, ParagraphStyle], width: float, *,
            total_row: bool = False) -> list[Flowable]:
    """``rows`` under a header of ``cols``, numbers right-aligned, in tables of :data:`_CHUNK` rows."""
    head = [Paragraph(escape(name), st["head"]) for name, _ in cols]
    out: list[Flowable] = []
    for i in range(0, max(len(rows), 1), _CHUNK):
        chunk = list(rows[i:i + _CHUNK])
        table = Table([head, *chunk], colWidths=_widths(cols, width), repeatRows=1)
        style: list[tuple[Any, ...]] = [
            ("FONT", (0, 0), (-1, -1), FONT, 7.5, 9), ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("ALIGN", (0, 1), (-1, -1), "RIGHT"),
            ("LEFTPADDING", (0, 0), (-1, -1), 1.5), ("RIGHTPADDING", (0, 0), (-1, -1), 1.5),
            ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
            ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
        ]
        if total_row and i + _CHUNK >= len(rows):
            style += [("LINEABOVE", (0, -1), (-1, -1), 1.1, colors.black), ("FONT", (0, -1), (-1, -1), FONT, 8, 10)]
        table.setStyle(TableStyle(style))
        out.append(table)
    return out


def _summary_row(h: HospitalFigures, st: dict[str, ParagraphStyle]) -> list[Any]:
    who = f"{h.hospital_id} {h.hospital_name}" if h.hospital_id else "Total 合计"
    return [Paragraph(escape(who), st["cell"]), str(h.claims), yuan(h.claimed_fen), yuan(h.paid_fen),
            str(h.instant_claims), str(h.manual_claims), yuan(h.manual_claimed_fen), str(h.window_claims),
            str(h.rejected_claims), str(h.clawback_claims), str(h.refused_lines), yuan(h.refused_fen), str(h.flags)]


def _breakdown(h: HospitalFigures, top: int, st: dict[str, ParagraphStyle], width: float) -> list[Flowable]:
    """``h``'s refusals and flags by rule and by item (their first ``top`` rows each)."""
    out: list[Flowable] = [Paragraph("By rule 按规则", st["h3"])]
    if not h.by_rule:
        out.append(Paragraph("No refusal or flag. 无拒付、无疑点。", st["small"]))
    else:
        out += _tables(_RULES, [[Paragraph(escape(r.rule_set or "reviewer 审核人员"), st["cell"]),
                                 Paragraph(escape(r.rule), st["cell"]),
                                 Paragraph(escape(f"{r.name.en} {r.name.zh}"), st["cell"]), _KIND.get(r.kind, r.kind),
                                 str(r.claims), str(r.lines), yuan(r.refused_fen)] for r in h.by_rule[:top]], st,
                       width)
        out += _more(len(h.by_rule) - top, "rules 条规则", st)
    out.append(Paragraph("By item 按项目", st["h3"]))
    if not h.by_item:
        out.append(Paragraph("No item refused or flagged. 无拒付或疑点项目。", st["small"]))
    else:
        out += _tables(_ITEMS, [[Paragraph(escape(i.item_code), st["code"]), Paragraph(escape(i.item_name), st["cell"]),
                                 str(i.claims), str(i.refused_lines), yuan(i.refused_fen), str(i.flagged_lines)]
                                for i in h.by_item[:top]], st, width)
        out += _more(len(h.by_item) - top, "items 个项目", st)
    return out


def _more(n: int, what: str, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    return [Paragraph(f"… {n} more {what} in the CSV export（另有 {n} 条见 CSV 导出）", st["small"])] if n > 0 else []


def render_report_pdf(report: MonthlyReport) -> bytes:
    """The monthly report as PDF bytes (raises :class:`~ledger.errors.PdfFontUnavailable` without its font)."""
    register_fonts()
    st = _styles()
    out = io.BytesIO()
    pagesize = landscape(A4)
    title = f"Monthly claims report 月度报销报告 {report.month}"
    doc = BaseDocTemplate(out, pagesize=pagesize, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                          bottomMargin=MARGIN + 4 * mm, title=title, author=report.payer_name,
                          subject="sporadic claims by hospital, rule and item 零星报销月报", creator="ebill-ledger",
                          initialFontName=FONT, invariant=True)
    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, leftPadding=0, rightPadding=0,
                  topPadding=0, bottomPadding=0)
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame])])
    made = report.generated_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
    scope = f"hospital 医院 {report.hospital}" if report.hospital else "all hospitals 全部医院"
    story: list[Flowable] = [
        Paragraph(escape(title), st["title"]),
        Paragraph(escape(f"Payer 医保经办机构: {report.payer_name} ({report.payer_id})"), st["meta"]),
        Paragraph(escape(f"Claims filed 申报时间: {report.month.start:%Y-%m-%d %H:%M} – "
                         f"{report.month.end:%Y-%m-%d %H:%M} (UTC+8, China time 北京时间)"), st["meta"]),
        Paragraph(escape(f"Scope 范围: {scope} · made 生成于 {made} (UTC+8)"), st["meta"]),
    ]
    if not report.complete:
        story.append(Paragraph("The month had not ended when this report was made: its figures are incomplete. "
                               "本月尚未结束，数据不完整。", st["warn"]))
    story += [Paragraph("By hospital 按医院", st["h2"]),
              *_tables(_SUMMARY, [*(_summary_row(h, st) for h in report.hospitals), _summary_row(report.total, st)],
                       st, doc.width, total_row=True),
              Paragraph("Manual claims (decided by a reviewer, not at once) count in a hospital's annual clearance. "
                        "人工审核件数计入医院年度清算考核。Amounts in yuan 金额单位：元。", st["small"])]
    if report.hospital is None:
        story += [Paragraph("All hospitals: refusals and flags 全部医院：拒付与疑点", st["h2"]),
                  *_breakdown(report.total, TOP_TOTAL, st, doc.width)]
    for h in report.hospitals:
        story += [Paragraph(escape(f"{h.hospital_id} {h.hospital_name}: refusals and flags 拒付与疑点"), st["h2"]),
                  *_breakdown(h, TOP_HOSPITAL, st, doc.width)]
    story.append(Spacer(1, 2 * mm))
    footer = f"{title} · {report.payer_name} ({report.payer_id})"
    doc.build(story, canvasmaker=lambda *args, **kwargs: NumberedCanvas(*args, footer=footer, **kwargs))
    return out.getvalue()
