"""The printable invoice as PDF: the same content as :mod:`ledger.adapters.invoice_html`.

A4, drawn with reportlab in one embedded CJK TrueType font (:mod:`ledger.adapters.pdf_fonts`:
WenQuanYi Micro Hei, a subset of its glyphs in each PDF, so any viewer or printer shows
the Chinese text and the "·" as written). Page 1 carries the invoice header and the QR
code (:class:`~ledger.adapters.pdf_parts.QrFlowable`, vectors); the fee lines follow in a
table whose column header repeats on every page, in the same fixed columns as the HTML
page (:data:`~ledger.adapters.invoice_print.COLUMNS`): item codes set in the mono face,
small enough that a 27-character code fits its column, and wrapped inside it when longer;
the totals close the table on the last page; every page is footed with the invoice's
code/number, its fingerprint and "page n of N". A void invoice is stamped "作废 VOID"
with its void date and reason across every page.

Values from the invoice go into reportlab paragraphs XML-escaped: item names come from
hospitals' systems and must not be able to inject markup.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from ledger.adapters.invoice_print import (
    CATEGORY,
    COLUMNS,
    NUMERIC,
    TITLE,
    header_fields,
    stamp_lines,
    void_note,
    yuan,
)
from ledger.adapters.pdf_fonts import FONT, MONO, register_fonts
from ledger.adapters.pdf_parts import MARGIN, QR_FORM, QR_SIZE, NumberedCanvas, QrFlowable, Stamp

__all__ = ["FONT", "MARGIN", "MONO", "QR_FORM", "QR_SIZE", "render_invoice_pdf"]

#: item codes: the mono face at this size fits 27 characters in their 39 mm column
CODE_SIZE = 6.5


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=8, leading=10)
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=14, leading=18, spaceAfter=2 * mm),
        "key": ParagraphStyle("key", parent=base, textColor=colors.HexColor("#555555")),
        "value": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9),
        "code": ParagraphStyle("code", parent=base, fontName=MONO, fontSize=CODE_SIZE, leading=8.5,
                               splitLongWords=1),
        "head": ParagraphStyle("head", parent=base, fontSize=7, leading=8.5, textColor=colors.HexColor("#333333")),
        "headr": ParagraphStyle("headr", parent=base, fontSize=7, leading=8.5, alignment=2,
                                textColor=colors.HexColor("#333333")),
        "caption": ParagraphStyle("caption", parent=base, fontSize=7, leading=9, alignment=1,
                                  textColor=colors.HexColor("#555555")),
        "small": ParagraphStyle("small", parent=base, fontName=MONO, fontSize=6.5, leading=9,
                                textColor=colors.HexColor("#333333")),
    }


def _header(invoice: Mapping[str, Any], hospital_name: str, st: dict[str, ParagraphStyle], width: float) -> Table:
    rows = [[Paragraph(escape(k), st["key"]), Paragraph(escape(str(v)), st["value"])]
            for k, v in header_fields(invoice, hospital_name)]
    fields = Table(rows, colWidths=[37 * mm, width - QR_SIZE - 43 * mm])
    fields.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), FONT, 8, 10), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                                ("TOPPADDING", (0, 0), (-1, -1), 0.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 0.5)]))
    left = [Paragraph(escape(TITLE), st["title"]), fields]
    right = [QrFlowable(str(invoice["qr"])), Paragraph("scan to verify 扫码验真", st["caption"])]
    head = Table([[left, right]], colWidths=[width - QR_SIZE - 4 * mm, QR_SIZE + 4 * mm])
    head.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), FONT, 8, 10), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 0), ("LINEBELOW", (0, 0), (-1, 0), 1.1, colors.black),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3 * mm),
    ]))
    return head


def _column_widths(width: float) -> list[float]:
    fixed = sum(w for _, w in COLUMNS if w is not None) * mm
    return [w * mm if w is not None else width - fixed for _, w in COLUMNS]


def _column_header(st: dict[str, ParagraphStyle], width: float) -> Table:
    """The fee table's column header: on page 1 above the first line, on later pages drawn by the page."""
    head = [Paragraph("<br/>".join(escape(part) for part in name.rsplit(" ", 1)),   # "Unit price" over "单价"
                      st["headr" if i in NUMERIC else "head"]) for i, (name, _) in enumerate(COLUMNS)]
    table = Table([head], colWidths=_column_widths(width))
    table.setStyle(TableStyle([*_CELL_STYLE, ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black)]))
    table.keepWithNext = True
    return table


_CELL_STYLE: list[tuple[Any, ...]] = [
    ("FONT", (0, 0), (-1, -1), FONT, 7.5, 9),
    *(("ALIGN", (i, 0), (i, -1), "RIGHT") for i in NUMERIC),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("LEFTPADDING", (0, 0), (-1, -1), 1.5), ("RIGHTPADDING", (0, 0), (-1, -1), 1.5),
    ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
]
#: fee lines per table: many small tables instead of one long one, because reportlab
#: re-measures every remaining row of a table each time it splits it across a page
#: (quadratic in the line count: 7 s for 5,000 lines as one table)
_CHUNK = 24


