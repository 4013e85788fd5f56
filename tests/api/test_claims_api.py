"""Claims over HTTP: one touch, idempotency, review, appeal, roles, voids (embedded EVM)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from claims_stack import PAYER, ClaimsStack, make_claims_stack

from ledger.claims.sampling import sample_key


def _mine(cs: ClaimsStack) -> tuple[str, str, dict[str, Any]]:
    """An anchored invoice with something to reimburse: (fingerprint, national id, listing entry)."""
    cs.upload_all()
    for fp, nid in cs.patients.items():
        listing = cs.client.get("/v1/me/invoices", headers=cs.citizen(nid)).json()
        for inv in listing["invoices"]:
            if inv["fingerprint"] == fp and inv["claimable"] and inv["estimateFen"]:
                return fp, nid, inv
    raise AssertionError("no claimable invoice in the test data")


def test_citizen_sees_own_invoices_with_estimates(cs: ClaimsStack) -> None:
    _, nid, inv = _mine(cs)
    me = cs.client.get("/v1/me", headers=cs.citizen(nid)).json()
    assert me["role"] == "citizen" and me["insured"] and me["payer"] == PAYER
    listing = cs.client.get("/v1/me/invoices", headers=cs.citizen(nid)).json()
    fps = {i["fingerprint"] for i in listing["invoices"]}
    assert fps == {f for f, n in cs.patients.items() if n == nid}
    assert inv["state"] == "anchored" and inv["claim"] is None
    assert 0 < inv["estimateFen"] <= inv["totalFen"]


def test_one_touch_claim_is_reserved_on_chain_and_idempotent(cs: ClaimsStack) -> None:
    fp, nid, inv = _mine(cs)
    r = cs.claim(nid, [fp], "tap-0001-aaaa")
    assert r.status_code == 201, r.text
    claim = r.json()["claims"][0]
    assert claim["state"] in ("paid", "approved", "in-review"), claim
    assert claim["stamp"]["status"] == "reserved" or claim["stamp"]["pending"] == "finalize" or \
        claim["stamp"]["status"] == "finalized"
    assert claim["amountFen"] == inv["estimateFen"]
    assert claim["decision"]["lines"] and claim["explanation"]
    # the chain holds the reservation (or payment) of exactly that amount
    state = cs.session.ledger.invoice_state(claim["issuer"], bytes.fromhex(fp[2:]))
    assert state.reserved_fen + state.paid_fen == claim["amountFen"]
    # a retry with the same key returns the same claim; nothing new is stored or reserved
    again = cs.claim(nid, [fp], "tap-0001-aaaa")
    assert again.status_code == 200 and again.json()["claims"][0]["id"] == claim["id"]
    assert again.json()["replayed"] is True
    # the same key for another request is a conflict; a new key for the same invoice too
    other = next(f for f, n in cs.patients.items() if n == nid and f != fp) if sum(
        n == nid for n in cs.patients.values()) > 1 else None
    if other:
        assert cs.claim(nid, [other], "tap-0001-aaaa").status_code == 409
    dup = cs.claim(nid, [fp], "tap-0002-bbbb")
    assert dup.status_code == 409 and "claimed already" in dup.json()["detail"]
    state2 = cs.session.ledger.invoice_state(claim["issuer"], bytes.fromhex(fp[2:]))
    assert state2.reserved_fen + state2.paid_fen == claim["amountFen"]
    # the dashboard counts what was stopped: the duplicate, and a forged QR code at verification
    qr = cs.client.get(f"/v1/invoices/{fp}", headers=cs.auth("payer")).json()["qr"]
    from ledger.qr import decode_qr

    seal = decode_qr(qr)
    forged = seal.__class__(**{**seal.__dict__, "seal": seal.seal.__class__(
        **{**seal.seal.__dict__, "total_fen": seal.seal.total_fen + 100})}).encode()
    verdict = cs.client.post("/v1/verify", json={"payload": forged}).json()
    assert verdict["status"] == "tampered-or-forged"
    blocked = cs.client.get("/v1/stats/claims", headers=cs.auth("auditor")).json()["blocked"]
    assert blocked["duplicateClaims"] == 1 and blocked["forgedCodes"] == 1
    assert blocked["forgedByVerdict"] == {"tampered-or-forged": 1}


def test_small_claim_is_paid_at_once_and_finalized(cs: ClaimsStack) -> None:
    fp, nid, _ = _mine(cs)
    cs.claims.policy = cs.claims.policy.__class__(**{**cs.claims.policy.__dict__, "instant_max_fen": 10**9})
    claim = cs.claim(nid, [fp], "tap-instant-1").json()["claims"][0]
    cs.stamper.drain()
    got = cs.client.get(f"/v1/claims/{claim['id']}", headers=cs.citizen(nid)).json()
    assert got["state"] == "paid", got
    assert got["payment"]["reference"].startswith("SIMBANK-")
    assert got["stamp"]["status"] == "finalized"
    assert cs.bank.total_paid() == got["amountFen"]
    state = cs.session.ledger.invoice_state(got["issuer"], bytes.fromhex(fp[2:]))
    assert (state.reserved_fen, state.paid_fen) == (0, got["amountFen"])
    audit = cs.client.get(f"/v1/claims/{claim['id']}/audit", headers=cs.auth("auditor")).json()["entries"]
    actions = [e["action"] for e in audit]
    assert actions[0] == "claim.submitted" and "claim.paid" in actions and "claim.stamp.finalized" in actions


def test_review_maker_checker_reject_and_appeal(cs: ClaimsStack) -> None:
    fp, nid, _ = _mine(cs)
    # everything goes to review, and two reviewers approve above ¥0
    cs.claims.policy = cs.claims.policy.__class__(**{**cs.claims.policy.__dict__, "instant_max_fen": 0,
                                                    "final_review_from_fen": 0})
    claim = cs.claim(nid, [fp], "tap-review-1").json()["claims"][0]
    assert claim["state"] == "in-review" and claim["review"]["needsTwoReviewers"]
    queue = cs.client.get("/v1/review/queue", headers=cs.auth("payer")).json()["claims"]
    assert [c["id"] for c in queue] == [claim["id"]] and queue[0]["slaWorkingDays"] >= 0
    # the citizen cannot review; another payer cannot; a hospital cannot
    assert cs.client.post(f"/v1/claims/{claim['id']}/approve", json={}, headers=cs.citizen(nid)).status_code == 403
    assert cs.client.post(f"/v1/claims/{claim['id']}/approve", json={},
                          headers=cs.auth("other-payer")).status_code == 403
    assert cs.client.post(f"/v1/claims/{claim['id']}/approve", json={}, headers=cs.auth("a")).status_code == 403
    first = cs.client.post(f"/v1/claims/{claim['id']}/approve", json={"reason": "ok"}, headers=cs.auth("payer"))
    assert first.status_code == 202 and first.json()["state"] == "in-review"
    # the queue counts the first approval: 1 of 2 (it showed 0/2, having read no reviews)
    queued = cs.client.get("/v1/review/queue", headers=cs.auth("payer")).json()["claims"][0]
    assert (queued["review"]["approvals"], queued["review"]["reviewsNeeded"], len(queued["review"]["reviews"])) \
        == (1, 2, 1)
    assert queued["review"] == first.json()["review"]
    assert (queued["review"]["stages"], queued["review"]["stage"]) == (["first-review", "final-review"], "final-review")
    assert claim["review"]["stage"] == "first-review"
    twice = cs.client.post(f"/v1/claims/{claim['id']}/approve", json={"reason": "ok"}, headers=cs.auth("payer"))
    assert twice.status_code == 409 and "another reviewer" in twice.json()["detail"]
    assert twice.json()["type"].endswith("/separation-of-duties")
    rejected = cs.client.post(f"/v1/claims/{claim['id']}/reject", json={"reason": "fee list looks unbundled"},
                              headers=cs.auth("payer2"))
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    cs.stamper.drain()
    state = cs.session.ledger.invoice_state(claim["issuer"], bytes.fromhex(fp[2:]))
    assert (state.reserved_fen, state.paid_fen) == (0, 0)   # the rejection released the reservation
    got = cs.client.get(f"/v1/claims/{claim['id']}", headers=cs.citizen(nid)).json()
    assert got["stamp"]["status"] == "released" and "unbundled" in " ".join(got["explanation"])
    # appeal once: back in the queue with a new reservation
    ap = cs.client.post(f"/v1/claims/{claim['id']}/appeal", json={"reason": "the lines are separate services"},
                        headers=cs.citizen(nid))
    assert ap.status_code == 200, ap.text
    cs.stamper.drain()
    got = cs.client.get(f"/v1/claims/{claim['id']}", headers=cs.citizen(nid)).json()
    assert got["state"] == "in-review" and got["stamp"]["status"] == "reserved" and got["stamp"]["attempt"] == 2
    # round two starts with no approvals: round one's approval and rejection do not count
    queued = cs.client.get("/v1/review/queue", headers=cs.auth("payer")).json()["claims"][0]
    assert (queued["review"]["round"], queued["review"]["approvals"], len(queued["review"]["reviews"])) == (2, 0, 2)
    # the appeal is heard by someone else: the rejecter may neither approve nor reject it, at either stage
    for verb in ("approve", "reject"):
        by_rejecter = cs.client.post(f"/v1/claims/{claim['id']}/{verb}", json={"reason": "on appeal"},
                                     headers=cs.auth("payer2"))
        assert by_rejecter.status_code == 409, by_rejecter.text
        assert by_rejecter.headers["content-type"] == "application/problem+json"
        assert by_rejecter.json()["type"].endswith("/separation-of-duties")
        assert "its appeal must be decided by another reviewer" in by_rejecter.json()["detail"]
    assert cs.client.post(f"/v1/claims/{claim['id']}/approve", json={"reason": "on appeal"},
                          headers=cs.auth("payer")).status_code == 202
    by_rejecter = cs.client.post(f"/v1/claims/{claim['id']}/approve", json={"reason": "on appeal"},
                                 headers=cs.auth("payer2"))
    assert by_rejecter.status_code == 409 and by_rejecter.json()["type"].endswith("/separation-of-duties")
    final = cs.client.post(f"/v1/claims/{claim['id']}/approve", json={"reason": "on appeal"},
                           headers=cs.auth("payer3"))
    assert final.status_code == 200 and final.json()["state"] == "approved", final.text
    audit = cs.client.get(f"/v1/claims/{claim['id']}/audit", headers=cs.auth("auditor")).json()["entries"]
    assert [e["actor"] for e in audit if e["action"].startswith("claim.review.")][-2:] == [
        first.json()["review"]["reviews"][0]["reviewer"], final.json()["review"]["reviews"][-1]["reviewer"]]
    cs.stamper.drain()
    got = cs.client.get(f"/v1/claims/{claim['id']}", headers=cs.citizen(nid)).json()
    assert got["state"] == "paid" and got["stamp"]["status"] == "finalized"
    again = cs.client.post(f"/v1/claims/{claim['id']}/appeal", json={"reason": "again"}, headers=cs.citizen(nid))
    assert again.status_code == 409


def test_citizen_cannot_see_or_claim_anothers_invoice(cs: ClaimsStack) -> None:
    fp, nid, _ = _mine(cs)
    stranger = next(n for n in cs.patients.values() if n != nid)
    r = cs.claim(stranger, [fp], "tap-steal-001")
    assert r.status_code == 404
    assert fp not in {i["fingerprint"] for i in cs.client.get(
        "/v1/me/invoices", headers=cs.citizen(stranger)).json()["invoices"]}
    mine = cs.claim(nid, [fp], "tap-mine-0001").json()["claims"][0]
    assert cs.client.get(f"/v1/claims/{mine['id']}", headers=cs.citizen(stranger)).status_code == 404
    # acting for someone needs a recorded delegation
    me_pseudonym = cs.client.get("/v1/me", headers=cs.citizen(nid)).json()["person"]
    r = cs.client.get(f"/v1/me/invoices?for={me_pseudonym}", headers=cs.citizen(stranger))
    assert r.status_code == 403


def test_delegate_claims_for_family_member_and_clerk_for_citizen(cs: ClaimsStack) -> None:
    fp, nid, _ = _mine(cs)
    relative = next(n for n in cs.patients.values() if n != nid)
    r = cs.client.post("/v1/delegations", json={"holderNationalId": relative, "personNationalId": nid,
                                                "relation": "child"}, headers=cs.auth("admin"))
    assert r.status_code == 201, r.text
    me = cs.client.get("/v1/me", headers=cs.citizen(relative)).json()
    person = me["delegations"][0]["person"]
    assert me["delegations"][0]["relation"] == "child"
    listing = cs.client.get(f"/v1/me/invoices?for={person}", headers=cs.citizen(relative)).json()
    assert fp in {i["fingerprint"] for i in listing["invoices"]}
    r = cs.claim(relative, [fp], "tap-family-01", **{"for": person})
    assert r.status_code == 201, r.text
    claim = r.json()["claims"][0]
    assert claim["relation"] == "delegate:child" and claim["person"] == person
    assert claim["actor"].startswith("citizen:")
    # the person themself sees it too
    assert cs.client.get(f"/v1/claims/{claim['id']}", headers=cs.citizen(nid)).status_code == 200
    # a clerk files for a citizen at the window, recorded as the actor
    other_fp = next((f for f, n in cs.patients.items() if n == relative), None)
    if other_fp:
        r = cs.client.post("/v1/claims", json={"fingerprints": [other_fp], "nationalId": relative},
                           headers={**cs.auth("clerk"), "Idempotency-Key": "window-000001"})
        assert r.status_code in (201, 409), r.text
        if r.status_code == 201:
            assert r.json()["claims"][0]["relation"] == "clerk"
            assert r.json()["claims"][0]["actor"].startswith("clerk:")


def test_bad_requests_are_precise(cs: ClaimsStack) -> None:
    fp, nid, _ = _mine(cs)
    h = cs.citizen(nid)
    assert cs.client.post("/v1/claims", json={"fingerprints": [fp]}, headers=h).status_code == 422   # no key
    r = cs.client.post("/v1/claims", json={"fingerprints": ["0x12"]}, headers={**h, "Idempotency-Key": "k" * 10})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    r = cs.client.post("/v1/claims", json={"fingerprints": [fp, fp]}, headers={**h, "Idempotency-Key": "k" * 10})
    assert r.status_code == 422
    r = cs.client.post("/v1/claims", json={"fingerprints": [fp], "extra": 1},
                       headers={**h, "Idempotency-Key": "k" * 10})
    assert r.status_code == 422
    assert cs.client.get("/v1/me/invoices", headers={"Authorization": "Bearer a.b.c"}).status_code == 401
    assert cs.client.get("/v1/me/invoices", headers=cs.auth("payer")).status_code == 403
    assert cs.client.post("/v1/claims", json={"fingerprints": [fp]},
                          headers={**cs.auth("payer"), "Idempotency-Key": "k" * 10}).status_code == 403
    # nothing was stored by any of these
    assert cs.client.get("/v1/claims", headers=cs.auth("auditor")).json()["claims"] == []


def test_void_before_payment_refuses_after_payment_claws_back(cs: ClaimsStack) -> None:
    fp, nid, _ = _mine(cs)
    cs.claims.policy = cs.claims.policy.__class__(**{**cs.claims.policy.__dict__, "instant_max_fen": 10**9})
    claim = cs.claim(nid, [fp], "tap-void-0001").json()["claims"][0]
    cs.stamper.drain()
    r = cs.client.post(f"/v1/invoices/{fp}/void", json={"reason": "refund"}, headers=cs.auth("a"))
    assert r.status_code in (200, 201, 202), r.text
    cs.worker.drain()
    cs.stamper.drain()
    got = cs.client.get(f"/v1/claims/{claim['id']}", headers=cs.citizen(nid)).json()
    assert got["state"] == "clawback", got
    detail = cs.client.get(f"/v1/invoices/{fp}", headers=cs.auth("payer")).json()
    assert detail["state"] == "voided"
    listing = cs.client.get("/v1/me/invoices", headers=cs.citizen(nid)).json()["invoices"]
    entry = next(i for i in listing if i["fingerprint"] == fp)
    assert not entry["claimable"] and entry["reason"] == "voided by the hospital"
    r = cs.claim(nid, [fp], "tap-void-0002")
    assert r.status_code == 409 and "voided" in r.json()["detail"]


def test_claims_on_both_databases_with_concurrent_taps_by_one_person(cs_any: ClaimsStack) -> None:
    """SQLite and PostgreSQL: a person's claims, sent at once, never share one deductible."""
    cs = cs_any
    cs.upload_all()
    by_person: dict[str, list[str]] = {}
    for fp, nid in cs.patients.items():
        by_person.setdefault(nid, []).append(fp)
    nid, fps = max(by_person.items(), key=lambda kv: len(kv[1]))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(fps)) as pool:
        answers = list(pool.map(lambda i_fp: cs.claim(nid, [i_fp[1]], f"tap-{i_fp[0]:04d}-many"), enumerate(fps)))
    claims = [r.json()["claims"][0] for r in answers if r.status_code in (200, 201, 202)]
    assert len(claims) == len(fps), [r.text for r in answers]
    # per scheme, the year's deductible is used once in total: the claims decided one after
    # another, each seeing what the earlier ones used (never two seeing the same figure)
    for scheme in {c["scheme"] for c in claims}:
        mine = [c for c in claims if c["scheme"] == scheme]
        used = sum(c["decision"]["deductibleUsedFen"] for c in mine)
        assert used == max(c["decision"]["yearToDateAfter"]["deductibleUsedFen"] for c in mine)
    listing = cs.client.get("/v1/claims", headers=cs.citizen(nid)).json()["claims"]
    assert {c["id"] for c in listing} == {c["id"] for c in claims}
    stats = cs.client.get("/v1/stats/claims", headers=cs.auth("auditor")).json()
    assert sum(sum(d["byState"].values()) for d in stats["perDay"]) == len(claims)


