"""The printable invoice in chromium against a real ``ebill serve``: the HTML print view laid out on
A4 and its QR code read back with zxing-cpp (on screen at 96 dpi, at print scaling, and from
chromium's own PDF rasterised by pdftoppm) and verified by the service; the longest invoice over
several pages with every date printed; a voided invoice stamped 作废 VOID on every page; the PDF
the service draws, rasterised the same way.

Screenshots (test-artifacts/screenshots/): print-view-a4-96dpi, print-view-a4-2x, print-view-phone,
print-view-320-large, print-view-desktop, print-void-a4, print-chromium-pdf-N,
print-void-chromium-pdf-N, print-service-pdf-N, print-void-service-pdf-N.
"""

from __future__ import annotations

import io
import re
import time
from typing import Any

import pytest
from browser_support import DESKTOP, SHOTS, Deployment, shoot
from pdf_reading import pages_text, qr_codes, rasterise
from PIL import Image
from pypdf import PdfReader

#: A4 at 96 CSS px per inch: the page, and the line between 14 mm margins (182 mm)
A4_PX = {"width": 794, "height": 1123}
LINE_PX = 182 / 25.4 * 96
PHONE_390 = {"width": 390, "height": 844}
NARROW = {"width": 320, "height": 640}


def _auditor(d: Deployment) -> dict[str, str]:
    return {"Authorization": f"Bearer {d.tokens['auditor']}"}


def _invoice(d: Deployment, fp: str) -> dict[str, Any]:
    r = d.http("GET", f"/v1/invoices/{fp}", d.tokens["auditor"])
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _longest(d: Deployment) -> dict[str, Any]:
    """The live invoice with the most fee lines (the seed's are drawn freely: some run over a page)."""
    docs = [_invoice(d, fp) for fp in d.invoices]
    return max((x for x in docs if x["state"] == "anchored"), key=lambda x: x["feeLineCount"])


def _voided(d: Deployment) -> dict[str, Any]:
    """chen's last invoice, voided by the hospital while the deployment was seeded (once the chain has it)."""
    fp = d.citizens["chen"].fingerprints[-1]
    deadline = time.monotonic() + 60
    while (inv := _invoice(d, fp))["state"] != "voided":
        assert time.monotonic() < deadline, f"the void of {fp} did not reach the chain: {inv.get('void')}"
        time.sleep(0.2)
    return inv


def _verdict(d: Deployment, payload: str) -> str:
    r = d.http("POST", "/v1/verify", json={"payload": payload})
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


def _screenshot(page: Any, name: str) -> Image.Image:
    shoot(page, name, full_page=True)
    return Image.open(SHOTS / f"{name}.png").convert("L")


def _open(page: Any, d: Deployment, fp: str) -> None:
    page.set_extra_http_headers(_auditor(d))
    r = page.goto(f"/v1/invoices/{fp}/print")
    assert r is not None and r.status == 200


def _fits_the_line(page: Any) -> None:
    """Laid out for print on the 182 mm line: nothing wider, and no cell's text cut off (the date column was)."""
    page.set_viewport_size({"width": round(LINE_PX), "height": 1000})
    page.emulate_media(media="print")
    found = page.evaluate("""() => {
      const right = (el) => el.getBoundingClientRect().right;
      const cells = [...document.querySelectorAll('th, td')];
      return {width: document.documentElement.scrollWidth, table: right(document.querySelector('table')),
              lastColumn: Math.max(...[...document.querySelectorAll('tr > :last-child')].map(right)),
              clipped: cells.filter((c) => c.scrollWidth > c.clientWidth + 1).map((c) => c.textContent)};
    }""")
    assert found["width"] <= round(LINE_PX) and found["table"] <= LINE_PX + 1, found
    assert found["lastColumn"] <= LINE_PX + 1 and found["clipped"] == [], found


