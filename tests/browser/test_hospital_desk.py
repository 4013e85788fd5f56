"""The hospital's desk in the staff console, in chromium against a real ``ebill serve``: a hospital's
token lands on its own invoices, searches them by number and issue day, opens one (stored → anchored →
voided with the anchoring lag, the inclusion proof, the print view and the PDF), voids one with a reason
code after a confirmation step, uploads a file and sees each refused row in place, and sees the
claw-backs it must settle with their amounts.

Screens are shot at phone 390x844, 320 px wide with text at 200 % (the whole page), and desktop
1366x900: ``desk-<screen>-390.png``, ``-320-large.png``, ``-desktop.png`` in test-artifacts/screenshots/.
axe-core (npm) checks each shot, the console's header and navigation included: no serious or
critical violation.

The session's deployment is shared with the other browser tests: this file makes its own invoices
(and its own insured person for the claw-back) rather than void or claim theirs.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path
from typing import Any

from browser_support import DESKTOP, Deployment, _documents, shoot, sign_in
from citizen_support import axe_check, with_axe

from ledger.devtools import synth
from ledger.devtools.vouchers import dev_issuer

PHONE = {"width": 390, "height": 844}
NARROW = {"width": 320, "height": 720}


# ------------------------------------------------------------------------------ helpers


def _page(page_for: Any, size: dict[str, int] = DESKTOP, lang: str = "en-US") -> Any:
    # axe-core as a DevTools-protocol script: the console's CSP still applies to the page
    return with_axe(page_for(size, lang))


def _axe(page: Any, screen: str) -> None:
    """The whole screen, the console's header and navigation included: no serious or critical violation."""
    axe_check(page, screen)


def shoot_three(page: Any, name: str, *, show: Any = None) -> None:
    """The screen at 390x844, at 320 px with text at 200 % (whole page), and at 1366x900; no sideways scroll
    on a phone; axe-core at each size when installed. ``show``: a locator to bring to the middle of each shot."""
    before = page.viewport_size
    for size, suffix, big in ((PHONE, "390", False), (NARROW, "320-large", True), (DESKTOP, "desktop", False)):
        page.set_viewport_size(size)
        page.evaluate(f"document.documentElement.style.fontSize = '{'200%' if big else ''}'")
        page.wait_for_timeout(80)
        if show is not None:
            show.evaluate("e => e.scrollIntoView({ block: 'center' })")
        shoot(page, f"{name}-{suffix}", full_page=big)
        if size is PHONE:
            wide = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert wide <= 1, f"{name}: the page is {wide} px wider than a 390 px screen"
        if big:   # the desk's own content fits at 320 px with large text (the console's header is another module's)
            wide = page.evaluate("(() => { const m = document.getElementById('main'); "
                                 "return m.scrollWidth - m.clientWidth; })()")
            offenders = page.evaluate("""() => { const m = document.getElementById('main').getBoundingClientRect();
                return [...document.querySelectorAll('#main *')]
                  .filter(e => e.getBoundingClientRect().right > m.right + 1
                    || e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible')
                  .slice(0, 6).map(e => `${e.tagName}.${e.className}#${e.id} ${e.scrollWidth}/${e.clientWidth}`); }""")
            assert wide <= 1, f"{name}: the desk is {wide} px wider than its column at 320 px, large text: {offenders}"
        _axe(page, f"{name}-{suffix}")
    page.evaluate("document.documentElement.style.fontSize = ''")
    page.set_viewport_size(before)


def _template(visit: str | None = None, low: int = 0, high: int = 10**9) -> dict[str, Any]:
    _, docs, _ = _documents()
    return copy.deepcopy(next(d for d in docs if (visit is None or d["visitType"] == visit)
                              and low <= d["totalFen"] < high))


