"""The ledger on a real anvil node: anchor, prove, verify, void, restart, crash-recover."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.adapters.anvil import AnvilConfig, AnvilNode, free_port
from ledger.adapters.chains import open_node
from ledger.anchoring import Anchorer
from ledger.batch import Batch, batches_of
from ledger.cli import app
from ledger.devtools.synth import generate
from ledger.errors import ChainStateMismatch
from ledger.fingerprint import seal
from ledger.hashing import to_hex
from ledger.proofdoc import ChainRef

pytestmark = pytest.mark.anvil
runner = CliRunner()
PASSPHRASE = "anvil ledger test passphrase"


def _dataset(seed: int, *, invoices: int = 60, hospitals: int = 3) -> list[Batch]:
    data = generate(seed, hospitals=hospitals, invoices=invoices, fee_lines=invoices * 20, pepper=os.urandom(32))
    sealed = [seal(inv) for inv, _ in data]
    return batches_of([(s.invoice.issuer, s.fingerprint, s.invoice.total_fen) for s in sealed], max_leaves=16)


def _anchor(home: Path, url: str, batches: list[Batch]):  # type: ignore[no-untyped-def]
    session = open_node("anvil", url=url, home=home, passphrase=PASSPHRASE)
    session.ensure_hospitals([b.issuer for b in batches])
    report = Anchorer(session.ledger, signer_of=session.signer_of).anchor(batches)
    with session.open_archive() as archive:
        for b, on_chain in zip(batches, report.anchored, strict=True):
            archive.save(b, anchored=on_chain, chain=ChainRef(session.ledger.chain_id, session.ledger.contract_address))
    return session, report


def test_proof_cli_round_trip_tamper_and_void(tmp_path: Path) -> None:
    with AnvilNode(AnvilConfig(data_dir=tmp_path / "node", port=free_port())) as node:
        batches = _dataset(1)
        session, report = _anchor(tmp_path, node.url, batches)
        assert len(report.receipts) == 1 and len(batches) > 3  # many hospitals' batches, one relayed tx
        fp, total = batches[1].leaves[2]
        common = ["--chain", "anvil", "--rpc-url", node.url, "--home", str(tmp_path)]

        res = runner.invoke(app, ["proof", to_hex(fp), "--json", *common])
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        assert doc["fingerprint"] == to_hex(fp) and doc["totalFen"] == total
        assert doc["batchRoot"] == to_hex(batches[1].root) and doc["issuer"] == batches[1].issuer
        path = tmp_path / "proof.json"
        path.write_text(json.dumps(doc))

        res = runner.invoke(app, ["verify-proof", str(path), "--json", *common])
        assert res.exit_code == 0, res.output
        verdict = json.loads(res.stdout)
        assert verdict["valid"] and not verdict["voided"] and verdict["issuer"] == batches[1].issuer

        # one flipped bit in a proof element: refused, with the reason
        flipped = doc["proof"][0][:-1] + ("0" if doc["proof"][0][-1] != "0" else "1")
        tampered = dict(doc, proof=[flipped, *doc["proof"][1:]])
        path.write_text(json.dumps(tampered))
        res = runner.invoke(app, ["verify-proof", str(path), "--json", *common])
        assert res.exit_code == 1
        assert json.loads(res.stdout)["reason"] == "inclusion-proof-invalid"

        # an altered total (a different leaf): refused before reaching the chain
        path.write_text(json.dumps(dict(doc, totalFen=total + 1, leaf=None) | {"leaf": doc["leaf"]}))
        res = runner.invoke(app, ["verify-proof", str(path), *common])
        assert res.exit_code == 2 and "leaf" in res.output

        # void it: the verdict says so (exit 3)
        proof = batches[1].proof(fp)
        session.ledger.void_invoice(hospital=session.signer_of(batches[1].issuer), fingerprint=fp, total_fen=total,
                                    batch_root=batches[1].root, proof=proof.proof, reason="refund")
        path.write_text(json.dumps(doc))
        res = runner.invoke(app, ["verify-proof", str(path), "--json", *common])
        assert res.exit_code == 3 and json.loads(res.stdout)["voided"] is True


def test_restart_with_state_keeps_anchors(tmp_path: Path) -> None:
    config = AnvilConfig(data_dir=tmp_path / "node", port=free_port())
    batches = _dataset(2)
    with AnvilNode(config) as node:
        _anchor(tmp_path, node.url, batches)
    with AnvilNode(config) as node:  # SIGTERM wrote the state; the restart loads it
        session = open_node("anvil", url=node.url, home=tmp_path, deploy=False, passphrase=PASSPHRASE)
        anchorer = Anchorer(session.ledger, signer_of=session.signer_of)
        assert all(anchorer.check(b).institution_id == b.issuer for b in batches)
        again = anchorer.anchor(batches)
        assert again.receipts == () and again.already_anchored == len(batches)


def test_sigkill_loses_recent_anchors_and_they_are_resubmitted(tmp_path: Path) -> None:
    config = AnvilConfig(data_dir=tmp_path / "node", port=free_port(), state_interval=1)
    early, late = _dataset(3, invoices=30), _dataset(4, invoices=30)
    node = AnvilNode(config)
    node.start()
    try:
        _anchor(tmp_path, node.url, early)
        time.sleep(2.5)  # let anvil dump the deployment, registry and first anchors
        _anchor(tmp_path, node.url, late)
        node.kill()      # crash: whatever happened since the last dump is gone
        node.start()
        session = open_node("anvil", url=node.url, home=tmp_path, deploy=False, passphrase=PASSPHRASE)
        anchorer = Anchorer(session.ledger, signer_of=session.signer_of)
        assert all(anchorer.check(b) for b in early)
        missing = [b for b in late if session.ledger.batch(b.root) is None]
        if missing:  # the usual case: the crash lost the second anchoring transaction
            with pytest.raises(ChainStateMismatch):
                anchorer.check(missing[0])
        session.ensure_hospitals([b.issuer for b in early + late])  # the crash may have lost registrations too
        report = anchorer.anchor(early + late)  # the recovery pass re-submits what is missing
        assert report.already_anchored == len(early) + len(late) - len(missing)
        assert all(anchorer.check(b).institution_id == b.issuer for b in early + late)
    finally:
        node.stop()


def test_two_first_starts_at_once_share_one_deployment(tmp_path: Path) -> None:
    """Two processes opening the managed node on one home at the same moment (``ebill serve --role api`` and
    ``--role worker`` started together): one deploys the contract, the other waits and opens that one."""
    import subprocess
    import sys

    with AnvilNode(AnvilConfig(data_dir=tmp_path / "node", port=free_port())) as node:
        script = ("import sys; from pathlib import Path; from ledger.adapters.chains import open_node; "
                  "s = open_node('anvil', url=sys.argv[1], home=Path(sys.argv[2]), passphrase=sys.argv[3]); "
                  "print(s.ledger.contract_address)")
        procs = [subprocess.Popen([sys.executable, "-c", script, node.url, str(tmp_path), PASSPHRASE],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
        contracts = {out.strip() for out, _ in outs}
        assert len(contracts) == 1, contracts
        record = json.loads((tmp_path / "chains" / "anvil" / "deployment.json").read_text())
        assert record["contract"] in contracts
