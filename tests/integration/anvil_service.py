"""The upload service's pieces on a real anvil node, for integration tests (not a test module)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from ledger.adapters.anvil import AnvilConfig, AnvilNode, free_port
from ledger.adapters.chains import ChainSession, open_node
from ledger.adapters.sql.engine import upgrade
from ledger.adapters.sql.store import SqlStore
from ledger.app.chain_worker import ChainWorker
from ledger.app.service import LedgerService
from ledger.composition import ledger_service
from ledger.composition.settings import Settings


@dataclass
class AnvilService:
    node: AnvilNode
    settings: Settings
    session: ChainSession
    service: LedgerService
    worker: ChainWorker


@contextmanager
def service_on_anvil(home: Path) -> Iterator[AnvilService]:
    """A migrated SQLite store in ``home``, an anvil node, the ledger deployed, and a worker
    that closes batches at once."""
    settings = Settings(home=home)
    upgrade(settings.db_url)
    with AnvilNode(AnvilConfig(data_dir=home / "node", port=free_port())) as node:
        session = open_node("anvil", url=node.url, home=home, passphrase=settings.passphrase())
        service = ledger_service(SqlStore.open(settings.db_url), pepper=settings.pepper_bytes(),
                                passphrase=settings.passphrase())
        service.bind_chain(session.ledger.chain_id, session.ledger.contract_address)
        try:
            yield AnvilService(node, settings, session, service,
                               ChainWorker(service, session, max_age=timedelta(0)))
        finally:
            service.store.close()
