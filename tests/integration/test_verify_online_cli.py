"""`ebill verify` online on a real anvil node: registry and state read from the chain, proofs from a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from anvil_service import service_on_anvil
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from ledger.adapters.anvil import AnvilConfig, AnvilNode, free_port
from ledger.adapters.chains import open_node
from ledger.cli import app
from ledger.devtools import synth
from ledger.formats.items import SourceItem
from ledger.voids import VoidReason, VoidRequest

pytestmark = pytest.mark.anvil


def test_online_verdicts_from_the_command_line(tmp_path: Path) -> None:
    with service_on_anvil(tmp_path) as env:
        node, settings, session, service, worker = env.node, env.settings, env.session, env.service, env.worker
        ds = synth.generate(seed=12, hospitals=1, invoices=4, fee_lines=80, pepper=settings.pepper_bytes())
        h = ds.hospitals[0]
        _, token = service.register_hospital(institution_id=h.code, name=h.name, region="330100")
        principal = service.authenticate(token)
        report = service.upload(principal, [SourceItem(i, "", d) for i, d in enumerate(synth.iter_documents(ds))])
        stored, later = report.items[0].invoice, report.items[1].invoice
        assert stored is not None and later is not None
        worker.drain()
        client = TestClient(create_app(settings, service=service, chain=session.ledger))
        proofs = tmp_path / "proofs"
        proofs.mkdir()
        for inv in (stored, later):
            fp = "0x" + bytes(inv.fingerprint).hex()
            (proofs / f"{fp}.json").write_text(client.get(f"/v1/proofs/{fp}").text)
        common = ["--rpc-url", node.url, "--home", str(tmp_path), "--proofs", str(proofs), "--json"]
        r = CliRunner().invoke(app, ["verify", stored.qr, *common])
        assert r.exit_code == 0, r.output
        verdict = json.loads(r.stdout)
        assert verdict["status"] == "anchored" and verdict["offline"]["status"] == "valid-offline"
        service.request_void(principal, "0x" + bytes(stored.fingerprint).hex(), request=VoidRequest(VoidReason.REFUND))
        worker.drain()
        r = CliRunner().invoke(app, ["verify", stored.qr, *common])
        assert r.exit_code == 1 and json.loads(r.stdout)["status"] == "voided"
        assert json.loads(r.stdout)["online"]["void"]["reasonCode"] == "refund"   # read from the void's event
        # a bare fingerprint: the chain's facts only
        r = CliRunner().invoke(app, ["verify", "0x" + bytes(stored.fingerprint).hex(), *common])
        assert r.exit_code == 1 and json.loads(r.stdout)["status"] == "voided"
        # a proof source without this invoice: not anchored (as far as anyone can show)
        (proofs / ("0x" + bytes(later.fingerprint).hex() + ".json")).unlink()
        r = CliRunner().invoke(app, ["verify", later.qr, *common])
        assert r.exit_code == 1 and json.loads(r.stdout)["status"] == "not-anchored"


def test_invoice_state_raw_call_matches_the_contract_call(tmp_path: Path) -> None:
    """invoice_state's raw eth_call (HTTP nodes) decodes exactly what web3's contract call does,
    and a revert still names the contract's custom error."""
    from ledger.adapters.contract_codec import id_to_bytes32
    from ledger.errors import ContractReverted

    with AnvilNode(AnvilConfig(data_dir=tmp_path / "node", port=free_port())) as node:
        session = open_node("anvil", url=node.url, home=tmp_path, passphrase="raw call test passphrase")
        session.ensure_hospital("H33010200001")
        ledger = session.ledger
        fp = b"\x05" * 32
        fn = ledger.contract.functions.invoiceRecord(id_to_bytes32("H33010200001"), fp)
        reserved, paid, total, voided = fn.call()
        state = ledger.invoice_state("H33010200001", fp)  # type: ignore[arg-type]
        assert (state.reserved_fen, state.paid_fen, state.total_fen, state.voided) == (reserved, paid, total, voided)
        with pytest.raises(ContractReverted) as info:
            ledger.invoice_state("H99999999999", fp)
        assert info.value.error == "UnknownMember"
