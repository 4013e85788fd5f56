"""The printable invoice as PDF: the same content as :mod:`ledger.adapters.invoice_html`.

A4, drawn with reportlab. Chinese text uses reportlab's built-in CID font
``STSong-Light`` (Adobe-GB1, not embedded: every PDF reader ships or substitutes it),
so no font file is needed. Page 1 carries the invoice header and the QR code; the fee
lines follow in a table whose column header repeats on every page; the totals close
the table on the last page; every page is footed with the invoice's code/number, its
fingerprint and "page n of N".

The QR code is drawn as vector rectangles (one per run of dark modules) from the same
segno symbol as the PNG and SVG (level M, alphanumeric, 4-module quiet zone), in a form
XObject named :data:`QR_FORM`, so it prints sharp at any resolution and a test can
rasterise exactly what the PDF draws and read it back with a QR decoder.

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
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate, Paragraph, Spacer, Table, TableStyle

from ledger.adapters.invoice_html import CATEGORY, header_fields, yuan
from ledger.adapters.qr_image import QUIET_ZONE, qr_symbol

#: the CID font used for all text (Latin and Chinese); built into reportlab
FONT = "STSong-Light"
MONO = "Courier"
#: the name of the form XObject that holds the QR code's rectangles
QR_FORM = "ebillQr"
#: printed size of the QR symbol including its quiet zone (≥ 30 mm so a phone reads it)
QR_SIZE = 34 * mm
MARGIN = 14 * mm

_COLUMNS: tuple[tuple[str, float | None], ...] = (
    ("#", 8 * mm), ("Item code 项目编码", 35 * mm), ("Item 项目名称", None), ("Class 类别", 12 * mm),
    ("Qty 数量", 12 * mm), ("Unit 单位", 11 * mm), ("Unit price 单价", 19 * mm), ("Amount 金额", 21 * mm),
    ("Date 日期", 16 * mm),
)
_NUMERIC = (0, 4, 6, 7)  # right-aligned columns


def register_font() -> None:
    """Register :data:`FONT` with reportlab (once per process)."""
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=8, leading=10)
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=14, leading=18, spaceAfter=2 * mm),
        "key": ParagraphStyle("key", parent=base, textColor=colors.HexColor("#555555")),
        "value": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9),
        "head": ParagraphStyle("head", parent=base, fontSize=7, leading=8.5, textColor=colors.HexColor("#333333")),
        "headr": ParagraphStyle("headr", parent=base, fontSize=7, leading=8.5, alignment=2,
                                textColor=colors.HexColor("#333333")),
        "caption": ParagraphStyle("caption", parent=base, fontSize=7, leading=9, alignment=1,
                                  textColor=colors.HexColor("#555555")),
        "small": ParagraphStyle("small", parent=base, fontSize=7, leading=9, textColor=colors.HexColor("#333333")),
    }


class QrFlowable(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """The QR code of ``text`` as filled rectangles in the form XObject :data:`QR_FORM`."""

    def __init__(self, text: str, *, size: float = QR_SIZE) -> None:
        super().__init__()
        self.matrix = [[bool(m) for m in row] for row in qr_symbol(text).matrix]
        self.size = size
        self.width = self.height = size

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.size, self.size

    def draw(self) -> None:
        canv = self.canv
        modules = len(self.matrix) + 2 * QUIET_ZONE
        unit = self.size / modules
        canv.saveState()
        canv.beginForm(QR_FORM, lowerx=0, lowery=0, upperx=self.size, uppery=self.size)
        canv.setFillColor(colors.white)
        canv.rect(0, 0, self.size, self.size, stroke=0, fill=1)
        canv.setFillColor(colors.black)
        path = canv.beginPath()
        for y, row in enumerate(self.matrix):
            top = self.size - (y + QUIET_ZONE + 1) * unit
            x = 0
            while x < len(row):
                if not row[x]:
                    x += 1
                    continue
                start = x
                while x < len(row) and row[x]:
                    x += 1
                path.rect((start + QUIET_ZONE) * unit, top, (x - start) * unit, unit)
        canv.drawPath(path, stroke=0, fill=1)
        canv.endForm()
        canv.doForm(QR_FORM)
        canv.restoreState()


class NumberedCanvas(Canvas):  # type: ignore[misc]  # reportlab is untyped
    """A canvas that knows the page count when it draws each page's footer (reportlab's
    usual two-step: keep every page's state, then draw the footers at save time)."""

    def __init__(self, *args: Any, footer: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.footer = footer
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self._footer(total)
            super().showPage()
        super().save()

    def _footer(self, total: int) -> None:
        self.saveState()
        self.setFont(FONT, 7)
        self.setFillColor(colors.HexColor("#555555"))
        width, _ = self._pagesize
        self.drawString(MARGIN, 8 * mm, self.footer)
        self.drawRightString(width - MARGIN, 8 * mm, f"page {self._pageNumber} of {total}  第 {self._pageNumber} 页 "
                                                     f"共 {total} 页")
        self.restoreState()


def _header(invoice: Mapping[str, Any], hospital_name: str, st: dict[str, ParagraphStyle], width: float) -> Table:
    rows = [[Paragraph(escape(k), st["key"]), Paragraph(escape(str(v)), st["value"])]
            for k, v in header_fields(invoice, hospital_name)]
    fields = Table(rows, colWidths=[34 * mm, width - QR_SIZE - 40 * mm])
    fields.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                                ("TOPPADDING", (0, 0), (-1, -1), 0.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 0.5)]))
    left = [Paragraph("医疗收费电子票据 · Medical e-invoice", st["title"]), fields]
    right = [QrFlowable(str(invoice["qr"])), Paragraph("scan to verify 扫码验真", st["caption"])]
    head = Table([[left, right]], colWidths=[width - QR_SIZE - 4 * mm, QR_SIZE + 4 * mm])
    head.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 0), ("LINEBELOW", (0, 0), (-1, 0), 1.1, colors.black),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3 * mm),
    ]))
    return head


