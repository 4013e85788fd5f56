"""The citizens' app, screen by screen (issue 14), in chromium against a real ``ebill serve``:

- several invoices estimated as the claim will decide them, each card saying what depends on the
  ones above, and the claim then deciding exactly that;
- an invoice opened: its fee lines by name, quantity, amount and class, the hospital, the PDF;
  the claim's explanation naming items, the person's category and the year's rules, ending with
  what the person receives;
- a claw-back owed by the person (a post-payment finding) and one owed by the hospital (a void
  after the payout), with the stepper's claw-back step;
- a failed photo scan said once, in the user's language, and "try again" asking for a new photo;
- the sign-in kept across closing the app until the e-voucher expires, said in words.

Every screen is shot at 390x844, at 320 px with text at 200 % and at 1366x900, and checked by
axe-core at each size (no serious or critical violation).
"""

from __future__ import annotations

import io
import re
from typing import Any

from browser_support import DESKTOP, Deployment
from citizen_support import (
    PHONE390,
    copy_of,
    drug_bill,
    new_citizen,
    no_horizontal_scroll,
    shoot_three,
    sign_in_with,
    with_axe,
)
from polling import until


def _card(page: Any, fingerprint: str) -> Any:
    return page.locator(f'li.invoice[data-fingerprint="{fingerprint}"]')


def _claims(d: Deployment, token: str) -> dict[str, dict[str, Any]]:
    r = d.http("GET", "/v1/claims", token)
    assert r.status_code == 200, r.text
    return {c["fingerprint"]: c for c in r.json()["claims"]}


def test_several_invoices_are_estimated_as_the_claim_decides_them(page_for: Any, deployment: Deployment) -> None:
    """¥400, ¥900 and ¥1,200 of one drug (Class A) for an employee, 2024 pharmacy-pooling rules:
    deductible ¥600, 70 %, paid at once up to ¥500. Listed newest first: ¥1,200, ¥900, ¥400."""
    d = deployment
    _, token, fps = new_citizen(d, seed=7101, name="周强", docs=[
        drug_bill("7101000001", "2024-04-01", 4), drug_bill("7101000002", "2024-04-02", 9),
        drug_bill("7101000003", "2024-04-03", 12)])
    small, middle, large = fps
    page = with_axe(page_for(PHONE390))
    sign_in_with(page, token)
    # alone, each would meet the whole deductible first
    assert "¥0.00" in _card(page, small).inner_text() and "¥210.00" in _card(page, middle).inner_text()
    estimates: list[Any] = []
    page.on("response", lambda r: estimates.append(r) if r.url.endswith("/v1/me/estimate") else None)
    page.get_by_role("button", name="Select all claimable").click()
    button = page.locator("#claim-button")
    page.locator("#claim-button", has_text="¥1,330.00").wait_for()
    # in the order shown: ¥1,200 meets the deductible and pays ¥420 at once; ¥900 then pays 70 % of all
    # of it, ¥630, above ¥500 so after review; ¥400 pays ¥280 at once (alone: nothing)
    notes = {fp: _card(page, fp).locator(".together-note").inner_text() for fp in fps}
    assert "¥420.00, paid at once" in notes[large] and "Alone" not in notes[large]
    assert "Claimed with the ones above: ¥630.00, paid after a reviewer approves it" in notes[middle]
    assert "Alone it would be ¥210.00" in notes[middle]
    assert "¥280.00, paid at once. Alone it would be ¥0.00" in notes[small]
    summary = page.locator("#together").inner_text()
    assert summary == "Together: ¥700.00 at once + ¥630.00 after review"
    assert "decided in the order shown" in page.locator(".order-hint").inner_text()
    assert "Claim 3 invoices · ¥1,330.00" in button.inner_text()
    asked = estimates[-1].request.post_data_json
    assert asked == {"fingerprints": [large, middle, small]}      # the order shown
    shoot_three(page, "app-estimate-set")

    # unticking the first changes what the others pay, and the cards say so
    _card(page, large).get_by_role("checkbox").uncheck()
    page.locator("#claim-button", has_text="¥490.00").wait_for()
    # ¥900 now meets the deductible first (70 % of ¥300); ¥400 after it pays 70 % of all of it
    assert "Claimed now: ¥210.00, paid at once." in _card(page, middle).locator(".together-note").inner_text()
    assert "¥280.00, paid at once. Alone it would be ¥0.00" in _card(page, small).locator(".together-note").inner_text()
    _card(page, large).get_by_role("checkbox").check()
    page.locator("#claim-button", has_text="¥1,330.00").wait_for()

    claims_sent: list[Any] = []
    page.on("request", lambda r: claims_sent.append(r.post_data_json) if r.url.endswith("/v1/claims")
            and r.method == "POST" else None)
    button.click()
    page.get_by_role("heading", name="My claims").wait_for()
    assert claims_sent == [{"fingerprints": [large, middle, small]}]
    est = {i["fingerprint"]: i for i in estimates[-1].json()["invoices"]}
    claims = _claims(d, token)
    for fp in fps:
        c = claims[fp]
        assert c["amountFen"] == est[fp]["amountFen"], (c, est[fp])
        assert (c["state"] == "in-review") == (est[fp]["outcome"] == "review"), (c["state"], est[fp])
    assert [claims[fp]["amountFen"] for fp in (large, middle, small)] == [42000, 63000, 28000]


