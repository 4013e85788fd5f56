"""ledger.invoice_search: a search is parsed once, each broken field named."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.errors import InvalidInput
from ledger.invoice_search import InvoiceOrder, InvoiceSearch
from ledger.records import InvoiceState

FP = "0x" + "0f" * 32


@pytest.mark.parametrize(("given", "expected"), [
    ({}, InvoiceSearch()),
    ({"state": "voided"}, InvoiceSearch(state=InvoiceState.VOIDED)),
    ({"number": "0001234567"}, InvoiceSearch(number="0001234567")),
    ({"number": "1234567"}, InvoiceSearch(number="0001234567")),          # leading zeros left out
    ({"number": " 42 "}, InvoiceSearch(number="0000000042")),
    ({"number": "0"}, InvoiceSearch(number="0000000000")),
    ({"issued_from": "2024-02-29", "issued_to": "2024-02-29"},
     InvoiceSearch(issued_from="2024-02-29", issued_to="2024-02-29")),
    ({"issued_to": "2024-12-31"}, InvoiceSearch(issued_to="2024-12-31")),
    ({"order": "newest", "after": FP.upper().replace("0X", "0x"), "limit": 1000},
     InvoiceSearch(order=InvoiceOrder.NEWEST, after=bytes.fromhex("0f" * 32), limit=1000)),
    ({"order": "fingerprint", "limit": 1}, InvoiceSearch(limit=1)),
])
def test_parse(given: dict[str, Any], expected: InvoiceSearch) -> None:
    assert InvoiceSearch.parse(**given) == expected


@pytest.mark.parametrize(("given", "fields"), [
    ({"state": "pending"}, ["state"]),
    ({"number": ""}, ["number"]),
    ({"number": "12a"}, ["number"]),
    ({"number": "12345678901"}, ["number"]),
    ({"number": "１２３"}, ["number"]),                        # full-width digits are not ASCII digits
    ({"issued_from": "2023-02-29"}, ["issuedFrom"]),          # not a leap year
    ({"issued_from": "2024-1-5"}, ["issuedFrom"]),
    ({"issued_to": "20240105"}, ["issuedTo"]),
    ({"issued_to": "2024-W01-1"}, ["issuedTo"]),                # an ISO week date is not a day as printed
    ({"issued_from": "2024-01-05\n"}, ["issuedFrom"]),
    ({"issued_from": "2024-03-02", "issued_to": "2024-03-01"}, ["issuedTo"]),
    ({"order": "oldest"}, ["order"]),
    ({"after": "0x12"}, ["after"]),
    ({"after": FP[2:]}, ["after"]),
    ({"limit": 0}, ["limit"]),
    ({"limit": 1001}, ["limit"]),
    ({"state": "x", "number": "y", "issued_from": "z", "order": "w", "limit": -1},   # every one named
     ["state", "order", "number", "issuedFrom", "limit"]),
])
def test_every_broken_field_is_named(given: dict[str, Any], fields: list[str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        InvoiceSearch.parse(**given)
    assert [p.field for p in caught.value.problems] == fields
