"""RFC 9457 problem responses: the one place where errors become HTTP.

Every :class:`~ledger.errors.LedgerError` maps to a status by its class; the problem's
``type`` is ``https://ebill-ledger.example/problems/<kind>``, ``title`` the kind in
words, ``detail`` the error's message, and for invalid input ``errors`` lists every
broken rule as ``{field, rule, message}`` so a hospital fixes a rejected upload in one
pass. Unexpected exceptions become a bare 500 problem without internals.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.errors import (
    ChainError,
    ChainUnavailable,
    Conflict,
    FieldProblem,
    Forbidden,
    InvalidInput,
    LedgerError,
    MalformedBody,
    NoRulesInForce,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
    VerificationError,
)

log = logging.getLogger("ebill.api")

PROBLEM_BASE = "https://ebill-ledger.example/problems/"
PROBLEM_JSON = "application/problem+json"

#: each error class's status; the first class that matches wins (subclasses before their bases)
_STATUS: list[tuple[type[LedgerError], int]] = [
    (InvalidInput, 422), (MalformedBody, 400), (PayloadTooLarge, 413), (UnsupportedMediaType, 415),
    (Unauthenticated, 401), (RateLimited, 429), (Forbidden, 403), (NotFound, 404), (Conflict, 409),
    (VerificationError, 422), (Unavailable, 503), (ChainUnavailable, 503),
    # the chain node answered, but not as this service expects (a reverted read of a deployment that is not
    # the one configured, an answer it cannot decode): the upstream's failure, not this service's bug
    (ChainError, 502),
]


def problem(status: int, kind: str, detail: str, *, instance: str | None = None,
            errors: list[FieldProblem] | tuple[FieldProblem, ...] = (), headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": PROBLEM_BASE + kind, "title": kind.replace("-", " ").capitalize(),
                            "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = [{"field": p.field, "rule": p.rule, "message": p.message} for p in errors]
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def status_of(exc: LedgerError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def problem_of(exc: LedgerError, *, instance: str | None = None) -> JSONResponse:
    """The problem response of ``exc`` (its status by class, and the headers that status needs)."""
    status = status_of(exc)
    headers = None
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="ebill"'}
    elif isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    errors = exc.problems if isinstance(exc, InvalidInput) else ()
    extra: dict[str, Any] = {}
    if isinstance(exc, NoRulesInForce):   # the facts an app words for a citizen (never the detail as is)
        extra["rulesMissing"] = {"visitType": exc.visit_type, "insuredStatus": exc.insured_status,
                                 "category": exc.category, "day": exc.day}
    return problem(status, exc.kind, str(exc), instance=instance, errors=errors, headers=headers, **extra)


def _field_path(loc: Any) -> str:
    """A validation error's location as uploads name fields: ``[1].nationalId``, ``fingerprints[0]``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def install(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    @app.exception_handler(LedgerError)
    async def ledger_error(request: Request, exc: LedgerError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return problem_of(exc, instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # the field as the client wrote it: "fingerprints.0", "Idempotency-Key", "limit" (not "query.limit")
        errors = [FieldProblem(_field_path(e.get("loc", ())) or "(request)",
                               str(e.get("type", "invalid")), str(e.get("msg", "invalid")))
                  for e in exc.errors()]
        return problem(422, "invalid-input", "the request does not match its schema", instance=request.url.path,
                       errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not-found", 405: "method-not-allowed", 401: "unauthenticated", 403: "forbidden",
                413: "payload-too-large", 415: "unsupported-media-type"}.get(exc.status_code, "http-error")
        return problem(exc.status_code, kind, str(exc.detail), instance=request.url.path,
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return problem(500, "internal-error", "an unexpected error occurred; it has been logged",
                       instance=request.url.path)
