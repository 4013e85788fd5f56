"""``/v1/hospitals/{id}/keys``: rotation and revocation over HTTP, put on chain by the chain worker.

The admin rotates a hospital's key: the answer is 202 with a pending key, uploads go on being
signed with the old key until the worker binds the new one on chain, then with the new one. QR
codes signed before the rotation verify at ``POST /v1/verify``; once the old key is revoked, a
seal it signs dated after the revocation day is refused as ``revoked-issuer``. Every other
caller, input and state is refused precisely, and nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from api_stack import Stack, make_stack
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.adapters.registry_export import export_snapshot
from ledger.hashing import Fingerprint, keccak256
from ledger.qr import InvoiceSeal, decode_qr, sign_seal_with
from verifier.seal_check import verify_offline


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = make_stack(f"sqlite:///{tmp_path}/ebill.sqlite", tmp_path)
    yield s
    s.service.store.close()


def _issuer(s: Stack, who: str = "a") -> str:
    return str(s.docs[who][0]["issuer"])


def _upload(s: Stack, doc: dict[str, Any]) -> dict[str, Any]:
    r = s.post_invoice("a", doc)
    assert r.status_code in (200, 201), r.text
    s.worker.drain()
    return dict(r.json()["items"][0]["invoice"])


def _keys(s: Stack, who: str = "admin") -> list[dict[str, Any]]:
    r = s.client.get(f"/v1/hospitals/{_issuer(s)}/keys", headers=s.auth(who))
    assert r.status_code == 200, r.text
    return list(r.json()["keys"])


def test_rotate_then_revoke_over_http(stack: Stack) -> None:
    s, h = stack, _issuer(stack)
    old = _upload(s, s.docs["a"][0])
    first = s.service.store.hospital(h).account
    assert [(k["account"], k["state"]) for k in _keys(s)] == [(first, "current")]

    r = s.client.post(f"/v1/hospitals/{h}/keys", headers=s.auth("admin"))
    assert r.status_code == 202, r.text
    second = r.json()["key"]["account"]
    assert r.json()["key"]["state"] == "pending" and r.json()["created"] is True
    # a second rotation while this one is under way: the same key, nothing new
    again = s.client.post(f"/v1/hospitals/{h}/keys", json={"revokeOld": "compromised"}, headers=s.auth("admin"))
    assert again.status_code == 200 and again.json()["key"]["account"] == second and not again.json()["created"]
    # until the chain binds it, the old key signs (a verifier could not find the new one yet)
    pending = _upload(s, s.docs["a"][1])
    assert decode_qr(pending["qr"]).signer(s.service.qr_domain) == first

    s.worker.tick()
    states = {k["account"]: k for k in _keys(s)}
    assert states[first]["state"] == "retired" and states[second]["state"] == "current"
    assert states[second]["addedAt"] is not None and s.service.store.hospital(h).account == second
    new = _upload(s, s.docs["a"][2])
    assert decode_qr(new["qr"]).signer(s.service.qr_domain) == second
    for invoice in (old, pending, new):   # online: the chain has both keys, the old one not revoked
        assert s.client.post("/v1/verify", json={"payload": invoice["qr"]}).json()["status"] == "anchored"
    snapshot = export_snapshot(s.session.ledger)
    assert verify_offline(old["qr"], snapshot).status == "valid-offline"

    r = s.client.post(f"/v1/hospitals/{h}/keys/{first}/revoke", json={"reason": "compromised"},
                      headers=s.auth("admin"))
    assert r.status_code == 202 and r.json()["key"]["state"] == "revoking", r.text
    s.worker.tick()
    revoked = {k["account"]: k for k in _keys(s)}[first]
    assert revoked["state"] == "revoked" and revoked["revocation"]["reason"] == "compromised"
    assert revoked["revocation"]["revokedAt"] is not None and revoked["revocation"]["block"] is not None
    repeat = s.client.post(f"/v1/hospitals/{h}/keys/{first}/revoke", json={"reason": "lost"}, headers=s.auth("admin"))
    assert repeat.status_code == 200 and repeat.json()["key"]["revocation"]["reason"] == "compromised"

    # the revoked key signs a seal dated after the revocation day: refused, with the reason
    tomorrow = (datetime.now(UTC) + timedelta(hours=8, days=1)).date().isoformat()
    keystore = next(k for k in s.service.store.hospital_keys(h) if k.account == first)
    signer = s.service.keys.open(_keystore_of(s, keystore.account), owner=h, address=first)
    late = sign_seal_with(InvoiceSeal(issuer=h, invoice_code="33060124", invoice_number="0009900002",
                                      issue_date=tomorrow, total_fen=4_400,
                                      fingerprint=Fingerprint(keccak256(b"late seal"))),
                          signer=signer, domain=s.service.qr_domain).encode()
    assert verify_offline(late, export_snapshot(s.session.ledger)).status == "revoked-issuer"
    # a verification service reads the registry again within SNAPSHOT_TTL (5 s); a new one at once
    fresh = TestClient(create_app(s.client.app.state.settings, service=s.service, chain=s.session.ledger))
    verdict = fresh.post("/v1/verify", json={"payload": late}).json()
    assert verdict["status"] == "revoked-issuer" and "revoked at unix" in verdict["reason"], verdict
    # what it signed before the revocation still verifies
    assert fresh.post("/v1/verify", json={"payload": old["qr"]}).json()["status"] == "anchored"


def test_a_rotation_can_revoke_the_key_it_replaces(stack: Stack) -> None:
    s, h = stack, _issuer(stack)
    first = s.service.store.hospital(h).account
    r = s.client.post(f"/v1/hospitals/{h}/keys", json={"revokeOld": "compromised"}, headers=s.auth("admin"))
    assert r.status_code == 202 and r.json()["key"]["revokePrevious"] == "compromised", r.text
    s.worker.tick()
    keys = {k["account"]: k for k in _keys(s)}
    assert keys[first]["state"] == "revoked" and keys[r.json()["key"]["account"]]["state"] == "current"
    assert s.session.ledger.account_info(first).revoked_at > 0


@pytest.mark.parametrize(("method", "path", "body", "who", "status", "words"), [
    ("POST", "/v1/hospitals/{h}/keys", None, "a", 403, "a hospital credential may not rotate"),
    ("POST", "/v1/hospitals/{h}/keys", None, "auditor", 403, "may not rotate"),
    ("POST", "/v1/hospitals/{h}/keys", None, "payer", 403, "may not rotate"),
    ("POST", "/v1/hospitals/{h}/keys/{key}/revoke", {"reason": "lost"}, "a", 403, "may not revoke"),
    ("GET", "/v1/hospitals/{h}/keys", None, "b", 404, "no hospital"),      # another hospital's keys: not found
    ("GET", "/v1/hospitals/{h}/keys", None, "payer", 403, "may not read a hospital's signing keys"),
    ("POST", "/v1/hospitals/H99999999999/keys", None, "admin", 404, "no hospital H99999999999"),
    ("POST", "/v1/hospitals/{h}/keys/{key}/revoke", {"reason": "lost"}, "admin", 409, "current signing key"),
    ("POST", "/v1/hospitals/{h}/keys/{other}/revoke", {"reason": "lost"}, "admin", 404, "has no key"),
    ("POST", "/v1/hospitals/{h}/keys/0x1234/revoke", {"reason": "lost"}, "admin", 422, "account"),
    ("POST", "/v1/hospitals/{h}/keys/{key}/revoke", {"reason": "stolen"}, "admin", 422, "reason"),
    ("POST", "/v1/hospitals/{h}/keys/{key}/revoke", {}, "admin", 422, "reason"),
    ("POST", "/v1/hospitals/{h}/keys", {"revokeOld": "maybe"}, "admin", 422, "revokeOld"),
    ("POST", "/v1/hospitals/{h}/keys", {"revokeOld": "lost", "extra": 1}, "admin", 422, "extra"),
    ("POST", "/v1/hospitals/H1/keys", None, "admin", 422, "institution_id"),
    ("POST", "/v1/hospitals/{h}/keys", "x" * 20_000, "admin", 413, "bytes"),
])
def test_refusals_change_nothing(stack: Stack, method: str, path: str, body: Any, who: str, status: int,
                                 words: str) -> None:
    s, h = stack, _issuer(stack)
    key = s.service.store.hospital(h).account
    path = path.format(h=h, key=key, other=s.service.store.hospital(_issuer(s, "b")).account)
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, str) else {"json": body}
    r = s.client.request(method, path, headers=s.auth(who), **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert words in r.text, r.text
    s.worker.tick()
    assert [(k.account, k.state.value) for k in s.service.store.hospital_keys(h)] == [(key, "current")]


def test_a_hospital_reads_its_own_keys(stack: Stack) -> None:
    keys = _keys(stack, "a")
    assert len(keys) == 1 and keys[0]["state"] == "current" and "signs the hospital's new QR codes" in keys[0][
        "meaning"]


def test_a_pending_key_cannot_be_revoked(stack: Stack) -> None:
    s, h = stack, _issuer(stack)
    pending = s.client.post(f"/v1/hospitals/{h}/keys", headers=s.auth("admin")).json()["key"]["account"]
    r = s.client.post(f"/v1/hospitals/{h}/keys/{pending}/revoke", json={"reason": "lost"}, headers=s.auth("admin"))
    assert r.status_code == 409 and "not yet bound on chain" in r.json()["detail"]


def _keystore_of(s: Stack, account: str) -> str:
    from sqlalchemy import select

    from ledger.adapters.sql.hospital_keys import K

    with s.service.store._read() as conn:
        return str(conn.execute(select(K.c.keystore).where(K.c.account == account)).scalar_one())


def test_a_key_revoked_by_another_process_never_signs_again_in_the_worker(stack: Stack) -> None:
    """`ebill hospital rotate-key --revoke-old` runs beside the service: the worker, which signed
    with the old key a moment ago, signs the next batch with the new one (no refused anchor)."""
    from ledger.app.key_registrar import KeyRegistrar

    s, h = stack, _issuer(stack)
    _upload(s, s.docs["a"][0])   # the worker has signed a batch with the first key
    first = s.service.store.hospital(h).account
    r = s.client.post(f"/v1/hospitals/{h}/keys", json={"revokeOld": "compromised"}, headers=s.auth("admin"))
    done = KeyRegistrar(s.service.store, s.session.ledger, actor="cli").settle(institution_id=h)   # (the CLI)
    assert [k.account for k in done.bound] == [r.json()["key"]["account"]] and [k.account for k in done.revoked] == [
        first]
    new = s.post_invoice("a", s.docs["a"][1]).json()["items"][0]["invoice"]
    report = s.worker.drain()
    assert report.errors == [], report.errors
    got = s.client.get(f"/v1/invoices/{new['fingerprint']}", headers=s.auth("a")).json()
    assert got["state"] == "anchored" and decode_qr(got["qr"]).signer(s.service.qr_domain) != first


def test_a_key_the_chain_refuses_holds_up_nothing_else(stack: Stack) -> None:
    """A pending key already bound on chain to another hospital cannot become this one's: it is
    reported every tick, while the other hospital's rotation and everyone's anchoring go on."""
    s, h, other = stack, _issuer(stack), _issuer(stack, "b")
    s.worker.tick()   # (both hospitals registered on chain)
    hijacked = s.client.post(f"/v1/hospitals/{h}/keys", headers=s.auth("admin")).json()["key"]["account"]
    s.session.ledger.add_key(other, hijacked)   # (the governance bound it to hospital B by mistake)
    rotated = s.client.post(f"/v1/hospitals/{other}/keys", headers=s.auth("admin")).json()["key"]["account"]
    r = s.post_invoice("a", s.docs["a"][0])
    report = s.worker.tick()
    assert any(hijacked in e and "bound on chain to hospital " + other in e for e in report.errors), report.errors
    assert s.service.store.hospital(other).account == rotated          # B's rotation went through
    assert {k.account: k.state.value for k in s.service.store.hospital_keys(h)}[hijacked] == "pending"
    fp = r.json()["items"][0]["invoice"]["fingerprint"]
    assert s.client.get(f"/v1/invoices/{fp}", headers=s.auth("a")).json()["state"] == "anchored"
