"""Pieces the printable PDFs share: the QR code as vectors, and a canvas that foots (and stamps) every page.

The QR code is drawn as filled rectangles (one per run of dark modules) from the same
segno symbol as the PNG and SVG (level M, alphanumeric, 4-module white quiet zone), in a
form XObject named :data:`QR_FORM`, so it prints sharp at any resolution and a test can
rasterise exactly what the PDF draws and read it back with a QR decoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable

from ledger.adapters.pdf_fonts import FONT
from ledger.adapters.qr_image import QUIET_ZONE, qr_symbol

#: the name of the form XObject that holds the QR code's rectangles
QR_FORM = "ebillQr"
#: printed size of the QR symbol including its quiet zone (≥ 30 mm so a phone reads it)
QR_SIZE = 34 * mm
MARGIN = 14 * mm
STAMP_RED = colors.Color(0.75, 0, 0)


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


@dataclass(frozen=True)
class Stamp:
    """Words stamped across every page, over the content: a big mark and a line under it."""

    mark: str
    line: str


class NumberedCanvas(Canvas):  # type: ignore[misc]  # reportlab is untyped
    """A canvas that knows the page count when it draws each page's footer (reportlab's
    usual two-step: keep every page's state, then draw the footers at save time), and
    stamps each page with ``stamp`` (a void invoice's "作废 VOID") when given one."""

    def __init__(self, *args: Any, footer: str, stamp: Stamp | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.footer = footer
        self.stamp = stamp
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self._footer(total)
            if self.stamp is not None:
                self._stamp(self.stamp)
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

    def _stamp(self, stamp: Stamp) -> None:
        """``stamp`` across the middle of the page, turned 30°, translucent red in a double frame."""
        width, height = self._pagesize
        big, small = 56.0, 12.0
        text_width = max(stringWidth(stamp.mark, FONT, big), stringWidth(stamp.line, FONT, small))
        box_w, box_h = text_width + 16 * mm, big + small + 12 * mm
        self.saveState()
        self.translate(width / 2, height / 2)
        self.rotate(30)
        self.setFillColor(STAMP_RED)
        self.setStrokeColor(STAMP_RED)
        self.setFillAlpha(0.45)
        self.setStrokeAlpha(0.45)
        self.setLineWidth(1.2)
        self.rect(-box_w / 2, -box_h / 2, box_w, box_h, stroke=1, fill=0)
        self.rect(-box_w / 2 + 2.5, -box_h / 2 + 2.5, box_w - 5, box_h - 5, stroke=1, fill=0)
        self.setFont(FONT, big)
        self.drawCentredString(0, -box_h / 2 + 6 * mm + small + 2 * mm, stamp.mark)
        self.setFont(FONT, small)
        self.drawCentredString(0, -box_h / 2 + 5 * mm, stamp.line)
        self.restoreState()
