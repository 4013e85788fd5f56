"""What the printed invoice says (ledger.adapters.invoice_print) and the HTML page's structure (invoice_html).

Whether chromium lays the page out on A4 and the QR code scans is tests/browser/test_print.py's.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from test_invoice_pdf import HOSPITAL, invoice

from ledger.adapters.invoice_html import render_invoice
from ledger.adapters.invoice_print import COLUMNS, VoidNote, header_fields, void_note, yuan


@pytest.mark.parametrize(("fen", "text"), [
    (0, "¥0.00"), (5, "¥0.05"), (100, "¥1.00"), (123456789, "¥1,234,567.89"), (-1050, "-¥10.50"),
])
def test_yuan(fen: int, text: str) -> None:
    assert yuan(fen) == text


@pytest.mark.parametrize(("requested_at", "state", "expected"), [
    # China is UTC+8: 15:59:59 UTC is still that day there, 16:00 is the next
    ("2024-03-06T15:59:59Z", "voided", VoidNote("2024-03-06", "Refunded", "退费", True)),
    ("2024-03-06T16:00:00Z", "voided", VoidNote("2024-03-07", "Refunded", "退费", True)),
    ("2024-03-06T23:30:00+08:00", "voided", VoidNote("2024-03-06", "Refunded", "退费", True)),
    ("2024-12-31T16:30:00+00:00", "pending", VoidNote("2025-01-01", "Refunded", "退费", False)),
    ("2024-03-06T10:00:00Z", "failed", None),
])
def test_void_note_dates_the_void_in_china(requested_at: str, state: str, expected: VoidNote | None) -> None:
    doc = {"state": "voided" if state == "voided" else "anchored",
           "void": {"reasonCode": "refund", "requestedAt": requested_at, "state": state}}
    assert void_note(doc) == expected


def test_no_void_no_note_and_the_header_says_nothing_of_one() -> None:
    doc, _ = invoice(1)
    assert void_note(doc) is None and void_note({**doc, "void": None}) is None
    assert not any("oid" in k for k, _ in header_fields(doc, HOSPITAL))


def test_columns_fill_the_a4_line_with_room_for_the_item_name() -> None:
    fixed = sum(w for _, w in COLUMNS if w is not None)
    assert [w for _, w in COLUMNS].count(None) == 1 and 182 - fixed >= 40    # 210 mm less two 14 mm margins


def _page(doc: dict[str, Any], n: int = 3) -> str:
    _, lines = invoice(n)
    return render_invoice(doc, lines, hospital_name=HOSPITAL)


def test_the_qr_svg_scales_whole_into_its_box() -> None:
    doc, _ = invoice(1)
    page = _page(doc)
    svg = re.search(r"<svg[^>]*>", page).group(0)  # type: ignore[union-attr]
    assert re.search(r'viewBox="0 0 (\d+) \1"', svg) and 'width="' in svg
    assert ".qr svg { width: 34mm; height: 34mm;" in page


def test_the_fee_table_has_fixed_columns_adding_up_to_the_page() -> None:
    doc, _ = invoice(1)
    page = _page(doc)
    widths = {int(i): float(w) for i, w in re.findall(r'\.lines col:nth-child\((\d+)\)\{width:([0-9.]+)%\}', page)}
    assert sorted(widths) == list(range(1, len(COLUMNS) + 1)) and abs(sum(widths.values()) - 100) < 0.05
    assert page.count("<col>") == len(COLUMNS)
    # no style attribute: the hospital desk shows this page under the console's CSP, which drops them
    assert 'style="' not in page
    assert "table-layout: fixed" in page and "<th>Date<span>日期</span></th>" in page


def test_a_void_invoice_page_carries_the_stamp_and_a_live_one_does_not() -> None:
    doc, _ = invoice(1)
    void = {**doc, "state": "voided",
            "void": {"reasonCode": "duplicate", "requestedAt": "2024-03-06T02:00:00Z", "state": "voided"}}
    page = _page(void)
    assert '<div class="void" role="note"><b>作废 VOID</b><span>voided 作废于 2024-03-06 · ' in page
    assert "<title>作废 VOID · " in page and "Voided 作废日期" in page
    assert 'class="void"' not in _page(doc)


def test_values_are_escaped() -> None:
    doc, lines = invoice(1)
    lines[0]["itemName"] = "<script>alert(1)</script>"
    page = render_invoice(doc, lines, hospital_name="<b>医院</b>")
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "&lt;b&gt;医院" in page
