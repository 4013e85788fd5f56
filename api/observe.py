"""In front of everything: each request's id, its access log line, and its latency histogram.

The outermost middleware (around the edge, :mod:`api.edge`, so refusals are seen too):

- **request id**: a client's ``X-Request-Id`` is kept when it is 8-64 characters of
  ``A-Z a-z 0-9 . _ : -`` (anything else could forge log lines or grow a database column); any
  other request gets a new one (32 hex digits). It is bound to the logging context (every line
  logged while answering carries it, in the event loop or a worker thread), handed to the
  routes (``request.state.request_id``: uploads, voids and claims keep it with what they ask
  the chain to do), and sent back in the response's ``X-Request-Id``;
- **access log**: one line per request (logger ``ebill.http``): method, the route's template
  (never the path asked for, nor its query: no fingerprint, claim id or search term), status,
  milliseconds. Probes and scrapes (``/livez``, ``/readyz``, ``/metrics``) log at debug level;
- **metrics**: ``ebill_http_request_duration_seconds{method, route, status}``; a path no route
  serves is ``unmatched``, a method outside the standard ones ``other``.
"""

from __future__ import annotations

import logging
import re
import secrets
import time

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, reset_contextvars

from ledger.adapters import metrics

log = logging.getLogger("ebill.http")

REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{8,64}\Z")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: routes called every few seconds by machines: their access lines are debug, not info
QUIET_ROUTES = frozenset({"/livez", "/readyz", "/metrics"})


def request_id_of(header: str | None) -> str:
    """The client's request id if it is a sane one, else a new one."""
    if header is not None and REQUEST_ID_RE.match(header):
        return header
    return secrets.token_hex(16)


class Observe:
    """The middleware; put in front by :func:`install`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = request_id_of(incoming)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        tokens = bind_contextvars(request_id=rid)
        status = 500   # (an exception that escapes every handler is answered 500 outside this middleware)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-Id", rid)
            await send(message)

        in_flight = metrics.requests_in_flight()
        in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            in_flight.dec()
            seconds = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else "other"
            route = state.get("route") or "unmatched"
            metrics.http_request(method, route, status, seconds)
            log.log(logging.DEBUG if route in QUIET_ROUTES else logging.INFO, "request",
                    extra={"method": method, "route": route, "status": status, "ms": round(seconds * 1000, 2)})
            reset_contextvars(**tokens)


def install(app: FastAPI) -> None:
    """Put :class:`Observe` in front of every other middleware of ``app`` (call it last)."""
    app.add_middleware(Observe)
