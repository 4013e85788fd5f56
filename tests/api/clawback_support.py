"""What the claw-back tests share: invoices of known amounts, claims paid at once, a void after the payout."""

from __future__ import annotations

import copy
from typing import Any

from claims_stack import ClaimsStack, category_of

from ledger.claims.sampling import sample_key


def class_a_invoice(cs: ClaimsStack, nid: str, number: int, fen: int, who: str = "a") -> dict[str, Any]:
    """An outpatient invoice of hospital ``who`` with one Class A line of ``fen``, paid in cash by ``nid``."""
    doc = copy.deepcopy(cs.docs[who][0])
    line = {**doc["feeLines"][0], "seq": 1, "category": "A", "quantity": "1", "unitPriceFen": fen, "amountFen": fen,
            "itemCode": "001102000010000-110200001", "itemName": "门诊诊查费", "serviceDate": f"2024-03-{number:02d}"}
    doc.update(invoiceNumber=f"88{number:08d}", issuedAt=f"2024-03-{number:02d}T10:00:00+08:00",
               visitType="outpatient", totalFen=fen, fundPaidFen=0, accountPaidFen=0, cashPaidFen=fen,
               feeLines=[line], patientId=nid)
    return doc


def employee(cs: ClaimsStack, who: str = "a") -> str:
    return next(n for n in sorted({d["patientId"] for d in cs.docs[who]}) if category_of(n) == "employee")


def upload(cs: ClaimsStack, docs: list[dict[str, Any]], who: str = "a") -> list[str]:
    r = cs.client.post("/v1/invoices", json=docs, headers=cs.auth(who))
    assert r.status_code in (200, 201), r.text
    cs.worker.drain()
    return [item["invoice"]["fingerprint"] for item in r.json()["items"]]


def paid_claim(cs: ClaimsStack, nid: str, fp: str, key: str, *, drawn: bool = False) -> dict[str, Any]:
    """A claim paid at once (drawn for a post-payment audit if ``drawn``)."""
    policy = cs.claims.policy
    cs.claims.policy = policy.__class__(**{**policy.__dict__, "post_audit_share_bp": 10_000 if drawn else 0,
                                           "sample_key": sample_key(b"k" * 32)})
    try:
        r = cs.claim(nid, [fp], key)
    finally:
        cs.claims.policy = policy
    assert r.status_code in (201, 202), r.text
    claim_id = r.json()["claims"][0]["id"]
    cs.stamper.drain()
    got = cs.client.get(f"/v1/claims/{claim_id}", headers=cs.auth("payer")).json()
    assert got["state"] == "paid", got
    return dict(got)


def voided_after_payout(cs: ClaimsStack) -> tuple[dict[str, Any], str]:
    """¥800 of Class A care paid ¥140 (employee: deductible ¥600, then 70 %), then voided by hospital a:
    (the claim, the citizen's national id)."""
    nid = employee(cs)
    fp, = upload(cs, [class_a_invoice(cs, nid, 1, 80_000)])
    claim = paid_claim(cs, nid, fp, "tap-cbk-void-1")
    assert claim["amountFen"] == 14_000
    r = cs.client.post(f"/v1/invoices/{fp}/void", json={"reasonCode": "refund"}, headers=cs.auth("a"))
    assert r.status_code in (200, 201, 202), r.text
    cs.worker.drain()
    cs.stamper.drain()
    return claim, nid


def get_as(cs: ClaimsStack, path: str, who: dict[str, str]) -> Any:
    return cs.client.get(path, headers=who)


def clawback_url(cs: ClaimsStack, claim: dict[str, Any]) -> str:
    cb = get_as(cs, "/v1/claims/" + claim["id"] + "/clawback", cs.auth("payer")).json()
    return "/v1/clawbacks/" + cb["id"]
