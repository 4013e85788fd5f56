"""The printable PDFs as a printer puts them on paper: pages rasterised by poppler's pdftoppm,
the QR code read back with zxing-cpp and its signature checked, the void stamp not over it.

The pages are kept as screenshots in test-artifacts/screenshots/ (print-pdf-*.png,
print-void-pdf-*.png, report-pdf-*.png). Skips without pdftoppm (see tests/pdf_reading.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import coincurve
import pytest
from pdf_reading import qr_codes, rasterise
from PIL import Image, ImageChops

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_invoice_pdf import HOSPITAL, invoice, voided
from test_report_exports import report

from ledger.adapters.invoice_pdf import render_invoice_pdf
from ledger.adapters.report_pdf import render_report_pdf
from ledger.hashing import keccak256
from ledger.qr import QrDomain, checksum_address, decode_qr

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DOMAIN = QrDomain(chain_id=31337, verifying_contract="0x" + "5a" * 20)   # as test_invoice_pdf.invoice signs
HOSPITAL_KEY = checksum_address(keccak256(
    coincurve.PrivateKey(keccak256(b"pdf test key")).public_key.format(compressed=False)[1:])[12:])


def _verifies(text: str) -> bool:
    return decode_qr(text).signer(DOMAIN) == HOSPITAL_KEY


@pytest.mark.parametrize("dpi", [100, 150, 300])
def test_the_printed_qr_code_reads_back_and_verifies(dpi: int) -> None:
    doc, lines = invoice(12)
    pdf = render_invoice_pdf(doc, lines, hospital_name=HOSPITAL)
    pages = rasterise(pdf, dpi=dpi, save_as=SHOTS / "print-pdf" if dpi == 150 else None)
    assert len(pages) == 1 and abs(pages[0].size[0] - 210 / 25.4 * dpi) <= 1    # A4 wide
    assert qr_codes(pages[0]) == [doc["qr"]] and _verifies(doc["qr"])


def test_a_void_invoice_prints_its_stamp_on_every_page_and_keeps_its_qr_code_readable() -> None:
    doc, lines = invoice(70)
    pdf = render_invoice_pdf(voided(doc), lines, hospital_name=HOSPITAL)
    pages = rasterise(pdf, dpi=150, grey=False, save_as=SHOTS / "print-void-pdf")
    assert len(pages) >= 2
    assert qr_codes(pages[0].convert("L")) == [doc["qr"]]      # a verifier then says "voided"
    plain = rasterise(render_invoice_pdf(doc, lines, hospital_name=HOSPITAL), dpi=150, grey=False)
    for stamped, unstamped in zip(pages, plain, strict=True):   # the red stamp across the middle of every page
        assert _red(stamped) > 5_000 and _red(unstamped) == 0


def _red(page: Image.Image) -> int:
    """Pixels in the middle of ``page`` that are clearly red (the stamp; the invoice itself is black and grey)."""
    w, h = page.size
    r, g, _ = page.crop((w // 4, h // 3, 3 * w // 4, 2 * h // 3)).split()
    redness = ImageChops.subtract(r, g)                          # max(r - g, 0)
    return sum(redness.histogram()[60:])


def test_the_monthly_report_prints_its_chinese() -> None:
    pages = rasterise(render_report_pdf(report()), dpi=100, save_as=SHOTS / "report-pdf")
    assert pages and all(p.size[0] > p.size[1] for p in pages)    # landscape
