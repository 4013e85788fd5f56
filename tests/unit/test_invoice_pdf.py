"""ledger.adapters.invoice_pdf: the printable PDF invoice, read back with pypdf and zxing-cpp.

There is no PDF rasteriser here, so the QR code is checked by rasterising exactly the
rectangles the PDF draws in its QR form XObject and decoding that image with zxing-cpp.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
import zxingcpp
from PIL import Image, ImageDraw
from pypdf import PdfReader
from pypdf.generic import ContentStream

from ledger.adapters.invoice_html import yuan
from ledger.adapters.invoice_pdf import QR_FORM, render_invoice_pdf
from ledger.hashing import Fingerprint, keccak256
from ledger.qr import InvoiceSeal, QrDomain, sign_seal

HOSPITAL = "浙江省人民医院"
NAMES = ["急诊诊查费", "一次性使用无菌注射器(带针) 5ml", "阿莫西林胶囊 0.25g*24粒", "血常规 (五分类)",
         "<b>bold</b> & 'quotes'", "CT 平扫 (头颅)"]


def invoice(n: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An invoice of ``n`` fee lines in the API shapes (GET /v1/invoices/{fp} and its fee lines)."""
    lines = [{"seq": i + 1, "itemCode": f"0011020000{i:05d}-110200005", "itemName": f"{NAMES[i % len(NAMES)]} #{i + 1}",
              "category": "ABC"[i % 3], "quantity": str(1 + i % 4), "unit": "次", "unitPriceFen": 1234 + i,
              "amountFen": (1234 + i) * (1 + i % 4), "serviceDate": "2024-03-05"} for i in range(n)]
    total = sum(li["amountFen"] for li in lines)
    fp = Fingerprint(keccak256(f"pdf invoice {n}".encode()))
    seal = InvoiceSeal(issuer="H33010200001", invoice_code="33060124", invoice_number="0001234567",
                       issue_date="2024-03-05", total_fen=total, fingerprint=fp)
    qr = sign_seal(seal, private_key=keccak256(b"pdf test key"),
                   domain=QrDomain(chain_id=31337, verifying_contract="0x" + "5a" * 20)).encode()
    doc = {"issuer": "H33010200001", "invoiceCode": "33060124", "invoiceNumber": "0001234567", "checkCode": "Na4NnN",
           "issuedAt": "2024-03-05T10:00:00+08:00", "visitType": "inpatient", "totalFen": total,
           "fundPaidFen": 1000, "accountPaidFen": 0, "cashPaidFen": total - 1000, "state": "anchored", "qr": qr,
           "fingerprint": "0x" + fp.hex(), "feeLinesRoot": "0x" + "ab" * 32}
    return doc, lines


def qr_from_pdf(pdf: bytes, *, px: float = 4.0) -> list[str]:
    """Rasterise the filled rectangles of page 1's QR form XObject and decode them with zxing-cpp."""
    reader = PdfReader(io.BytesIO(pdf))
    xobjects = reader.pages[0]["/Resources"]["/XObject"]
    form = next(v.get_object() for k, v in xobjects.items() if k.endswith(QR_FORM))
    _, _, width, height = (float(x) for x in form["/BBox"])
    image = Image.new("L", (round(width * px), round(height * px)), 128)  # grey: anything unpainted shows
    draw = ImageDraw.Draw(image)
    fill, pending = 0, []
    for operands, op in ContentStream(form, reader).operations:
        if op == b"rg":
            fill = round(255 * sum(float(c) for c in operands) / 3)
        elif op == b"g":
            fill = round(255 * float(operands[0]))
        elif op == b"re":
            pending.append([float(v) for v in operands])
        elif op in (b"f", b"f*", b"F", b"B", b"B*"):
            for x, y, w, h in pending:
                draw.rectangle([x * px, (height - y - h) * px, (x + w) * px - 1, (height - y) * px - 1], fill=fill)
            pending = []
        elif op == b"n":
            pending = []
    return [c.text for c in zxingcpp.read_barcodes(image) if c.format == zxingcpp.BarcodeFormat.QRCode]


def pages_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_the_qr_code_in_the_pdf_decodes_to_the_seal() -> None:
    doc, lines = invoice(5)
    assert qr_from_pdf(render_invoice_pdf(doc, lines, hospital_name=HOSPITAL)) == [doc["qr"]]


def test_typical_invoice_shows_header_every_fee_line_and_the_total_on_its_last_page() -> None:
    doc, lines = invoice(85)
    pdf = render_invoice_pdf(doc, lines, hospital_name=HOSPITAL)
    assert pdf.startswith(b"%PDF-")
    texts = pages_text(pdf)
    text = "\n".join(texts)
    for value in ("医疗收费电子票据", HOSPITAL, "H33010200001", "33060124", "0001234567", "Na4NnN", "住院 inpatient",
                  doc["fingerprint"], "anchored on chain"):
        assert value in text, value
    for li in lines:
        assert li["itemName"] in text, li["itemName"]     # escaped for reportlab, read back as written
        assert li["itemCode"] in text
    total = yuan(doc["totalFen"])
    assert "Total 合计 (85 fee lines)" in texts[-1] and total in texts[-1]
    assert all(f"page {i} of {len(texts)}" in t for i, t in enumerate(texts, 1))


def test_a_long_invoice_runs_over_many_pages_in_line_order_with_the_column_header_on_each() -> None:
    doc, lines = invoice(400)
    texts = pages_text(render_invoice_pdf(doc, lines, hospital_name=HOSPITAL))
    assert len(texts) >= 5
    assert all("Item 项目名称" in t and "Amount 金额" in t for t in texts)
    assert all(f"page {i} of {len(texts)}" in t for i, t in enumerate(texts, 1))
    assert "Total 合计" not in "".join(texts[:-1]) and "Total 合计 (400 fee lines)" in texts[-1]
    seen = [li["itemCode"] for t in texts for li in lines if li["itemCode"] in t]
    assert seen == [li["itemCode"] for li in lines]        # every line once, pages in order


def test_rendering_is_deterministic() -> None:
    doc, lines = invoice(30)
    assert render_invoice_pdf(doc, lines, hospital_name=HOSPITAL) == render_invoice_pdf(
        doc, lines, hospital_name=HOSPITAL)


@pytest.mark.parametrize("name", ["</para><font size=40>x</font>", "a & b < c > d", "<unknown-tag/>", "&amp;"])
def test_item_names_cannot_inject_markup(name: str) -> None:
    doc, lines = invoice(2)
    lines[0]["itemName"] = name
    assert name in "".join(pages_text(render_invoice_pdf(doc, lines, hospital_name="<b>医院</b>")))