def _all_in_review(cs: ClaimsStack) -> list[dict[str, Any]]:
    """Every claimable invoice of every hospital claimed, each sent to review (nothing is paid at once)."""
    for who in cs.docs:
        cs.upload_all(who)
    cs.claims.policy = cs.claims.policy.__class__(**{**cs.claims.policy.__dict__, "instant_max_fen": 0})
    out = []
    for n, (fp, nid) in enumerate(sorted(cs.patients.items())):
        listing = cs.client.get("/v1/me/invoices", headers=cs.citizen(nid)).json()["invoices"]
        if any(i["fingerprint"] == fp and i["claimable"] and i["estimateFen"] for i in listing):
            r = cs.claim(nid, [fp], f"tap-search-{n:04d}")
            assert r.status_code in (201, 202), r.text
            out.extend(r.json()["claims"])
    assert len(out) >= 3 and len({c["issuer"] for c in out}) >= 2, out
    assert all(c["state"] == "in-review" for c in out), [c["state"] for c in out]
    return out


def test_the_claims_listing_pages_through_every_claim_once_in_its_order(cs_any: ClaimsStack) -> None:
    """Paging with ``next`` (a claim-id cursor) walks the listing in its own order, newest first:
    claim ids are random, so a cursor compared by id alone skipped some claims and repeated others."""
    cs = cs_any
    filed = _all_in_review(cs)
    seen: list[dict[str, Any]] = []
    url = "/v1/claims?limit=1"
    while url:
        r = cs.client.get(url, headers=cs.auth("payer"))
        assert r.status_code == 200, r.text
        page = r.json()
        seen.extend(page["claims"])
        url = f"/v1/claims?limit=1&after={page['next']}" if page["next"] else ""
    assert sorted(c["id"] for c in seen) == sorted(c["id"] for c in filed)      # every one, once
    assert [c["createdAt"] for c in seen] == sorted((c["createdAt"] for c in seen), reverse=True)
    assert cs.client.get("/v1/claims?after=clm_00000000000000000000", headers=cs.auth("payer")).json()["claims"] == []


