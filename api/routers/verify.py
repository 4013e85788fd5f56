"""``POST /v1/verify``: is this invoice genuine, anchored, not voided, and how much was paid?

Public, like the QR code it checks: a citizen, a payer's clerk or a commercial insurer
holding the paper invoice needs no account here. The body is the QR payload as JSON
(``{"payload": "EBILL:…"}``) or a photo of the invoice (``image/png``, ``image/jpeg``),
read by :func:`ledger.adapters.qr_image.read_photo`. The verdict is the verification
service's (:class:`verifier.service.VerificationService`, ``app.state.verification``):
this route parses the body, asks it, and answers.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Route

from api.routers.invoices import _PROBLEMS, _read_body
from ledger.adapters import qr_image
from ledger.errors import ChainUnavailable, InvalidInput, UnsupportedMediaType
from verifier.service import VerificationService

router = APIRouter(tags=["verify"])


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payload: str = Field(min_length=1, max_length=2000, description="the QR text, EBILL:…")


def install(app: FastAPI) -> None:
    """Mount ``POST /v1/verify`` on ``app``.

    The FastAPI route documents it (OpenAPI); requests are served by the same endpoint as a
    plain Starlette route placed in front of every other route. The endpoint takes only
    the request, so FastAPI's per-request routing through the included routers and its
    dependency machinery add nothing but cost: about 190 µs of the 600 µs of CPU a
    verification took in-process, the hot path's largest single item.
    """
    app.include_router(router)
    app.router.routes.insert(0, Route("/v1/verify", verify, methods=["POST"], include_in_schema=False))


@router.post("/v1/verify", responses={**_PROBLEMS, 200: {"description": "the verdict"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": VerifyIn.model_json_schema()},
                 "image/png": {"schema": {"type": "string", "format": "binary"}},
                 "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}},
             summary="Verify an invoice from its QR payload or a photo: signature, anchor, void, reimbursement")
async def verify(request: Request) -> Response:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in ("image/png", "image/jpeg"):
        body = await _read_body(request, qr_image.MAX_PHOTO_BYTES)
        payload = await run_in_threadpool(qr_image.read_photo, body)
    elif media == "application/json":
        body = await _read_body(request, 64 * 1024)
        try:
            payload = VerifyIn.model_validate_json(body).payload
        except ValueError as exc:
            raise InvalidInput.single("(body)", "json", f"expected {{\"payload\": \"EBILL:…\"}}: {exc}") from None
    else:
        raise UnsupportedMediaType("send application/json {\"payload\": …} or an image/png or image/jpeg photo")
    verification: VerificationService | None = request.app.state.verification
    if verification is None:
        raise ChainUnavailable("this service has no chain connection for verification (start it with `ebill serve`)")
    doc = await verification.verify(payload)
    request.app.state.service.telemetry.verified(verdict=str(doc.get("status")))
    if doc.get("status") in _FORGERY_VERDICTS:
        # counted, not audited: anyone can send these as fast as they like, and an audit row
        # each let them grow the audit trail at will; the dashboard shows the counts
        request.app.state.event_counts.add(f"verify.refused:{doc['status']}")
    return Response(orjson.dumps(doc), media_type="application/json")


#: verdicts that mean a fake or altered invoice was presented (not merely a bad photo)
_FORGERY_VERDICTS = frozenset({"tampered-or-forged", "unknown-issuer", "revoked-issuer"})
