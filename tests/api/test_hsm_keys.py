"""A payer's service whose hospital and payer keys live on a PKCS#11 token (SoftHSM2), end to end.

Hospitals registered with ``EBILL_SIGNER=pkcs11:…`` get keys made on the token: the store keeps
a reference to each, never key material. Their QR codes verify at ``POST /v1/verify`` against
the chain's registry, their batches are authorised on the token and anchored, and a claim is
reserved and paid on chain by the payer's token key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from claims_stack import ClaimsStack, make_claims_stack
from softhsm import SoftHsm

from ledger.adapters.pkcs11_token import is_reference, parse_reference
from ledger.qr import decode_qr


@pytest.fixture
def hsm_stack(softhsm_tokens: SoftHsm, tmp_path: Path) -> Iterator[ClaimsStack]:
    s = make_claims_stack(f"sqlite:///{tmp_path}/ebill.sqlite", tmp_path, signer=softhsm_tokens.signer_uri())
    yield s
    s.stop()


def test_hospital_and_payer_keys_on_the_token_sign_qr_codes_anchors_and_claims(hsm_stack: ClaimsStack) -> None:
    cs = hsm_stack
    store = cs.service.store
    for h in store.hospitals():
        assert is_reference(h.sealed_key), "the hospital's key must be on the token"
        assert parse_reference(h.sealed_key)["address"] == h.account
    payer = cs.claims.store.payer(cs.claims.payer_id)
    assert is_reference(payer.sealed_key) and json.loads(payer.sealed_key)["token"] == "ebill"

    items = cs.upload_all()
    fp = items[0]["invoice"]["fingerprint"]
    issuer = items[0]["invoice"]["issuer"]
    detail = cs.client.get(f"/v1/invoices/{fp}", headers=cs.auth("a")).json()
    assert detail["state"] == "anchored"   # the batch was authorised by the hospital's token key
    signed = decode_qr(detail["qr"])
    assert signed.signer(cs.service.qr_domain) == store.hospital(issuer).account
    verdict = cs.client.post("/v1/verify", json={"payload": detail["qr"]}).json()
    assert verdict["status"] == "anchored" and verdict["valid"] is True

    # a claim: reserved (and paid) on chain by the payer's key on the token
    cs.claims.policy = cs.claims.policy.__class__(**{**cs.claims.policy.__dict__, "instant_max_fen": 10**9})
    for fp, nid in cs.patients.items():
        listing = cs.client.get("/v1/me/invoices", headers=cs.citizen(nid)).json()
        inv = next(i for i in listing["invoices"] if i["fingerprint"] == fp)
        if inv["claimable"] and inv["estimateFen"]:
            break
    else:
        raise AssertionError("no claimable invoice")
    claim = cs.claim(nid, [fp], "hsm-claim-0001").json()["claims"][0]
    cs.stamper.drain()
    got = cs.client.get(f"/v1/claims/{claim['id']}", headers=cs.citizen(nid)).json()
    assert got["state"] == "paid" and got["stamp"]["status"] == "finalized", got
    state = cs.session.ledger.invoice_state(got["issuer"], bytes.fromhex(fp[2:]))
    assert state.paid_fen == got["amountFen"] > 0
    assert payer.account in cs.session.keyring and not cs.session.keyring.export().get(payer.account)


def test_a_rotated_key_is_made_on_the_token_and_signs_once_bound(hsm_stack: ClaimsStack) -> None:
    cs = hsm_stack
    h = cs.docs["a"][0]["issuer"]
    first = cs.service.store.hospital(h).account
    r = cs.client.post(f"/v1/hospitals/{h}/keys", json={"revokeOld": "superseded"}, headers=cs.auth("admin"))
    assert r.status_code == 202, r.text
    cs.worker.tick()
    current = cs.service.store.hospital(h)
    assert current.account == r.json()["key"]["account"] != first
    assert is_reference(current.sealed_key) and parse_reference(current.sealed_key)["address"] == current.account
    assert cs.session.ledger.account_info(first).revoked_at > 0
    items = cs.upload_all("a")
    assert decode_qr(items[0]["invoice"]["qr"]).signer(cs.service.qr_domain) == current.account
