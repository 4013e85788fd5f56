"""ledger.adapters.invoice_pdf: the printable PDF invoice, read back with pypdf and zxing-cpp.

Here the QR code is checked by rasterising exactly the rectangles the PDF draws in its QR
form XObject and decoding that image with zxing-cpp; tests/integration/test_print_raster.py
rasterises whole pages with poppler, as a printer would. Also: the embedded font (a
subset, text extracted as written, "·" included), item codes kept inside their column,
and the void stamp.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
import zxingcpp
from pdf_reading import SUBSET, fonts, pages_text, runs
from PIL import Image, ImageDraw
from pypdf import PdfReader
from pypdf.generic import ContentStream
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth

from ledger.adapters.invoice_html import yuan
from ledger.adapters.invoice_pdf import CODE_SIZE, QR_FORM, render_invoice_pdf
from ledger.adapters.invoice_print import COLUMNS
from ledger.adapters.pdf_fonts import FONT_ENV, MONO
from ledger.adapters.pdf_parts import MARGIN
from ledger.errors import PdfFontUnavailable
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
    assert all("Item\n项目名称" in t and "Amount\n 金额" in t for t in texts)
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


def voided(doc: dict[str, Any], *, at: str = "2024-03-06T17:30:00Z", state: str = "voided") -> dict[str, Any]:
    """``doc`` voided by its hospital at ``at`` (UTC: 01:30 the next day in China) for a refund."""
    return {**doc, "state": "voided" if state == "voided" else doc["state"],
            "void": {"reasonCode": "refund", "reason": "退费", "requestedAt": at, "state": state}}


def test_the_cjk_font_is_embedded_as_a_subset_and_so_is_every_font_the_pages_use() -> None:
    doc, lines = invoice(30)
    found = fonts(render_invoice_pdf(doc, lines, hospital_name=HOSPITAL))
    used = [f for f in found if f.used]
    assert {f.name.split("+", 1)[1] for f in used} == {"WenQuanYiMicroHei-0", "WenQuanYiMicroHeiMono-1"}
    assert all(f.embedded == "/FontFile2" and SUBSET.match(f.name) for f in used), used
    assert all(f.embedded for f in found), found       # not even an unused font left for the viewer to supply
    assert not any("STSong" in f.name for f in found)


def test_text_comes_back_as_written_middle_dot_and_chinese_included() -> None:
    doc, lines = invoice(6)
    texts = pages_text(render_invoice_pdf(doc, lines, hospital_name=HOSPITAL))
    text = "\n".join(texts)
    assert "\ufffd" not in text
    assert "医疗收费电子票据 · Medical e-invoice" in text                               # the title
    assert f"33060124/0001234567 · {HOSPITAL} · fingerprint {doc['fingerprint']}" in texts[-1]   # the footer
    assert all(li["itemName"] in text for li in lines) and "乙类 B" in text and "第 1 页 共 1 页" in text


@pytest.mark.parametrize("code", [
    "C14020100100000000000000009",              # 27 characters, no break in it (a consumable's code)
    "XJ01CAA040A001010104465-ABC",              # 27 with a hyphen
    "001102000010000-110200001",                # 25, the service items' form
])
def test_long_item_codes_stay_inside_their_column_on_one_line(code: str) -> None:
    assert len(code) <= 27
    doc, lines = invoice(3)
    lines[1]["itemCode"] = code
    pdf = render_invoice_pdf(doc, lines, hospital_name=HOSPITAL)
    left = MARGIN + COLUMNS[0][1] * mm                  # the code column, between its 1.5 pt paddings
    right = left + COLUMNS[1][1] * mm
    drawn = [r for r in runs(pdf) if r.text.strip() == code]
    assert len(drawn) == 1, [r.text for r in runs(pdf)]
    (run,) = drawn
    assert run.size == CODE_SIZE and "Mono" in run.font
    assert left + 1.4 <= run.x and run.x + stringWidth(code, MONO, run.size) <= right - 1.4


def test_a_code_longer_than_its_column_wraps_inside_it() -> None:
    code = "C1402010010000000000000000912345678ABCDE"   # 40: the longest the format allows
    doc, lines = invoice(2)
    lines[0]["itemCode"] = code
    pdf = render_invoice_pdf(doc, lines, hospital_name=HOSPITAL)
    left = MARGIN + COLUMNS[0][1] * mm
    right = left + COLUMNS[1][1] * mm
    pieces = [r for r in runs(pdf) if "Mono" in r.font and r.text.strip() in code]
    assert "".join(r.text.strip() for r in pieces) == code and len(pieces) == 2       # two lines, in order
    assert all(left <= r.x and r.x + stringWidth(r.text.strip(), MONO, r.size) <= right for r in pieces)


def test_a_void_invoice_is_stamped_with_its_void_date_and_reason_on_every_page() -> None:
    doc, lines = invoice(70)
    texts = pages_text(render_invoice_pdf(voided(doc), lines, hospital_name=HOSPITAL))
    assert len(texts) >= 2
    for text in texts:
        assert "作废 VOID" in text and "voided 作废于 2024-03-07 · Refunded 退费" in text
    assert "Voided 作废日期" in texts[0] and "VOIDED (red-letter)" in texts[0]
    plain = "\n".join(pages_text(render_invoice_pdf(doc, lines, hospital_name=HOSPITAL)))
    assert "作废" not in plain and "VOID" not in plain


@pytest.mark.parametrize(("state", "header", "stamped"), [
    ("pending", "Void requested 申请作废", False),   # asked for, not yet on chain: said, not stamped
    ("failed", None, False),                         # the chain refused it: the invoice stands
])
def test_a_void_not_on_chain_is_not_stamped(state: str, header: str | None, stamped: bool) -> None:
    doc, lines = invoice(3)
    text = "\n".join(pages_text(render_invoice_pdf(voided(doc, state=state), lines, hospital_name=HOSPITAL)))
    assert ("作废 VOID" in text) is stamped
    assert (header is not None and header in text) or (header is None and "作废" not in text)


def test_without_its_font_printing_fails_saying_what_to_install(tmp_path: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    doc, lines = invoice(2)
    monkeypatch.setenv(FONT_ENV, str(tmp_path / "missing.ttc"))
    with pytest.raises(PdfFontUnavailable, match=r"missing\.ttc does not exist"):
        render_invoice_pdf(doc, lines, hospital_name=HOSPITAL)
    not_truetype = tmp_path / "font.otf"
    not_truetype.write_bytes(b"OTTO" + bytes(200))      # CFF outlines (Noto Sans CJK's): reportlab cannot embed them
    monkeypatch.setenv(FONT_ENV, str(not_truetype))
    with pytest.raises(PdfFontUnavailable, match="TrueType"):
        render_invoice_pdf(doc, lines, hospital_name=HOSPITAL)
    monkeypatch.delenv(FONT_ENV)
    assert render_invoice_pdf(doc, lines, hospital_name=HOSPITAL).startswith(b"%PDF-")