def _upload_own(d: Deployment, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Upload ``docs`` as the hospital and wait until they are anchored; their summaries."""
    r = d.http("POST", "/v1/invoices", d.tokens["hospital"], json=docs)
    assert r.status_code == 200, r.text
    fps = [i["invoice"]["fingerprint"] for i in r.json()["items"]]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = [d.http("GET", f"/v1/invoices/{fp}", d.tokens["hospital"]).json() for fp in fps]
        if all(g["state"] == "anchored" for g in got):
            return got
        time.sleep(0.2)
    raise AssertionError("the desk's invoices were not anchored within 60 s")


def _number(tag: int) -> str:
    """An invoice number of this file's own (the seeded data set's numbers are 10 digits from 0000000001)."""
    return f"98{tag:08d}"


def _nav(page: Any) -> list[str]:
    return [page.locator("#nav a").nth(i).inner_text() for i in range(page.locator("#nav a").count())]


# ------------------------------------------------------------------------------ the invoices


def test_a_hospital_finds_opens_and_prints_its_invoices(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    [mine] = _upload_own(d, [{**_template("outpatient"), "invoiceNumber": _number(1),
                              "issuedAt": "2024-11-05T09:30:00+08:00"}])
    page = _page(page_for)
    sign_in(page, "/console/", d.tokens["hospital"])
    page.get_by_role("heading", name="Hospital desk").wait_for()
    assert _nav(page) == ["Hospital desk", "Verify"]                 # a hospital's sections, the desk first
    page.locator("table.desk tbody tr").first.wait_for()
    first = page.locator("table.desk tbody tr").first
    assert first.get_attribute("data-number") == mine["invoiceNumber"]   # newest first: just uploaded
    assert "Anchored" in first.inner_text() and " s" in first.locator("td.lag").inner_text()
    text = page.locator("main").inner_text()
    assert "patient" not in text.lower().replace("no patient data", "")   # nothing of the patient, anywhere
    shoot_three(page, "desk-invoices")

    # search by number (leading zeros left out) and by issue day; a number of no invoice finds nothing
    page.locator("#d-number").fill(mine["invoiceNumber"].lstrip("0"))
    page.get_by_role("button", name="Search").click()
    page.wait_for_function("() => location.hash.startsWith('#/desk?number=')")
    page.locator(f'tr[data-number="{mine["invoiceNumber"]}"]').wait_for()
    assert page.locator("table.desk tbody tr").count() == 1
    page.get_by_role("button", name="Reset").click()
    page.locator("#d-from").fill("2024-11-05")
    page.locator("#d-to").fill("2024-11-05")
    page.get_by_role("button", name="Search").click()
    page.locator(f'tr[data-number="{mine["invoiceNumber"]}"]').wait_for()
    assert all("2024" in c for c in page.locator("table.desk td:nth-child(2)").all_inner_texts())
    shoot_three(page, "desk-search")
    page.goto("/console/#/desk?number=9999999999")
    page.get_by_text("No invoices match.").wait_for()
    # the invoice the seed voided: found by its state
    page.goto("/console/#/desk?state=voided")
    voided = d.citizens["chen"].fingerprints[-1]
    page.locator(f'tr[data-fingerprint="{voided}"] [data-state=voided]').wait_for()

    # one invoice: its steps with the anchoring lag, facts, chain, proof
    page.goto("/console/#/desk")
    page.locator(f'tr[data-number="{mine["invoiceNumber"]}"] a').click()
    page.get_by_role("heading", name=f"Invoice {mine['invoiceCode']} / {mine['invoiceNumber']}").wait_for()
    steps = page.locator("ol.steps li")
    assert [steps.nth(i).get_attribute("class") for i in range(3)] == ["done", "done", "todo"]
    assert f"block {mine['block']}" in steps.nth(1).inner_text() and "after the upload" in steps.nth(1).inner_text()
    proof = page.locator("section", has=page.get_by_role("heading", name="Inclusion proof"))
    assert mine["batchRoot"][:8] in proof.inner_text()
    assert "pseudonym" not in page.locator("main").inner_text().lower()
    assert mine["patientPseudonym"][2:10] not in page.content()
    shoot_three(page, "desk-invoice")

    # the PDF and the proof file, fetched with the staff token and saved
    with page.expect_download() as pdf:
        page.get_by_role("button", name="Download PDF").click()
    assert pdf.value.suggested_filename == f"{mine['invoiceCode']}-{mine['invoiceNumber']}.pdf"
    assert Path(pdf.value.path()).read_bytes()[:5] == b"%PDF-"
    with page.expect_download() as proof_file:
        page.get_by_role("button", name="Download the proof file").click()
    doc = json.loads(Path(proof_file.value.path()).read_text())
    assert mine["fingerprint"] in json.dumps(doc) and mine["batchRoot"] in json.dumps(doc)

    # the print view: the service's print page, drawn in the console (its CSP allows no inline style)
    page.get_by_role("link", name="Print view").click()
    page.get_by_role("heading", name="Print view").wait_for()
    page.wait_for_function("() => document.querySelector('.print-host')?.shadowRoot?.querySelector('svg')")
    sheet = page.evaluate("document.querySelector('.print-host').shadowRoot.textContent")
    assert mine["invoiceNumber"] in sheet and mine["invoiceCode"] in sheet
    width = page.evaluate("document.querySelector('.print-host').shadowRoot.querySelector('svg')"
                          ".getBoundingClientRect().width")
    assert 100 < width < 160, width                                     # the print styles apply (34 mm ≈ 128 px)
    shoot_three(page, "desk-print")
    page.emulate_media(media="print")
    assert page.locator("header.top").is_hidden() and page.locator(".print-tools").is_hidden()
    page.emulate_media(media="screen")


def test_the_desk_speaks_chinese(page_for: Any, deployment: Deployment) -> None:
    page = _page(page_for, PHONE, "zh-CN")
    sign_in(page, "/console/", deployment.tokens["hospital"])
    page.get_by_role("heading", name="医院工作台").wait_for()
    page.locator("table.desk tbody tr").first.wait_for()
    text = page.locator("main").inner_text()
    assert "可省略前导零" in text and "追回款项" in text and " 秒" in text and "已上链" in text, text[:300]
    # on a phone each row is a card, its cells labelled in Chinese too
    assert page.locator("table.desk td").first.get_attribute("data-label") == "票据（代码 / 号码）"
    shoot_three(page, "desk-invoices-zh")


# ------------------------------------------------------------------------------ the void


def test_a_hospital_voids_an_invoice_with_a_reason_after_confirming(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    [inv] = _upload_own(d, [{**_template("pharmacy"), "invoiceNumber": _number(2)}])
    page = _page(page_for)
    sign_in(page, f"/console/#/desk/{inv['fingerprint']}", d.tokens["hospital"])
    page.get_by_role("heading", name="Void this invoice (red-letter reversal)").wait_for()
    page.get_by_role("button", name="Void…").click()
    page.get_by_role("alert").filter(has_text="Choose why the invoice is voided").wait_for()   # a code is needed
    page.locator("#void-code").select_option("duplicate")
    assert "invoiced twice" in page.locator("#void-hint").inner_text()
    page.locator("#void-note").fill("同一处方重复开票（窗口 3）")
    page.get_by_role("button", name="Void…").click()

    # the confirmation says what happens, and nothing is sent before "Yes"
    dialog = page.get_by_role("alertdialog")
    dialog.wait_for()
    assert f"Void invoice {inv['invoiceCode']} / {inv['invoiceNumber']}" in dialog.inner_text()
    said = dialog.inner_text()
    assert "cannot be changed or undone" in said and "Duplicate invoice (duplicate)" in said
    assert page.locator("#void-code").is_disabled()
    shoot_three(page, "desk-void-confirm", show=dialog)
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="detached")
    assert d.http("GET", f"/v1/invoices/{inv['fingerprint']}", d.tokens["hospital"]).json()["void"] is None
    page.get_by_role("button", name="Void…").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Yes, void it").click()
    page.get_by_role("status").filter(has_text="Void recorded").first.wait_for()
    page.locator("section[data-void]").wait_for()

    # stamped on chain within seconds: the third step is done
    deadline = time.monotonic() + 30
    while page.locator("section[data-void=voided]").count() == 0:
        assert time.monotonic() < deadline, "the void was not stamped on chain within 30 s"
        page.wait_for_timeout(500)
        page.reload()                                      # signed in still: the token is this tab's
        page.locator("section[data-void]").wait_for()
    assert page.locator("ol.steps li").nth(2).get_attribute("class") == "voided"
    text = page.locator("section[data-void]").inner_text()
    assert "Duplicate invoice (duplicate)" in text and "窗口 3" in text and "Stamped on the chain" in text
    assert page.locator("#void-code").count() == 0                     # voided once: no form any more
    shoot_three(page, "desk-voided")
    got = d.http("GET", f"/v1/invoices/{inv['fingerprint']}", d.tokens["hospital"]).json()
    assert (got["state"], got["void"]["reasonCode"], got["void"]["reason"]) == ("voided", "duplicate",
                                                                              "同一处方重复开票（窗口 3）")


# ------------------------------------------------------------------------------ the upload


def test_an_upload_shows_each_refused_row_in_place(page_for: Any, deployment: Deployment, tmp_path: Path) -> None:
    d = deployment
    good = {**_template("outpatient"), "invoiceNumber": _number(3)}
    wrong_total = {**_template("outpatient"), "invoiceNumber": _number(4)}
    wrong_total["totalFen"] += 1
    other_issuer = {**_template("emergency"), "invoiceNumber": _number(5), "issuer": "H33010299999"}
    again = {**good}                                           # the same invoice twice: stored once
    path = tmp_path / "november.ndjson"
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in (good, wrong_total, other_issuer, again)))

    page = _page(page_for)
    sign_in(page, "/console/#/desk/upload", d.tokens["hospital"])
    page.get_by_role("heading", name="Upload invoices").wait_for()
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_role("alert").filter(has_text="Choose a file first").wait_for()
    page.locator("#u-file").set_input_files(str(path))
    page.get_by_role("button", name="Upload", exact=True).click()
    report = page.locator(".upload-report")
    report.wait_for()
    assert "Stored 1 · already stored 1 · conflicts 0 · refused 2" in report.locator("h2").inner_text()
    rows = report.locator("tbody tr")
    assert [rows.nth(i).get_attribute("data-status") for i in range(4)] == ["created", "rejected", "rejected",
                                                                            "duplicate"]
    # each problem in the row of the file it concerns, with where in the row
    second, third = rows.nth(1).inner_text(), rows.nth(2).inner_text()
    assert "november.ndjson line 2" in second and "totalFen" in second
    assert "november.ndjson line 3" in third and "H33010299999" in third and "its own invoices" in third
    assert rows.nth(0).get_by_role("link").inner_text() == f"{good['invoiceCode']} / {good['invoiceNumber']}"
    shoot_three(page, "desk-upload", show=rows.nth(1))

    # a file refused as a whole says so, with the reason
    broken = tmp_path / "invoices.csv"
    broken.write_text("issuer,invoice_code\nH33010200001,33012401\n")
    page.locator("#u-file").set_input_files(str(broken))
    page.get_by_role("button", name="Upload", exact=True).click()
    alert = page.get_by_role("alert").filter(has_text="The file was refused as a whole")
    alert.wait_for()
    assert "invoices.csv" in alert.inner_text()
    shoot(page, "desk-upload-refused-desktop")


# ------------------------------------------------------------------------------ claw-backs


def test_the_clawbacks_a_hospital_must_settle(page_for: Any, deployment: Deployment) -> None:
    """A person of this test's own claims an invoice, is paid at once, then the hospital voids it: the
    hospital owes the payout back, and its desk says how much, why and by when."""
    d = deployment
    person = synth.make_patients(1, seed=4242)[0]
    r = d.http("POST", "/v1/persons", d.tokens["admin"], json=[{"nationalId": person.national_id, "name": "周芳",
                                                                 "category": "employee"}])
    assert r.status_code == 201, r.text
    [inv] = _upload_own(d, [{**_template("outpatient", 85_000, 100_000), "invoiceNumber": _number(6),
                             "patientId": person.national_id}])
    token = dev_issuer(d.home).mint(person.national_id, name="周芳")
    r = d.http("POST", "/v1/claims", token, headers={"Idempotency-Key": uuid.uuid4().hex},
               json={"fingerprints": [inv["fingerprint"]]})
    assert r.status_code in (201, 202), r.text
    claim = r.json()["claims"][0]
    deadline = time.monotonic() + 60
    while (claim := d.http("GET", f"/v1/claims/{claim['id']}", token).json())["state"] != "paid":
        assert time.monotonic() < deadline and claim["state"] in ("submitted", "reserved", "approved"), claim
        time.sleep(0.2)
    assert d.http("POST", f"/v1/invoices/{inv['fingerprint']}/void", d.tokens["hospital"],
                  json={"reasonCode": "refund"}).status_code == 202
    deadline = time.monotonic() + 60
    while d.http("GET", f"/v1/claims/{claim['id']}", token).json()["state"] != "clawback":
        assert time.monotonic() < deadline, "the void after the payout opened no claw-back"
        time.sleep(0.2)
    owed = d.http("GET", f"/v1/claims/{claim['id']}/clawback", d.tokens["hospital"]).json()

    page = _page(page_for)
    sign_in(page, "/console/#/desk/clawbacks", d.tokens["hospital"])
    page.get_by_role("heading", name="Claw-backs to settle").wait_for()
    row = page.locator(f'tr[data-clawback="{owed["id"]}"]')
    row.wait_for()
    text = row.inner_text()
    paid = f"{claim['amountFen'] // 100:,}.{claim['amountFen'] % 100:02d}"
    assert "Voided after the payout" in text and text.count(paid) == 2 and "To return" in text, text
    assert inv["invoiceNumber"] in text and person.national_id not in page.content()
    assert "You owe ¥" in page.locator("p.owe").inner_text()
    shoot_three(page, "desk-clawbacks")
    # from the claw-back to its invoice: voided, and the void says what payers had paid
    row.get_by_role("link").click()
    page.locator("section[data-void]").wait_for()
    assert "see Claw-backs" in page.locator("section[data-void]").inner_text()
