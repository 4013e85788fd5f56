"""The deployment record's private keys are sealed at rest, for an RPC node and for anvil.

A real anvil node stands in for the operator's JSON-RPC endpoint (``--chain rpc``), as
Besu would be in production. The record is scanned for every key's hex: none may appear.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner

from ledger.adapters.anvil import AnvilConfig, AnvilNode, free_port
from ledger.adapters.chains import open_node
from ledger.cli import app
from ledger.errors import KeysUnavailable, NotFound, VerificationError, WrongPassphrase

pytestmark = pytest.mark.anvil

PASSPHRASE = "deployment keys test passphrase"
H1, H2 = "H33010200001", "H33010200002"


def _raw_keys_in(path: Path, keys: list[str]) -> list[str]:
    text = path.read_text().lower()
    return [k for k in keys if k.lower().removeprefix("0x") in text]


def _funded_key(url: str) -> str:
    """A fresh governance key, funded as the consortium would fund it on its chain."""
    from web3 import Web3

    acct = Account.create()
    Web3(Web3.HTTPProvider(url)).provider.make_request("anvil_setBalance", [acct.address, hex(10**20)])  # type: ignore[arg-type]
    return "0x" + bytes(acct.key).hex()


def _deploy(url: str, home: Path, governance_key: str) -> None:
    """``ebill chain deploy``, as an operator runs it (the relayer's key in a 0600 file)."""
    key_file = home / "relayer.key"
    key_file.write_text(governance_key)
    key_file.chmod(0o600)
    consortium = Account.create().address
    r = CliRunner().invoke(app, ["chain", "deploy", "--rpc-url", url, "--relayer-key-file", str(key_file),
                                 "--proposer", consortium, "--executor", consortium, "--min-delay", "60"],
                           env={"EBILL_KEYSTORE_PASSPHRASE": PASSPHRASE, "EBILL_HOME": str(home)})
    assert r.exit_code == 0, r.output


def test_an_rpc_deployment_record_holds_no_raw_key(tmp_path: Path) -> None:
    with AnvilNode(AnvilConfig(data_dir=tmp_path / "node", port=free_port())) as node:
        governance_key = _funded_key(node.url)
        # an RPC node never gets a ledger by accident: deploying is `ebill chain deploy`
        with pytest.raises(NotFound, match="ebill chain deploy"):
            open_node("rpc", url=node.url, home=tmp_path, key=governance_key, passphrase=PASSPHRASE)
        _deploy(node.url, tmp_path, governance_key)
        session = open_node("rpc", url=node.url, home=tmp_path, passphrase=PASSPHRASE)
        session.ensure_hospital(H1)
        session.ensure_payer("P330100")
        record = session.record_path
        assert record is not None and record.parent.name.startswith("rpc-")
        keys = list(session.keyring.export().values())
        assert governance_key in keys and len(keys) == 3
        assert _raw_keys_in(record, keys) == []
        assert stat.S_IMODE(record.stat().st_mode) == 0o600
        doc = json.loads(record.read_text())
        assert doc["format"] == "ebill-deployment/v2" and doc["governance"]["address"] == session.governance
        assert doc["admin"]["kind"] == "openzeppelin-timelock" and doc["admin"]["minDelay"] == 60   # kept by save()

        # the passphrase alone opens it again: the same accounts, able to sign (register H2)
        again = open_node("rpc", url=node.url, home=tmp_path, passphrase=PASSPHRASE)
        assert (again.governance, again.hospitals, again.payers) == (session.governance, session.hospitals,
                                                                       session.payers)
        again.ensure_hospital(H2)
        assert again.ledger.account_info(again.hospitals[H2]).member_id == H2
        assert _raw_keys_in(record, list(again.keyring.export().values())) == []

        with pytest.raises(WrongPassphrase, match=str(record)):
            open_node("rpc", url=node.url, home=tmp_path, passphrase="not the passphrase at all")
        # without the passphrase: a read-only session (verification), which refuses to sign
        reader = open_node("rpc", url=node.url, home=tmp_path)
        assert reader.governance == session.governance and reader.notes == []
        with pytest.raises(KeysUnavailable):
            reader.ensure_hospital("H33010200003")

        # from the command line: a wrong passphrase is one clear line, not a traceback
        env = {"EBILL_KEYSTORE_PASSPHRASE": "not the passphrase at all", "EBILL_HOME": str(tmp_path)}
        r = CliRunner().invoke(app, ["demo", "--chain", "rpc", "--rpc-url", node.url, "--invoices", "4"], env=env)
        assert r.exit_code == 1 and "keystore passphrase does not open" in r.output
        assert "Traceback" not in r.output and isinstance(r.exception, SystemExit)   # typer.Exit, nothing raw
        r = CliRunner().invoke(app, ["registry", "export", "--chain", "rpc", "--rpc-url", node.url], env=env)
        assert r.exit_code == 0, r.output   # reading needs no key


def test_an_unencrypted_record_keeps_working_and_is_sealed_when_opened_with_the_passphrase(tmp_path: Path) -> None:
    with AnvilNode(AnvilConfig(data_dir=tmp_path / "node", port=free_port())) as node:
        session = open_node("anvil", url=node.url, home=tmp_path, passphrase=PASSPHRASE)
        session.ensure_hospitals([H1])
        record = session.record_path
        assert record is not None
        keys = session.keyring.export()
        assert _raw_keys_in(record, list(keys.values())) == []
        # the record as the first format wrote it: raw keys, a warning in the file
        legacy = {"_warning": "development keys, unencrypted: never use this file for a production chain",
                  "name": "anvil", "chainId": session.ledger.chain_id, "contract": session.ledger.contract_address,
                  "governance": {"address": session.governance, "key": keys[session.governance]},
                  "hospitals": {H1: {"address": session.hospitals[H1], "key": keys[session.hospitals[H1]]}},
                  "payers": {}}
        record.write_text(json.dumps(legacy, indent=1))

        reader = open_node("anvil", url=node.url, home=tmp_path, deploy=False)
        assert reader.hospitals == {H1: session.hospitals[H1]}
        assert any("unencrypted" in n for n in reader.notes)
        assert len(_raw_keys_in(record, list(keys.values()))) == 2     # reading alone changes nothing

        env = {"EBILL_KEYSTORE_PASSPHRASE": PASSPHRASE, "EBILL_HOME": str(tmp_path), "COLUMNS": "300"}
        r = CliRunner().invoke(app, ["demo", "--chain", "anvil", "--rpc-url", node.url, "--hospitals", "2",
                                     "--invoices", "6"], env=env)
        assert r.exit_code == 0, r.output
        assert "sealed the private keys" in " ".join(r.output.split())
        assert _raw_keys_in(record, list(keys.values())) == []
        doc = json.loads(record.read_text())
        assert "_warning" not in doc and doc["hospitals"][H1]["address"] == session.hospitals[H1]

        # sealed now: the same accounts open with the passphrase, and the notes are gone
        after = open_node("anvil", url=node.url, home=tmp_path, deploy=False, passphrase=PASSPHRASE)
        assert after.governance == session.governance and after.notes == []
        assert after.keyring.export()[session.hospitals[H1]] == keys[session.hospitals[H1]]
        assert _raw_keys_in(record, list(after.keyring.export().values())) == []


def test_keys_are_bound_to_their_entry_and_deploying_needs_the_passphrase(tmp_path: Path) -> None:
    with AnvilNode(AnvilConfig(data_dir=tmp_path / "node", port=free_port())) as node:
        with pytest.raises(KeysUnavailable, match="passphrase"):
            open_node("anvil", url=node.url, home=tmp_path)
        assert not (tmp_path / "chains" / "anvil" / "deployment.json").exists()
        session = open_node("anvil", url=node.url, home=tmp_path, passphrase=PASSPHRASE)
        session.ensure_hospitals([H1, H2])
        record = session.record_path
        assert record is not None
        # a sealed key moved to another entry does not open there
        doc = json.loads(record.read_text())
        h = doc["hospitals"]
        h[H1]["sealedKey"], h[H2]["sealedKey"] = h[H2]["sealedKey"], h[H1]["sealedKey"]
        record.write_text(json.dumps(doc))
        with pytest.raises(VerificationError, match=f"hospital:{H1}"):
            open_node("anvil", url=node.url, home=tmp_path, passphrase=PASSPHRASE)
        record.write_text("{not json")
        r = CliRunner().invoke(app, ["demo", "--chain", "anvil", "--rpc-url", node.url],
                               env={"EBILL_KEYSTORE_PASSPHRASE": PASSPHRASE, "EBILL_HOME": str(tmp_path)})
        assert r.exit_code == 2 and "deployment record" in r.output