def test_an_invoice_opens_with_its_fee_lines_and_pdf(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    _, token, (fp,) = new_citizen(d, seed=7201, name="吴芳", docs=[copy_of("0004642999", "7201000001")])
    page = with_axe(page_for(PHONE390))
    sign_in_with(page, token)
    _card(page, fp).get_by_role("link", name=re.compile("Open invoice")).click()
    page.locator("ol.fee-lines").wait_for()
    lines = d.http("GET", f"/v1/invoices/{fp}/fee-lines", token).json()["feeLines"]
    shown = page.locator("ol.fee-lines > li")
    assert shown.count() == len(lines) == 19
    first = shown.first.inner_text()
    assert lines[0]["itemName"] in first and "Class" in first
    b_line = next(line for line in lines if line["category"] == "B")
    b_text = page.locator(f'ol.fee-lines > li[data-seq="{b_line["seq"]}"]').inner_text()
    assert b_line["itemName"] in b_text and "Class B" in b_text and f"×{b_line['quantity']}" in b_text
    assert page.get_by_role("heading", level=1).inner_text() == "绍兴市人民医院"
    assert "covered in full" in page.locator("ul.by-class").inner_text()
    shoot_three(page, "app-invoice-detail")
    no_horizontal_scroll(page)

    with page.expect_download() as download:
        page.locator("#pdf").click()
    path = download.value.path()
    assert path is not None and path.read_bytes()[:5] == b"%PDF-"
    assert download.value.suggested_filename.endswith(".pdf")

    # claimed from here, the claim explains itself by item, category and year, ending with the money
    page.locator("#claim-invoice").click()
    page.locator(".status-panel [data-state=paid]").wait_for(timeout=30_000)
    claim = _claims(d, token)[fp]
    why = page.locator(".card:has(h2)").filter(has_text="How the refund was worked out").inner_text()
    assert "Judged as an employee, under the 2024 rules for outpatient and pharmacy care" in why
    assert "the rules in force on the invoice date" in why
    reduced_b = next(line for line in claim["decision"]["lines"]
                     if any(r["rule"].startswith("class-b-first-self-pay") for r in line["reasons"]))
    named = next(line for line in lines if line["seq"] == reduced_b["seq"])
    pct = re.search(r"(\d+)pct", reduced_b["reasons"][0]["rule"]).group(1)  # type: ignore[union-attr]
    assert f"{named['itemName']} ×{named['quantity']}" in why and f"Class B, first {pct} % self-paid" in why
    receive = page.locator("p.receive").inner_text()
    amount = f"¥{claim['amountFen'] / 100:,.2f}"
    assert receive == f"You receive {amount}."
    assert page.locator("ol.steps li").all_inner_texts() == ["Submitted", "Checked", "Paid"]
    shoot_three(page, "app-claim-explained")

    zh = with_axe(page_for(PHONE390, "zh-CN"))
    sign_in_with(zh, token, heading="我的票据")
    zh.goto(f"/app/#/claims/{claim['id']}")
    zh.locator("p.receive").wait_for()
    zh_why = zh.locator(".card").filter(has_text="报销金额如何计算").inner_text()
    assert "按在职职工身份，依据 2024 年门诊及药店报销政策" in zh_why and f"乙类，先自付 {pct}%" in zh_why
    assert zh.locator("p.receive").inner_text().startswith("您将获得 ¥")
    shoot_three(zh, "app-claim-explained-zh")


def _paid(d: Deployment, token: str, fp: str) -> dict[str, Any]:
    return until(lambda: (c := _claims(d, token).get(fp)) and c["state"] == "paid" and c, 60,  # type: ignore[return-value]
                    "the claim to be paid")


def test_clawbacks_say_how_much_why_and_who_returns_it(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    _, token, (owed_fp, voided_fp) = new_citizen(d, seed=7301, name="郑洁", docs=[
        drug_bill("7301000001", "2024-05-01", 10), drug_bill("7301000002", "2024-05-02", 3)])
    r = d.http("POST", "/v1/claims", token, json={"fingerprints": [owed_fp, voided_fp]},
               headers={"Idempotency-Key": "clawback-screens-7301"})
    assert r.status_code in (200, 201, 202), r.text
    owed = _paid(d, token, owed_fp)        # ¥1,000: ¥600 deductible, 70 % of ¥400 = ¥280, paid at once
    voided = _paid(d, token, voided_fp)    # ¥300 after the deductible: 70 % = ¥210
    assert (owed["amountFen"], voided["amountFen"]) == (28000, 21000)
    # a post-payment audit finds the same drugs collected at several hospitals: the person owes it back
    r = d.http("POST", f"/v1/claims/{owed['id']}/post-audit", d.tokens["payer"], json={
        "outcome": "finding", "code": "repeat-prescriptions",
        "reason": "The same valsartan was collected at two hospitals within the days' supply."})
    assert r.status_code == 200, r.text
    # the hospital voids the other invoice after the payout: the hospital owes it back
    r = d.http("POST", f"/v1/invoices/{voided_fp}/void", d.tokens["hospital"], json={"reasonCode": "refund"})
    assert r.status_code == 202, r.text
    until(lambda: _claims(d, token)[voided_fp]["state"] == "clawback", 60, "the void to reach the paid claim")

    page = with_axe(page_for(PHONE390))
    sign_in_with(page, token)
    page.goto(f"/app/#/claims/{owed['id']}")
    box = page.locator("section.clawback")
    box.wait_for()
    text = box.inner_text()
    assert box.get_attribute("data-debtor") == "person"
    assert "You need to return money" in text and "¥280.00" in text
    assert "the same drugs collected at several hospitals beyond the days' supply" in text
    assert "same valsartan was collected" in text                    # what the audit found, in its words
    assert re.search(r"Return ¥280\.00 by \w", text)
    assert "kept back from your next refund" in text and "cbk_" in text
    assert "hospital voided" not in page.locator(".status-panel").inner_text()
    assert page.locator("p.receive").inner_text() == "You received ¥280.00; you are asked to return it (see above)."
    steps = page.locator("ol.steps li")
    assert steps.all_inner_texts()[-2:] == ["Paid", "Money back"]
    assert steps.last.get_attribute("aria-current") == "step"
    shoot_three(page, "app-clawback-person")

    page.goto(f"/app/#/claims/{voided['id']}")
    box = page.locator("section.clawback[data-debtor=hospital]")
    box.wait_for()
    text = box.inner_text()
    assert "nothing for you to do" in text.lower() and "voided (cancelled) the invoice" in text
    assert "Return" not in text
    assert page.locator("p.receive").inner_text() == ("You received ¥210.00. The hospital returns it to the insurance "
                                                      "agency: nothing for you to do.")
    shoot_three(page, "app-clawback-hospital")

    zh = with_axe(page_for(PHONE390, "zh-CN"))
    sign_in_with(zh, token, heading="我的票据")
    zh.goto(f"/app/#/claims/{owed['id']}")
    zh.locator("section.clawback").wait_for()
    zh_text = zh.locator("section.clawback").inner_text()
    assert "您需要退回款项" in zh_text and "多家医院重复开取同一药品" in zh_text and "下一次" in zh_text
    assert zh.locator("ol.steps li").last.inner_text() == "退回"
    shoot_three(zh, "app-clawback-person-zh")


def _blank_photo() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (800, 600), (243, 240, 232)).save(out, format="JPEG")
    return out.getvalue()


def test_a_failed_scan_is_said_once_in_the_users_language_and_asks_for_a_new_photo(
        page_for: Any, deployment: Deployment) -> None:
    d = deployment
    page = with_axe(page_for(PHONE390, "zh-CN"))
    sign_in_with(page, d.citizens["wang"].token, heading="我的票据")
    page.locator("#nav").get_by_role("link", name="扫码").click()
    page.get_by_role("heading", name="查验纸质票据").wait_for()
    shoot_three(page, "app-scan-zh")
    posts: list[Any] = []
    page.on("request", lambda r: posts.append(r) if r.url.endswith("/v1/verify") else None)
    page.locator("#photo").set_input_files({"name": "blurred.jpg", "mimeType": "image/jpeg", "buffer": _blank_photo()})
    alert = page.get_by_role("alert")
    alert.wait_for()
    text = alert.inner_text()
    assert text.count("照片中没有找到二维码") == 1                 # said once
    for english in ("(body)", "qr-not-found", "no QR code", "["):
        assert english not in text, (english, text)
    assert len(posts) == 1
    shoot_three(page, "app-scan-error-zh")
    # "try again" asks for another photo: it opens the file chooser and sends nothing by itself
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="重新拍照或选择照片").click()
    assert chooser.value.element.get_attribute("id") == "photo"
    page.wait_for_timeout(300)
    assert len(posts) == 1
    # the same photo chosen again is checked again (the input was reset), said once again
    chooser.value.set_files({"name": "blurred.jpg", "mimeType": "image/jpeg", "buffer": _blank_photo()})
    page.get_by_role("alert").wait_for()
    until(lambda: len(posts) == 2, 10, "the second photo to be sent")
    assert page.get_by_role("alert").count() == 1

    en = with_axe(page_for(DESKTOP))
    sign_in_with(en, d.citizens["wang"].token)
    en.goto("/app/#/scan")
    en.locator("#photo").set_input_files({"name": "blurred.jpg", "mimeType": "image/jpeg", "buffer": _blank_photo()})
    en_text = en.get_by_role("alert").inner_text()
    assert "No QR code was found in this photo" in en_text and en_text.count("QR code") == 2
    assert en.get_by_role("button", name="Take or choose another photo").is_visible()


