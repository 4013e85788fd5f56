"""The upload API through HTTP: uploads, idempotency, validation, anchoring, proofs, voids.

Runs on SQLite and (where installed) PostgreSQL, on the embedded EVM.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest
from api_stack import Stack

from ledger.hashing import parse_hash32
from ledger.merkle import standard_leaf_hash, verify_inclusion
from ledger.qr import decode_qr, verify_seal_signature


def _counts(stack: Stack) -> dict[str, int]:
    return stack.service.store.counts()


def test_single_upload_is_stored_signed_and_anchored(any_db_stack: Stack) -> None:
    s = any_db_stack
    doc = s.docs["a"][0]
    r = s.post_invoice("a", doc)
    assert r.status_code == 201, r.text
    item = r.json()["items"][0]
    inv = item["invoice"]
    assert item["status"] == "created" and inv["state"] == "stored"
    assert r.headers["location"] == f"/v1/invoices/{inv['fingerprint']}"
    assert inv["invoiceCode"] == doc["invoiceCode"] and inv["totalFen"] == doc["totalFen"]

    # the QR payload is signed by the hospital's registered account over this fingerprint
    signed = decode_qr(inv["qr"])
    hospital = s.service.store.hospital(doc["issuer"])
    verify_seal_signature(signed, domain=s.service.qr_domain, expected_signer=hospital.account)
    assert "0x" + bytes(signed.seal.fingerprint).hex() == inv["fingerprint"]
    assert signed.seal.total_fen == doc["totalFen"]

    s.worker.drain()
    got = s.client.get(f"/v1/invoices/{inv['fingerprint']}", headers=s.auth("a")).json()
    assert got["state"] == "anchored"
    assert got["transaction"].startswith("0x") and got["block"] >= 1
    proof = got["inclusionProof"]
    root = parse_hash32(proof["batchRoot"])
    assert got["batchRoot"] == proof["batchRoot"]
    leaf = standard_leaf_hash(("bytes32", "uint256"), (parse_hash32(inv["fingerprint"]), inv["totalFen"]))
    verify_inclusion(root=root, leaf=leaf, proof=[parse_hash32(p) for p in proof["proof"]])
    assert s.session.ledger.is_anchored(fingerprint=parse_hash32(inv["fingerprint"]), total_fen=inv["totalFen"],
                                        root=root, proof=[parse_hash32(p) for p in proof["proof"]])
    assert got["chain"]["contract"] == s.session.ledger.contract_address
    assert got["void"] is None and got["reimbursement"]["paidFen"] == 0


def test_retry_is_idempotent_and_changed_content_is_a_conflict(any_db_stack: Stack) -> None:
    s = any_db_stack
    doc = s.docs["a"][1]
    first = s.post_invoice("a", doc).json()["items"][0]["invoice"]
    again = s.post_invoice("a", doc)
    assert again.status_code == 200
    assert again.json()["items"][0]["status"] == "duplicate"
    assert again.json()["items"][0]["invoice"]["fingerprint"] == first["fingerprint"]
    # the same invoice with keys in another order is the same content
    reordered = dict(reversed(list(doc.items())))
    assert s.post_invoice("a", reordered).json()["items"][0]["status"] == "duplicate"

    changed = copy.deepcopy(doc)
    changed["checkCode"] = "ZZZZZZ"
    r = s.post_invoice("a", changed)
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["rule"] == "same-key-different-content"
    assert _counts(s)["invoices"] == 1


def test_invalid_invoice_names_every_problem_and_stores_nothing(stack: Stack) -> None:
    doc = copy.deepcopy(stack.docs["a"][0])
    doc["totalFen"] += 1
    doc["feeLines"][2]["category"] = "Z"
    doc["invoiceNumber"] = "１２３"  # full-width digits
    r = stack.post_invoice("a", doc)
    assert r.status_code == 422
    body = r.json()
    assert body["type"].endswith("/invalid-invoice") and body["status"] == 422
    fields = {(e["field"], e["rule"]) for e in body["errors"]}
    assert any(f == "feeLines[2].category" for f, _ in fields)
    assert any(f == "invoiceNumber" for f, _ in fields)
    assert any(f == "totalFen" or "sum" in r for f, r in fields)
    assert _counts(stack)["invoices"] == 0


def test_bulk_upload_stores_valid_items_and_reports_each(any_db_stack: Stack) -> None:
    s = any_db_stack
    docs = copy.deepcopy(s.docs["a"][:6])
    docs[2]["feeLines"][0]["amountFen"] += 1           # invalid
    docs[4]["issuer"] = s.docs["b"][0]["issuer"]        # another hospital's invoice
    docs.append(copy.deepcopy(docs[0]))                 # the same invoice twice in one request
    r = s.client.post("/v1/invoices", json=docs, headers=s.auth("a"))
    assert r.status_code == 200, r.text
    body = r.json()
    statuses = [i["status"] for i in body["items"]]
    assert statuses == ["created", "created", "rejected", "created", "rejected", "created", "duplicate"]
    assert body["counts"] == {"created": 4, "duplicate": 1, "conflict": 0, "rejected": 2}
    assert body["items"][4]["problems"][0]["rule"] == "issuer-is-uploader"
    assert body["items"][2]["problems"][0]["field"].startswith("feeLines[0]")
    assert _counts(s)["invoices"] == 4
    # retrying the whole payload stores nothing twice
    again = s.client.post("/v1/invoices", json=docs, headers=s.auth("a")).json()
    assert again["counts"]["created"] == 0 and again["counts"]["duplicate"] == 5
    assert _counts(s)["invoices"] == 4


def test_ndjson_upload_and_listing(stack: Stack) -> None:
    body = b"\n".join(orjson.dumps(d) for d in stack.docs["b"]) + b"\n\n"
    r = stack.client.post("/v1/invoices", content=body, headers={**stack.auth("b"),
                                                                  "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["created"] == len(stack.docs["b"])
    assert r.json()["items"][0]["ref"].endswith("line 1")
    page = stack.client.get("/v1/invoices?limit=5", headers=stack.auth("b")).json()
    assert len(page["items"]) == 5 and page["next"] == page["items"][-1]["fingerprint"]
    rest = stack.client.get(f"/v1/invoices?limit=1000&after={page['next']}", headers=stack.auth("b")).json()
    assert len(rest["items"]) == len(stack.docs["b"]) - 5 and rest["next"] is None
    # hospital a sees none of b's invoices
    assert stack.client.get("/v1/invoices", headers=stack.auth("a")).json()["items"] == []
    stack.worker.drain()
    anchored = stack.client.get("/v1/invoices?state=anchored&limit=1000", headers=stack.auth("payer")).json()
    assert len(anchored["items"]) == len(stack.docs["b"])


def test_fee_lines_and_qr_image(stack: Stack) -> None:
    doc = stack.docs["a"][3]
    fp = stack.post_invoice("a", doc).json()["items"][0]["invoice"]["fingerprint"]
    lines = stack.client.get(f"/v1/invoices/{fp}/fee-lines", headers=stack.auth("payer")).json()["feeLines"]
    assert lines == doc["feeLines"]
    text = stack.client.get(f"/v1/invoices/{fp}/qr", headers=stack.auth("a"))
    assert text.headers["content-type"].startswith("text/plain")
    png = stack.client.get(f"/v1/invoices/{fp}/qr?format=png", headers=stack.auth("a"))
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    import io

    import zxingcpp
    from PIL import Image

    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert [d.text for d in decoded] == [text.text]


# ---------------------------------------------------------------------- authorisation


def test_authentication_is_required_and_checked(stack: Stack) -> None:
    doc = stack.docs["a"][0]
    r = stack.client.post("/v1/invoices", json=doc)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["type"].endswith("/unauthenticated")
    for bad in ("nonsense", "ebill_000000000000_wrong", stack.tokens["a"][:-2] + "xx"):
        assert stack.client.post("/v1/invoices", json=doc, headers={"Authorization": f"Bearer {bad}"}
                                 ).status_code == 401
    assert _counts(stack)["invoices"] == 0


@pytest.mark.parametrize("who", ["payer", "auditor", "admin"])
def test_only_hospitals_upload_and_void(stack: Stack, who: str) -> None:
    r = stack.post_invoice(who, stack.docs["a"][0])
    assert r.status_code == 403 and r.json()["type"].endswith("/forbidden")
    fp = stack.post_invoice("a", stack.docs["a"][0]).json()["items"][0]["invoice"]["fingerprint"]
    v = stack.client.post(f"/v1/invoices/{fp}/void", json={"reason": "refund"}, headers=stack.auth(who))
    assert v.status_code == 403


def test_a_hospital_sees_and_voids_only_its_own_invoices(stack: Stack) -> None:
    fp = stack.post_invoice("a", stack.docs["a"][0]).json()["items"][0]["invoice"]["fingerprint"]
    assert stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth("b")).status_code == 404
    assert stack.client.get(f"/v1/invoices/{fp}/fee-lines", headers=stack.auth("b")).status_code == 404
    assert stack.client.post(f"/v1/invoices/{fp}/void", json={"reason": "x"}, headers=stack.auth("b")
                             ).status_code == 404
    for who in ("a", "payer", "auditor"):
        assert stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth(who)).status_code == 200


def test_admin_registers_hospitals_and_credentials(stack: Stack) -> None:
    body = {"institutionId": "H33010299999", "name": "Test Hospital", "region": "330102"}
    assert stack.client.post("/v1/hospitals", json=body, headers=stack.auth("a")).status_code == 403
    r = stack.client.post("/v1/hospitals", json=body, headers=stack.auth("admin"))
    assert r.status_code == 201, r.text
    token = r.json()["apiToken"]
    me = stack.client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["role"] == "hospital" and me["hospital"]["account"] == r.json()["account"]
    assert stack.client.post("/v1/hospitals", json=body, headers=stack.auth("admin")).status_code == 409
    bad = stack.client.post("/v1/hospitals", json={**body, "institutionId": "X1"}, headers=stack.auth("admin"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "institutionId"
    # the worker registers the new hospital's key on chain
    stack.worker.drain()
    info = stack.session.ledger.account_info(r.json()["account"])
    assert (info.member_id, info.kind) == ("H33010299999", "hospital")


def test_revoked_credentials_stop_working(stack: Stack) -> None:
    key_id = stack.tokens["a"].split("_")[1]
    stack.service.store.revoke_credential(key_id, actor="test")
    assert stack.client.get("/v1/me", headers=stack.auth("a")).status_code == 401


# ---------------------------------------------------------------------- bad requests


def test_malformed_requests_get_precise_problems(tmp_path: Any) -> None:
    from api_stack import make_stack

    s = make_stack(f"sqlite:///{tmp_path}/small.sqlite", tmp_path, max_body=4096)
    h = s.auth("a")
    big = s.client.post("/v1/invoices", json=s.docs["a"][0], headers=h)
    assert big.status_code == 413 and big.json()["type"].endswith("/payload-too-large")
    assert s.client.post("/v1/invoices", content=b"x", headers={**h, "Content-Type": "text/plain"}
                         ).status_code == 415
    bad_json = s.client.post("/v1/invoices", content=b"{not json", headers={**h, "Content-Type": "application/json"})
    assert bad_json.status_code == 422 and bad_json.json()["errors"][0]["rule"] == "json"
    assert s.client.get("/v1/invoices/0x12", headers=h).status_code == 422
    assert s.client.get("/v1/invoices/0x" + "ab" * 32, headers=h).status_code == 404
    v = s.client.post("/v1/invoices/0x" + "ab" * 32 + "/void", json={"reason": ""}, headers=h)
    assert v.status_code == 422
    assert s.service.store.counts()["invoices"] == 0
    s.service.store.close()


# ---------------------------------------------------------------------- voids


def test_void_is_stamped_on_chain_after_anchoring(any_db_stack: Stack) -> None:
    s = any_db_stack
    doc = s.docs["a"][5]
    fp = s.post_invoice("a", doc).json()["items"][0]["invoice"]["fingerprint"]
    body = {"reasonCode": "refund", "reason": "退费 refund"}
    r = s.client.post(f"/v1/invoices/{fp}/void", json=body, headers=s.auth("a"))
    assert r.status_code == 202 and r.json()["state"] == "pending"
    assert (r.json()["reasonCode"], r.json()["reason"]) == ("refund", "退费 refund")
    s.worker.drain()
    got = s.client.get(f"/v1/invoices/{fp}", headers=s.auth("auditor")).json()
    assert got["state"] == "voided"
    assert got["void"]["state"] == "voided" and got["void"]["transaction"].startswith("0x")
    assert s.session.ledger.invoice_state(doc["issuer"], parse_hash32(fp)).voided
    # voiding again is idempotent (200, the recorded void); a different reason code is a conflict
    again = s.client.post(f"/v1/invoices/{fp}/void", json=body, headers=s.auth("a"))
    assert again.status_code == 200 and again.json() == got["void"]
    conflict = s.client.post(f"/v1/invoices/{fp}/void", json={"reasonCode": "duplicate"}, headers=s.auth("a"))
    assert conflict.status_code == 409 and "'refund'" in conflict.json()["detail"]


def test_void_of_a_reimbursed_invoice_raises_a_clawback(stack: Stack) -> None:
    doc = stack.docs["a"][6]
    fp = stack.post_invoice("a", doc).json()["items"][0]["invoice"]["fingerprint"]
    stack.worker.drain()
    got = stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth("payer")).json()
    proof = got["inclusionProof"]
    payer = stack.session.ensure_payer("P330100")
    stack.session.ledger.reserve(
        payer=payer, claim_id=b"\x01" * 32, issuer=doc["issuer"], fingerprint=parse_hash32(fp),
        total_fen=doc["totalFen"], amount_fen=1000, batch_root=parse_hash32(proof["batchRoot"]),
        proof=[parse_hash32(p) for p in proof["proof"]])
    stack.session.ledger.finalize(payer=payer, claim_id=b"\x01" * 32)
    stack.client.post(f"/v1/invoices/{fp}/void", json={"reason": "refund"}, headers=stack.auth("a"))
    stack.worker.drain()
    got = stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth("payer")).json()
    assert got["state"] == "voided"
    assert got["void"]["clawback"] == {"paidFen": 1000, "reservedFen": 0}
    assert got["reimbursement"]["paidFen"] == 1000
    assert [st["status"] for st in got["reimbursement"]["stamps"]] == ["finalized"]


def test_reindex_rebuilds_chain_state(stack: Stack) -> None:
    fps = [stack.post_invoice("a", d).json()["items"][0]["invoice"]["fingerprint"] for d in stack.docs["a"][:3]]
    stack.client.post(f"/v1/invoices/{fps[0]}/void", json={"reason": "refund"}, headers=stack.auth("a"))
    stack.worker.drain()
    before = [stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth("a")).json() for fp in fps]
    stack.worker.reindex()
    after = [stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth("a")).json() for fp in fps]
    assert json.dumps(before, sort_keys=True) == json.dumps(after, sort_keys=True)
    assert [a["state"] for a in after] == ["voided", "anchored", "anchored"]


def test_health_and_openapi(stack: Stack) -> None:
    h = stack.client.get("/v1/health").json()
    assert h["status"] == "ok" and h["chain"]["contract"] == stack.session.ledger.contract_address
    spec = stack.client.get("/openapi.json").json()
    assert "/v1/invoices" in spec["paths"]
    content = spec["paths"]["/v1/invoices"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-ndjson", "text/csv", "application/fhir+json",
            "multipart/form-data"} <= set(content)


def test_anchors_lost_by_the_chain_are_noticed_and_sent_again(stack: Stack) -> None:
    """A dev node that restarts from an older state loses recent anchors: the worker
    rebuilds its index from the chain, finds the batches gone, and anchors them again."""
    w3 = stack.session.ledger.w3
    stack.worker.drain()                      # hospitals registered
    before = w3.testing.snapshot()
    fps = [stack.post_invoice("a", d).json()["items"][0]["invoice"]["fingerprint"] for d in stack.docs["a"][:4]]
    stack.worker.drain()
    roots = {stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth("a")).json()["batchRoot"] for fp in fps}
    w3.testing.revert(before)                 # the chain forgets the anchoring transactions
    ledger = stack.session.ledger
    assert all(b is None for b in ledger.batches([parse_hash32(r) for r in roots]))
    report = stack.worker.drain()
    assert report.reindexed
    assert all(b is not None for b in ledger.batches([parse_hash32(r) for r in roots]))
    for fp in fps:
        got = stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth("a")).json()
        assert got["state"] == "anchored"
        proof = got["inclusionProof"]
        assert ledger.is_anchored(fingerprint=parse_hash32(fp), total_fen=got["totalFen"],
                                  root=parse_hash32(proof["batchRoot"]),
                                  proof=[parse_hash32(p) for p in proof["proof"]])


def test_audit_trail_records_uploads_and_voids_for_auditors_only(stack: Stack) -> None:
    fp = stack.post_invoice("a", stack.docs["a"][0]).json()["items"][0]["invoice"]["fingerprint"]
    stack.client.post(f"/v1/invoices/{fp}/void", json={"reason": "refund"}, headers=stack.auth("a"))
    assert stack.client.get("/v1/audit", headers=stack.auth("a")).status_code == 403
    assert stack.client.get("/v1/audit", headers=stack.auth("payer")).status_code == 403
    entries = stack.client.get("/v1/audit", headers=stack.auth("auditor")).json()["entries"]
    actions = [e["action"] for e in entries]
    assert actions[:2] == ["invoice.void", "invoice.upload"]
    assert entries[0]["subject"] == fp and entries[0]["actor"].startswith("hospital:")
    assert "hospital.register" in actions and "credential.create" in actions


def test_production_refuses_generated_secrets(tmp_path: Any) -> None:
    from ledger.composition.settings import Settings
    from ledger.errors import InvalidInput

    prod = Settings(home=tmp_path, environment="production")
    with pytest.raises(InvalidInput, match="EBILL_PEPPER"):
        prod.pepper_bytes()
    with pytest.raises(InvalidInput, match="EBILL_KEYSTORE_PASSPHRASE"):
        prod.passphrase()
    dev = Settings(home=tmp_path)
    assert dev.pepper_bytes() == Settings(home=tmp_path).pepper_bytes()   # generated once, then kept
    assert (tmp_path / "secrets" / "pepper").stat().st_mode & 0o777 == 0o600


def test_printable_invoice_and_qr_files(stack: Stack) -> None:
    doc = copy.deepcopy(stack.docs["a"][2])
    doc["feeLines"][0]["itemName"] = "<script>alert(1)</script>阿莫西林"
    fp = stack.post_invoice("a", doc).json()["items"][0]["invoice"]["fingerprint"]
    page = stack.client.get(f"/v1/invoices/{fp}/print", headers=stack.auth("a"))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;阿莫西林" in html
    total = doc["totalFen"]
    assert f"¥{total // 100:,}.{total % 100:02d}" in html
    assert html.count("<tr><td class=n>") == len(doc["feeLines"]) and "<svg" in html
    assert "default-src 'none'" in page.headers["content-security-policy"]
    png = stack.client.get(f"/v1/invoices/{fp}/qr.png", headers=stack.auth("a"))
    svg = stack.client.get(f"/v1/invoices/{fp}/qr.svg", headers=stack.auth("a"))
    assert png.headers["content-type"] == "image/png" and svg.headers["content-type"] == "image/svg+xml"
    assert stack.client.get(f"/v1/invoices/{fp}/print", headers=stack.auth("b")).status_code == 404


def test_public_inclusion_proof_verifies_against_the_chain(stack: Stack) -> None:
    from ledger.proofdoc import InvoiceInclusion
    from verifier.inclusion import verify_inclusion_document

    fp = stack.post_invoice("a", stack.docs["a"][1]).json()["items"][0]["invoice"]["fingerprint"]
    assert stack.client.get(f"/v1/proofs/{fp}").status_code == 404          # not anchored yet
    stack.worker.drain()
    r = stack.client.get(f"/v1/proofs/{fp}")                                # no credential needed
    assert r.status_code == 200
    verdict = verify_inclusion_document(InvoiceInclusion.from_json(r.json()), stack.session.ledger)
    assert verdict.batch.institution_id == stack.docs["a"][1]["issuer"] and not verdict.voided
