"""The FastAPI application: ``create_app(settings)`` (an app factory, nothing built at import).

API workers are stateless: they validate, seal, sign and store; the chain worker (run
by ``ebill serve`` in its own process, or passed in for tests) anchors and indexes.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from api import edge, observe, openapi, problems
from api.routers import (
    batches,
    calendar,
    claims,
    clawbacks,
    estimates,
    feed,
    hospital_keys,
    invoices,
    members,
    notifications,
    ops,
    reports,
    rules,
    verify,
    web,
)
from api.schemas import InvoiceUpload
from api.throttle import Throttle
from ledger.adapters.logs import configure as configure_logging
from ledger.adapters.recursion_limit import hold_recursion_limit
from ledger.app.event_counts import EventCounts
from ledger.app.service import LedgerService
from ledger.composition import (
    open_calendar_office,
    open_claims,
    open_delivery,
    open_live_calendar,
    open_readiness,
    open_rule_office,
    open_service,
    open_verification,
    read_only_chain,
)
from ledger.composition.settings import Settings

if TYPE_CHECKING:
    from ledger.app.claims import ClaimsService


def create_app(settings: Settings | None = None, *, service: LedgerService | None = None,
               chain: Any = None, claims_service: ClaimsService | None = None) -> FastAPI:
    """The API over ``service`` (or a service opened from ``settings``).

    ``chain`` is a read-only view of the ledger for ``POST /v1/verify`` (a
    :class:`~ledger.adapters.web3_chain.Web3Ledger`); without it, one is opened from
    ``settings.rpc_url`` and the contract this store serves, or verification answers 503.
    """
    hold_recursion_limit()  # the chain libraries raise it when imported: see ledger.adapters.recursion_limit
    settings = settings or Settings()
    if service is None:   # (ebill serve migrates before it starts workers; they report to its metrics)
        service = open_service(settings, migrate=False, metrics=True)
    svc = service
    counts = EventCounts(svc.store)  # e.g. forged codes at POST /v1/verify: summed, written once a second

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        counts.close()
        svc.store.close()

    app = FastAPI(
        title="ebill-ledger", version="1",
        summary="Tamper-evident medical e-invoices: upload, fingerprint, anchor, void; status for payers and auditors.",
        lifespan=lifespan,
    )
    app.state.service = svc
    app.state.settings = settings
    app.state.readiness = open_readiness(svc)   # /readyz and /v1/health: what the chain worker last reported
    app.state.chain = chain if chain is not None else read_only_chain(settings, svc)
    # the store and uncached chain reads share the framework's thread pool with every other route
    app.state.verification = open_verification(app.state.chain, svc, offload=run_in_threadpool)
    app.state.event_counts = counts
    app.state.claims = claims_service if claims_service is not None else open_claims(settings, svc, app.state.chain)
    # the payer's rule office (its rule sets seeded at a first start by open_claims)
    app.state.rules = open_rule_office(svc, app.state.claims.payer_id) if app.state.claims is not None else None
    # the working-day calendar (shipped years seeded if missing): the claims service's, or one for the health report;
    # read once now, so a year without data is warned about at start, not at the first claim
    app.state.calendar_office = open_calendar_office(svc)
    app.state.calendar = app.state.claims.calendars if app.state.claims is not None else open_live_calendar(svc)
    app.state.calendar.calendar()
    app.state.delivery = open_delivery(settings)   # who delivers the citizens' messages (the outbox says)
    problems.install(app)
    ops.install(app)      # /livez, /readyz, /metrics, in front of every other route
    app.include_router(invoices.router)
    app.include_router(members.router)
    app.include_router(hospital_keys.router)
    app.include_router(batches.router)
    verify.install(app)  # the verify router, and its hot path in front of every route
    app.include_router(claims.router)
    app.include_router(estimates.router)
    app.include_router(reports.router)
    app.include_router(clawbacks.router)
    app.include_router(notifications.router)
    app.include_router(rules.router)
    app.include_router(calendar.router)
    app.include_router(feed.router)
    app.include_router(web.router)  # the citizens' app (/app/) and the staff console (/console/)
    claims_side = app.state.claims
    if claims_side is not None and svc.relations is None:
        svc.relations = claims_side.store   # citizens see their delegators' bills too
    openapi.install(app, models=(InvoiceUpload,))   # the document says what the policy decides
    # in front of every route: its policy (api/policy.py) before any body is read
    edge.install(app, authenticate=claims_side.authenticate if claims_side is not None else svc.authenticate,
                 throttle=Throttle(public=settings.public_rate_limit, auth_failures=settings.auth_failure_rate_limit),
                 payer_id=claims_side.payer_id if claims_side is not None else None,
                 upload_limit=settings.max_body_bytes)
    observe.install(app)  # outermost: the request id, the access log line and the latency of every request
    return app


def create_ops_app(settings: Settings, *, service: LedgerService) -> FastAPI:
    """What an operator's machines call on an ``ebill serve --role worker`` (``--ops-port``): ``/livez``,
    ``/readyz`` and ``/metrics`` (a monitor credential), behind the same edge as the API (policy, body
    limits, request ids); every other path is 404. The worker's metrics live in its own process group's
    files, which no API process adds up: this is where they are scraped."""
    hold_recursion_limit()
    svc = service

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = FastAPI(title="ebill-ledger worker", version="1", lifespan=lifespan, openapi_url=None, docs_url=None,
                  redoc_url=None)
    app.state.service = svc
    app.state.settings = settings
    app.state.readiness = open_readiness(svc)
    problems.install(app)
    ops.install(app)
    edge.install(app, authenticate=svc.authenticate,
                 throttle=Throttle(public=settings.public_rate_limit, auth_failures=settings.auth_failure_rate_limit),
                 payer_id=None, upload_limit=settings.max_body_bytes)
    observe.install(app)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory api.app:app_from_env`` (settings from ``EBILL_*``).

    ``ebill serve`` runs the API workers with a lower CPU priority (``EBILL_API_NICE``,
    default 5) than its chain worker: uploads are bulk CPU work that can use every core,
    while anchoring is small work whose delay is the anchoring lag hospitals see.
    """
    nice = int(os.environ.get("EBILL_API_NICE", "0"))
    if nice > 0:
        os.nice(nice)
    settings = Settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    return create_app(settings)