def test_the_sign_in_survives_closing_the_app_until_the_voucher_expires(browser: Any, deployment: Deployment) -> None:
    d = deployment
    nid = d.citizens["chen"].national_id
    from datetime import timedelta

    from ledger.devtools.vouchers import dev_issuer

    issuer = dev_issuer(d.home)
    ctx = browser.new_context(viewport=PHONE390, locale="en-US", base_url=d.url, service_workers="block")
    try:
        page = with_axe(ctx.new_page())
        sign_in_with(page, issuer.mint(nid, name="陈静", ttl=timedelta(hours=8)))
        line = page.locator("#session")
        assert re.match(r"Signed in until .+; then sign in again\.", line.inner_text()), line.inner_text()
        page.close()                                   # the installed app is closed ...
        again = with_axe(ctx.new_page())
        again.goto("/app/")                            # ... and opened again: still signed in
        again.get_by_role("heading", name="My invoices").wait_for()
        assert again.locator("#token").count() == 0
        kept = again.evaluate("JSON.parse(localStorage.getItem('ebill.citizen.session'))")
        assert kept["exp"] > 0 and kept["token"].count(".") == 2
        # signing out forgets it
        again.get_by_role("button", name="Sign out").click()
        again.get_by_role("heading", name="Sign in").wait_for()
        assert again.evaluate("localStorage.getItem('ebill.citizen.session')") is None

        # ten minutes left: it says so, in words
        sign_in_with(again, issuer.mint(nid, name="陈静", ttl=timedelta(minutes=10)))
        assert re.match(r"Your sign-in ends at .+ \(in (9|10) minutes\)\. Then sign in again with a new e-voucher\.",
                        line_text := again.locator("#session").inner_text()), line_text
        shoot_three(again, "app-session-ends-soon")

        # a voucher that expires while the app is open: signed out, told when and why
        sign_in_short = issuer.mint(nid, name="陈静", ttl=timedelta(seconds=4))
        again.get_by_role("button", name="Sign out").click()
        sign_in_with(again, sign_in_short)
        again.get_by_role("heading", name="Sign in").wait_for(timeout=15_000)
        assert "Your sign-in ended at" in again.locator("main").inner_text()
        assert again.evaluate("localStorage.getItem('ebill.citizen.session')") is None
        shoot_three(again, "app-session-expired")

        # an expired voucher kept from before is dropped when the app opens, without asking the service
        again.evaluate("""localStorage.setItem('ebill.citizen.session', JSON.stringify({
            token: 'a.b.c', exp: Date.now() - 60000 }))""")
        asked: list[str] = []
        again.on("request", lambda r: asked.append(r.url) if "/v1/" in r.url else None)
        again.reload()
        again.get_by_role("heading", name="Sign in").wait_for()
        assert "Your sign-in ended at" in again.locator("main").inner_text() and not asked
    finally:
        ctx.close()


