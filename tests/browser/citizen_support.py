"""What the citizen-app screen tests share: the three sizes every screen is judged at (phone
390x844, 320 px wide with text at 200 %, desktop 1366x900), axe-core run on the page, and a
citizen of their own (enrolled, with invoices uploaded and anchored) for each test.

axe-core (npm, ``node_modules/axe-core/axe.min.js``) is added as an init script: the app's CSP
admits no inline script, and a script injected by the DevTools protocol is not subject to it, so the
page runs under its real policy while axe checks it.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from browser_support import DESKTOP, ROOT, Deployment, _documents, shoot

from ledger.devtools import synth
from ledger.devtools.vouchers import dev_issuer

PHONE390 = {"width": 390, "height": 844}
NARROW = {"width": 320, "height": 720}       # with the text at 200 % (LARGE_TEXT)
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
#: the root font size a person who set "largest text" on their phone gets (200 %)
LARGE_TEXT = "document.documentElement.style.fontSize = '200%'"
#: the WCAG 2.1 A/AA rules and axe's best practices; what the issue asks is no serious or critical violation
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def with_axe(page: Any) -> Any:
    """``page`` with axe-core loaded into every document it opens from now on."""
    if not AXE.exists():
        raise AssertionError(f"axe-core is missing at {AXE}: run `npm ci` (package.json lists axe-core)")
    page.add_init_script(path=str(AXE))
    return page


def axe_check(page: Any, screen: str) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is; fail on any serious or critical violation. Every
    violation found (of any impact) is returned, and written to test-artifacts/axe/<screen>.json."""
    page.wait_for_function("() => typeof window.axe === 'object'")
    result = page.evaluate("""(tags) => axe.run(document, { runOnly: { type: 'tag', values: tags },
        resultTypes: ['violations'] }).then(r => r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 8) })))""", AXE_TAGS)
    out = ROOT / "test-artifacts" / "axe"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{screen}.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, f"{screen}: axe-core finds serious or critical violations:\n" + json.dumps(bad, indent=1,
                                                                                          ensure_ascii=False)
    return result  # type: ignore[no-any-return]


def large_text(page: Any, on: bool) -> None:
    page.evaluate(LARGE_TEXT if on else "document.documentElement.style.fontSize = ''")


def shoot_three(page: Any, name: str, *, axe: bool = True) -> None:
    """The screen at 390x844 (``<name>-390.png``), at 320x720 with text at 200 % (``<name>-320-large.png``,
    and ``-320-large-end.png`` scrolled to its end when it is longer) and at 1366x900 (``<name>-desktop.png``);
    axe-core checks it at each size."""
    before = page.viewport_size
    page.locator("#toast").wait_for(state="hidden", timeout=10_000)   # a passing toast hides what is under it
    for size, suffix, big in ((PHONE390, "390", False), (NARROW, "320-large", True), (DESKTOP, "desktop", False)):
        page.set_viewport_size(size)
        large_text(page, big)
        page.evaluate("() => window.scrollTo(0, 0)")
        page.wait_for_timeout(80)     # one layout pass
        shoot(page, f"{name}-{suffix}")
        if big and page.evaluate("() => document.documentElement.scrollHeight > innerHeight + 40"):
            page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
            page.wait_for_timeout(80)
            shoot(page, f"{name}-{suffix}-end")          # what a long screen ends with, at that size
            page.evaluate("() => window.scrollTo(0, 0)")
        if axe:
            axe_check(page, f"{name}-{suffix}")
    large_text(page, False)
    page.set_viewport_size(before)


def no_horizontal_scroll(page: Any) -> None:
    """Nothing is wider than the screen (the page does not scroll sideways)."""
    wide = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert wide <= 1, f"the page is {wide} px wider than the screen"


_TEMPLATES: list[Any] = []


def templates() -> tuple[str, list[dict[str, Any]]]:
    """The deployment's hospital and its synthetic invoices (the same data set browser_support seeds)."""
    if not _TEMPLATES:
        (code, _), docs, _ = _documents()
        _TEMPLATES.append((code, docs))
    return _TEMPLATES[0]  # type: ignore[no-any-return]


def drug_bill(number: str, day: str, tablets: int) -> dict[str, Any]:
    """An outpatient invoice of ``tablets`` Class A tablets at ¥100.00 each (no Class B share, no limit)."""
    _, docs = templates()
    doc = copy.deepcopy(next(d for d in docs if d["visitType"] == "outpatient"))
    amount = 10000 * tablets
    doc.update(invoiceNumber=number, issuedAt=f"{day}T10:00:00+08:00", totalFen=amount, fundPaidFen=0,
               accountPaidFen=0, cashPaidFen=amount,
               feeLines=[{"seq": 1, "itemCode": "XC09CAA001T001000000009", "itemName": "缬沙坦胶囊", "category": "A",
                          "quantity": str(tablets), "unit": "粒", "unitPriceFen": 10000, "amountFen": amount,
                          "serviceDate": day}])
    return doc


def copy_of(invoice_number: str, new_number: str) -> dict[str, Any]:
    """One of the data set's invoices, under another number."""
    _, docs = templates()
    doc = copy.deepcopy(next(d for d in docs if d["invoiceNumber"] == invoice_number))
    doc["invoiceNumber"] = new_number
    return doc


def new_citizen(d: Deployment, *, seed: int, name: str, docs: list[dict[str, Any]], category: str = "employee",
                ttl_seconds: int = 12 * 3600) -> tuple[str, str, list[str]]:
    """A person enrolled with the payer, ``docs`` uploaded as theirs and anchored: (national id, e-voucher,
    fingerprints in the order of ``docs``)."""
    from datetime import timedelta

    nid = synth.make_patients(1, seed=seed)[0].national_id
    r = d.http("POST", "/v1/persons", d.tokens["admin"], json=[{"nationalId": nid, "name": name, "category": category}])
    assert r.status_code == 201, r.text
    for doc in docs:
        doc["patientId"] = nid
    r = d.http("POST", "/v1/invoices", d.tokens["hospital"], json=docs)
    assert r.status_code in (200, 201, 207), r.text
    fps = [item["invoice"]["fingerprint"] for item in r.json()["items"]]
    deadline = time.monotonic() + 60
    while not all(d.http("GET", f"/v1/invoices/{fp}", d.tokens["auditor"]).json()["state"] == "anchored" for fp in fps):
        assert time.monotonic() < deadline, "the invoices were not anchored within 60 s"
        time.sleep(0.2)
    token = dev_issuer(d.home).mint(nid, name=name, ttl=timedelta(seconds=ttl_seconds))
    return nid, token, fps


def sign_in_with(page: Any, token: str, heading: str = "My invoices") -> None:
    page.goto("/app/")
    page.locator("#token").fill(token)
    page.locator("form button[type=submit]").click()
    page.get_by_role("heading", name=heading).wait_for()


__all__ = ["AXE", "NARROW", "PHONE390", "axe_check", "copy_of", "drug_bill", "large_text", "new_citizen",
           "no_horizontal_scroll", "shoot_three", "sign_in_with", "templates", "with_axe"]
