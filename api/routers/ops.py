"""What an operator's machines call: ``/livez``, ``/readyz`` (probes) and ``/metrics`` (Prometheus).

- ``GET /livez``: the process answers (no I/O at all): 200 ``{"status": "alive"}``;
- ``GET /readyz``: the database answers, its schema is current, and the chain answered the
  chain worker lately (:class:`ledger.app.readiness.Readiness`: two small reads, never a call
  to the chain node): 200 ``{"status": "ready", "checks": {...}}``, else a 503 problem
  (``application/problem+json``) whose ``detail`` names what failed, with the same ``checks``;
- ``GET /metrics``: the Prometheus text format (:mod:`ledger.adapters.metrics`), for a
  ``monitor`` credential only (an operator's scraper: ``ebill credential create --role monitor``).

Served as plain Starlette routes in front of every other route, like the verifier's hot path
(FastAPI's per-request machinery would cost more than the answer); the same functions are
FastAPI routes too, for the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.routing import Route

from api.problems import problem
from ledger.adapters import metrics
from ledger.app.readiness import Readiness

router = APIRouter(tags=["operations"])

_ALIVE = b'{"status":"alive"}'
_PROBLEMS: dict[int | str, dict[str, Any]] = {401: {"description": "no credential"},
                                              403: {"description": "not a monitor credential"}}


def install(app: FastAPI) -> None:
    """Mount the three endpoints on ``app`` (in front of every other route) and document them."""
    app.include_router(router)
    for path, endpoint in (("/livez", livez), ("/readyz", readyz), ("/metrics", metrics_text)):
        app.router.routes.insert(0, Route(path, endpoint, methods=["GET"], include_in_schema=False))


_CHECK = {"type": "object", "required": ["ok", "detail"],
          "properties": {"ok": {"type": "boolean"}, "detail": {"type": "string"}}}
_READY = {"type": "object", "required": ["status", "checks"], "properties": {
    "status": {"type": "string", "enum": ["ready"]},
    "checks": {"type": "object", "properties": {"database": _CHECK, "migrations": _CHECK, "chain": _CHECK}}}}


@router.get("/livez", summary="Liveness: the process answers (no I/O)", responses={200: {"content": {
    "application/json": {"schema": {"type": "object", "required": ["status"],
                                    "properties": {"status": {"type": "string", "enum": ["alive"]}}}}}}})
async def livez(request: Request) -> Response:
    return Response(_ALIVE, media_type="application/json")


@router.get("/readyz", summary="Readiness: database, schema and chain (as the chain worker last saw it)",
            responses={200: {"content": {"application/json": {"schema": _READY}}},
                       503: {"description": "not ready: a problem whose `detail` names the failed checks, and "
                                            "`checks` says what each found"}})
async def readyz(request: Request) -> Response:
    readiness: Readiness = request.app.state.readiness
    ready, checks = await run_in_threadpool(readiness.check)
    found = {c.name: c.to_json() for c in checks}
    if not ready:   # a problem document like every other error, with each check's finding
        failed = "; ".join(f"{c.name}: {c.detail}" for c in checks if not c.ok and not c.detail.startswith("not "))
        return problem(503, "unready", f"not ready: {failed}", instance="/readyz", checks=found)
    return Response(orjson.dumps({"status": "ready", "checks": found}), media_type="application/json")


@router.get("/metrics", summary="Prometheus metrics (a monitor credential: an operator's scraper)",
            responses={**_PROBLEMS, 200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
async def metrics_text(request: Request) -> Response:
    body, media = await run_in_threadpool(metrics.exposition)
    return Response(body, media_type=media)