def test_the_queue_says_why_and_searches_by_invoice_claim_person_and_hospital(cs_any: ClaimsStack) -> None:
    cs = cs_any
    claims = _all_in_review(cs)
    payer = cs.auth("payer")

    def ids(**params: Any) -> list[str]:
        r = cs.client.get("/v1/review/queue", params=params, headers=payer)
        assert r.status_code == 200, r.text
        return sorted(c["id"] for c in r.json()["claims"])

    everything = cs.client.get("/v1/review/queue", headers=payer).json()["claims"]
    assert sorted(c["id"] for c in everything) == sorted(c["id"] for c in claims)
    # why each is there: above the (now ¥0) instant threshold, and every flag in words
    for c in everything:
        codes = [w["code"] for w in c["why"]]
        assert "over-instant-threshold" in codes and c["why"][-1]["thresholdFen"] == 0
        assert [w["rule"] for w in c["why"] if w["code"] == "flagged"] == c["flags"]
        assert all(w["detail"] for w in c["why"])
    one, other = claims[0], claims[1]
    assert ids(claim=one["id"]) == [one["id"]]
    assert ids(claim=one["id"].removeprefix("clm_")) == [one["id"]]
    assert ids(invoice=one["fingerprint"]) == [one["id"]]
    assert ids(invoice=one["fingerprint"].upper().replace("0X", "0x")) == [one["id"]]
    assert one["id"] in ids(invoice=one["invoiceNumber"])
    assert ids(person=one["person"]) == sorted(c["id"] for c in claims if c["person"] == one["person"])
    assert ids(person="0x" + one["person"]) == ids(person=one["person"])
    by_hospital = sorted(c["id"] for c in claims if c["issuer"] == one["issuer"])
    assert ids(hospital=one["issuer"]) == ids(hospital=one["issuer"].lower()) == by_hospital
    name_part = one["hospitalName"][:2]      # 上海 of 上海市第一人民医院: a part of the name
    assert 0 < len(ids(hospital=name_part)) < len(claims)
    assert ids(hospital=name_part) == sorted(c["id"] for c in claims if name_part in c["hospitalName"])
    # criteria combine; a search that matches nothing is an empty queue, not an error
    assert ids(claim=one["id"], person=other["person"]) == ([one["id"]] if one["person"] == other["person"] else [])
    assert ids(invoice="no-such-number") == [] and ids(hospital="%") == [] and ids(hospital="_") == []
    assert ids(invoice="0x1234") == []   # a mistyped fingerprint finds nothing, as a search box does
    assert ids(claim="clm_" + "0" * 20) == []
    # what cannot be read is a 422 naming the parameter; another role is a 403
    for bad in ({"claim": "clm_xyz"}, {"person": "abc"}, {"invoice": ""},
                {"minAmountFen": -1}, {"hospital": "x" * 101}):
        r = cs.client.get("/v1/review/queue", params=bad, headers=payer)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", (bad, r.text)
        assert next(iter(bad)) in r.text
    for who in ("auditor", "a", "other-payer"):
        assert cs.client.get("/v1/review/queue", params={"claim": one["id"]}, headers=cs.auth(who)).status_code == 403
    assert cs.client.get("/v1/review/queue", headers=cs.citizen(cs.patients[one["fingerprint"]])).status_code == 403


