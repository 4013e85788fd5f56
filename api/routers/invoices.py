"""``/v1/invoices``: upload, read, list, fee lines, QR, void."""

from __future__ import annotations

import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from api.bodies import JsonBodyRoute
from api.deps import PrincipalDep, RequestIdDep, ServiceDep, SettingsDep, get_request_id
from api.problems import problem
from api.schemas import (
    FingerprintPath,
    InvoiceList,
    InvoiceOut,
    InvoiceSummary,
    InvoiceUpload,
    ItemOut,
    Problem,
    UploadOut,
    VoidIn,
    VoidOut,
)
from ledger.app.access import Principal
from ledger.app.service import ItemResult, LedgerService, UploadReport
from ledger.composition.settings import Settings
from ledger.errors import LedgerError, PayloadTooLarge, UnsupportedMediaType
from ledger.formats import Limits, UploadPart, detect_format, read_upload
from ledger.formats.upload import HEAD_BYTES
from ledger.invoice_search import InvoiceSearch
from ledger.records import UploadStatus

router = APIRouter(prefix="/v1/invoices", tags=["invoices"], route_class=JsonBodyRoute)

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    s: {"model": Problem, "content": {"application/problem+json": {}}} for s in (401, 403, 404, 409, 413, 415, 422, 503)
}
DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_DATE: dict[str, Any] = {"format": "date"}
_UPLOAD_TYPES = {"application/json", "application/x-ndjson", "application/ndjson", "application/jsonl", "text/csv",
                 "multipart/form-data", "application/fhir+json"}
_upload_schema = {"oneOf": [InvoiceUpload.model_json_schema(ref_template="#/components/schemas/{model}"),
                            {"type": "array", "items": {"$ref": "#/components/schemas/InvoiceUpload"}}]}


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes before reading them all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {int(declared):,} bytes; at most {limit:,} per request: split the upload")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body exceeds {limit:,} bytes: split the upload")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # lets request.form() parse the already-read body
    return body


@router.post(
    "", status_code=201, response_model=UploadOut,
    responses={**_PROBLEMS, 200: {"model": UploadOut, "description": "bulk upload: per-item results"},
               201: {"model": UploadOut, "description": "a single invoice, stored now"}},
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": _upload_schema},
        "application/x-ndjson": {"schema": {"type": "string"}},
        "text/csv": {"schema": {"type": "string"}},
        "application/fhir+json": {"schema": {"type": "object"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "invoices": {"type": "string", "format": "binary"},
            "fee_lines": {"type": "string", "format": "binary"}}}},
    }}},
    summary="Upload invoices (JSON object or array, NDJSON, CSV, FHIR Invoice bundle)",
)
async def upload_invoices(request: Request, service: ServiceDep, principal: PrincipalDep,
                          settings: SettingsDep) -> Response:
    """Validate, fingerprint, sign and store invoices.

    A single JSON invoice answers 201 (stored), 200 (the same invoice was stored before),
    409 (same issuer/code/number, different content) or 422 (every broken rule named).
    Any other upload answers 200 with one result per item: valid items are stored,
    invalid ones are not, and a retry of the same payload stores nothing twice.
    """
    try:
        return await _receive_upload(request, service, principal, settings)
    except LedgerError as exc:   # the whole upload refused (a bad body, too many items...): counted by kind
        service.telemetry.upload_refused(reason=exc.kind)
        raise
    except HTTPException as exc:  # (the edge stopped a streamed body at the upload limit)
        service.telemetry.upload_refused(reason="payload-too-large" if exc.status_code == 413 else "http")
        raise


