"""POST /v1/verify against a real anvil node: the awaited raw eth_call path (ledger.adapters.invoice_record).

The embedded EVM of the other API tests has no HTTP endpoint, so there verification
takes the thread-pool path; here the node is a real JSON-RPC server, as in production.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from api_stack import PEPPER, dataset
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.adapters.anvil import AnvilConfig, AnvilNode, free_port
from ledger.adapters.chains import open_node
from ledger.adapters.sql.engine import upgrade
from ledger.adapters.sql.store import SqlStore
from ledger.app.chain_worker import ChainWorker
from ledger.composition import ledger_service
from ledger.composition.settings import Settings
from ledger.devtools import synth
from ledger.hashing import parse_hash32


@pytest.fixture
def on_anvil(tmp_path: Path) -> Iterator[dict[str, Any]]:
    settings = Settings(home=tmp_path, chain="anvil")
    upgrade(settings.db_url)
    with AnvilNode(AnvilConfig(data_dir=tmp_path / "node", port=free_port())) as node:
        session = open_node("anvil", url=node.url, home=tmp_path, passphrase=settings.passphrase())
        service = ledger_service(SqlStore.open(settings.db_url), pepper=PEPPER, passphrase="api test passphrase")
        service.bind_chain(session.ledger.chain_id, session.ledger.contract_address)
        hospital = dataset().hospitals[0]
        _, token = service.register_hospital(institution_id=hospital.code, name=hospital.name, region="330100")
        docs = [d for d in synth.iter_documents(dataset()) if d["issuer"] == hospital.code]
        app = create_app(settings, service=service, chain=session.ledger)
        try:
            # as a context manager: one event loop for every request, as in a uvicorn worker
            with TestClient(app, raise_server_exceptions=False) as client:
                yield {"client": client, "session": session, "token": token, "docs": docs,
                       "worker": ChainWorker(service, session, max_age=timedelta(0))}
                client.portal.call(app.state.verification.chain.close)   # its connections, on their own loop
        finally:
            service.store.close()


def test_verdicts_read_the_contract_over_raw_json_rpc(on_anvil: dict[str, Any]) -> None:
    client, worker = on_anvil["client"], on_anvil["worker"]
    auth = {"Authorization": f"Bearer {on_anvil['token']}"}
    worker.drain()
    doc = copy.deepcopy(on_anvil["docs"][0])
    inv = client.post("/v1/invoices", json=doc, headers=auth).json()["items"][0]["invoice"]

    def verdict() -> dict[str, Any]:
        r = client.post("/v1/verify", json={"payload": inv["qr"]})
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    assert verdict()["status"] == "not-anchored"
    worker.drain()
    v = verdict()
    assert (v["valid"], v["status"]) == (True, "anchored")
    assert (v["online"]["reservedFen"], v["online"]["paidFen"], v["online"]["voided"]) == (0, 0, False)
    assert verdict() == v                                    # the second time from the caches, same verdict
    verification = client.app.state.verification  # type: ignore[attr-defined]
    assert verification.chain.live is not None               # the raw eth_call path is in use
    client.post(f"/v1/invoices/{inv['fingerprint']}/void", json={"reason": "refund"}, headers=auth)
    worker.drain()
    v = verdict()
    assert (v["valid"], v["status"], v["online"]["voided"]) == (False, "voided", True)
    state = on_anvil["session"].ledger.invoice_state(doc["issuer"], parse_hash32(inv["fingerprint"]))
    assert state.voided