def test_post_payment_sampling_and_a_finding_requests_a_clawback(cs: ClaimsStack) -> None:
    for who in cs.docs:
        cs.upload_all(who)
    mine = [(fp, nid) for fp, nid in sorted(cs.patients.items())
            if any(i["fingerprint"] == fp and i["claimable"] and i["estimateFen"]
                   for i in cs.client.get("/v1/me/invoices", headers=cs.citizen(nid)).json()["invoices"])]
    assert len(mine) >= 3
    policy = cs.claims.policy.__class__(**{**cs.claims.policy.__dict__, "instant_max_fen": 10**9,
                                           "post_audit_share_bp": 10_000, "sample_key": sample_key(b"k" * 32)})
    cs.claims.policy = policy
    paid = []
    for n, (fp, nid) in enumerate(mine[:2]):
        paid.append(cs.claim(nid, [fp], f"tap-sample-{n:03d}").json()["claims"][0])
    cs.claims.policy = policy.__class__(**{**policy.__dict__, "post_audit_share_bp": 0})   # none drawn now
    undrawn = cs.claim(mine[2][1], [mine[2][0]], "tap-sample-xyz").json()["claims"][0]
    cs.stamper.drain()
    payer = cs.auth("payer")
    for c in (*paid, undrawn):
        assert cs.client.get(f"/v1/claims/{c['id']}", headers=payer).json()["state"] == "paid"
    queue = cs.client.get("/v1/review/post-payment", headers=payer).json()
    assert queue["shareBp"] == 0 and [c["id"] for c in queue["claims"]] == [c["id"] for c in paid]
    assert {c["postAudit"] for c in queue["claims"]} == {"due"}
    found, cleared = paid
    url = f"/v1/claims/{found['id']}/post-audit"
    # only this payer's reviewers audit; a finding needs a reason; the outcome is one of two
    for who in (cs.citizen(cs.patients[found["fingerprint"]]), cs.auth("auditor"), cs.auth("other-payer"),
                cs.auth("a"), cs.auth("clerk")):
        assert cs.client.get("/v1/review/post-payment", headers=who).status_code == 403
        assert cs.client.post(url, json={"outcome": "finding", "code": "unbundling", "reason": "x"},
                              headers=who).status_code == 403
    r = cs.client.post(url, json={"outcome": "finding"}, headers=payer)
    assert r.status_code == 422 and "reason" in r.text
    assert cs.client.post(url, json={"outcome": "clawback", "reason": "x"}, headers=payer).status_code == 422
    stored = cs.claims.store.claim(found["id"])
    before = cs.claims.store.year_to_date(stored.person, stored.scheme, stored.year)
    assert cs.client.post(url, json={"outcome": "finding", "reason": "no code"}, headers=payer).status_code == 422
    r = cs.client.post(url, json={"outcome": "finding", "code": "duplicate-charging",
                                  "reason": "the stay was billed twice"}, headers=payer)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["postAudit"]) == ("clawback", "finding")
    said = cs.client.get(f"/v1/claims/{found['id']}", headers=cs.citizen(cs.patients[found["fingerprint"]])).json()
    assert "an audit after the payment found" in " ".join(said["explanation"]) and "billed twice" in " ".join(
        said["explanation"])
    after = cs.claims.store.year_to_date(stored.person, stored.scheme, stored.year)
    assert after[1] == before[1] - found["amountFen"]                      # the person's year is given back
    # the money moved already: the chain keeps the payment, the claw-back is asked for off chain
    state = cs.session.ledger.invoice_state(found["issuer"], bytes.fromhex(found["fingerprint"][2:]))
    assert state.paid_fen == found["amountFen"]
    again = cs.client.post(url, json={"outcome": "cleared", "reason": "checked"}, headers=payer)
    assert again.status_code == 409 and "only a paid claim" in again.json()["detail"]
    assert cs.client.post(f"/v1/claims/{cleared['id']}/post-audit", json={"outcome": "cleared", "reason": " "},
                          headers=payer).status_code == 422
    r = cs.client.post(f"/v1/claims/{cleared['id']}/post-audit",
                       json={"outcome": "cleared", "reason": "referral and discharge summary match"}, headers=payer)
    assert (r.status_code, r.json()["state"], r.json()["postAudit"]) == (200, "paid", "cleared")
    again = cs.client.post(f"/v1/claims/{cleared['id']}/post-audit",
                           json={"outcome": "finding", "code": "overpaid", "reason": "late"}, headers=payer)
    assert again.status_code == 409 and "audited already (cleared)" in again.json()["detail"]
    r = cs.client.post(f"/v1/claims/{undrawn['id']}/post-audit",
                       json={"outcome": "finding", "code": "overpaid", "reason": "x"}, headers=payer)
    assert r.status_code == 409 and "not drawn" in r.json()["detail"]
    assert cs.client.get("/v1/review/post-payment", headers=payer).json()["claims"] == []
    audit = cs.client.get(f"/v1/claims/{found['id']}/audit", headers=cs.auth("auditor")).json()["entries"]
    entry = next(e for e in audit if e["action"] == "claim.post-audit.finding")
    assert entry["detail"]["amountDueFen"] == found["amountFen"] and "billed twice" in entry["detail"]["reason"]
    assert (entry["detail"]["code"], entry["detail"]["debtor"]) == ("duplicate-charging", "hospital")
    owed = cs.client.get(f"/v1/claims/{found['id']}/clawback", headers=cs.auth("a" if found["issuer"] == cs.docs[
        "a"][0]["issuer"] else "b")).json()
    assert (owed["amountDueFen"], owed["debtor"]["kind"], owed["state"]) == (found["amountFen"], "hospital",
                                                                             "requested")
    stats = cs.client.get("/v1/stats/claims", headers=payer).json()
    assert stats["blocked"]["clawbacks"] == {"claims": 1, "amountFen": found["amountFen"]}


