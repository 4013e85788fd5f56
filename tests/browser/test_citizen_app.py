"""The citizens' app in chromium against a real ``ebill serve``: sign in with the e-voucher,
claim with one tap and follow the claim to "paid", a duplicate claim refused with a clear
message, acting for a parent, and checking (then claiming) an invoice from a photo of its QR code.
"""

from __future__ import annotations

import re
import time
from typing import Any

from browser_support import DESKTOP, PHONE, Deployment, photo_of, shoot_both, sign_in


def _open_invoices(page: Any, d: Deployment, who: str) -> None:
    sign_in(page, "/app/", d.citizens[who].token)
    page.get_by_role("heading", name="My invoices").wait_for()


def _card(page: Any, fingerprint: str) -> Any:
    return page.locator(f'li.invoice[data-fingerprint="{fingerprint}"]')


def _invoices(d: Deployment, who: str) -> list[dict[str, Any]]:
    r = d.http("GET", "/v1/me/invoices", d.citizens[who].token)
    assert r.status_code == 200, r.text
    return r.json()["invoices"]  # type: ignore[no-any-return]


def test_citizen_claims_with_one_touch_and_sees_it_paid(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    page = page_for(PHONE)
    page.goto("/")
    assert page.url.endswith("/app/")
    page.get_by_role("heading", name="Sign in").wait_for()
    shoot_both(page, "app-signin")
    # a wrong token is refused plainly and the form stays usable
    page.locator("#token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").filter(has_text="not accepted").wait_for()

    _open_invoices(page, d, "li")
    small = next(i for i in _invoices(d, "li") if 0 < i["estimateFen"] <= 50_000)   # paid at once
    shoot_both(page, "app-invoices")

    # the first answer is lost on the way back: the app re-sends with the same Idempotency-Key
    keys: list[str] = []
    dropped: list[bool] = []

    def lose_first_answer(route: Any) -> None:
        keys.append(route.request.headers.get("idempotency-key", ""))
        if not dropped:
            dropped.append(True)
            route.fetch()          # the server files the claim ...
            route.abort("connectionreset")   # ... but the phone never hears back
        else:
            route.continue_()

    page.route("**/v1/claims", lose_first_answer)
    _card(page, small["fingerprint"]).get_by_role("checkbox").check()
    button = page.locator("#claim-button")
    assert re.search(r"Claim 1 invoice", button.inner_text())
    button.click()

    page.locator(".status-panel [data-state=paid]").wait_for(timeout=30_000)
    assert len(keys) == 2 and keys[0] == keys[1] and len(keys[0]) >= 8, keys
    panel = page.locator(".status-panel")
    assert "paid to your account" in panel.inner_text()
    assert "SIMBANK-" in panel.inner_text()
    why = page.locator("ol.explain").inner_text()
    assert "deductible" in why and "70 %" in why
    assert page.locator("ul.lines > li").count() >= 1          # the fee lines the citizen pays, in words
    shoot_both(page, "app-claim-paid")
    # exactly one claim was filed for the lost answer and its retry
    claims = d.http("GET", "/v1/claims", d.citizens["li"].token).json()["claims"]
    assert [c["fingerprint"] for c in claims].count(small["fingerprint"]) == 1

    page.locator("#nav").get_by_role("link", name="Claims", exact=True).click()
    page.get_by_role("heading", name="My claims").wait_for()
    assert page.locator("li.claim-row [data-state=paid]").count() >= 1
    shoot_both(page, "app-claims")

    page.locator("#nav").get_by_role("link", name="Invoices", exact=True).click()
    _card(page, small["fingerprint"]).get_by_text("Not claimable: already claimed").wait_for()


def test_duplicate_claim_is_refused_with_a_clear_message(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    target = max(_invoices(d, "wang"), key=lambda i: i["totalFen"])
    # the same citizen has the app open twice (two phones, or a stale tab)
    first, second = page_for(PHONE), page_for(PHONE)
    for page in (first, second):
        _open_invoices(page, d, "wang")
        _card(page, target["fingerprint"]).get_by_role("checkbox").check()
    first.locator("#claim-button").click()
    first.locator(".status-panel [data-state]").wait_for(timeout=30_000)

    second.locator("#claim-button").click()
    alert = second.get_by_role("alert")
    alert.wait_for()
    text = alert.inner_text()
    assert "already been claimed" in text and "cannot be claimed again" in text
    # the service's own sentence (English, naming the claim it collides with) only behind "Details"
    assert "claimed already" not in text and "claimed already" in alert.locator("details").text_content()
    assert second.get_by_role("link", name="See the claim").is_visible()
    shoot_both(second, "app-duplicate-refused")
    assert [c["fingerprint"] for c in d.http("GET", "/v1/claims", d.citizens["wang"].token).json()["claims"]] \
        .count(target["fingerprint"]) == 1


def test_acting_for_a_parent_in_chinese(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    page = page_for(PHONE, "zh-CN")
    sign_in(page, "/app/", d.citizens["li"].token)
    page.get_by_role("heading", name="我的票据").wait_for()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.locator("#acting-for").select_option(label=f"{d.citizens['parent'].name}（父母）")
    page.get_by_role("heading", name=f"{d.citizens['parent'].name} 的票据").wait_for()
    assert "授权" in page.locator(".alert.info").inner_text()
    parent_fps = set(d.citizens["parent"].fingerprints)
    shown = {page.locator("li.invoice").nth(i).get_attribute("data-fingerprint")
             for i in range(page.locator("li.invoice").count())}
    assert shown == parent_fps
    shoot_both(page, "app-acting-for-parent-zh")
    # the language toggle switches every string, and is remembered
    page.get_by_role("button", name="切换为英文").click()
    page.get_by_role("heading", name=f"Invoices of {d.citizens['parent'].name}").wait_for()
    page.reload()
    page.get_by_role("heading", name=f"Invoices of {d.citizens['parent'].name}").wait_for()
    # and the text messages follow: the payer records the language on the person's enrolment
    me = d.http("GET", "/v1/me", d.citizens["li"].token).json()["person"]
    subject = "0x" + me.removeprefix("0x")[:16]

    def chosen() -> list[str]:
        trail = d.http("GET", f"/v1/audit?subject={subject}", d.tokens["auditor"]).json()
        entries = trail.get("entries", trail) if isinstance(trail, dict) else trail
        return [e["detail"]["language"] for e in entries if e["action"] == "person.language"]
    deadline = time.monotonic() + 10
    while not chosen() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert chosen()[:1] == ["en"]


def test_scan_a_photo_of_the_qr_then_claim_it(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    target = next(i for i in _invoices(d, "zhang") if i["claimable"] and i["estimateFen"] == 0)
    qr = d.http("GET", f"/v1/invoices/{target['fingerprint']}/qr.png", d.tokens["auditor"]).content
    page = page_for(DESKTOP)
    _open_invoices(page, d, "zhang")
    page.locator("#nav").get_by_role("link", name="Scan", exact=True).click()
    page.get_by_role("heading", name="Check a paper invoice").wait_for()
    shoot_both(page, "app-scan")
    page.locator("#photo").set_input_files({"name": "invoice.jpg", "mimeType": "image/jpeg", "buffer": photo_of(qr)})
    verdict = page.locator(".verdict")
    verdict.wait_for()
    assert verdict.get_attribute("data-status") == "anchored"
    assert "Genuine invoice" in verdict.inner_text()
    assert "yours and has not been claimed" in verdict.inner_text()
    shoot_both(page, "app-scan-verdict")
    page.locator("#claim-scanned").click()
    page.locator(".status-panel [data-state=nothing-payable]").wait_for(timeout=30_000)
    assert "pay nothing" in page.locator(".status-panel").inner_text()
    shoot_both(page, "app-claim-nothing-payable")

    # a code no hospital signed is called what it is
    page.locator("#nav").get_by_role("link", name="Scan", exact=True).click()
    page.get_by_text("Or type the code text").first.click()
    page.locator("#payload").fill("EBILL:NOT-A-REAL-CODE")
    page.get_by_role("button", name="Check code").click()
    page.locator(".verdict[data-status=malformed]").wait_for()
    assert "not an e-invoice code" in page.locator(".verdict").inner_text()


def test_claim_several_invoices_with_one_tap(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    picks = sorted((i for i in _invoices(d, "li") if i["claimable"]), key=lambda i: i["totalFen"])[:2]  # the smallest
    assert len(picks) == 2
    page = page_for(DESKTOP)
    bodies: list[Any] = []
    page.on("request", lambda r: bodies.append(r.post_data_json) if r.method == "POST"
            and r.url.endswith("/v1/claims") else None)
    _open_invoices(page, d, "li")
    for inv in picks:
        _card(page, inv["fingerprint"]).get_by_role("checkbox").check()
    assert "Claim 2 invoices" in page.locator("#claim-button").inner_text()
    page.locator("#claim-button").click()
    page.get_by_role("heading", name="My claims").wait_for()
    rows = page.locator("li.claim-row")
    rows.first.wait_for()
    shown = [i["fingerprint"] for i in _invoices(d, "li")]                       # newest first, as listed
    wanted = {i["fingerprint"] for i in picks}
    assert bodies == [{"fingerprints": [fp for fp in shown if fp in wanted]}]    # one request, one tap, in list order
    numbers = rows.all_inner_texts()
    for inv in picks:
        assert any(inv["invoiceNumber"] in n for n in numbers)


def test_a_bill_no_rules_cover_yet_is_explained_in_words(page_for: Any, deployment: Deployment) -> None:
    """An invoice dated before any rule set of the payer: the card and a claim attempt say, in
    the citizen's language, that it cannot be decided yet and why, never the office's sentence."""
    from ledger.devtools import synth
    from ledger.devtools.vouchers import dev_issuer

    d = deployment
    person = synth.make_patients(1, seed=4242)[0]
    r = d.http("POST", "/v1/persons", d.tokens["admin"],
               json=[{"nationalId": person.national_id, "name": "赵磊", "category": "employee"}])
    assert r.status_code == 201, r.text
    base = next(x for x in synth.iter_documents(synth.generate(seed=606, hospitals=1, invoices=60, fee_lines=None,
                                                               pepper=b"browser-tests-pepper-0123456789abcdef"))
                if x["visitType"] == "outpatient")
    doc = {**base, "invoiceNumber": "7700000001", "issuedAt": "2023-06-01T10:00:00+08:00",
           "patientId": person.national_id,
           "feeLines": [{**line, "serviceDate": "2023-06-01"} for line in base["feeLines"]]}
    r = d.http("POST", "/v1/invoices", d.tokens["hospital"], json=[doc])
    assert r.status_code in (200, 201) and r.json()["items"][0].get("invoice"), r.text
    fp = r.json()["items"][0]["invoice"]["fingerprint"]
    token = dev_issuer(d.home).mint(person.national_id, name="赵磊")
    deadline = time.monotonic() + 60
    while d.http("GET", f"/v1/invoices/{fp}", d.tokens["auditor"]).json()["state"] != "anchored":
        assert time.monotonic() < deadline, "the 2023 invoice was not anchored within 60 s"
        time.sleep(0.2)

    page = page_for(PHONE)
    sign_in(page, "/app/", token)
    page.get_by_role("heading", name="My invoices").wait_for()
    card = _card(page, fp)
    card.get_by_text("cannot be decided yet").wait_for()
    text = card.inner_text()
    assert "has not yet published its rules for outpatient care" in text and "nothing is lost by waiting" in text
    assert "rules in force" not in text and "payer's office" not in text
    assert card.get_by_role("checkbox").count() == 0                 # nothing to tap: it cannot be claimed yet
    shoot_both(page, "app-no-rules-yet")

    zh = page_for(PHONE, lang="zh-CN")
    sign_in(zh, "/app/", token)
    _card(zh, fp).get_by_text("暂时无法审核").wait_for()
    assert "尚未发布" in _card(zh, fp).inner_text()
