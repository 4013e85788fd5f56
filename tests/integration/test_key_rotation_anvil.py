"""``ebill hospital rotate-key`` and ``revoke-key`` end to end on a real anvil node.

A hospital uploads invoices, its key is rotated by the governance (``addKey``), and then:
its QR codes signed before the rotation still verify, online and offline from a registry
snapshot exported after it; new invoices are signed with the new key (and anchored with
it); the old key, once revoked (``revokeKey``), no longer vouches for a seal dated after the
revocation day — the verifier says so. Wrong hospitals, wrong roles and wrong input get one
clear line each; an unreachable chain leaves the rotation recorded, and running the command
again completes it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from anvil_service import service_on_anvil
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from ledger.cli import app
from ledger.devtools import synth
from ledger.formats.items import SourceItem
from ledger.hashing import Fingerprint, keccak256
from ledger.hospital_keys import KeyState
from ledger.qr import InvoiceSeal, decode_qr, sign_seal_with
from ledger.records import Role

pytestmark = pytest.mark.anvil
runner = CliRunner()


def _cli(home: Path, *args: str) -> Any:
    return runner.invoke(app, list(args), env={"EBILL_HOME": str(home), "COLUMNS": "400"})


def _verify(home: Path, qr: str, *options: str) -> dict[str, Any]:
    r = _cli(home, "verify", qr, "--home", str(home), "--json", *options)
    assert r.exit_code in (0, 1), r.output
    return dict(json.loads(r.stdout))


def test_rotation_and_revocation_through_the_cli(tmp_path: Path) -> None:
    with service_on_anvil(tmp_path) as env:
        url, service, worker = env.node.url, env.service, env.worker
        chain = ["--rpc-url", url]
        ds = synth.generate(seed=15, hospitals=2, invoices=24, fee_lines=240, pepper=env.settings.pepper_bytes())
        h, other = ds.hospitals[0].code, ds.hospitals[1].code
        docs = [d for d in synth.iter_documents(ds) if d["issuer"] == h]
        assert len(docs) >= 4
        tokens = {}
        for hospital in ds.hospitals:
            _, tokens[hospital.code] = service.register_hospital(institution_id=hospital.code, name=hospital.name,
                                                                 region="330100")
        principal = service.authenticate(tokens[h])
        before = service.upload(principal, [SourceItem(i, "", d) for i, d in enumerate(docs[:2])])
        worker.drain()
        old_qr = before.items[0].invoice.qr  # type: ignore[union-attr]
        first_key = service.store.hospital(h).account
        assert decode_qr(old_qr).signer(service.qr_domain) == first_key

        # ---- rotate: bound on chain at once by the governance key of the deployment record
        r = _cli(tmp_path, "hospital", "rotate-key", "--id", h, *chain)
        assert r.exit_code == 0, r.output
        second_key = service.store.hospital(h).account
        assert second_key != first_key and f"new signing key {second_key} of {h} bound on chain" in r.stdout
        assert f"the previous key {first_key} is retired" in r.stdout
        info = env.session.ledger.account_info(second_key)
        assert (info.member_id, info.kind, info.revoked_at) == (h, "hospital", 0)
        states = {k.account: k.state for k in service.store.hospital_keys(h)}
        assert states == {first_key: KeyState.RETIRED, second_key: KeyState.CURRENT}

        # new invoices are signed with the new key, and anchored with it
        after = service.upload(principal, [SourceItem(i, "", d) for i, d in enumerate(docs[2:4])])
        worker.drain()
        new_qr = after.items[0].invoice.qr  # type: ignore[union-attr]
        assert decode_qr(new_qr).signer(service.qr_domain) == second_key
        client = TestClient(create_app(env.settings, service=service, chain=env.session.ledger))
        new_fp = "0x" + bytes(after.items[0].invoice.fingerprint).hex()  # type: ignore[union-attr]
        assert client.get(f"/v1/invoices/{new_fp}", headers={"Authorization": f"Bearer {tokens[h]}"}).json()[
            "state"] == "anchored"

        # the old QR code still verifies: online, and offline from a snapshot exported after the rotation
        proofs = tmp_path / "proofs"
        proofs.mkdir()
        for item in (*before.items, *after.items):
            fp = "0x" + bytes(item.invoice.fingerprint).hex()  # type: ignore[union-attr]
            (proofs / f"{fp}.json").write_text(client.get(f"/v1/proofs/{fp}").text)
        online = ["--proofs", str(proofs), *chain]
        assert _verify(tmp_path, old_qr, *online)["status"] == "anchored"
        assert _verify(tmp_path, new_qr, *online)["status"] == "anchored"
        snapshot = tmp_path / "registry.json"
        assert _cli(tmp_path, "registry", "export", *chain, "-o", str(snapshot)).exit_code == 0
        for qr in (old_qr, new_qr):
            assert _verify(tmp_path, qr, "--offline", "--registry", str(snapshot))["status"] == "valid-offline"

        # ---- revoke the old key: seals it signs dated after the revocation day are refused
        r = _cli(tmp_path, "hospital", "revoke-key", "--id", h, "--account", first_key, "--reason", "compromised",
                 *chain)
        assert r.exit_code == 0, r.output
        assert f"key {first_key} of {h} revoked on chain" in r.stdout and "(compromised)" in r.stdout
        revoked = next(k for k in service.store.hospital_keys(h) if k.account == first_key)
        assert revoked.state is KeyState.REVOKED and revoked.revoked_at == \
            env.session.ledger.account_info(first_key).revoked_at > 0
        tomorrow = (datetime.now(UTC) + timedelta(hours=8, days=1)).date().isoformat()
        old_signer = service.keys.open(_keystore(service, first_key), owner=h, address=first_key)
        late = sign_seal_with(InvoiceSeal(issuer=h, invoice_code="33060124", invoice_number="0009900001",
                                          issue_date=tomorrow, total_fen=12_300,
                                          fingerprint=Fingerprint(keccak256(b"signed after the revocation"))),
                              signer=old_signer, domain=service.qr_domain).encode()
        assert _cli(tmp_path, "registry", "export", *chain, "-o", str(snapshot)).exit_code == 0
        offline = _verify(tmp_path, late, "--offline", "--registry", str(snapshot))
        assert offline["status"] == "revoked-issuer"
        assert f"a key of {h} revoked at unix {revoked.revoked_at}" in offline["reason"]
        verdict = client.post("/v1/verify", json={"payload": late}).json()
        assert verdict["status"] == "revoked-issuer" and verdict["valid"] is False, verdict
        # what it signed before still verifies, offline and online
        assert _verify(tmp_path, old_qr, "--offline", "--registry", str(snapshot))["status"] == "valid-offline"
        assert client.post("/v1/verify", json={"payload": old_qr}).json()["status"] == "anchored"
        again = _cli(tmp_path, "hospital", "revoke-key", "--id", h, "--account", first_key, "--reason",
                     "compromised", *chain)
        assert again.exit_code == 0 and "revoked on chain" in again.stdout

        # ---- a rotation that revokes the key it replaces, in one command
        r = _cli(tmp_path, "hospital", "rotate-key", "--id", h, "--revoke-old", "superseded", "--json", *chain)
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        assert doc["key"]["state"] == "current" and doc["previous"]["account"] == second_key
        assert doc["previous"]["state"] == "revoked" and doc["previous"]["revocation"]["reason"] == "superseded"
        assert env.session.ledger.account_info(second_key).revoked_at > 0
        listed = _cli(tmp_path, "hospital", "keys", "--id", h)
        assert listed.exit_code == 0 and listed.stdout.count("revoked") >= 2 and "current" in listed.stdout

        # ---- refusals, one clear line each
        third_key = service.store.hospital(h).account
        cases = [
            (["hospital", "rotate-key", "--id", "H99999999999", *chain], 1, "no hospital H99999999999"),
            (["hospital", "revoke-key", "--id", h, "--account", third_key, "--reason", "compromised", *chain], 1,
             "current signing key"),
            (["hospital", "revoke-key", "--id", h, "--account", service.store.hospital(other).account, "--reason",
              "lost", *chain], 1, f"{h} has no key"),
            (["hospital", "revoke-key", "--id", h, "--account", "0x1234", "--reason", "lost"], 2, "--account"),
            (["hospital", "revoke-key", "--id", h, "--account", first_key, "--reason", "stolen"], 2, "--reason"),
            (["hospital", "rotate-key", "--id", h, "--revoke-old", "maybe"], 2, "--revoke-old"),
            (["hospital", "rotate-key", "--id", h, "--token", tokens[h], *chain], 1,
             "a hospital credential may not rotate a hospital's signing key"),
        ]
        for args, code, words in cases:
            r = _cli(tmp_path, *args)
            assert r.exit_code == code and words in r.output, (args, r.output)
            assert "Traceback" not in r.output
        auditor = service.create_credential(role=Role.AUDITOR, subject="audit-office")
        r = _cli(tmp_path, "hospital", "keys", "--id", h, "--token", auditor, "--json")
        assert r.exit_code == 0 and len(json.loads(r.stdout)["keys"]) == 3

        # ---- an unreachable chain: the rotation stays recorded (pending), and signs nothing yet
        r = _cli(tmp_path, "hospital", "rotate-key", "--id", h, "--rpc-url", "http://127.0.0.1:9")
        said = " ".join(r.output.split())   # the console wraps long lines
        assert r.exit_code == 1 and "recorded in the database" in said and "ebill serve" in said
        pending = next(k for k in service.store.hospital_keys(h) if k.state is KeyState.PENDING)
        assert service.store.hospital(h).account == third_key
        r = _cli(tmp_path, "hospital", "rotate-key", "--id", h, *chain)
        assert r.exit_code == 0 and "under way already" in r.output, r.output
        assert service.store.hospital(h).account == pending.account


def _keystore(service: Any, account: str) -> str:
    from sqlalchemy import select

    from ledger.adapters.sql.hospital_keys import K

    with service.store._read() as conn:
        return str(conn.execute(select(K.c.keystore).where(K.c.account == account)).scalar_one())