def test_the_sign_in_invoices_and_claims_screens(page_for: Any, deployment: Deployment) -> None:
    """The screens around the new ones, with claims in several states: sign-in, invoices, claims, a claim in review."""
    d = deployment
    _, token, (small, large, waiting) = new_citizen(d, seed=7501, name="冯涛", docs=[
        drug_bill("7501000001", "2024-06-01", 10), drug_bill("7501000002", "2024-06-02", 20),
        drug_bill("7501000003", "2024-06-03", 3)])
    r = d.http("POST", "/v1/claims", token, json={"fingerprints": [small, large]},
               headers={"Idempotency-Key": "screens-7501-claims"})
    assert r.status_code in (200, 201, 202), r.text
    _paid(d, token, small)                            # ¥280 at once; then 70 % of ¥2,000: ¥1,400, in review
    page = with_axe(page_for(PHONE390))
    page.goto("/app/")
    page.get_by_role("heading", name="Sign in").wait_for()
    shoot_three(page, "app-signin")
    sign_in_with(page, token)
    _card(page, waiting).get_by_role("checkbox").check()
    page.locator("#claim-button", has_text="¥210.00").wait_for()      # the year's deductible is met already
    shoot_three(page, "app-invoices")
    page.locator("#nav").get_by_role("link", name="Claims", exact=True).click()
    page.get_by_role("heading", name="My claims").wait_for()
    assert page.locator("li.claim-row").count() == 2
    shoot_three(page, "app-claims")
    review = _claims(d, token)[large]
    assert review["state"] == "in-review" and review["amountFen"] == 140000
    page.goto(f"/app/#/claims/{review['id']}")
    page.locator("p.receive").wait_for()
    assert page.locator("p.receive").inner_text() == "If the reviewer approves it, you receive ¥1,400.00."
    shoot_three(page, "app-claim-in-review")
    zh = with_axe(page_for(PHONE390, "zh-CN"))
    sign_in_with(zh, token, heading="我的票据")
    shoot_three(zh, "app-invoices-zh")
