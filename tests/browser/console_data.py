"""What the console's office tests set up over HTTP on the shared deployment: fresh invoices for a citizen,
claims in review, paid and owed back, and the screenshots at the sizes the issue asks for."""

from __future__ import annotations

import uuid
from typing import Any

from browser_support import DESKTOP, PEPPER, Deployment, shoot
from citizen_support import axe_check
from polling import until

from ledger.devtools import synth

PHONE = {"width": 390, "height": 844}
SMALL = {"width": 320, "height": 700}     # with large text (20 px)
_UPLOADED: dict[str, int] = {}


def shoot_three(page: Any, name: str, *, at: str | None = None) -> None:
    """``<name>-phone`` (390x844), ``<name>-small`` (320 px wide, text at 125 %) and ``<name>-desktop``
    (1366x900); scrolled to the element ``at`` (a selector) if given. A page with axe-core loaded
    (:func:`citizen_support.with_axe`) is checked by it at each size: no serious or critical violation."""
    before = page.viewport_size
    for size, suffix, large in ((PHONE, "phone", False), (SMALL, "small", True), (DESKTOP, "desktop", False)):
        page.set_viewport_size(size)
        page.evaluate("(large) => { document.documentElement.style.fontSize = large ? '20px' : ''; }", large)
        page.wait_for_timeout(250)  # a layout pass, and a chart drawn again for its width
        if at:
            page.locator(at).first.scroll_into_view_if_needed()
        shoot(page, f"{name}-{suffix}")
        if page.evaluate("() => typeof window.axe === 'object'"):   # a page opened with axe (test_console_office)
            axe_check(page, f"{name}-{suffix}")
    page.evaluate("() => { document.documentElement.style.fontSize = ''; }")
    page.set_viewport_size(before)


def upload_for(d: Deployment, who: str, *, seed: int, count: int = 40) -> list[str]:
    """Synthetic invoices of the deployment's hospital for citizen ``who``, uploaded and anchored (each seed once)."""
    key = f"{who}:{seed}"
    if key in _UPLOADED:
        return []
    issuer = next(iter(d.invoices.values()))["issuer"]
    ds = synth.generate(seed=seed, hospitals=1, invoices=count, fee_lines=None, pepper=PEPPER)
    docs = []
    for n, doc in enumerate(synth.iter_documents(ds)):
        doc.update(issuer=issuer, invoiceNumber=f"7{seed % 1000:03d}{n:06d}", patientId=d.citizens[who].national_id)
        docs.append(doc)
    r = d.http("POST", "/v1/invoices", d.tokens["hospital"], json=docs)
    assert r.status_code in (200, 201, 207), r.text
    fps = [item["invoice"]["fingerprint"] for item in r.json()["items"] if item.get("invoice")]
    until(lambda: all(d.http("GET", f"/v1/invoices/{fp}", d.tokens["auditor"]).json()["state"] == "anchored"
                      for fp in fps), 60, "the invoices to be anchored")
    d.citizens[who].fingerprints.extend(fps)
    _UPLOADED[key] = len(fps)
    return fps


def claim(d: Deployment, who: str, *, low: int, high: int) -> dict[str, Any]:
    """Claim (over HTTP) one of ``who``'s invoices that the rules pay between ``low`` and ``high`` fen (exclusive,
    inclusive), largest first."""
    token = d.citizens[who].token
    invoices = d.http("GET", "/v1/me/invoices", token).json()["invoices"]
    fits = sorted((i for i in invoices if i["claimable"] and low < i["estimateFen"] <= high),
                  key=lambda i: -i["estimateFen"])
    assert fits, f"no claimable invoice of {who} paying {low}..{high} fen"
    r = d.http("POST", "/v1/claims", token, headers={"Idempotency-Key": uuid.uuid4().hex},
               json={"fingerprints": [fits[0]["fingerprint"]]})
    assert r.status_code in (201, 202), r.text
    return dict(r.json()["claims"][0])


def settled(d: Deployment, claim_id: str, state: str) -> dict[str, Any]:
    """The claim once it is in ``state``."""
    return dict(until(lambda: (c := d.http("GET", f"/v1/claims/{claim_id}", d.tokens["auditor"]).json())["state"]
                      == state and c, 60, f"claim {claim_id} to be {state}"))


def owed_by_hospital(d: Deployment, who: str) -> dict[str, Any]:
    """A claim of ``who`` paid at once, drawn for the post-payment audit, then found unbundled: the hospital owes
    it back. Returns its claw-back."""
    paid = claim(d, who, low=0, high=50_000)
    paid = settled(d, paid["id"], "paid")
    assert paid["postAudit"] == "due", paid
    r = d.http("POST", f"/v1/claims/{paid['id']}/post-audit", d.tokens["payer2"],
               json={"outcome": "finding", "code": "unbundling", "reason": "Blood tests billed one by one."})
    assert r.status_code == 200, r.text
    cb = d.http("GET", f"/v1/claims/{paid['id']}/clawback", d.tokens["payer"])
    assert cb.status_code == 200, cb.text
    return dict(cb.json())
