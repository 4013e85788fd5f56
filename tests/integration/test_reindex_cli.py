"""`ebill reindex` on a real anvil node: chain-derived state is rebuilt from the contract's events."""

from __future__ import annotations

from pathlib import Path

import pytest
from anvil_service import service_on_anvil
from typer.testing import CliRunner

from ledger.cli import app
from ledger.devtools import synth
from ledger.formats.items import SourceItem
from ledger.voids import VoidReason, VoidRequest

pytestmark = pytest.mark.anvil


def test_reindex_rebuilds_anchors_and_voids_from_events(tmp_path: Path) -> None:
    with service_on_anvil(tmp_path) as env:
        node, settings, service, worker = env.node, env.settings, env.service, env.worker
        ds = synth.generate(seed=11, hospitals=2, invoices=20, fee_lines=400, pepper=settings.pepper_bytes())
        for h in ds.hospitals:
            _, token = service.register_hospital(institution_id=h.code, name=h.name, region="330100")
            docs = [d for d in synth.iter_documents(ds) if d["issuer"] == h.code]
            report = service.upload(service.authenticate(token), [SourceItem(i, "", d) for i, d in enumerate(docs)])
            principal = service.authenticate(token)
        worker.drain()
        voided = report.items[0].invoice
        assert voided is not None
        service.request_void(principal, "0x" + bytes(voided.fingerprint).hex(), request=VoidRequest(VoidReason.REFUND))
        worker.drain()
        before = service.store.counts()
        # wipe what the chain says, as a corrupted or restored-from-backup store would have it
        service.store.reset_chain_index()
        assert service.store.counts()["batchesAnchored"] == 0
        r = CliRunner().invoke(app, ["reindex", "--home", str(tmp_path), "--rpc-url", node.url])
        assert r.exit_code == 0, r.output
        assert "batches anchored" in r.stdout
        assert service.store.counts() == before
        assert service.store.invoice(voided.fingerprint).void.state == "voided"  # type: ignore[union-attr]
