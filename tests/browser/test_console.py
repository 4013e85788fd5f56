"""The payer and auditor console in chromium against a real ``ebill serve``: a reviewer approves
a queued claim (and the maker-checker rule above the threshold), an auditor verifies an uploaded
photo of a QR code, a forged payload and a fingerprint, the dashboard, and what each role sees.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from browser_support import DESKTOP, PHONE, Deployment, photo_of, shoot, shoot_both, sign_in


def _queue_claim(d: Deployment, who: str, *, low: int, high: int) -> dict[str, Any]:
    """The citizen claims (over HTTP) an invoice the rules pay between ``low`` and ``high`` fen."""
    token = d.citizens[who].token
    invoices = d.http("GET", "/v1/me/invoices", token).json()["invoices"]
    target = next(i for i in invoices if i["claimable"] and low < i["estimateFen"] <= high)
    r = d.http("POST", "/v1/claims", token, headers={"Idempotency-Key": uuid.uuid4().hex},
               json={"fingerprints": [target["fingerprint"]]})
    assert r.status_code in (201, 202), r.text
    claim = r.json()["claims"][0]
    assert claim["state"] == "in-review", claim
    return claim  # type: ignore[no-any-return]


def _nav(page: Any) -> list[str]:
    return [page.locator("#nav a").nth(i).inner_text() for i in range(page.locator("#nav a").count())]


def test_reviewer_approves_a_queued_claim(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    claim = _queue_claim(d, "zhang", low=50_000, high=500_000)    # one reviewer is enough
    page = page_for(DESKTOP)
    page.goto("/console/")
    page.get_by_role("heading", name="Staff sign-in").wait_for()
    shoot_both(page, "console-signin")
    sign_in(page, "/console/", d.tokens["payer"])
    page.get_by_role("heading", name="Review queue").wait_for()
    assert _nav(page) == ["Review queue", "Post-payment audit", "Claims", "Verify", "Dashboard", "Claw-backs",
                          "Monthly report", "Rule sets"]                                   # no audit trail, no outbox
    row = page.locator(f'table.queue tr[data-claim="{claim["id"]}"]')
    row.wait_for()
    assert "wd" in row.inner_text() and "0/1" in row.inner_text()
    shoot_both(page, "console-queue")
    # why it is there: above the instant payout (¥500), each reason in words on hover
    why = row.locator("[data-why=over-instant-threshold]")
    assert why.inner_text().startswith("Above instant payout") and "paid at once" in why.get_attribute("title")
    # filters and the search narrow the queue
    page.locator("#f-min").fill("100000")
    page.get_by_role("button", name="Apply filters").click()
    page.get_by_text("Nothing waiting for review.").wait_for()
    page.get_by_role("button", name="Reset").click()
    row.wait_for()
    for field, value, found in (("#f-claim", claim["id"], True), ("#f-invoice", claim["fingerprint"], True),
                                ("#f-person", claim["person"], True), ("#f-hospital", claim["issuer"], True),
                                ("#f-hospital", "no such hospital", False)):
        page.locator(field).fill(value)
        page.get_by_role("button", name="Apply filters").click()
        if found:
            page.wait_for_function("() => location.hash.includes('?')")
            row.wait_for()
            assert page.locator("table.queue tbody tr").count() >= 1
        else:
            page.get_by_text("Nothing waiting for review.").wait_for()
        page.get_by_role("button", name="Reset").click()
        row.wait_for()

    row.get_by_role("link").click()
    page.get_by_role("heading", name=f"Claim {claim['id']}").wait_for()
    page.get_by_role("heading", name="Fee lines and per-line decision").wait_for()
    assert page.locator("table.by-rule [data-rule]").count() >= 1              # the rules of the reductions, by name
    assert page.locator("table.lines").first.locator("tr.reduced").count() >= 1
    page.get_by_role("heading", name="Audit trail").wait_for()
    section = lambda name: page.locator("section", has=page.get_by_role("heading", name=name))  # noqa: E731
    assert "Claim: Submitted" in section("Audit trail").inner_text()
    assert "0x" in section("Invoice").inner_text()
    shoot_both(page, "console-claim")

    page.get_by_role("button", name="Approve").click()
    page.get_by_role("alert").filter(has_text="Give a reason").wait_for()     # a decision needs a reason
    page.locator("#decision-reason").fill("Referral letter checked; inpatient stay confirmed.")
    page.get_by_role("button", name="Approve").click()
    page.locator("h1 + [data-state=paid], .spread [data-state=paid], .spread [data-state=approved]").first.wait_for(
        timeout=30_000)
    assert page.locator("#approve").count() == 0                               # nothing left to decide
    shoot_both(page, "console-claim-approved")
    state = d.http("GET", f"/v1/claims/{claim['id']}", d.citizens["zhang"].token).json()
    assert state["state"] in ("approved", "paid")
    assert state["review"]["reviews"][0]["reason"].startswith("Referral letter")


def test_maker_checker_needs_a_second_reviewer(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    claim = _queue_claim(d, "chen", low=500_000, high=10**9)        # above the two-reviewer threshold
    first = page_for(DESKTOP)
    sign_in(first, f"/console/#/claims/{claim['id']}", d.tokens["payer"])      # a deep link survives sign-in
    first.get_by_text("Needs two reviewers").wait_for()
    assert first.locator(".decide [data-stage]").inner_text() == "First review"
    first.locator("#decision-reason").fill("Amount matches the discharge summary.")
    first.get_by_role("button", name="Approve").click()
    first.get_by_role("status").filter(has_text="a second reviewer must approve").first.wait_for()
    shoot_both(first, "console-maker-checker")
    # the same reviewer cannot approve twice: the console says who must act next (the server refuses it anyway)
    first.get_by_text("The second approval must come from another reviewer").wait_for()
    assert first.locator("#approve").count() == 0
    r = d.http("POST", f"/v1/claims/{claim['id']}/approve", d.tokens["payer"], json={"reason": "again"})
    assert r.status_code in (403, 409), r.text

    second = page_for(PHONE)
    sign_in(second, "/console/", d.tokens["payer2"])
    second.get_by_role("heading", name="Review queue").wait_for()
    queued = second.locator(f'tr[data-claim="{claim["id"]}"]')
    queued.wait_for()
    assert "1/2" in queued.inner_text()          # the first approval counts (the queue showed 0/2)
    second.locator(f'tr[data-claim="{claim["id"]}"] a').click()
    second.locator(".decide [data-stage=final-review]").wait_for()              # the second reviewer's is the final
    second.locator("#decision-reason").fill("Second check: agreed.")
    shoot_both(second, "console-claim-second-reviewer")
    second.get_by_role("button", name="Approve").click()
    second.locator(".spread [data-state=approved], .spread [data-state=paid]").first.wait_for(timeout=30_000)
    reviews = d.http("GET", f"/v1/claims/{claim['id']}", d.tokens["auditor"]).json()["review"]["reviews"]
    assert len(reviews) == 2


def test_auditor_verifies_an_uploaded_qr_photo(page_for: Any, deployment: Deployment, tmp_path: Any) -> None:
    d = deployment
    fp = d.citizens["chen"].fingerprints[1]
    qr = d.http("GET", f"/v1/invoices/{fp}/qr.png", d.tokens["auditor"]).content
    photo = tmp_path / "invoice-photo.jpg"
    photo.write_bytes(photo_of(qr))
    page = page_for(DESKTOP)
    sign_in(page, "/console/", d.tokens["auditor"])
    page.get_by_role("heading", name="Dashboard").wait_for()
    assert _nav(page) == ["Claims", "Verify", "Dashboard", "Claw-backs", "Monthly report", "Rule sets",
                          "Audit trail"]                                          # no review queue for an auditor
    page.locator("#nav").get_by_role("link", name="Verify").click()
    page.get_by_role("heading", name="Verify an invoice").wait_for()
    shoot_both(page, "console-verify")

    page.locator("#v-photo").set_input_files(str(photo))
    verdict = page.locator(".verdict")
    verdict.wait_for()
    assert verdict.get_attribute("data-status") == "anchored"
    text = verdict.inner_text()
    assert "Genuine and anchored on the chain" in text
    assert fp[:8] in text and "Batch root" in text and "Signer account" in text
    shoot_both(page, "console-verify-photo")

    # a payload with one character changed does not carry the hospital's signature
    payload = d.invoices[fp]["qr"]
    forged = payload[:-3] + ("A" if payload[-3] != "A" else "B") + payload[-2:]
    page.locator("#v-payload").fill(forged)
    page.locator("form", has=page.locator("#v-payload")).get_by_role("button", name="Verify").click()
    page.locator(".verdict.bad").wait_for()
    assert page.locator(".verdict").get_attribute("data-status") in ("tampered-or-forged", "malformed",
                                                                     "unknown-issuer")
    shoot_both(page, "console-verify-forged")

    # by fingerprint: the service's record, its QR payload checked against the chain
    page.locator("#v-fp").fill(fp)
    page.locator("form", has=page.locator("#v-fp")).get_by_role("button", name="Verify").click()
    page.locator(".verdict.ok").wait_for()
    assert "This service's record" in page.locator(".verdict").inner_text()
    # the voided invoice: the reason code as the chain records it, by its label
    page.locator("#v-fp").fill(d.citizens["chen"].fingerprints[-1])
    page.locator("form", has=page.locator("#v-fp")).get_by_role("button", name="Verify").click()
    page.locator(".verdict[data-status=voided]").wait_for()
    text = page.locator(".verdict").inner_text()
    assert "Void reason" in text and "Refunded (refund)" in text and "counter" not in text
    page.locator("#v-fp").fill("0x1234")
    page.locator("form", has=page.locator("#v-fp")).get_by_role("button", name="Verify").click()
    page.get_by_role("alert").filter(has_text="64 hexadecimal").wait_for()


def test_dashboard_claims_and_audit_trail(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    wang = d.citizens["wang"]                                   # at least one claim, whatever ran before
    small = min(d.http("GET", "/v1/me/invoices", wang.token).json()["invoices"], key=lambda i: i["totalFen"])
    if small["claimable"]:
        d.http("POST", "/v1/claims", wang.token, headers={"Idempotency-Key": uuid.uuid4().hex},
               json={"fingerprints": [small["fingerprint"]]})
    zh = page_for(DESKTOP, "zh-CN")
    sign_in(zh, "/console/", d.tokens["auditor"])
    zh.get_by_role("heading", name="统计看板").wait_for()
    zh.locator("figure.chart").nth(4).wait_for()
    assert zh.locator("figure.chart svg.chart-svg").count() >= 3
    assert "链上作废存证" in zh.locator("figure.chart").nth(4).inner_text()   # the seeded void, as a blocked attempt
    assert "上链时延" in zh.locator("main").inner_text()                    # the anchoring lag
    shoot_both(zh, "console-dashboard-zh")
    shoot(zh, "console-dashboard-zh-full", full_page=True)

    page = page_for(PHONE)
    sign_in(page, "/console/", d.tokens["auditor"])
    page.get_by_role("heading", name="Dashboard").wait_for()
    page.locator("figure.chart").nth(4).wait_for()
    shoot_both(page, "console-dashboard")
    page.locator("#nav").get_by_role("link", name="Claims").click()
    page.get_by_role("heading", name="Claims").wait_for()
    page.locator("tr[data-claim]").first.wait_for()
    state = page.locator("tr[data-claim] [data-state]").first.get_attribute("data-state")
    page.locator("#f-state").select_option(state)                  # the filter keeps only claims in that state
    page.wait_for_url(f"**/console/#/claims?state={state}")
    page.locator("tr[data-claim]").first.wait_for()
    states = {page.locator("tr[data-claim] [data-state]").nth(i).get_attribute("data-state")
              for i in range(page.locator("tr[data-claim]").count())}
    assert states == {state}
    shoot_both(page, "console-claims")
    page.locator("#nav").get_by_role("link", name="Audit trail").click()
    page.get_by_role("heading", name="Audit trail").wait_for()
    page.locator("table tbody tr").nth(3).wait_for()
    trail = page.locator("table").inner_text()
    assert "Hospital registered" in trail and "Claim: " in trail
    shoot_both(page, "console-audit")


def test_reviewer_rejects_and_the_citizen_appeals_for_her_parent(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    li = page_for(PHONE)
    sign_in(li, "/app/", d.citizens["li"].token)
    li.get_by_role("heading", name="My invoices").wait_for()
    li.locator("#acting-for").select_option(label=f"{d.citizens['parent'].name} (parent)")
    li.get_by_role("heading", name=f"Invoices of {d.citizens['parent'].name}").wait_for()
    li.locator("li.invoice.claimable", has_text="Inpatient").get_by_role("checkbox").check()
    li.locator("#claim-button").click()
    li.locator(".status-panel [data-state=in-review]").wait_for(timeout=30_000)
    assert "reviewer" in li.locator(".status-panel").inner_text()
    claim_id = li.url.rsplit("/", 1)[-1]
    shoot_both(li, "app-claim-in-review")

    payer = page_for(DESKTOP)
    sign_in(payer, f"/console/#/claims/{claim_id}", d.tokens["payer"])
    payer.locator("#decision-reason").fill("No referral letter for the off-site stay.")
    payer.get_by_role("button", name="Reject").click()
    payer.locator(".spread [data-state=rejected]").wait_for()

    li.reload()
    li.locator(".status-panel [data-state=rejected]").wait_for()
    assert "No referral letter" in li.locator(".status-panel").inner_text()
    li.get_by_role("button", name="Send appeal").click()
    li.get_by_role("alert").filter(has_text="Write a reason").wait_for()
    li.locator("#appeal-reason").fill("The referral letter was issued on admission; I attach its number R-2024-118.")
    shoot_both(li, "app-claim-rejected-appeal")
    li.get_by_role("button", name="Send appeal").click()
    li.locator(".status-panel [data-state=appealed], .status-panel [data-state=in-review]").first.wait_for()
    assert li.locator("#appeal-reason").count() == 0                      # one appeal only
    claim = d.http("GET", f"/v1/claims/{claim_id}", d.citizens["li"].token).json()
    assert claim["appeal"] is not None and claim["person"] != claim["actor"].split(":")[-1]
    # the appeal is heard by someone else: the reviewer who rejected it is told so, with nothing to press
    for _ in range(100):
        if d.http("GET", f"/v1/claims/{claim_id}", d.tokens["payer"]).json()["state"] == "in-review":
            break
        time.sleep(0.2)
    payer.reload()
    payer.get_by_text("Its appeal must be decided by another reviewer").wait_for()
    assert payer.locator("#approve").count() == 0


def test_a_post_payment_finding_requests_a_clawback(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    paid = None
    for who, citizen in d.citizens.items():
        invoices = d.http("GET", "/v1/me/invoices", citizen.token).json()["invoices"]
        small = [i for i in invoices if i["claimable"] and 0 < i["estimateFen"] <= 50_000]
        if small:
            r = d.http("POST", "/v1/claims", citizen.token, headers={"Idempotency-Key": uuid.uuid4().hex},
                       json={"fingerprints": [small[0]["fingerprint"]]})
            assert r.status_code in (201, 202), r.text
            paid, owner = r.json()["claims"][0], who
            break
    assert paid is not None, "no invoice small enough to be paid at once"
    for _ in range(150):
        paid = d.http("GET", f"/v1/claims/{paid['id']}", d.tokens["payer"]).json()
        if paid["state"] == "paid":
            break
        time.sleep(0.2)
    assert (paid["state"], paid["postAudit"]) == ("paid", "due"), paid
    page = page_for(DESKTOP)
    sign_in(page, "/console/#/postaudit", d.tokens["payer"])
    page.get_by_role("heading", name="Post-payment audit").wait_for()
    row = page.locator(f'table.post-audit tr[data-claim="{paid["id"]}"]')
    row.wait_for()
    assert "100.00 %" in page.locator("main").inner_text()
    row.get_by_role("link").click()
    page.locator("#audit-finding").wait_for()
    page.locator("#audit-finding").click()
    page.get_by_role("alert").filter(has_text="Say what you checked").wait_for()   # a verdict needs a reason
    page.locator("#audit-reason").fill("The same stay is billed on another invoice.")
    page.locator("#audit-finding").click()
    page.get_by_role("alert").filter(has_text="Choose what was found").wait_for()  # a finding says who owes
    page.locator("#audit-code").select_option("duplicate-charging")
    shoot_both(page, "console-post-audit")
    page.locator("#audit-finding").click()
    page.locator(".spread [data-state=clawback]").wait_for(timeout=30_000)
    assert page.locator("#audit-finding").count() == 0                             # audited once
    got = d.http("GET", f"/v1/claims/{paid['id']}", d.citizens[owner].token).json()
    assert (got["state"], got["postAudit"]) == ("clawback", "finding")
    assert "billed on another invoice" in " ".join(got["explanation"])
    owed = d.http("GET", f"/v1/claims/{paid['id']}/clawback", d.tokens["payer"]).json()
    assert (owed["debtor"]["kind"], owed["reason"]["code"], owed["amountDueFen"]) == ("hospital", "duplicate-charging",
                                                                                      paid["amountFen"])
    page.goto("/console/#/postaudit")
    page.get_by_role("heading", name="Post-payment audit").wait_for()
    assert page.locator(f'tr[data-claim="{paid["id"]}"]').count() == 0


def test_a_reviewer_approves_without_some_lines(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    claim = None
    for citizen in d.citizens.values():
        invoices = d.http("GET", "/v1/me/invoices", citizen.token).json()["invoices"]
        fits = sorted((i for i in invoices if i["claimable"] and 50_000 < i["estimateFen"] <= 500_000
                       and i["feeLineCount"] >= 3), key=lambda i: -i["estimateFen"])
        if fits:
            r = d.http("POST", "/v1/claims", citizen.token, headers={"Idempotency-Key": uuid.uuid4().hex},
                       json={"fingerprints": [fits[0]["fingerprint"]]})
            assert r.status_code in (201, 202), r.text
            claim = r.json()["claims"][0]
            break
    assert claim is not None and claim["state"] == "in-review", claim
    # the largest line the rules pay for that is less than the claim: without it, it pays less, but not nothing
    # (a line of a few fen would not move the amount: the ratio's rounding absorbs it)
    smallest = max((li for li in claim["decision"]["lines"] if 0 < li["eligibleFen"] < claim["amountFen"]),
                   key=lambda li: li["eligibleFen"])
    page = page_for(DESKTOP)
    sign_in(page, f"/console/#/claims/{claim['id']}", d.tokens["payer"])
    page.locator("details.leave-out summary").click()
    page.locator(f"#leave-out-{smallest['seq']}").check()
    page.locator(f'select[data-seq="{smallest["seq"]}"]').select_option("duplicate-billing")
    page.locator("#decision-reason").fill("The other lines match the discharge summary.")
    shoot_both(page, "console-approve-in-part")
    page.get_by_role("button", name="Approve").click()
    page.locator(".not-approved").wait_for(timeout=30_000)
    assert f"{smallest['seq']} · {smallest['itemCode']}" in page.locator(".not-approved").inner_text()
    assert "Billed twice" in page.locator(".not-approved").inner_text()
    got = d.http("GET", f"/v1/claims/{claim['id']}", d.tokens["auditor"]).json()
    assert got["state"] in ("approved", "paid") and 0 < got["amountFen"] < claim["amountFen"]
    assert got["decision"]["review"]["lines"] == [{
        "seq": smallest["seq"], "itemCode": smallest["itemCode"], "amountFen": smallest["amountFen"],
        "reason": "duplicate-billing", "words": "billed twice", "note": ""}]
    for _ in range(150):     # released, reserved again for less, finalised, paid
        got = d.http("GET", f"/v1/claims/{claim['id']}", d.tokens["auditor"]).json()
        if got["state"] == "paid":
            break
        time.sleep(0.2)
    assert (got["state"], got["stamp"]["status"], got["stamp"]["attempt"]) == ("paid", "finalized", 2), got["stamp"]