def test_the_print_view_qr_code_scans_on_screen_in_print_and_in_chromiums_pdf(
        page_for: Any, browser: Any, deployment: Deployment) -> None:
    d = deployment
    inv = _longest(d)
    fp, qr = inv["fingerprint"], inv["qr"]
    assert _verdict(d, qr) == "anchored"
    page = page_for(A4_PX)
    _open(page, d, fp)
    # on screen and printed at 96 dpi (34 mm: 2.3 px a module), the whole symbol, not its top-left corner
    page.emulate_media(media="print")
    assert qr_codes(_screenshot(page, "print-view-a4-96dpi")) == [qr]
    box = page.locator(".qr svg").bounding_box()
    assert abs(box["width"] - 34 / 25.4 * 96) < 1 and box["width"] == box["height"]
    _fits_the_line(page)
    # at print scaling (2 device pixels a CSS pixel: 192 dpi)
    ctx = browser.new_context(viewport=A4_PX, device_scale_factor=2, base_url=d.url, extra_http_headers=_auditor(d))
    try:
        hi = ctx.new_page()
        assert hi.goto(f"/v1/invoices/{fp}/print").status == 200
        hi.emulate_media(media="print")
        assert qr_codes(_screenshot(hi, "print-view-a4-2x")) == [qr]
        # chromium's own print to PDF on A4, rasterised at 150 dpi as a printer would
        pdf = hi.pdf(format="A4", prefer_css_page_size=True, print_background=True)
    finally:
        ctx.close()
    pages = rasterise(pdf, dpi=150, save_as=SHOTS / "print-chromium-pdf")
    assert qr_codes(pages[0]) == [qr] and _verdict(d, qr_codes(pages[0])[0]) == "anchored"
    reader = PdfReader(io.BytesIO(pdf))
    assert all(round(float(p.mediabox.width)) == 595 and round(float(p.mediabox.height)) == 842 for p in reader.pages)
    text = "\n".join(pages_text(pdf))
    dates = re.findall(r"\b20\d\d-\d\d-\d\d\b(?!T)", text)
    # every fee line's date is printed (the issue date in the header is a timestamp: "…T…", not counted)
    assert len(dates) == inv["feeLineCount"], (len(dates), inv["feeLineCount"])
    if inv["feeLineCount"] > 30:
        assert len(pages) >= 2 and all("Item code" in t for t in pages_text(pdf))   # the column header repeats


def test_the_print_view_at_phone_and_desktop_sizes(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    inv = _longest(d)
    for size, name, zoom in ((PHONE_390, "print-view-phone", 1.0), (NARROW, "print-view-320-large", 1.5),
                             (DESKTOP, "print-view-desktop", 1.0)):
        page = page_for(size)
        _open(page, d, inv["fingerprint"])
        if zoom != 1.0:     # large text: the page zoomed as a phone's text-size setting does
            page.evaluate(f"document.documentElement.style.zoom = '{zoom}'")
        # nothing spills out of the page sideways but the fee table, which scrolls in its own box
        found = page.evaluate("""() => ({page: document.documentElement.scrollWidth,
                                         view: document.documentElement.clientWidth,
                                         lines: getComputedStyle(document.querySelector('.lines')).overflowX})""")
        assert found["page"] <= found["view"] + 1 and found["lines"] == "auto", found
        image = _screenshot(page, name)
        if size is not NARROW:          # the QR code is drawn whole at every size
            assert qr_codes(image) == [inv["qr"]], name


def test_a_voided_invoice_prints_void_and_its_date_on_every_page(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    inv = _voided(d)
    fp, qr = inv["fingerprint"], inv["qr"]
    page = page_for(A4_PX)
    _open(page, d, fp)
    page.emulate_media(media="print")
    stamp = page.locator(".void")
    assert stamp.inner_text().split("\n")[0] == "作废 VOID"
    assert re.fullmatch(r"voided 作废于 \d{4}-\d\d-\d\d · Refunded 退费", stamp.locator("span").inner_text())
    day = stamp.locator("span").inner_text().split()[2]
    assert qr_codes(_screenshot(page, "print-void-a4")) == [qr] and _verdict(d, qr) == "voided"
    pdf = page.pdf(format="A4", prefer_css_page_size=True, print_background=True)
    pages = rasterise(pdf, dpi=150, save_as=SHOTS / "print-void-chromium-pdf")
    assert qr_codes(pages[0]) == [qr]
    assert all("作废 VOID" in t and day in t for t in pages_text(pdf))   # the fixed stamp prints on every page


@pytest.mark.parametrize("which", ["longest", "voided"])
def test_the_service_pdf_prints_a_qr_code_that_verifies(deployment: Deployment, which: str) -> None:
    d = deployment
    inv = _longest(d) if which == "longest" else _voided(d)
    r = d.http("GET", f"/v1/invoices/{inv['fingerprint']}/print.pdf", d.tokens["auditor"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    name = "print-service-pdf" if which == "longest" else "print-void-service-pdf"
    pages = rasterise(r.content, dpi=150, save_as=SHOTS / name)
    (payload,) = qr_codes(pages[0])
    assert payload == inv["qr"] and _verdict(d, payload) == ("anchored" if which == "longest" else "voided")
    text = "\n".join(pages_text(r.content))
    assert "\ufffd" not in text and "医疗收费电子票据 · Medical e-invoice" in text
    assert ("作废 VOID" in text) is (which == "voided")
