"""An upload service stack for API tests (imported by conftest and tests).

Store (SQLite or PostgreSQL), embedded EVM, chain worker, HTTP client."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from ledger.adapters.chains import ChainSession, open_embedded
from ledger.adapters.sql.engine import upgrade
from ledger.adapters.sql.store import SqlStore
from ledger.app.chain_worker import ChainWorker
from ledger.app.service import LedgerService
from ledger.composition import ledger_service
from ledger.composition.settings import Settings
from ledger.devtools import synth
from ledger.records import Role

PEPPER = b"api-test-pepper-0123456789"


@dataclass
class Stack:
    service: LedgerService
    session: ChainSession
    worker: ChainWorker
    client: TestClient
    tokens: dict[str, str]
    docs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def post_invoice(self, who: str, doc: Any) -> Any:
        return self.client.post("/v1/invoices", json=doc, headers=self.auth(who))


_DATASET: list[Any] = []


def dataset() -> Any:
    if not _DATASET:
        _DATASET.append(synth.generate(seed=7, hospitals=2, invoices=40, fee_lines=1200, pepper=PEPPER))
    return _DATASET[0]


def register_hospitals(service: LedgerService) -> tuple[dict[str, str], dict[str, list[dict[str, Any]]]]:
    """The data set's two hospitals as "a" and "b": their API tokens and their upload documents."""
    ds = dataset()
    tokens: dict[str, str] = {}
    docs: dict[str, list[dict[str, Any]]] = {}
    for name, h in zip(("a", "b"), ds.hospitals, strict=False):
        _, tokens[name] = service.register_hospital(institution_id=h.code, name=h.name, region="330100")
        docs[name] = [d for d in synth.iter_documents(ds) if d["issuer"] == h.code]
    return tokens, docs


def make_stack(url: str, tmp_path: Path, *, max_body: int = 8 * 2**20, **settings: Any) -> Stack:
    upgrade(url)
    store = SqlStore.open(url)
    service = ledger_service(store, pepper=PEPPER, passphrase="api test passphrase")
    session = open_embedded()
    service.bind_chain(session.ledger.chain_id, session.ledger.contract_address)
    worker = ChainWorker(service, session, max_age=timedelta(0))
    config = Settings(home=tmp_path, db=url, max_body_bytes=max_body, chain="embedded", **settings)
    client = TestClient(create_app(config, service=service, chain=session.ledger),
                        raise_server_exceptions=False)
    tokens, docs = register_hospitals(service)
    tokens["payer"] = service.create_credential(role=Role.PAYER, subject="P330100", label="city agency")
    tokens["auditor"] = service.create_credential(role=Role.AUDITOR, subject="audit-office")
    tokens["admin"] = service.create_credential(role=Role.ADMIN, subject="bureau")
    return Stack(service, session, worker, client, tokens, docs)