def test_approval_in_part_pays_the_other_lines_and_the_chain_holds_that(cs: ClaimsStack) -> None:
    for who in cs.docs:
        cs.upload_all(who)
    cs.claims.policy = cs.claims.policy.__class__(**{**cs.claims.policy.__dict__, "instant_max_fen": 0})
    # an invoice with several lines the rules pay for, claimed into review (one reviewer decides)
    candidates = []
    for fp, nid in sorted(cs.patients.items()):
        for inv in cs.client.get("/v1/me/invoices", headers=cs.citizen(nid)).json()["invoices"]:
            if inv["fingerprint"] == fp and inv["claimable"] and inv["estimateFen"] and inv["feeLineCount"] >= 3:
                candidates.append((inv["estimateFen"], fp, nid))
    _, fp, nid = max(candidates)       # the largest: without its smallest paying line it still pays
    claim = cs.claim(nid, [fp], "tap-in-part-1").json()["claims"][0]
    assert claim["state"] == "in-review" and claim["review"]["reviewsNeeded"] == 1
    paying = sorted((li for li in claim["decision"]["lines"] if li["eligibleFen"] > 0),
                    key=lambda li: -li["eligibleFen"])
    assert len(paying) >= 2
    url, payer = f"/v1/claims/{claim['id']}/approve", cs.auth("payer")
    stored = cs.claims.store.claim(claim["id"])
    year_before = cs.claims.store.year_to_date(stored.person, stored.scheme, stored.year)
    # what cannot be approved in part is refused, and nothing is stored
    every = [{"seq": li["seq"], "reason": "not-covered"} for li in claim["decision"]["lines"]]
    for body, status, says in (
            ({"lines": [{"seq": 99_999, "reason": "not-covered"}]}, 422, "lines[0].seq"),
            ({"lines": [{"seq": paying[0]["seq"], "reason": "because"}]}, 422, "reason"),
            ({"lines": [{"seq": paying[0]["seq"], "reason": "not-covered"}] * 2}, 422, "lines[1].seq"),
            ({"lines": every}, 422, "reject the claim instead")):
        r = cs.client.post(url, json=body, headers=payer)
        assert r.status_code == status and says in r.text, (body, r.text)
    r = cs.client.post(f"/v1/claims/{claim['id']}/reject", json={"reason": "x", "lines": every[:1]}, headers=payer)
    assert r.status_code == 422
    assert cs.client.post(url, json={"lines": every[:1]}, headers=cs.citizen(nid)).status_code == 403
    assert cs.client.post(url, json={"lines": every[:1]}, headers=cs.auth("other-payer")).status_code == 403
    assert cs.client.get(f"/v1/claims/{claim['id']}", headers=payer).json()["state"] == "in-review"

    seq = paying[-1]["seq"]
    r = cs.client.post(url, json={"reason": "the rest is in order", "lines": [
        {"seq": seq, "reason": "not-medically-necessary", "note": "no indication in the record"}]}, headers=payer)
    assert r.status_code == 200, r.text
    got = r.json()
    before, after = claim["amountFen"], got["amountFen"]
    assert got["state"] == "approved" and 0 < after < before
    assert got["decision"]["review"]["lines"][0]["reason"] == "not-medically-necessary"
    year_after = cs.claims.store.year_to_date(stored.person, stored.scheme, stored.year)
    assert year_after[1] - year_before[1] == after - before          # the year counts what it now pays
    cs.stamper.drain()
    got = cs.client.get(f"/v1/claims/{claim['id']}", headers=cs.citizen(nid)).json()
    assert (got["state"], got["stamp"]["status"], got["stamp"]["attempt"]) == ("paid", "finalized", 2), got["stamp"]
    # the chain gave back the first reservation and holds the smaller payment only
    state = cs.session.ledger.invoice_state(claim["issuer"], bytes.fromhex(fp[2:]))
    assert (state.reserved_fen, state.paid_fen) == (0, after)
    said = " ".join(got["explanation"])
    assert f"Line {seq}" in said and "not medically necessary" in said and "no indication" in said
    audit = cs.client.get(f"/v1/claims/{claim['id']}/audit", headers=cs.auth("auditor")).json()["entries"]
    actions = [e["action"] for e in audit]
    assert actions.index("claim.review.approve") < actions.index("claim.stamp.released") \
        < actions.index("claim.stamp.finalized") < actions.index("claim.paid")


