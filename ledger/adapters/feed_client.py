"""The invoice feed of another ebill-ledger service, over HTTP (``GET /v1/feed/batches``).

The adapter behind :class:`~ledger.ports.BatchFeed` for a payer's mirror
(:class:`~ledger.app.mirror.InvoiceMirror`): it fetches pages with the payer's
credential and translates transport failures, and answers that are not a page of batches
(a proxy's error page with status 200), into the error tree: the mirror's loop retries
those, where anything else would end its thread. It checks nothing else of what it
fetched: the mirror trusts none of it.
"""

from __future__ import annotations

from typing import Any

import httpx

from ledger.errors import LedgerError


class HttpBatchFeed:
    """Pages of anchored batches from ``source`` (an ebill-ledger service's base URL)."""

    def __init__(self, source: str, *, token: str, client: httpx.Client | None = None) -> None:
        self.source = source.rstrip("/")
        self._client = client or httpx.Client(base_url=self.source, timeout=60)
        self._client.headers["Authorization"] = f"Bearer {token}"

    def page(self, *, after: str | None, limit: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        try:
            r = self._client.get("/v1/feed/batches", params=params)
        except httpx.HTTPError as exc:
            raise LedgerError(f"the invoice feed at {self.source} did not answer: {exc}") from exc
        if r.status_code != 200:
            raise LedgerError(f"the invoice feed at {self.source} answered {r.status_code}: {r.text[:300]}")
        try:
            batches = r.json()["batches"]
        except (ValueError, KeyError, TypeError) as exc:   # not JSON (a proxy's error page), or no batches in it
            raise LedgerError(f"the invoice feed at {self.source} answered 200 without a page of batches: "
                              f"{r.text[:200]!r}") from exc
        if not isinstance(batches, list) or not all(isinstance(b, dict) for b in batches):
            raise LedgerError(f"the invoice feed at {self.source} answered 200 with batches that are not a list "
                              f"of objects: {r.text[:200]!r}")
        return batches
