"""What the commands build from their options: settings, and through the composition root
(:mod:`ledger.composition`) the ledger service, the claims service and its stamper, the invoice
mirror; and the
HTTP API that ``ebill serve`` runs (:mod:`api.app`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: what each API worker process imports (``ebill serve --workers N``); it reads its settings from the environment
API_WORKER_APP = "api.app:app_from_env"


def settings(home: Path | None, db: str | None, **extra: Any) -> Any:
    """The settings of the environment, with the options given on the command line (None: not given)."""
    from ledger.composition.settings import Settings

    values: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
    if home is not None:
        values["home"] = home.expanduser()
    if db is not None:
        values["db"] = db
    return Settings(**values)


def service(settings: Any, *, migrate: bool = True, metrics: bool = False) -> Any:
    """The ledger service on the settings' database (migrated to the newest schema first, unless told not to);
    ``metrics``: reporting to the Prometheus families (``ebill serve``)."""
    from ledger.composition import open_service

    return open_service(settings, migrate=migrate, metrics=metrics)


def claims(settings: Any, service: Any, chain: Any) -> Any:
    """The claims service of the payer the settings name (None without one); ``chain`` None: no chain reads."""
    from ledger.composition import open_claims

    return open_claims(settings, service, chain)


def stamper(settings: Any, service: Any, session: Any) -> Any:
    """The payer's claims stamper on the chain ``session`` (``ebill claims release-forgotten``; not started)."""
    from ledger.composition import open_stamper

    stamper = open_stamper(settings, service, session)
    if stamper is None:
        raise ValueError("no payer configured")
    return stamper


def rule_office(settings: Any, service: Any) -> Any:
    """The rule office of the payer the settings name (``ebill rules``)."""
    from ledger.composition import open_rule_office

    return open_rule_office(service, settings.payer_id)


def invoice_mirror(service: Any, chain: Any, *, source: str, token: str) -> Any:
    """The payer's mirror of the invoices ``source`` serves (``ebill serve --mirror-from``)."""
    from ledger.composition import open_mirror

    return open_mirror(service, chain, source=source, token=token)


def ops_app(settings: Any, *, service: Any) -> Any:
    """A worker's probes and metrics (an ASGI app: ``/livez``, ``/readyz``, ``/metrics``)."""
    from api.app import create_ops_app

    return create_ops_app(settings, service=service)


def api_app(settings: Any, *, service: Any, chain: Any) -> Any:
    """The HTTP API (an ASGI app) on ``service`` and ``chain``, served in this process."""
    from api.app import create_app

    return create_app(settings, service=service, chain=chain)