def test_approval_in_part_waits_for_the_final_review(cs: ClaimsStack) -> None:
    fp, nid, _ = _mine(cs)
    cs.claims.policy = cs.claims.policy.__class__(**{**cs.claims.policy.__dict__, "instant_max_fen": 0,
                                                    "final_review_from_fen": 0})
    claim = cs.claim(nid, [fp], "tap-in-part-2").json()["claims"][0]
    seq = next(li["seq"] for li in claim["decision"]["lines"] if li["eligibleFen"] > 0)
    lines = [{"seq": seq, "reason": "duplicate-billing"}]
    r = cs.client.post(f"/v1/claims/{claim['id']}/approve", json={"lines": lines}, headers=cs.auth("payer"))
    assert r.status_code == 409 and "the final reviewer may approve it in part" in r.json()["detail"]
    assert cs.client.post(f"/v1/claims/{claim['id']}/approve", json={}, headers=cs.auth("payer")).status_code == 202
    # the first reviewer may not finish it in part either; the final reviewer may
    r = cs.client.post(f"/v1/claims/{claim['id']}/approve", json={"lines": lines}, headers=cs.auth("payer"))
    assert r.status_code == 409 and r.json()["type"].endswith("/separation-of-duties")
    r = cs.client.post(f"/v1/claims/{claim['id']}/approve", json={"lines": lines}, headers=cs.auth("payer2"))
    assert r.status_code == 200 and r.json()["state"] == "approved", r.text


