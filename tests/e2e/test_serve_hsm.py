"""``ebill serve`` with every key on a PKCS#11 token (SoftHSM2), as real processes: the relayer of a new
deployment, a hospital registered on the command line, two API workers signing QR codes on the token,
the chain worker authorising batches there; then the hospital's key rotated (and the old one revoked)
with ``ebill hospital rotate-key`` while the service runs, which goes on signing with the new key."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from serve_support import Serve, until
from softhsm import SoftHsm

from ledger.adapters import anvil
from ledger.adapters.pkcs11_token import is_reference
from ledger.devtools import synth
from ledger.errors import ToolchainError
from ledger.qr import QrDomain, decode_qr

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

try:
    anvil.anvil_binary()
except ToolchainError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"no anvil binary: {exc}", allow_module_level=True)

PEPPER = b"e2e hsm pepper, 32 bytes long..."


def test_serve_signs_everything_on_the_token_and_rotates_while_running(softhsm_tokens: SoftHsm,
                                                                       tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EBILL_") or k == anvil.BINARY_ENV}
    env.update(softhsm_tokens.env(), EBILL_PEPPER=PEPPER.hex(), EBILL_SIGNER=softhsm_tokens.signer_uri(),
               EBILL_PAYER_ID="none")
    ds = synth.generate(seed=31, hospitals=1, invoices=8, fee_lines=100, pepper=PEPPER)
    h = ds.hospitals[0].code
    docs = list(synth.iter_documents(ds))
    with anvil.AnvilNode(anvil.AnvilConfig(data_dir=tmp_path / "node", port=anvil.free_port())) as node:
        serve = Serve(tmp_path / "home", env, node.url, workers=2)
        try:
            registered = json.loads(serve.ebill("hospital", "register", "--id", h, "--name", "HSM Hospital",
                                                "--region", "330100", "--json"))
            auth = {"Authorization": f"Bearer {registered['apiToken']}"}
            serve.start()
            record = json.loads((tmp_path / "home" / "chains" / "anvil" / "deployment.json").read_text())
            assert "sealedKey" not in record["governance"] and record["governance"]["tokenKey"]["alg"] == "pkcs11"

            def upload(batch: list[dict[str, object]]) -> list[dict[str, object]]:
                r = serve.http.post("/v1/invoices", json=batch, headers=auth)
                assert r.status_code == 200, r.text
                fps = [item["invoice"]["fingerprint"] for item in r.json()["items"]]
                return [until(lambda fp=fp: (d := serve.http.get(f"/v1/invoices/{fp}", headers=auth).json())
                              ["state"] == "anchored" and d, 60, f"{fp} anchored") for fp in fps]

            first = upload(docs[:4])
            domain = QrDomain(chain_id=first[0]["chain"]["chainId"], verifying_contract=first[0]["chain"]["contract"])
            assert {decode_qr(d["qr"]).signer(domain) for d in first} == {registered["account"]}

            done = serve.run("hospital", "rotate-key", "--id", h, "--revoke-old", "superseded", "--rpc-url",
                             node.url, "--json")
            assert done.returncode == 0, done.stdout + done.stderr
            rotated = json.loads(done.stdout)
            new_key = rotated["key"]["account"]
            assert rotated["previous"]["state"] == "revoked"
            keys = json.loads(serve.ebill("hospital", "keys", "--id", h, "--json"))["keys"]
            assert {k["account"]: k["state"] for k in keys} == {registered["account"]: "revoked", new_key: "current"}

            second = upload(docs[4:])   # both API workers and the chain worker sign with the new key now
            assert {decode_qr(d["qr"]).signer(domain) for d in second} == {new_key}
            for d in first:   # signed before the rotation: still genuine
                assert serve.http.post("/v1/verify", json={"payload": d["qr"]}).json()["status"] == "anchored"
            store = (tmp_path / "home" / "ebill.sqlite").read_bytes()
            assert b'"alg": "A256GCM"' not in store   # no key of this deployment is sealed in its database
        finally:
            serve.stop()
    assert "Traceback" not in serve.log(tail=None), serve.log()
    assert is_reference(json.dumps(record["governance"]["tokenKey"]))
