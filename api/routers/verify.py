"""``POST /v1/verify``: is this invoice genuine, anchored, not voided, and how much was paid?

Public, like the QR code it checks: a citizen, a payer's clerk or a commercial insurer
holding the paper invoice needs no account here. The body is the QR payload as JSON
(``{"payload": "EBILL:…"}``) or a photo of the invoice (``image/png``, ``image/jpeg``).

- offline: the seal's signature against the hospitals registry read from the chain
  (a snapshot, refreshed every few seconds and whenever a signer is unknown to it);
- online: the inclusion proof (from this service's store) checked against the batch
  root on chain, and void and reimbursement state read from the contract, not from
  this service's database.
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ServiceDep
from api.problems import UnsupportedMediaType
from api.routers.invoices import _PROBLEMS, _read_body
from ledger.errors import ChainUnavailable, InvalidInput, NotFound
from ledger.hashing import Fingerprint
from ledger.proofdoc import ChainRef, InvoiceInclusion

router = APIRouter(tags=["verify"])

MAX_IMAGE_BYTES = 8 * 2**20
SNAPSHOT_TTL = 5.0


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payload: str = Field(min_length=1, max_length=2000, description="the QR text, EBILL:…")


class _StoreProofs:
    """Inclusion proofs from this service's store (checked against the chain, so not trusted)."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def inclusion(self, fingerprint: Fingerprint) -> InvoiceInclusion | None:
        try:
            inv = self.service.store.invoice(fingerprint).invoice
        except NotFound:
            return None
        if inv.batch_root is None or inv.anchored_block is None:
            return None
        batch, _ = self.service.store.batch(inv.batch_root)
        domain = self.service.qr_domain
        return InvoiceInclusion(inv.fingerprint, inv.total_fen, inv.issuer, inv.batch_root,
                                tuple(batch.proof(inv.fingerprint).proof),
                                ChainRef(domain.chain_id, domain.verifying_contract, inv.anchored_tx,
                                         inv.anchored_block))


class RegistrySnapshots:
    """The registry snapshot, refreshed at most every ``SNAPSHOT_TTL`` seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: Any = None
        self._taken = 0.0

    def get(self, ledger: Any, *, fresh: bool = False) -> Any:
        from ledger.adapters.registry_export import export_snapshot

        with self._lock:
            if fresh or self._snapshot is None or time.monotonic() - self._taken > SNAPSHOT_TTL:
                self._snapshot = export_snapshot(ledger)
                self._taken = time.monotonic()
            return self._snapshot


def _chain(request: Request) -> Any:
    chain = getattr(request.app.state, "chain", None)
    if chain is None:
        raise ChainUnavailable("this service has no chain connection for verification (start it with `ebill serve`)")
    return chain


@router.post("/v1/verify", responses={**_PROBLEMS, 200: {"description": "the verdict"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": VerifyIn.model_json_schema()},
                 "image/png": {"schema": {"type": "string", "format": "binary"}},
                 "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}},
             summary="Verify an invoice from its QR payload or a photo: signature, anchor, void, reimbursement")
async def verify(request: Request, service: ServiceDep) -> dict[str, Any]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in ("image/png", "image/jpeg"):
        body = await _read_body(request, MAX_IMAGE_BYTES)
        payload = await run_in_threadpool(_decode_image, body)
    elif media == "application/json":
        body = await _read_body(request, 64 * 1024)
        try:
            payload = VerifyIn.model_validate_json(body).payload
        except ValueError as exc:
            raise InvalidInput.single("(body)", "json", f"expected {{\"payload\": \"EBILL:…\"}}: {exc}") from None
    else:
        raise UnsupportedMediaType("send application/json {\"payload\": …} or an image/png or image/jpeg photo")
    chain = _chain(request)
    return await run_in_threadpool(_verify, payload, service, chain, request.app.state.registry_snapshots)


def _decode_image(data: bytes) -> str:
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInput.single("(body)", "image", f"not a readable PNG/JPEG image: {exc}") from None
    codes = [c for c in zxingcpp.read_barcodes(image) if c.format == zxingcpp.BarcodeFormat.QRCode]
    if not codes:
        raise InvalidInput.single("(body)", "qr-not-found", "no QR code found in the image")
    return str(codes[0].text)


def _verify(payload: str, service: Any, chain: Any, snapshots: RegistrySnapshots) -> dict[str, Any]:
    from ledger.adapters.events import EventReader
    from verifier.online import check_online
    from verifier.seal_check import verify_offline

    offline = verify_offline(payload, snapshots.get(chain))
    if offline.status == "unknown-issuer" or offline.status == "tampered-or-forged":
        # a hospital registered (or a key added) in the last seconds: look again, once
        offline = verify_offline(payload, snapshots.get(chain, fresh=True))
    doc: dict[str, Any] = {"offline": offline.to_json(), "online": None}
    if not offline.valid or offline.seal is None:
        return {"valid": False, "status": offline.status, "reason": offline.reason, **doc}
    seal = offline.seal
    facts = check_online(fingerprint=seal.fingerprint, total_fen=seal.total_fen, issuer=seal.issuer, chain=chain,
                         proofs=_StoreProofs(service), stamps=EventReader(chain))
    doc["online"] = facts.to_json()
    return {"valid": facts.ok, "status": facts.status.value, "reason": facts.reason, **doc}
