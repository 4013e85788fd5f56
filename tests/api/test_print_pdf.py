"""GET /v1/invoices/{fp}/print.pdf and /print?format=pdf: the printable invoice as PDF, same access as /print."""

from __future__ import annotations

import copy
import io
from datetime import datetime

import pytest
from api_stack import Stack
from pypdf import PdfReader

from ledger.adapters.invoice_html import yuan
from ledger.adapters.pdf_fonts import FONT_ENV
from ledger.workdays import CHINA_TZ


def test_printable_pdf_invoice(stack: Stack) -> None:
    doc = copy.deepcopy(stack.docs["a"][2])
    doc["feeLines"][0]["itemName"] = "<script>alert(1)</script>阿莫西林"
    inv = stack.post_invoice("a", doc).json()["items"][0]["invoice"]
    fp = inv["fingerprint"]
    r = stack.client.get(f"/v1/invoices/{fp}/print.pdf", headers=stack.auth("a"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == f'inline; filename="{doc["invoiceCode"]}-{doc["invoiceNumber"]}.pdf"'
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    assert doc["invoiceNumber"] in text and yuan(doc["totalFen"]) in text and fp in text
    assert all(li["itemName"] in text for li in doc["feeLines"])
    same = stack.client.get(f"/v1/invoices/{fp}/print?format=pdf", headers=stack.auth("a"))
    assert same.status_code == 200 and same.content == r.content
    assert stack.client.get(f"/v1/invoices/{fp}/print", headers=stack.auth("a")).headers[
        "content-type"].startswith("text/html")
    # the same access rules as the HTML page: another hospital does not see it, nobody anonymous
    for path in (f"/v1/invoices/{fp}/print.pdf", f"/v1/invoices/{fp}/print?format=pdf"):
        assert stack.client.get(path, headers=stack.auth("b")).status_code == 404
        assert stack.client.get(path).status_code == 401
    assert stack.client.get(f"/v1/invoices/{fp}/print?format=doc", headers=stack.auth("a")).status_code == 422


def _voided(stack: Stack, index: int) -> dict:
    """One of hospital a's invoices, anchored and then voided on chain as a duplicate; its GET body."""
    stack.worker.drain()                                   # the hospital registered on chain
    fp = stack.post_invoice("a", copy.deepcopy(stack.docs["a"][index])).json()["items"][0]["invoice"]["fingerprint"]
    stack.worker.drain()
    r = stack.client.post(f"/v1/invoices/{fp}/void", json={"reasonCode": "duplicate"}, headers=stack.auth("a"))
    assert r.status_code == 202, r.text
    stack.worker.drain()
    inv = stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth("a")).json()
    assert inv["state"] == "voided" and inv["void"]["state"] == "voided"
    return inv


def test_a_voided_invoice_prints_void_with_its_date_in_html_and_pdf(stack: Stack) -> None:
    inv = _voided(stack, 3)
    fp = inv["fingerprint"]
    day = datetime.fromisoformat(inv["void"]["requestedAt"]).astimezone(CHINA_TZ).date().isoformat()
    words = f"voided 作废于 {day} · Duplicate invoice 重复开票"
    html = stack.client.get(f"/v1/invoices/{fp}/print", headers=stack.auth("a")).text
    assert f'<div class="void" role="note"><b>作废 VOID</b><span>{words}</span></div>' in html
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(
        stack.client.get(f"/v1/invoices/{fp}/print.pdf", headers=stack.auth("a")).content)).pages]
    assert all("作废 VOID" in t and words in t for t in pages)


def test_without_the_pdf_font_the_pdf_is_a_503_problem_and_the_html_page_still_prints(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = stack.post_invoice("a", copy.deepcopy(stack.docs["a"][4])).json()["items"][0]["invoice"]
    monkeypatch.setenv(FONT_ENV, "/nonexistent/font.ttc")
    for path in ("print.pdf", "print?format=pdf"):
        r = stack.client.get(f"/v1/invoices/{inv['fingerprint']}/{path}", headers=stack.auth("a"))
        assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/pdf-font-unavailable") and FONT_ENV in r.json()["detail"]
    assert stack.client.get(f"/v1/invoices/{inv['fingerprint']}/print", headers=stack.auth("a")).status_code == 200
