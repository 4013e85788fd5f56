"""The invoice feed's HTTP client (a payer's mirror, ``ebill serve --mirror-from``) turns every
answer that is not a page of batches into a LedgerError, which the mirror's loop logs and
retries: a proxy's error page with status 200, cut JSON, or JSON of another shape would
otherwise end the mirror's thread, and the payer would see no new invoice until a restart."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ledger.adapters.feed_client import HttpBatchFeed
from ledger.errors import LedgerError

BATCH = {"root": "0x" + "11" * 32, "anchoredBlock": 7, "invoices": []}


def _feed(status: int, body: bytes, content_type: str = "application/json") -> HttpBatchFeed:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer t0ken"
        return httpx.Response(status, content=body, headers={"Content-Type": content_type})

    client = httpx.Client(base_url="http://platform", transport=httpx.MockTransport(answer))
    return HttpBatchFeed("http://platform", token="t0ken", client=client)


@pytest.mark.parametrize(("body", "content_type", "said"), [
    (b"<html><body>502 Bad Gateway</body></html>", "text/html", "without a page of batches"),
    (b'{"batches": [{"root": "0x11', "application/json", "without a page of batches"),     # cut short
    (b'{"items": []}', "application/json", "without a page of batches"),
    (b'[1, 2]', "application/json", "without a page of batches"),
    (b'{"batches": {"root": "0x11"}}', "application/json", "not a list of objects"),
    (b'{"batches": [1]}', "application/json", "not a list of objects"),
])
def test_a_200_that_is_not_a_page_of_batches_is_a_ledger_error(body: bytes, content_type: str, said: str) -> None:
    with pytest.raises(LedgerError, match=said):
        _feed(200, body, content_type).page(after=None, limit=4)


@pytest.mark.parametrize(("status", "body", "expected"), [
    (200, b'{"batches": []}', []),
    (200, b'{"batches": [{"root": "0x' + b"11" * 32 + b'", "anchoredBlock": 7, "invoices": []}]}', [BATCH]),
])
def test_a_page_of_batches_is_returned(status: int, body: bytes, expected: list[dict[str, Any]]) -> None:
    assert _feed(status, body).page(after="7:0x" + "11" * 32, limit=4) == expected


def test_another_status_is_a_ledger_error() -> None:
    with pytest.raises(LedgerError, match="answered 503"):
        _feed(503, b'{"title": "unavailable"}').page(after=None, limit=4)
