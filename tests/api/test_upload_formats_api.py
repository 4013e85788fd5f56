"""Uploads in the HIS export formats through HTTP: CSV pair (multipart), flat CSV, FHIR bundle.

The same invoices in any format are the same invoices: uploading them again in another
format stores nothing new (duplicates), and rejected items name the CSV row and column.
"""

from __future__ import annotations

import copy
import io

import orjson
from api_stack import Stack

from ledger.formats.fhir import to_fhir_bundle
from ledger.formats.his_csv_write import CsvPairWriter, FlatCsvWriter


def _pair(docs: list[dict], money: str = "fen") -> tuple[bytes, bytes]:
    inv, lines = io.StringIO(), io.StringIO()
    w = CsvPairWriter(inv, lines, money=money)  # type: ignore[arg-type]
    for d in docs:
        w.write(d)
    return inv.getvalue().encode(), lines.getvalue().encode()


def test_csv_pair_then_the_same_invoices_as_fhir_and_flat_csv(stack: Stack) -> None:
    docs = stack.docs["a"][:5]
    inv, lines = _pair(docs, money="yuan")
    r = stack.client.post("/v1/invoices", headers=stack.auth("a"), files={
        "invoices": ("invoices.csv", inv, "text/csv"), "fee_lines": ("fee_lines.csv", lines, "text/csv")})
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["created"] == 5
    first = {i["invoice"]["invoiceNumber"]: i["invoice"]["fingerprint"] for i in r.json()["items"]}

    bundle = orjson.dumps(to_fhir_bundle(docs))
    r = stack.client.post("/v1/invoices", content=bundle, headers={**stack.auth("a"),
                                                                    "Content-Type": "application/fhir+json"})
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["duplicate"] == 5
    assert {i["invoice"]["invoiceNumber"]: i["invoice"]["fingerprint"] for i in r.json()["items"]} == first

    flat = io.StringIO()
    w = FlatCsvWriter(flat)
    for d in docs:
        w.write(d)
    r = stack.client.post("/v1/invoices", content=flat.getvalue().encode("gb18030"),
                          headers={**stack.auth("a"), "Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["duplicate"] == 5
    assert stack.service.store.counts()["invoices"] == 5


def test_csv_problems_name_the_row_and_column(stack: Stack) -> None:
    docs = copy.deepcopy(stack.docs["a"][:3])
    docs[1]["feeLines"][1]["amountFen"] += 7
    inv, lines = _pair(docs)
    r = stack.client.post("/v1/invoices", headers=stack.auth("a"), files={
        "invoices": ("invoices.csv", inv, "text/csv"), "fee_lines": ("fee_lines.csv", lines, "text/csv")})
    items = r.json()["items"]
    assert [i["status"] for i in items] == ["created", "rejected", "created"]
    problem = items[1]["problems"][0]
    assert problem["field"] == "feeLines[1].amountFen"
    assert "fee_lines.csv row" in problem["source"] and "amount" in problem["source"]


def test_a_broken_upload_as_a_whole_is_refused_and_stores_nothing(stack: Stack) -> None:
    inv, lines = _pair(stack.docs["a"][:3])
    broken = lines.replace(b"item_code", b"itemcode", 1)       # a missing required column
    r = stack.client.post("/v1/invoices", headers=stack.auth("a"), files={
        "invoices": ("invoices.csv", inv, "text/csv"), "fee_lines": ("fee_lines.csv", broken, "text/csv")})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert stack.service.store.counts()["invoices"] == 0
    bad_bundle = orjson.dumps({"resourceType": "Bundle", "type": "collection",
                               "entry": [{"resource": {"resourceType": "Invoice", "status": "bogus"}}]})
    r = stack.client.post("/v1/invoices", content=bad_bundle, headers={**stack.auth("a"),
                                                                        "Content-Type": "application/fhir+json"})
    assert r.status_code in (200, 422)
    if r.status_code == 200:
        assert r.json()["items"][0]["status"] == "rejected"
    assert stack.service.store.counts()["invoices"] == 0


def test_a_key_given_twice_is_refused_not_guessed(stack: Stack) -> None:
    doc = stack.docs["a"][0]
    line = orjson.dumps(doc["feeLines"][3])
    raw = orjson.dumps(doc).replace(line, line[:-1] + b',"amountFen":0}', 1)
    r = stack.client.post("/v1/invoices", content=raw, headers={**stack.auth("a"), "Content-Type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [("upload.json: feeLines[3].amountFen",
                                                                     "duplicate-key")]
    body = orjson.dumps(stack.docs["a"][1]) + b"\n" + raw + b"\n"
    r = stack.client.post("/v1/invoices", content=body, headers={**stack.auth("a"),
                                                                 "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["counts"] == {"created": 1, "rejected": 1, "duplicate": 0, "conflict": 0}
    assert r.json()["items"][1]["problems"][0]["field"] == "upload.ndjson line 2: feeLines[3].amountFen"
    assert stack.service.store.counts()["invoices"] == 1  # the ambiguous invoice was not stored
