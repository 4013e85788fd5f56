"""The one composition root: which adapters the services run on.

``ebill serve``, the API workers, the other CLI commands and the tests build their
services here, and only here, from the settings: the services (``ledger/app``) depend on
ports (``ledger/ports.py``) and never construct an adapter themselves.
"""

from __future__ import annotations

from ledger.adapters.keystore import StoreKeyVault
from ledger.adapters.sql.store import SqlStore
from ledger.app.service import LedgerService, PersonRelations
from ledger.composition.settings import Settings


def ledger_service(store: SqlStore, *, pepper: bytes, passphrase: str,
                   relations: PersonRelations | None = None) -> LedgerService:
    """The ledger's use cases over ``store``, with members' keys sealed under ``passphrase``."""
    return LedgerService(store, pepper=pepper, keys=StoreKeyVault(store, passphrase), relations=relations)


def open_service(settings: Settings, *, migrate: bool = True) -> LedgerService:
    """The ledger's use cases over the settings' database (migrated to the newest schema first)."""
    from ledger.adapters.sql.engine import upgrade

    if migrate:
        upgrade(settings.db_url)
    return ledger_service(SqlStore.open(settings.db_url), pepper=settings.pepper_bytes(),
                          passphrase=settings.passphrase())


__all__ = ["ledger_service", "open_service"]
