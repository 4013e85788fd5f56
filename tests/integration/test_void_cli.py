"""`ebill void` on a real anvil node: the command records the void, the service's worker stamps its code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from anvil_service import service_on_anvil
from typer.testing import CliRunner

from ledger.adapters.events import EventReader
from ledger.cli import app
from ledger.devtools import synth
from ledger.formats.items import SourceItem
from ledger.voids import VoidReason, reason_from_bytes32

pytestmark = pytest.mark.anvil

NOTE = "开票两次（收费窗口3）"


def test_void_from_the_command_line(tmp_path: Path) -> None:
    with service_on_anvil(tmp_path) as env:
        service, worker = env.service, env.worker
        ds = synth.generate(seed=13, hospitals=1, invoices=2, fee_lines=40, pepper=env.settings.pepper_bytes())
        h = ds.hospitals[0]
        _, token = service.register_hospital(institution_id=h.code, name=h.name, region="330100")
        report = service.upload(service.authenticate(token),
                                [SourceItem(i, "", d) for i, d in enumerate(synth.iter_documents(ds))])
        worker.drain()
        stored = report.items[0].invoice
        assert stored is not None
        fp = "0x" + bytes(stored.fingerprint).hex()
        home = ["--home", str(tmp_path)]

        bad = CliRunner().invoke(app, ["void", fp, "--reason", "refunded", *home])
        assert bad.exit_code == 2 and "--reason" in bad.output
        assert all(code.value in bad.output.replace("\n", "") for code in VoidReason)
        long = CliRunner().invoke(app, ["void", fp, "--reason", "refund", "--note", "x" * 501, *home])
        assert long.exit_code == 2 and "--note" in long.output
        unknown = CliRunner().invoke(app, ["void", "0x" + "ab" * 32, "--reason", "refund", *home])
        assert unknown.exit_code == 1 and "no invoice" in unknown.output and "Traceback" not in unknown.output
        assert service.store.invoice(stored.fingerprint).void is None

        r = CliRunner().invoke(app, ["void", fp, "--reason", "duplicate", "--note", NOTE, "--json", *home])
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        assert (doc["reasonCode"], doc["reason"], doc["state"], doc["created"]) == ("duplicate", NOTE, "pending", True)

        worker.drain()   # the running service's chain worker stamps it
        reader = EventReader(env.session.ledger)
        [event] = [e for e in reader.read(0, reader.head()) if e["name"] == "InvoiceVoided"]
        assert event["fingerprint"] == bytes(stored.fingerprint)
        assert reason_from_bytes32(bytes.fromhex(event["args"]["reason"][2:])).code is VoidReason.DUPLICATE
        tx = env.session.ledger.w3.eth.get_transaction(event["tx"])
        assert NOTE.encode() not in bytes(tx["input"])

        again = CliRunner().invoke(app, ["void", fp, "--reason", "duplicate", *home])
        assert again.exit_code == 0 and "recorded before" in again.stdout and f"block {event['block']}" in again.stdout
        other = CliRunner().invoke(app, ["void", fp, "--reason", "refund", *home])
        assert other.exit_code == 1 and "'duplicate'" in other.output