def _fee_tables(invoice: Mapping[str, Any], fee_lines: Sequence[Mapping[str, Any]], st: dict[str, ParagraphStyle],
                width: float) -> list[Flowable]:
    widths = _column_widths(width)
    cell, code = st["cell"], st["code"]
    rows: list[list[Any]] = [[
        str(int(li["seq"])), Paragraph(escape(str(li["itemCode"])), code), Paragraph(escape(str(li["itemName"])), cell),
        CATEGORY.get(li["category"], str(li["category"])), str(li["quantity"]), str(li["unit"]),
        yuan(int(li["unitPriceFen"])), yuan(int(li["amountFen"])), str(li["serviceDate"]),
    ] for li in fee_lines]
    line_style = TableStyle([*_CELL_STYLE, ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb"))])
    tables: list[Flowable] = []
    for i in range(0, len(rows), _CHUNK):
        table = Table(rows[i:i + _CHUNK], colWidths=widths)
        table.setStyle(line_style)
        tables.append(table)
    total = Table([[f"Total 合计 ({len(fee_lines)} fee lines)", "", "", "", "", "", "",
                    yuan(int(invoice["totalFen"])), ""]], colWidths=widths)
    total.setStyle(TableStyle([*_CELL_STYLE, ("SPAN", (0, 0), (6, 0)), ("ALIGN", (0, 0), (6, 0), "LEFT"),
                               ("LINEABOVE", (0, 0), (-1, 0), 1.1, colors.black),
                               ("FONT", (0, 0), (-1, 0), FONT, 8.5, 11)]))
    tables.append(total)
    return tables


def _amounts(invoice: Mapping[str, Any], st: dict[str, ParagraphStyle]) -> Table:
    rows = [("Total 合计", invoice["totalFen"]), ("Fund paid 统筹支付", invoice["fundPaidFen"]),
            ("Account paid 个人账户", invoice["accountPaidFen"]), ("Cash paid 个人现金", invoice["cashPaidFen"])]
    table = Table([[k, yuan(int(v))] for k, v in rows], colWidths=[40 * mm, 30 * mm], hAlign="RIGHT")
    table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), FONT, 8, 10), ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                               ("FONT", (0, 0), (-1, 0), FONT, 9, 11),
                               ("LINEBELOW", (0, 0), (-1, 0), 0.4, colors.black)]))
    return table


class _Mark(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """Takes no room; remembers that the story got this far (the pages after it need no column header)."""

    def __init__(self) -> None:
        super().__init__()
        self.drawn = False

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return 0, 0

    def draw(self) -> None:
        self.drawn = True


def render_invoice_pdf(invoice: Mapping[str, Any], fee_lines: Sequence[Mapping[str, Any]], *,
                       hospital_name: str) -> bytes:
    """The printable invoice as PDF bytes (API shapes, as for :func:`invoice_html.render_invoice`).

    Deterministic: the same invoice gives the same bytes (no creation date or random id).
    Raises :class:`~ledger.errors.PdfFontUnavailable` when the font to embed is not installed.
    """
    register_fonts()
    st = _styles()
    out = io.BytesIO()
    code, number = str(invoice["invoiceCode"]), str(invoice["invoiceNumber"])
    note = void_note(invoice)
    stamp = Stamp(*stamp_lines(note)) if note is not None and note.final else None
    doc = BaseDocTemplate(out, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                          bottomMargin=MARGIN + 4 * mm,
                          title=f"{'作废 VOID · ' if stamp else ''}{code}-{number} · {hospital_name}",
                          author=hospital_name, subject="医疗收费电子票据 medical e-invoice", creator="ebill-ledger",
                          initialFontName=FONT, invariant=True)
    first = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="first", leftPadding=0,
                  rightPadding=0, topPadding=0, bottomPadding=0)
    column_header = _column_header(st, doc.width)
    _, head_height = column_header.wrap(doc.width, doc.height)
    later = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height - head_height, id="later", leftPadding=0,
                  rightPadding=0, topPadding=0, bottomPadding=0)

    lines_done = _Mark()

    def repeat_header(canv: Canvas, _doc: BaseDocTemplate) -> None:
        if not lines_done.drawn:  # a page that only holds the amounts after the last line has no column header
            column_header.drawOn(canv, doc.leftMargin, doc.bottomMargin + doc.height - head_height)

    doc.addPageTemplates([PageTemplate(id="first", frames=[first], autoNextPageTemplate="later"),
                          PageTemplate(id="later", frames=[later], onPage=repeat_header)])
    story: list[Flowable] = [
        _header(invoice, hospital_name, st, doc.width), Spacer(1, 3 * mm), _column_header(st, doc.width),
        *_fee_tables(invoice, fee_lines, st, doc.width), lines_done, Spacer(1, 3 * mm),
        KeepTogether([_amounts(invoice, st), Spacer(1, 3 * mm), Paragraph(escape(
            f"fingerprint {invoice['fingerprint']} · fee-lines root {invoice['feeLinesRoot']}"), st["small"])]),
    ]
    footer = f"{code}/{number} · {hospital_name} · fingerprint {invoice['fingerprint']}"
    doc.build(story, canvasmaker=lambda *args, **kwargs: NumberedCanvas(*args, footer=footer, stamp=stamp,
                                                                        **kwargs))
    return out.getvalue()
