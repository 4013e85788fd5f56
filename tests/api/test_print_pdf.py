"""GET /v1/invoices/{fp}/print.pdf and /print?format=pdf: the printable invoice as PDF, same access as /print."""

from __future__ import annotations

import copy
import io

from api_stack import Stack
from pypdf import PdfReader

from ledger.adapters.invoice_html import yuan


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
