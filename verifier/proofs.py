"""Where a verifier gets inclusion proofs: the issuing service's public endpoint, or a file.

A proof is only a claim until :func:`verifier.online.check_online` checks it against the
chain, so its source need not be trusted; it must only be configured by the verifier,
never taken from the payload (a QR payload holds no URL).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from ledger.errors import ChainUnavailable, InvalidInput
from ledger.hashing import Fingerprint, to_hex
from ledger.proofdoc import InvoiceInclusion


class HttpProofSource:
    """``GET {base}/v1/proofs/{fingerprint}`` of an ebill-ledger service (no credential needed)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def inclusion(self, fingerprint: Fingerprint) -> InvoiceInclusion | None:
        try:
            r = self._client.get(f"/v1/proofs/{to_hex(fingerprint)}")
        except httpx.HTTPError as exc:
            raise ChainUnavailable(f"cannot reach the proof service: {exc}") from exc
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise ChainUnavailable(f"the proof service answered {r.status_code}: {r.text[:200]}")
        return InvoiceInclusion.from_json(r.json())


class FileProofSource:
    """Proof documents saved by ``ebill proof --json`` (one file, or a folder of them)."""

    def __init__(self, path: Path) -> None:
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        self._docs: dict[bytes, InvoiceInclusion] = {}
        for f in files:
            try:
                doc = InvoiceInclusion.from_json(json.loads(f.read_text()))
            except (ValueError, InvalidInput):
                continue  # not a proof document: ignored, so a folder may hold other files
            self._docs[bytes(doc.fingerprint)] = doc

    def inclusion(self, fingerprint: Fingerprint) -> InvoiceInclusion | None:
        return self._docs.get(bytes(fingerprint))