def _column_widths(width: float) -> list[float]:
    fixed = sum(w for _, w in _COLUMNS if w is not None)
    return [w if w is not None else width - fixed for _, w in _COLUMNS]


def _column_header(st: dict[str, ParagraphStyle], width: float) -> Table:
    """The fee table's column header: on page 1 above the first line, on later pages drawn by the page."""
    head = [Paragraph(escape(name), st["headr" if i in _NUMERIC else "head"]) for i, (name, _) in enumerate(_COLUMNS)]
    table = Table([head], colWidths=_column_widths(width))
    table.setStyle(TableStyle([*_CELL_STYLE, ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black)]))
    table.keepWithNext = True
    return table


_CELL_STYLE: list[tuple[Any, ...]] = [
    ("FONT", (0, 0), (-1, -1), FONT, 7.5, 9),
    ("ALIGN", (0, 0), (0, -1), "RIGHT"), ("ALIGN", (4, 0), (4, -1), "RIGHT"), ("ALIGN", (6, 0), (7, -1), "RIGHT"),
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
    cell = st["cell"]
    rows: list[list[Any]] = [[
        str(int(li["seq"])), str(li["itemCode"]), Paragraph(escape(str(li["itemName"])), cell),
        CATEGORY.get(li["category"], str(li["category"])), str(li["quantity"]), str(li["unit"]),
        yuan(int(li["unitPriceFen"])), yuan(int(li["amountFen"])), str(li["serviceDate"]),
    ] for li in fee_lines]
    line_style = TableStyle([*_CELL_STYLE, ("FONT", (1, 0), (1, -1), MONO, 6.5, 9),
                             ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb"))])
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


def render_invoice_pdf(invoice: Mapping[str, Any], fee_lines: Sequence[Mapping[str, Any]], *,
                       hospital_name: str) -> bytes:
    """The printable invoice as PDF bytes (API shapes, as for :func:`invoice_html.render_invoice`).

    Deterministic: the same invoice gives the same bytes (no creation date or random id).
    """
    register_font()
    st = _styles()
    out = io.BytesIO()
    code, number = str(invoice["invoiceCode"]), str(invoice["invoiceNumber"])
    doc = BaseDocTemplate(out, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                          bottomMargin=MARGIN + 4 * mm, title=f"{code}-{number} · {hospital_name}",
                          author=hospital_name, subject="医疗收费电子票据 medical e-invoice", creator="ebill-ledger",
                          invariant=True)
    first = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="first", leftPadding=0,
                  rightPadding=0, topPadding=0, bottomPadding=0)
    column_header = _column_header(st, doc.width)
    _, head_height = column_header.wrap(doc.width, doc.height)
    later = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height - head_height, id="later", leftPadding=0,
                  rightPadding=0, topPadding=0, bottomPadding=0)

    def repeat_header(canv: Canvas, _doc: BaseDocTemplate) -> None:
        column_header.drawOn(canv, doc.leftMargin, doc.bottomMargin + doc.height - head_height)

    doc.addPageTemplates([PageTemplate(id="first", frames=[first], autoNextPageTemplate="later"),
                          PageTemplate(id="later", frames=[later], onPage=repeat_header)])
    story: list[Flowable] = [
        _header(invoice, hospital_name, st, doc.width), Spacer(1, 3 * mm), _column_header(st, doc.width),
        *_fee_tables(invoice, fee_lines, st, doc.width), Spacer(1, 3 * mm), _amounts(invoice, st),
        Spacer(1, 3 * mm),
        Paragraph(escape(f"fingerprint {invoice['fingerprint']} · fee-lines root {invoice['feeLinesRoot']}"),
                  st["small"]),
    ]
    footer = f"{code}/{number} · {hospital_name} · fingerprint {invoice['fingerprint']}"
    doc.build(story, canvasmaker=lambda *args, **kwargs: NumberedCanvas(*args, footer=footer, **kwargs))
    return out.getvalue()
