"""The FastAPI application: ``create_app(settings)`` (an app factory, nothing built at import).

API workers are stateless: they validate, seal, sign and store; the chain worker (run
by ``ebill serve`` in its own process, or passed in for tests) anchors and indexes.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import problems
from api.routers import batches, invoices, members
from ledger.adapters.sql.store import SqlStore
from ledger.app.service import LedgerService
from ledger.app.settings import Settings


def create_app(settings: Settings | None = None, *, service: LedgerService | None = None) -> FastAPI:
    """The API over ``service`` (or a service opened from ``settings``)."""
    settings = settings or Settings()
    if service is None:
        store = SqlStore.open(settings.db_url)
        service = LedgerService(store, pepper=settings.pepper_bytes(), passphrase=settings.passphrase())
    svc = service

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        svc.store.close()

    app = FastAPI(
        title="ebill-ledger", version="1",
        summary="Tamper-evident medical e-invoices: upload, fingerprint, anchor, void; status for payers and auditors.",
        lifespan=lifespan,
    )
    app.state.service = svc
    app.state.settings = settings
    problems.install(app)
    app.include_router(invoices.router)
    app.include_router(members.router)
    app.include_router(batches.router)
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
    return create_app(Settings())