@pytest.fixture
def cs_manual(tmp_path: Path) -> Iterator[ClaimsStack]:
    """A stack whose stamper runs only when the test ticks it (to stop it between sending and recording)."""
    s = make_claims_stack(f"sqlite:///{tmp_path}/ebill.sqlite", tmp_path, run_stamper=False, instant_max_fen=0)
    yield s
    s.stop()


def _send_without_recording(cs: ClaimsStack) -> None:
    """The stamper's round as a crash cuts it short: the chain takes the stamps, nothing is recorded."""
    sent = cs.stamper._send_stamps(cs.claims.store.stamp_tasks(limit=1000))
    assert sent
    for _, _, outcomes in sent:
        assert all(o.refused is None for o in outcomes.result())


def test_approval_in_part_survives_crashes_between_release_reservation_and_payment(cs_manual: ClaimsStack) -> None:
    cs = cs_manual
    for who in cs.docs:
        cs.upload_all(who)
    candidates = [(inv["estimateFen"], fp, nid) for fp, nid in sorted(cs.patients.items())
                  for inv in cs.client.get("/v1/me/invoices", headers=cs.citizen(nid)).json()["invoices"]
                  if inv["fingerprint"] == fp and inv["claimable"] and inv["estimateFen"] and inv["feeLineCount"] >= 3]
    _, fp, nid = max(candidates)
    r = cs.claim(nid, [fp], "tap-in-part-crash")
    cs.stamper.drain()
    claim = cs.client.get(f"/v1/claims/{r.json()['claims'][0]['id']}", headers=cs.auth("payer")).json()
    assert claim["state"] == "in-review"
    line = max((li for li in claim["decision"]["lines"] if 0 < li["eligibleFen"] < claim["amountFen"]),
               key=lambda li: li["eligibleFen"])
    got = cs.client.post(f"/v1/claims/{claim['id']}/approve", headers=cs.auth("payer"), json={
        "reason": "ok", "lines": [{"seq": line["seq"], "reason": "unbundled"}]}).json()
    amount = got["amountFen"]
    assert 0 < amount < claim["amountFen"]
    fingerprint = bytes.fromhex(fp[2:])
    cs.stamper._ensure_registered()
    # crash 1: the release is on chain, not recorded; sent again, the chain says released: reserve again
    _send_without_recording(cs)
    assert cs.session.ledger.invoice_state(claim["issuer"], fingerprint).reserved_fen == 0
    cs.stamper.tick()
    stored = cs.claims.store.claim(claim["id"])
    assert (stored.stamp, stored.chain_todo, stored.attempt) == ("released", "reserve", 2)
    # crash 2: the smaller reservation is on chain, not recorded; sent again, the chain holds it: finalise
    _send_without_recording(cs)
    assert cs.session.ledger.invoice_state(claim["issuer"], fingerprint).reserved_fen == amount
    cs.stamper.drain()
    got = cs.client.get(f"/v1/claims/{claim['id']}", headers=cs.auth("payer")).json()
    assert (got["state"], got["stamp"]["status"], got["stamp"]["attempt"]) == ("paid", "finalized", 2)
    state = cs.session.ledger.invoice_state(claim["issuer"], fingerprint)
    assert (state.reserved_fen, state.paid_fen) == (0, amount)       # the old reservation is gone, paid once
    paid = [p for p in cs.bank.payments() if p.amount_fen == amount]
    assert len(paid) == 1 and sum(p.amount_fen for p in cs.bank.payments()) == amount
