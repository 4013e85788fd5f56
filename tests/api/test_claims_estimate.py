"""``POST /v1/me/estimate``: a set of invoices estimated as the tap will decide it, in order,
by the same code; the claim then decides exactly that; nothing is stored by estimating;
only the citizen (for themselves or a delegator) may ask, on their own invoices.

The person is an employee under the shipped pharmacy-pooling rules of 2024: deductible
¥600, 70 %, annual cap ¥2,000; claims up to ¥500 without a flag are paid at once.
Their invoices bill one Class A drug at ¥100.00 a tablet (no Class B share, no limit).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from claims_stack import ClaimsStack

from ledger.devtools import synth

DRUG = "XC09CAA001T001000000009"


def _person(cs: ClaimsStack, seed: int, category: str = "employee") -> str:
    nid = synth.make_patients(1, seed=seed)[0].national_id
    r = cs.client.post("/v1/persons", json=[{"nationalId": nid, "name": f"person {seed}", "category": category}],
                       headers=cs.auth("admin"))
    assert r.status_code == 201, r.text
    return nid


def _bills(cs: ClaimsStack, nid: str, tablets: list[int], *, first: int = 1) -> list[str]:
    """Outpatient invoices of ``tablets[i]`` tablets at ¥100.00 each, in March 2024; their fingerprints."""
    template = cs.docs["a"][0]
    docs = []
    for i, n in enumerate(tablets):
        doc = copy.deepcopy(template)
        day = f"2024-03-{first + i:02d}"
        amount = 10000 * n
        doc.update(invoiceNumber=f"88{nid[-6:]}{first + i:02d}", issuedAt=f"{day}T10:00:00+08:00",
                   visitType="outpatient", patientId=nid, totalFen=amount, fundPaidFen=0, accountPaidFen=0,
                   cashPaidFen=amount,
                   feeLines=[{"seq": 1, "itemCode": DRUG, "itemName": "缬沙坦片", "category": "A", "quantity": str(n),
                              "unit": "片", "unitPriceFen": 10000, "amountFen": amount, "serviceDate": day}])
        docs.append(doc)
    r = cs.client.post("/v1/invoices", json=docs, headers=cs.auth("a"))
    assert r.status_code in (200, 201, 207), r.text
    cs.worker.drain()
    return [item["invoice"]["fingerprint"] for item in r.json()["items"]]


def _estimate(cs: ClaimsStack, nid: str, fps: list[str], **body: Any) -> Any:
    return cs.client.post("/v1/me/estimate", json={"fingerprints": fps, **body}, headers=cs.citizen(nid))


def _stored(cs: ClaimsStack, nid: str) -> tuple[int, int, Any]:
    """(claims of the person, audit entries, their 2024 pharmacy-pooling year) as stored."""
    person, = cs.claims.known_as([nid])
    claims = cs.client.get("/v1/claims", headers=cs.citizen(nid)).json()["claims"]
    audit = cs.client.get("/v1/audit?limit=1000", headers=cs.auth("auditor")).json()
    return len(claims), len(audit["entries"]), cs.claims.store.year_to_date(person, "pharmacy-pooling", 2024)


# (tablets in list order) -> per invoice (outcome, amount together, alone amount), hand-computed:
# ¥400 uses ¥400 of the deductible and pays 0; ¥900 then uses the last ¥200 and pays 70 % of ¥700;
# ¥1,200 comes after the deductible is met: 70 % of all of it, ¥840, above ¥500, so a reviewer decides.
# Alone, each would first meet the whole ¥600 deductible.
CASES = [
    ([4, 9, 12], [("nothing-payable", 0, 0), ("paid-at-once", 49000, 21000), ("review", 84000, 42000)],
     (133000, 49000, 84000)),
    # the same invoices the other way round: same total, other split (the order is the list's)
    ([12, 9, 4], [("paid-at-once", 42000, 42000), ("review", 63000, 21000), ("paid-at-once", 28000, 0)],
     (133000, 70000, 63000)),
]


@pytest.mark.parametrize(("tablets", "expected", "sums"), CASES, ids=["small-first", "large-first"])
def test_the_estimate_is_what_the_claim_then_decides(cs: ClaimsStack, tablets: list[int],
                                                     expected: list[tuple[str, int, int]],
                                                     sums: tuple[int, int, int]) -> None:
    nid = _person(cs, seed=9100 + tablets[0])
    fps = _bills(cs, nid, tablets)
    before = _stored(cs, nid)

    r = _estimate(cs, nid, fps)
    assert r.status_code == 200, r.text
    est = r.json()
    assert [i["fingerprint"] for i in est["invoices"]] == fps
    assert [(i["outcome"], i["amountFen"], i["aloneFen"]) for i in est["invoices"]] == expected
    assert [i["dependsOnOthers"] for i in est["invoices"]] == [e[1] != e[2] for e in expected]
    assert (est["totals"]["amountFen"], est["totals"]["atOnceFen"], est["totals"]["reviewFen"]) == sums
    assert sum(i["deductibleUsedFen"] for i in est["invoices"]) == 60000
    assert est["instantMaxFen"] == 50000
    # the listing's estimate of each invoice is what it would pay alone
    mine = cs.client.get("/v1/me/invoices", headers=cs.citizen(nid)).json()["invoices"]
    listing = {i["fingerprint"]: i for i in mine}
    assert [listing[fp]["estimateFen"] for fp in fps] == [e[2] for e in expected]
    # estimating stored nothing: no claim, no audit entry, the year untouched; and it says the same again
    assert _stored(cs, nid) == before == (0, before[1], (0, 0))
    assert _estimate(cs, nid, fps).json() == est

    r = cs.claim(nid, fps, f"estimate-then-claim-{tablets[0]}")
    assert r.status_code in (201, 202), r.text
    by_invoice = {c["fingerprint"]: c for c in r.json()["claims"]}
    claims = [by_invoice[fp] for fp in fps]
    for c, e in zip(claims, est["invoices"], strict=True):
        assert c["amountFen"] == e["amountFen"], (c, e)
        assert c["decision"]["deductibleUsedFen"] == e["deductibleUsedFen"]
        assert c["flags"] == e["flags"]
        outcome = ("nothing-payable" if c["state"] == "nothing-payable" else "paid-at-once" if c["instant"]
                   else "review")
        assert outcome == e["outcome"], (c["state"], c["instant"], e)
    # and the set, once claimed, cannot be estimated again: it is claimed already
    again = _estimate(cs, nid, fps)
    assert again.status_code == 409 and "claimed already" in again.json()["detail"]


def test_estimate_on_every_store(cs_any: ClaimsStack) -> None:
    """SQLite and PostgreSQL: the year so far (an earlier claim) is where the estimate starts."""
    nid = _person(cs_any, seed=9301)
    first, *rest = _bills(cs_any, nid, [5, 3, 10])
    assert cs_any.claim(nid, [first], "earlier-claim-9301").status_code in (201, 202)   # ¥500: all deductible
    r = _estimate(cs_any, nid, rest)
    assert r.status_code == 200, r.text
    # ¥300: ¥100 meets the deductible, 70 % of ¥200; then ¥1,000 at 70 %, a reviewer's (¥700 > ¥500)
    assert [(i["outcome"], i["amountFen"], i["aloneFen"]) for i in r.json()["invoices"]] == [
        ("paid-at-once", 14000, 14000), ("review", 70000, 63000)]


def test_a_delegate_estimates_for_the_person_who_delegated(cs: ClaimsStack) -> None:
    parent = _person(cs, seed=9401)
    child = _person(cs, seed=9402)
    fps = _bills(cs, parent, [7])
    pseudonym = cs.client.get("/v1/me", headers=cs.citizen(parent)).json()["person"]
    # without a delegation: refused; another person's invoice as one's own: not found
    assert _estimate(cs, child, fps, **{"for": pseudonym}).status_code == 403
    assert _estimate(cs, child, fps).status_code == 404
    r = cs.client.post("/v1/delegations", json={"holderNationalId": child, "personNationalId": parent,
                                               "relation": "parent"}, headers=cs.auth("admin"))
    assert r.status_code == 201, r.text
    r = _estimate(cs, child, fps, **{"for": pseudonym})
    assert r.status_code == 200, r.text
    assert r.json()["person"] == pseudonym and r.json()["invoices"][0]["amountFen"] == 7000   # 70 % of ¥100


@pytest.mark.parametrize("who", ["a", "clerk", "payer", "auditor", "admin"])
def test_only_citizens_estimate(cs: ClaimsStack, who: str) -> None:
    nid = _person(cs, seed=9501)
    fps = _bills(cs, nid, [7])
    r = cs.client.post("/v1/me/estimate", json={"fingerprints": fps}, headers=cs.auth(who))
    assert r.status_code == 403, r.text
    assert cs.client.post("/v1/me/estimate", json={"fingerprints": fps}).status_code == 401


def test_bad_requests_are_refused_precisely(cs: ClaimsStack) -> None:
    nid = _person(cs, seed=9601)
    fps = _bills(cs, nid, [7, 8])
    headers = cs.citizen(nid)

    def post(body: Any, **kw: Any) -> Any:
        return cs.client.post("/v1/me/estimate", json=body, headers=headers, **kw)

    for body, field in [({"fingerprints": []}, "fingerprints"), ({"fingerprints": [fps[0].upper()]}, "fingerprints"),
                        ({"fingerprints": ["0x12"]}, "fingerprints"), ({}, "fingerprints"),
                        ({"fingerprints": fps, "extra": 1}, "extra"), ({"fingerprints": fps, "for": "me"}, "for"),
                        ({"fingerprints": ["0x" + f"{i:064x}" for i in range(21)]}, "fingerprints")]:
        r = post(body)
        assert r.status_code == 422, (body, r.text)
        assert any(e["field"].startswith(field) for e in r.json()["errors"]), (body, r.json())
    r = post({"fingerprints": [fps[0], fps[0]]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "fingerprints"
    # an unknown invoice is "not found", whatever else is listed
    assert post({"fingerprints": [fps[0], "0x" + "ab" * 32]}).status_code == 404
    # over the route's 16 KiB, refused before the body is read
    big = b'{"fingerprints": ["' + b"0" * (17 * 1024) + b'"]}'
    r = cs.client.post("/v1/me/estimate", content=big, headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    r = cs.client.post("/v1/me/estimate", content=b"{not json", headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text


def test_what_a_claim_would_refuse_the_estimate_refuses(cs: ClaimsStack) -> None:
    nid = _person(cs, seed=9701)
    voided, kept = _bills(cs, nid, [6, 7])
    r = cs.client.post(f"/v1/invoices/{voided}/void", json={"reasonCode": "refund"}, headers=cs.auth("a"))
    assert r.status_code == 202, r.text
    r = _estimate(cs, nid, [kept, voided])
    assert r.status_code == 409 and "voided" in r.json()["detail"], r.text
    # a person not insured with this payer has nothing to estimate here
    stranger = synth.make_patients(1, seed=9702)[0].national_id
    r = _estimate(cs, stranger, [kept])
    assert r.status_code == 409 and "not insured" in r.json()["detail"], r.text
    # the estimate of what is left is as before, and stored nothing
    assert _estimate(cs, nid, [kept]).json()["invoices"][0]["amountFen"] == 7000
    assert _stored(cs, nid)[0] == 0
