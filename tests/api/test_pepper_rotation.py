"""A pepper rotation loses nobody: enrol, claim, rotate, and the same citizen still sees their invoices and
claims, files new ones, and their year-to-date figures add up across the rotation.

The payer and the hospital share one service here (one database), as in the development set-up:
invoices uploaded after the rotation carry the new version's pseudonym, those before the old
one's, and each person is found under both. A child whose parent claims for them never shows
their ID after the rotation, and is found all the same (the rotation derived their new
pseudonym from the old one).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from claims_stack import ClaimsStack, category_of, claims_fixture

from ledger.app.access import SYSTEM
from ledger.composition import ledger_service, pepper_office
from ledger.composition.settings import Settings
from ledger.errors import InvalidInput
from ledger.identity import pseudonymise
from ledger.peppers import pepper_id

PASSPHRASE = "api test passphrase"   # (claims_stack's)
PARENT = "11010519491231002X"


cs = claims_fixture(instant_max_fen=10**9)


def _rotate(cs: ClaimsStack, pepper: bytes | None = None) -> Any:
    office = pepper_office(cs.service, Settings(home=Path("/nonexistent"), keystore_passphrase=PASSPHRASE))
    return office.rotate(SYSTEM, pepper=pepper)


def _claimable(cs: ClaimsStack, nid: str, fp: str) -> dict[str, Any]:
    listing = cs.client.get("/v1/me/invoices", headers=cs.citizen(nid)).json()
    return dict(next(i for i in listing["invoices"] if i["fingerprint"] == fp))


def _upload_again(cs: ClaimsStack, doc: dict[str, Any], number: str, **changes: Any) -> str:
    new = copy.deepcopy(doc)
    new.update(invoiceNumber=number, **changes)
    r = cs.post_invoice("a", new)
    assert r.status_code == 201, r.text
    cs.worker.drain()
    fp = str(r.json()["items"][0]["invoice"]["fingerprint"])
    cs.patients[fp] = new["patientId"]
    return fp


def _claim_paid(cs: ClaimsStack, nid: str, fp: str, key: str, **body: Any) -> dict[str, Any]:
    r = cs.claim(nid, [fp], key, **body)
    assert r.status_code in (200, 201, 202), r.text
    cs.stamper.drain()
    claim = cs.client.get(f"/v1/claims/{r.json()['claims'][0]['id']}", headers=cs.citizen(nid)).json()
    assert claim["state"] == "paid", claim
    return dict(claim)


def test_rotating_the_pepper_loses_nobody(cs: ClaimsStack) -> None:
    items = cs.upload_all("a")
    doc_of = {it["invoice"]["fingerprint"]: d for it, d in zip(items, cs.docs["a"], strict=True)}
    by_nid: dict[str, list[str]] = {}
    for fp, nid in cs.patients.items():
        by_nid.setdefault(nid, []).append(fp)
    payable = [(n, f) for n, fps in by_nid.items() for f in fps
               if _claimable(cs, n, f)["claimable"] and (_claimable(cs, n, f)["estimateFen"] or 0) > 0]
    nid, before = payable[0]
    docs = {nid: doc_of[before], **{n: doc_of[fps[0]] for n, fps in by_nid.items() if n != nid}}
    child = next(n for n in by_nid if n != nid)
    v1 = pseudonymise(nid, pepper=cs.service.peppers.ring().peppers[0])
    assert cs.client.post("/v1/delegations", json={"holderNationalId": PARENT, "personNationalId": child,
                                                   "relation": "child"}, headers=cs.auth("admin")).status_code == 201
    # before: one claim paid
    first = _claim_paid(cs, nid, before, "pepper-before-1")
    stored_first = cs.claims.store.claim(first["id"])
    scheme, year, person = stored_first.scheme, stored_first.year, bytes(v1)
    ytd_before = cs.claims.store.year_to_date(person, scheme, year)
    assert ytd_before == (stored_first.deductible_used_fen, stored_first.amount_fen) and ytd_before[1] > 0

    # someone the payer has never seen, billed before the rotation
    newcomer = "110105195001010012"
    newcomer_fp = _upload_again(cs, docs[nid], "8800000003", patientId=newcomer)

    rotation = _rotate(cs)
    assert rotation.version == 2 and rotation.persons >= 3   # every person known here, the child included
    ring = cs.service.peppers.ring()
    assert ring.current == 2 and ring.pseudonyms(nid)[0] == v1

    # after: the citizen is the same person, sees the old invoices and claim, and the new invoice
    me = cs.client.get("/v1/me", headers=cs.citizen(nid)).json()
    assert me["person"] == person.hex() and me["insured"] is True
    after = _upload_again(cs, docs[nid], "8800000001")
    detail = cs.client.get(f"/v1/invoices/{after}", headers=cs.auth("payer")).json()
    assert detail["patientPseudonym"] == "0x" + ring.pseudonym(nid).hex() != "0x" + person.hex()
    listing = {i["fingerprint"]: i for i in cs.client.get("/v1/me/invoices", headers=cs.citizen(nid)).json()[
        "invoices"]}
    assert set(by_nid[nid]) | {after} == set(listing)
    assert listing[before]["claim"]["id"] == first["id"] and listing[after]["claimable"], listing[after]
    claims = cs.client.get("/v1/claims", headers=cs.citizen(nid)).json()["claims"]
    assert first["id"] in {c["id"] for c in claims}
    assert cs.client.get(f"/v1/invoices/{after}", headers=cs.citizen(nid)).status_code == 200

    # a claim of the new invoice, by the clerk with the resident ID: the same person, the figures add up
    second = cs.client.post("/v1/claims", json={"fingerprints": [after], "nationalId": nid},
                            headers={**cs.auth("clerk"), "Idempotency-Key": "pepper-after-clerk"})
    assert second.status_code in (200, 201, 202), second.text
    cs.stamper.drain()
    second_claim = cs.client.get(f"/v1/claims/{second.json()['claims'][0]['id']}", headers=cs.citizen(nid)).json()
    assert second_claim["person"] == person.hex() and second_claim["state"] == "paid", second_claim
    stored_second = cs.claims.store.claim(second_claim["id"])
    assert (stored_second.scheme, stored_second.year) == (scheme, year) and stored_second.amount_fen > 0
    ytd_after = cs.claims.store.year_to_date(person, scheme, year)
    assert ytd_after == (stored_first.deductible_used_fen + stored_second.deductible_used_fen,
                         stored_first.amount_fen + stored_second.amount_fen)
    # nothing was counted under the new pseudonym as if it were someone else
    assert cs.claims.store.year_to_date(bytes(ring.pseudonym(nid)), scheme, year) == (0, 0)

    # the child never showed their ID after the rotation: the parent still sees their new invoice
    child_new = _upload_again(cs, docs[child], "8800000002")
    child_person = bytes(pseudonymise(child, pepper=ring.peppers[0]))
    seen = cs.client.get(f"/v1/me/invoices?for={child_person.hex()}", headers=cs.citizen(PARENT)).json()
    assert child_new in {i["fingerprint"] for i in seen["invoices"]}
    assert set(by_nid[child]) <= {i["fingerprint"] for i in seen["invoices"]}

    # ... enrolled after the rotation: known by the new pseudonym, their invoice of before found
    cs.claims.enrol([(newcomer, "newcomer", category_of(newcomer))], by=SYSTEM)
    assert cs.claims.known_as([newcomer])[0] == ring.pseudonym(newcomer)
    seen = cs.client.get("/v1/me/invoices", headers=cs.citizen(newcomer)).json()
    assert {i["fingerprint"] for i in seen["invoices"]} == {newcomer_fp}


def test_a_rotation_is_recorded_sealed_and_every_process_reads_it(cs: ClaimsStack, tmp_path: Path) -> None:
    first = cs.service.peppers.ring().peppers[0]
    shared = bytes(range(32))
    r2 = _rotate(cs, shared)
    r3 = _rotate(cs)
    assert (r2.version, r3.version) == (2, 3) and r2.pepper_id == pepper_id(shared)
    stored = cs.service.store.pepper_versions()
    assert [(v.version, v.sealed is None) for v in stored] == [(1, True), (2, False), (3, False)]
    raw = (tmp_path / "ebill.sqlite").read_bytes()
    assert shared not in raw and shared.hex().encode() not in raw   # sealed, never plain
    with pytest.raises(InvalidInput, match="version 2 already"):
        _rotate(cs, shared)
    # another process over the same database: the same ring, from EBILL_PEPPER and the sealed versions
    from ledger.adapters.sql.store import SqlStore

    other = ledger_service(SqlStore.open(f"sqlite:///{tmp_path}/ebill.sqlite"), pepper=first, passphrase=PASSPHRASE)
    assert other.peppers.ring() == cs.service.peppers.ring()
    wrong = ledger_service(SqlStore.open(f"sqlite:///{tmp_path}/ebill.sqlite"), pepper=b"w" * 32,
                           passphrase=PASSPHRASE)
    with pytest.raises(InvalidInput) as caught:
        wrong.peppers.ring()
    assert caught.value.problems[0].field == "EBILL_PEPPER" and "not the first pepper" in str(caught.value)
    audit = [e["action"] for e in cs.service.store.audit_trail(limit=50)]
    assert audit.count("pepper.rotate") == 2