async def _receive_upload(request: Request, service: LedgerService, principal: Principal,
                          settings: Settings) -> Response:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _UPLOAD_TYPES:
        raise UnsupportedMediaType(f"unsupported content type {media or '(none)'!r}; use one of "
                                   + ", ".join(sorted(_UPLOAD_TYPES)))
    body = await _read_body(request, settings.max_body_bytes)
    parts: list[UploadPart] = []
    if media == "multipart/form-data":
        form = await request.form()
        try:
            for name, value in form.multi_items():
                if isinstance(value, str):
                    continue
                parts.append(UploadPart(io.BytesIO(await value.read()), value.filename or name, value.content_type))
        finally:
            await form.close()
        if not parts:
            raise UnsupportedMediaType("a multipart upload needs file parts: invoices.csv and fee_lines.csv")
    else:
        parts.append(UploadPart(io.BytesIO(body), None, media))
    limits = Limits(max_items=settings.max_items, max_document_bytes=settings.max_body_bytes)
    # one JSON object (not a FHIR Bundle) is a single upload with its own status codes
    single = media == "application/json" and body.lstrip()[:1] == b"{" \
        and detect_format(None, None, body[:HEAD_BYTES]) == "json"
    report = await run_in_threadpool(_upload, service, principal, parts, limits, get_request_id(request))
    if single and len(report.items) == 1:
        return _single(report.items[0], request)
    return JSONResponse(_report_json(report), status_code=200)


def _upload(service: LedgerService, principal: Principal, parts: list[UploadPart], limits: Limits,
            request_id: str | None) -> UploadReport:
    items = read_upload(parts, limits=limits)
    return service.upload(principal, items, max_items=limits.max_items, request_id=request_id)


#: problems listed per invoice, and in a whole upload report; the counts are always complete. A
#: small upload can break millions of rules (100,000 NDJSON lines of ``{}``, 13 problems each):
#: listing them all made a 300 KB request answer tens of MB.
MAX_PROBLEMS_PER_ITEM = 100
MAX_PROBLEMS_PER_REPORT = 10_000


def _item_json(r: ItemResult, *, listed: int = MAX_PROBLEMS_PER_ITEM) -> dict[str, Any]:
    """One item's result, listing at most ``listed`` of its problems."""
    problems = []
    for i, p in enumerate(r.problems[:listed]):
        d = {"field": p.field, "rule": p.rule, "message": p.message}
        if i < len(r.sources):
            d["source"] = r.sources[i]
        problems.append(d)
    return ItemOut(index=r.index, ref=r.ref, status=r.status.value,
                   invoice=InvoiceSummary.of(r.invoice) if r.invoice else None,
                   problems=problems, problemCount=r.problems_found,
                   problemsTruncated=len(problems) < r.problems_found).model_dump(mode="json")


def _report_json(report: UploadReport) -> dict[str, Any]:
    items, budget, total = [], MAX_PROBLEMS_PER_REPORT, 0
    for r in report.items:
        items.append(_item_json(r, listed=min(MAX_PROBLEMS_PER_ITEM, budget)))
        budget -= len(items[-1]["problems"])
        total += r.problems_found
    listed = MAX_PROBLEMS_PER_REPORT - budget
    return {"counts": report.counts, "problemCount": total, "problemsTruncated": listed < total, "items": items}


def _single(r: ItemResult, request: Request) -> Response:
    if r.status is UploadStatus.REJECTED:
        shown = r.problems[:MAX_PROBLEMS_PER_ITEM]
        more = f"; the first {len(shown)} are listed" if len(shown) < r.problems_found else ""
        return problem(422, "invalid-invoice", f"the invoice breaks {r.problems_found} rule(s){more}",
                       instance=request.url.path, errors=shown, problemCount=r.problems_found,
                       problemsTruncated=len(shown) < r.problems_found)
    if r.status is UploadStatus.CONFLICT:
        return problem(409, "conflict", r.problems[0].message, instance=request.url.path, errors=r.problems)
    body = {"counts": {r.status.value: 1}, "problemCount": len(r.problems), "problemsTruncated": False,
            "items": [_item_json(r)]}
    headers = {"Location": f"/v1/invoices/0x{bytes(r.invoice.fingerprint).hex()}"} if r.invoice else None
    return JSONResponse(body, status_code=201 if r.status is UploadStatus.CREATED else 200, headers=headers)


