"""Registry snapshots exported from the embedded EVM, and ``ebill verify --offline`` end to end.

Hospitals are registered, one gets a second key and loses its first, and seals signed by
every key are checked against the exported snapshot; the CLI reads them as text and as
PNG images of the QR code (decoded by zxing-cpp).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from ledger.adapters.chains import ChainSession, open_embedded
from ledger.adapters.qr_image import qr_png
from ledger.adapters.registry_export import export_snapshot
from ledger.base45 import b45decode, b45encode
from ledger.cli.verify import register
from ledger.hashing import Fingerprint, keccak256
from ledger.qr import PREFIX, InvoiceSeal, sign_seal
from verifier.registry import RegistrySnapshot
from verifier.seal_check import verify_offline

H1, H2 = "H33010200001", "H33010200002"


@dataclass
class World:
    session: ChainSession
    snapshot: RegistrySnapshot
    keys: dict[str, bytes]  # role -> private key
    rotated_on: str  # the UTC+8 date the first key of H1 was revoked


@pytest.fixture(scope="module")
def world() -> World:
    session = open_embedded()
    first = session.ensure_hospital(H1)
    other = session.ensure_hospital(H2)
    session.ensure_payer("P31000000001")  # payers are not hospitals: not in the snapshot
    second = session.keyring.new()
    session.ledger.add_key(H1, second)
    session.ledger.revoke_key(first)
    exported = session.keyring.export()
    keys = {name: bytes.fromhex(exported[a][2:]) for name, a in
            (("first", first), ("second", second), ("other", other))}
    snapshot = export_snapshot(session.ledger)
    revoked_at = snapshot.keys_of(H1)[bytes.fromhex(first[2:])].revoked_at  # type: ignore[index]
    rotated_on = (datetime.fromtimestamp(revoked_at, UTC) + timedelta(hours=8)).date().isoformat()
    return World(session, snapshot, keys, rotated_on)


def seal_text(world: World, key: str, *, issuer: str = H1, issue_date: str | None = None, total_fen: int = 2500) -> str:
    seal = InvoiceSeal(issuer=issuer, invoice_code="33060124", invoice_number="0000000042",
                       issue_date=issue_date or world.rotated_on, total_fen=total_fen,
                       fingerprint=Fingerprint(keccak256(b"header")))
    return sign_seal(seal, private_key=world.keys[key], domain=world.snapshot.domain).encode()


def day(world: World, delta: int) -> str:
    return (datetime.fromisoformat(world.rotated_on) + timedelta(days=delta)).date().isoformat()


def test_snapshot_holds_every_hospital_key_with_the_contract_times(world: World) -> None:
    snap, ledger = world.snapshot, world.session.ledger
    assert (snap.chain_id, snap.contract) == (ledger.chain_id, ledger.contract_address)
    assert snap.block_number == ledger.w3.eth.block_number
    assert snap.block_hash == "0x" + bytes(ledger.w3.eth.get_block(snap.block_number)["hash"]).hex()
    assert [h.institution_id for h in snap.hospitals] == [H1, H2]
    h1 = snap.hospitals[0].keys
    assert [k.account for k in h1] == [world.session.hospitals[H1], h1[1].account]
    for hospital in snap.hospitals:
        for key in hospital.keys:
            info = ledger.account_info(key.account)
            assert (info.member_id, info.added_at, info.revoked_at) == (hospital.institution_id, key.added_at,
                                                                        key.revoked_at)
    assert h1[0].revoked_at >= h1[0].added_at > 0 and h1[1].revoked_at == 0
    assert RegistrySnapshot.from_json(json.loads(json.dumps(snap.to_json()))) == snap


def test_seals_signed_by_each_key(world: World) -> None:
    snap = world.snapshot
    assert verify_offline(seal_text(world, "second", issue_date=day(world, 30)), snap).status == "valid-offline"
    assert verify_offline(seal_text(world, "other", issuer=H2), snap).status == "valid-offline"
    # the revoked key: valid up to and including the day it was revoked (UTC+8), refused after
    assert verify_offline(seal_text(world, "first", issue_date=day(world, -1)), snap).status == "valid-offline"
    assert verify_offline(seal_text(world, "first"), snap).status == "valid-offline"
    assert verify_offline(seal_text(world, "first", issue_date=day(world, 1)), snap).status == "revoked-issuer"
    assert verify_offline(seal_text(world, "other", issuer=H1), snap).rule == "signer-of-other-issuer"
    assert verify_offline(seal_text(world, "second", issuer="H33010299999"), snap).status == "unknown-issuer"


def test_a_snapshot_taken_before_the_rotation_does_not_know_the_new_key(world: World) -> None:
    before = export_snapshot(world.session.ledger, block=world.snapshot.block_number - 2)
    assert [len(h.keys) for h in before.hospitals] == [1, 1] and before.hospitals[0].keys[0].revoked_at == 0
    assert verify_offline(seal_text(world, "second"), before).status == "tampered-or-forged"


# --- the CLI -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture(scope="module")
def registry_file(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("registry") / "registry.json"
    path.write_text(json.dumps(world.snapshot.to_json()))
    return path


def run(cli: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["verify", *args])
    return result.exit_code, result.output


def test_verify_an_image_of_the_qr_code_as_json(world: World, cli: typer.Typer, registry_file: Path,
                                                 tmp_path: Path) -> None:
    text = seal_text(world, "second", issue_date=day(world, 3))
    image = tmp_path / "seal.png"
    image.write_bytes(qr_png(text))
    code, output = run(cli, str(image), "--offline", "--registry", str(registry_file), "--json")
    assert code == 0, output
    doc = json.loads(output)
    assert doc["status"] == "valid-offline" and doc["seal"]["issuer"] == H1
    assert doc["snapshot"]["blockNumber"] == world.snapshot.block_number
    photo = tmp_path / "seal.jpeg"  # a phone photo: JPEG, greyscale
    with Image.open(io.BytesIO(qr_png(text, scale=6))) as png:
        png.convert("L").save(photo, "JPEG", quality=70)
    code, output = run(cli, str(photo), "--offline", "--registry", str(registry_file))
    assert code == 0 and "valid-offline" in output, output


def test_verify_text_verdicts_and_exit_codes(world: World, cli: typer.Typer, registry_file: Path) -> None:
    reg = ["--offline", "--registry", str(registry_file)]
    code, output = run(cli, seal_text(world, "second"), *reg)
    assert code == 0 and "valid-offline" in output
    code, output = run(cli, seal_text(world, "first", issue_date=day(world, 2)), *reg)
    assert code == 1 and "revoked-issuer" in output
    raw = bytearray(b45decode(seal_text(world, "second")[len(PREFIX):]))
    raw[20] ^= 1  # the total
    code, output = run(cli, PREFIX + b45encode(bytes(raw)), *reg, "--json")
    assert code == 1 and json.loads(output)["status"] == "tampered-or-forged"
    code, output = run(cli, "ebill:lower-case", *reg)
    assert code == 1 and "malformed" in output and "qr-prefix" in output


def test_verify_usage_errors_exit_2(world: World, cli: typer.Typer, registry_file: Path, tmp_path: Path) -> None:
    text = seal_text(world, "second")
    # online (the default) needs a chain: none runs for this data directory
    code, output = run(cli, text, "--home", str(tmp_path))
    assert code == 1 and "no anvil node is running" in output
    assert run(cli, text, "--offline")[0] == 2
    assert run(cli, str(tmp_path / "missing.png"), "--offline", "--registry", str(registry_file))[0] == 2
    not_an_image = tmp_path / "note.png"
    not_an_image.write_text("hello")
    assert run(cli, str(not_an_image), "--offline", "--registry", str(registry_file))[0] == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**world.snapshot.to_json(), "extra": 1}))
    code, output = run(cli, text, "--offline", "--registry", str(bad))
    assert code == 2 and "extra" in output


@pytest.mark.anvil
def test_registry_export_command_on_anvil(cli: typer.Typer, tmp_path: Path) -> None:
    from ledger.adapters.anvil import AnvilConfig, AnvilNode, free_port
    from ledger.adapters.chains import open_node

    with AnvilNode(AnvilConfig(data_dir=tmp_path / "node", port=free_port())) as node:
        session = open_node("anvil", url=node.url, home=tmp_path, passphrase="registry test passphrase")
        account = session.ensure_hospital(H1)
        key = bytes.fromhex(session.keyring.export()[account][2:])
        out = tmp_path / "registry.json"
        common = ["--chain", "anvil", "--rpc-url", node.url, "--home", str(tmp_path)]
        result = CliRunner().invoke(cli, ["registry", "export", *common, "-o", str(out)])
        assert result.exit_code == 0, result.output
        snapshot = RegistrySnapshot.from_json(json.loads(out.read_text()))
        assert [k.account for k in snapshot.keys_of(H1).values()] == [account]  # type: ignore[union-attr]
        assert CliRunner().invoke(cli, ["registry", "export", "--chain", "embedded"]).exit_code == 2
    seal = InvoiceSeal(issuer=H1, invoice_code="33060124", invoice_number="0000000001", issue_date="2030-01-01",
                       total_fen=1, fingerprint=Fingerprint(keccak256(b"anvil")))
    text = sign_seal(seal, private_key=key, domain=snapshot.domain).encode()
    code, output = run(cli, text, "--offline", "--registry", str(out))
    assert code == 0, output