@router.get("", response_model=InvoiceList, responses=_PROBLEMS,
            summary="List and search invoices (own, for a hospital): by state, number and issue date")
def list_invoices(
    service: ServiceDep, principal: PrincipalDep,
    state: Annotated[str | None, Query(pattern="^(stored|anchored|voided)$")] = None,
    number: Annotated[str | None, Query(pattern="^[0-9]{1,10}$", description="the invoice number (leading zeros "
                                                                             "may be left out)")] = None,
    issued_from: Annotated[str | None, Query(alias="issuedFrom", pattern=DATE_PATTERN, json_schema_extra=_DATE,
                                             description="issued on or after this day (YYYY-MM-DD)")] = None,
    issued_to: Annotated[str | None, Query(alias="issuedTo", pattern=DATE_PATTERN, json_schema_extra=_DATE,
                                           description="issued on or before this day (YYYY-MM-DD), not before "
                                                       "issuedFrom")] = None,
    order: Annotated[Literal["fingerprint", "newest"], Query(
        description="fingerprint: stable as invoices arrive; newest: upload order, the latest first")] = "fingerprint",
    after: Annotated[str | None, Query(pattern="^0x[0-9a-fA-F]{64}$",
                                       description="continue after this fingerprint (the last page's `next`; in "
                                                   "newest order, an invoice the caller may list)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> InvoiceList:
    search = InvoiceSearch.parse(state=state, number=number, issued_from=issued_from, issued_to=issued_to,
                                 order=order, after=after, limit=limit)
    rows = service.list_invoices(principal, search)
    items = [InvoiceSummary.of(r) for r in rows]
    return InvoiceList(items=items, next=items[-1].fingerprint if len(items) == limit else None)


_FP = Annotated[str, "fingerprint"]


@router.get("/{fingerprint}", response_model=InvoiceOut, responses=_PROBLEMS,
            summary="Status, anchor, inclusion proof, void and reimbursement stamps of an invoice")
def get_invoice(fingerprint: FingerprintPath, service: ServiceDep, principal: PrincipalDep) -> InvoiceOut:
    detail = service.invoice(principal, fingerprint)
    proof = service.inclusion(detail) if detail.invoice.anchored_block is not None else None
    domain = service.qr_domain
    chain = {"chainId": domain.chain_id, "contract": domain.verifying_contract}
    return InvoiceOut.of_detail(detail, proof=proof, chain=chain)


@router.get("/{fingerprint}/fee-lines", responses=_PROBLEMS, summary="The itemised fee lines of an invoice")
def get_fee_lines(fingerprint: FingerprintPath, service: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    lines = service.fee_lines(principal, fingerprint)
    return {"fingerprint": fingerprint.lower(), "feeLines": [{
        "seq": li["seq"], "itemCode": li["item_code"], "itemName": li["item_name"], "category": li["category"],
        "quantity": li["quantity"], "unit": li["unit"], "unitPriceFen": li["unit_price_fen"],
        "amountFen": li["amount_fen"], "serviceDate": li["service_date"]} for li in lines]}


@router.get("/{fingerprint}/fee-lines/{seq}/disclosure", responses=_PROBLEMS,
            summary="Selective disclosure of one fee line with its Merkle proof (the issuing hospital)")
def disclose_fee_line(fingerprint: FingerprintPath, seq: Annotated[int, Path(ge=1, le=10**6)], service: ServiceDep,
                      principal: PrincipalDep) -> dict[str, Any]:
    """``ebill-fee-line-disclosure/v1``: the line (with its salt), the invoice header and the
    proof from the line to the header's fee-lines root; `ebill verify-line` checks it."""
    return service.disclose_line(principal, fingerprint, seq)


@router.get("/{fingerprint}/qr", responses={**_PROBLEMS, 200: {"content": {
    "text/plain": {}, "image/svg+xml": {}, "image/png": {}}}},
    summary="The signed QR payload (text), or its image with ?format=svg|png")
def get_qr(fingerprint: FingerprintPath, service: ServiceDep, principal: PrincipalDep,
           format: Annotated[str, Query(pattern="^(text|svg|png)$")] = "text") -> Response:
    qr = service.invoice(principal, fingerprint).invoice.qr
    if format == "text":
        return Response(qr, media_type="text/plain")
    from ledger.adapters import qr_image

    if format == "svg":
        return Response(qr_image.qr_svg(qr), media_type="image/svg+xml")
    return Response(qr_image.qr_png(qr), media_type="image/png")


@router.post("/{fingerprint}/void", status_code=202, response_model=VoidOut,
             responses={**_PROBLEMS, 200: {"model": VoidOut, "description": "the same void was requested before"},
                        202: {"model": VoidOut, "description": "recorded now; its code is stamped on chain shortly"}},
             summary="Void / refund an invoice (red-letter reversal): its reason code is stamped on chain")
def void_invoice(fingerprint: FingerprintPath, body: VoidIn, service: ServiceDep, principal: PrincipalDep,
                 response: Response, request_id: RequestIdDep) -> VoidOut:
    record, created = service.request_void(principal, fingerprint, request=body.request(), request_id=request_id)
    if not created:
        response.status_code = 200
    return VoidOut.of(record)


@router.get("/{fingerprint}/qr.png", responses={**_PROBLEMS, 200: {"content": {"image/png": {}}}},
            summary="The invoice's QR code as PNG")
def get_qr_png(fingerprint: FingerprintPath, service: ServiceDep, principal: PrincipalDep) -> Response:
    return get_qr(fingerprint, service, principal, format="png")


@router.get("/{fingerprint}/qr.svg", responses={**_PROBLEMS, 200: {"content": {"image/svg+xml": {}}}},
            summary="The invoice's QR code as SVG")
def get_qr_svg(fingerprint: FingerprintPath, service: ServiceDep, principal: PrincipalDep) -> Response:
    return get_qr(fingerprint, service, principal, format="svg")


def _printable(fingerprint: str, service: LedgerService, principal: Principal) -> tuple[dict[str, Any], list[Any], str]:
    """The invoice (GET /v1/invoices/{fp} shape), its fee lines and the issuer's name, for printing."""
    detail = service.invoice(principal, fingerprint)
    doc = InvoiceOut.of_detail(detail, proof=None, chain={}).model_dump(mode="json")
    lines = get_fee_lines(fingerprint, service, principal)["feeLines"]
    return doc, lines, service.store.hospital(detail.invoice.issuer).name


@router.get("/{fingerprint}/print", responses={**_PROBLEMS, 200: {"content": {"text/html": {}, "application/pdf": {}}}},
            summary="The printable invoice (HTML, or PDF with ?format=pdf: header, fee lines, amounts, QR code)")
def print_invoice(fingerprint: FingerprintPath, service: ServiceDep, principal: PrincipalDep,
                  format: Annotated[str, Query(pattern="^(html|pdf)$")] = "html") -> Response:
    if format == "pdf":
        return print_invoice_pdf(fingerprint, service, principal)
    from ledger.adapters.invoice_html import render_invoice

    doc, lines, hospital_name = _printable(fingerprint, service, principal)
    return Response(render_invoice(doc, lines, hospital_name=hospital_name), media_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:"})


@router.get("/{fingerprint}/print.pdf", responses={**_PROBLEMS, 200: {"content": {"application/pdf": {}}}},
            summary="The printable invoice as PDF (A4; multi-page for long invoices)")
def print_invoice_pdf(fingerprint: FingerprintPath, service: ServiceDep, principal: PrincipalDep) -> Response:
    from ledger.adapters.invoice_pdf import render_invoice_pdf

    doc, lines, hospital_name = _printable(fingerprint, service, principal)
    pdf = render_invoice_pdf(doc, lines, hospital_name=hospital_name)
    name = f"{doc['invoiceCode']}-{doc['invoiceNumber']}.pdf"
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})
