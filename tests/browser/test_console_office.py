"""The console in one language, with names, and the payer's office, in chromium against a real ``ebill serve``.

- switched to Chinese, every screen of every role shows states, rules, steps, audit entries,
  verification outcomes and amounts in Chinese and in yuan: no raw state or rule identifier and
  no fen value is left (the citizens' messages in the outbox are in each citizen's own language);
- whom a claim is for is the payer's enrolment (a name), hospitals by name, reviewers by label;
- claw-backs: recovered, offset and written off with a second member of the office;
- the monthly report with its CSV and PDF;
- rule sets: imported by one admin, activated by another, compared; read-only for reviewers;
- the outbox of the citizens' messages (admin, development adapter).
Screenshots at 390x844, 320 px with large text, and 1366x900 (``shoot_three``).
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from browser_support import DESKTOP, Deployment, sign_in
from citizen_support import with_axe
from console_data import PHONE, claim, owed_by_hospital, settled, shoot_three, upload_for

from ledger.rules.book import shipped_documents

#: what must not be left on a screen in Chinese: the API's states and codes, its rule ids, audit actions, fen
RAW = re.compile(
    r"\b(submitted|in-review|approved|rejected|appealed|refused|nothing-payable|clawback|waiting-for-earlier-payers"
    r"|proposed|withdrawn|requested|recovered|written-off|pending|delivered|finalized|released|reserved)\b"
    r"|\b(paid|active|retired|offset|failed|approve|reject)\b"
    r"|class-c-self-pay|negative-list|class-b-first-self-pay|duplicate-item|quantity-limit|period-limit"
    r"|duplicate-same-day|lines-not-summing|several-codes-one-item|annual-cap|invoice-cap|visit-cap"
    r"|\b(claim|clawback|rules|person|credential|hospital|invoice)\.[a-z]"
    r"|\d\s*fen\b|Fen\b|\bdeductible\b|\beligible\b|\bstamper\b|\bsystem\b")


def visible_text(page: Any) -> str:
    """The main area's text as a reader sees it, without what is data in its own words: the citizens' messages
    (each in its person's language), codes (item codes, hashes, rule-set paths) and documents."""
    return str(page.evaluate("""() => {
        const main = document.querySelector('main').cloneNode(true);
        for (const el of main.querySelectorAll('.ob-text, code, pre, .hash, .sr-only')) el.remove();
        document.body.append(main); main.hidden = false;
        const text = main.innerText; main.remove(); return text; }"""))


def assert_one_language(page: Any, screen: str) -> str:
    text = visible_text(page)
    found = sorted({m.group(0) for m in RAW.finditer(text)})
    offending = "\n".join(line for line in text.splitlines() if RAW.search(line))
    assert not found, f"{screen}: raw identifiers or fen left in Chinese: {found}\n{offending[:3000]}"
    return text


def test_the_console_speaks_chinese_on_every_screen(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    upload_for(d, "wang", seed=707)
    in_review = claim(d, "wang", low=50_000, high=500_000)
    assert in_review["state"] == "in-review", in_review
    cb = owed_by_hospital(d, "wang")
    drawn = settled(d, claim(d, "wang", low=0, high=50_000)["id"], "paid")     # left for the post-payment audit
    again = d.http("POST", "/v1/claims", d.citizens["wang"].token, headers={"Idempotency-Key": uuid.uuid4().hex},
                   json={"fingerprints": [drawn["fingerprint"]]})
    assert again.status_code == 409, again.text   # audited as claim.blocked with the server's "(claim …, paid)"
    rejected = claim(d, "wang", low=50_000, high=500_000)
    r = d.http("POST", f"/v1/claims/{rejected['id']}/reject", d.tokens["payer"], json={"reason": "缺少住院病历"})
    assert r.status_code == 200, r.text
    fp = d.citizens["wang"].fingerprints[0]

    page = with_axe(page_for(DESKTOP))                                   # an English browser: the reviewer switches
    sign_in(page, "/console/", d.tokens["payer"])
    page.get_by_role("heading", name="Review queue").wait_for()
    page.get_by_role("button", name="Switch language to Chinese").click()
    page.get_by_role("heading", name="审核队列").wait_for()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    row = page.locator(f'table.queue tr[data-claim="{in_review["id"]}"]')
    row.wait_for()
    assert "王伟" in row.inner_text() and in_review["person"][:6] not in row.inner_text()   # by name, not pseudonym
    assert "绍兴" in row.inner_text() or "医院" in row.inner_text()                          # the hospital by name
    assert_one_language(page, "queue")
    shoot_three(page, "console-zh-queue")

    screens: list[tuple[str, str, str]] = [
        (f"#/claims/{in_review['id']}", ".steps", "claim"),
        (f"#/claims/{rejected['id']}", ".audit-entries", "claim-rejected"),
        (f"#/claims/{cb['claim']}", ".audit-entries", "claim-clawback"),
        ("#/claims", "tr[data-claim]", "claims"),
        ("#/postaudit", f'tr[data-claim="{drawn["id"]}"]', "postaudit"),
        ("#/dashboard", "figure.chart >> nth=4", "dashboard"),
        ("#/clawbacks", f'tr[data-clawback="{cb["id"]}"]', "clawbacks"),
        (f"#/clawbacks/{cb['id']}", ".cb-actions", "clawback"),
        ("#/reports", ".report-tiles", "report"),
        ("#/rules", "table.rule-sets", "rules"),
        ("#/rules/sx-pharmacy-pooling@2", ".rs-document", "rule-set"),
    ]
    texts = {}
    for path, ready, name in screens:
        page.goto(f"/console/{path}")
        page.locator(ready).first.wait_for()
        texts[name] = assert_one_language(page, name)
        shoot_three(page, f"console-zh-{name}")
    # what the claim in review shows: whom it is for, the steps and rules in Chinese, amounts in yuan
    assert all(word in texts["claim"] for word in ("王伟", "在职职工", "起付线", "¥"))
    assert "reviewer one" in texts["claim-rejected"] and "审核员驳回" in texts["claim-rejected"]
    assert "缺少住院病历" in texts["claim-rejected"]
    assert "事后抽查：发现问题" in texts["claim-clawback"] and "发起追回" in texts["claim-clawback"]
    assert "分解收费（医院退回）" in texts["clawbacks"] and "待追回" in texts["clawbacks"]

    # a refusal is said in Chinese; the service's English is behind a closed disclosure
    page.goto("/console/#/reports?month=2099-01")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "请求未被接受" in alert.inner_text() and "2099" not in assert_one_language(page, "refusal")
    assert alert.locator("details.server-words").get_attribute("open") is None
    alert.locator("details.server-words > summary").click()
    assert "2099-01" in alert.locator("details.server-words p[lang=en]").inner_text()
    shoot_three(page, "console-zh-refusal")

    # verification: the outcome from the verdict's facts, in Chinese and in yuan
    page.goto("/console/#/verify")
    page.locator("#v-fp").fill(fp)
    page.locator("form", has=page.locator("#v-fp")).get_by_role("button", name="查验").click()
    page.locator(".verdict.ok").wait_for()
    assert "已上链存证" in assert_one_language(page, "verify")
    shoot_three(page, "console-zh-verify")

    auditor = with_axe(page_for(DESKTOP, "zh-CN"))
    sign_in(auditor, "/console/#/audit", d.tokens["auditor"])
    auditor.get_by_role("heading", name="审计日志").wait_for()
    auditor.locator("table tbody tr").nth(5).wait_for()
    text = assert_one_language(auditor, "audit")
    assert "登记医院" in text and "系统（链上存证）" in text
    shoot_three(auditor, "console-zh-audit")
    auditor.goto(f"/console/#/claims/{in_review['id']}")
    auditor.locator(".steps").wait_for()
    assert "王伟" not in visible_text(auditor)            # an auditor is not told whom a claim is for
    assert_one_language(auditor, "claim (auditor)")

    admin = with_axe(page_for(DESKTOP, "zh-CN"))
    sign_in(admin, "/console/", d.tokens["admin"])
    admin.get_by_role("heading", name="规则库").wait_for()
    admin.locator("table.rule-sets").wait_for()
    assert_one_language(admin, "rules (admin)")
    admin.goto("/console/#/outbox")
    admin.locator("table.outbox tbody tr").first.wait_for()
    text = assert_one_language(admin, "outbox")
    assert "开发环境" in text and "已受理" in text
    shoot_three(admin, "console-zh-outbox")


def test_a_payer_office_settles_a_claw_back(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    upload_for(d, "wang", seed=707)
    cb = owed_by_hospital(d, "wang")
    due = cb["amountDueFen"]
    assert due >= 3, cb
    page = with_axe(page_for(DESKTOP))
    sign_in(page, "/console/#/clawbacks", d.tokens["payer"])
    page.get_by_role("heading", name="Claw-backs").wait_for()
    row = page.locator(f'tr[data-clawback="{cb["id"]}"]')
    row.wait_for()
    assert "Hospital ·" in row.inner_text() and "Unbundled charging" in row.inner_text()
    shoot_three(page, "console-clawbacks")
    row.get_by_role("link").click()
    page.locator("#cb-recover > summary").click()
    # half returned by transfer, in yuan
    half = due // 2
    page.locator("#cb-recover-amount").fill(f"{half / 100:.2f}")
    page.locator("#cb-recover-reference").fill("BANK-20261208-01")
    page.get_by_role("button", name="Record the return").click()
    page.locator('[data-event="recovered"]').wait_for()
    # more than what is left is refused before it is sent
    page.locator("#cb-offset > summary").click()
    page.locator("#cb-offset-amount").fill(f"{(due - half + 1) / 100:.2f}")
    page.locator("#cb-offset-reference").fill("SETTLE-2026-12")
    page.get_by_role("button", name="Record the offset").click()
    page.get_by_role("alert").filter(has_text="can be settled now").wait_for()
    page.locator("#cb-offset-amount").fill("0.01")
    page.get_by_role("button", name="Record the offset").click()
    page.locator('[data-event="offset"]').wait_for()
    page.locator("#cb-write-off > summary").click()
    shoot_three(page, "console-clawback-settling", at=".cb-actions")
    # writing off the rest: proposed by one member of the office, approved by another
    page.locator("#cb-writeoff-reason").fill("The hospital closed its account.")
    page.get_by_role("button", name="Propose the write-off").click()
    page.get_by_text("another member of the office must approve or decline it").wait_for()
    assert page.locator("#cb-approve").count() == 0
    other = with_axe(page_for(PHONE))
    sign_in(other, f"/console/#/clawbacks/{cb['id']}", d.tokens["payer2"])
    other.locator("#cb-approve").wait_for()
    assert "reviewer one" in other.locator(".write-off").inner_text()       # who proposed it, by label
    other.locator("#cb-writeoff-reason").fill("Agreed: nothing left to recover.")
    shoot_three(other, "console-clawback-write-off")
    other.locator("#cb-approve").click()
    other.locator("[data-cb-state=written-off]").wait_for()
    got = d.http("GET", f"/v1/clawbacks/{cb['id']}", d.tokens["auditor"]).json()
    assert (got["state"], got["recoveredFen"], got["offsetFen"], got["writtenOffFen"]) == (
        "written-off", half, 1, due - half - 1)
    # an auditor reads it, with nothing to press
    auditor = with_axe(page_for(DESKTOP))
    sign_in(auditor, f"/console/#/clawbacks/{cb['id']}", d.tokens["auditor"])
    auditor.locator(".cb-actions").wait_for()
    assert auditor.locator(".settle-box").count() == 0 and auditor.locator("#cb-approve").count() == 0


def test_the_monthly_report_and_its_downloads(page_for: Any, deployment: Deployment, tmp_path: Path) -> None:
    d = deployment
    upload_for(d, "wang", seed=707)
    claim(d, "wang", low=0, high=10**9)
    page = with_axe(page_for(DESKTOP))
    sign_in(page, "/console/#/reports", d.tokens["auditor"])
    page.get_by_role("heading", name="Monthly report").wait_for()
    page.locator(".report-tiles").wait_for()
    assert page.locator("table.report-hospitals tbody tr").count() >= 1
    hospital = page.locator("table.report-hospitals tbody tr").first.inner_text()
    assert "医院" in hospital                                       # by name
    assert "No personal data" in page.locator("main").inner_text() and "王伟" not in page.locator("main").inner_text()
    shoot_three(page, "console-report")
    for button, magic in (("#r-csv", b"\xef\xbb\xbf"), ("#r-pdf", b"%PDF")):
        with page.expect_download() as got:
            page.locator(button).click()
        path = tmp_path / got.value.suggested_filename
        got.value.save_as(path)
        assert path.read_bytes().startswith(magic) and got.value.suggested_filename.startswith("claims-report-")
    # a payer's reviewer reads it too; a month not begun is refused with the service's words
    payer = with_axe(page_for(PHONE))
    sign_in(payer, "/console/#/reports?month=2099-01", d.tokens["payer"])
    payer.get_by_role("alert").wait_for()


def test_rule_sets_are_activated_by_a_second_admin(page_for: Any, deployment: Deployment, tmp_path: Path) -> None:
    d = deployment
    r = d.http("POST", "/v1/credentials", d.tokens["admin"], json={"role": "admin", "subject": "bureau-2",
                                                                  "label": "second admin"})
    assert r.status_code == 201, r.text
    second = r.json()["apiToken"]
    doc = dict(dict(shipped_documents())["pharmacy-pooling-v2.json"])
    doc.update(version=3, effectiveFrom="2027-01-01", description="Version 3 from 2027: employees 75 %.")
    doc["persons"] = json.loads(json.dumps(doc["persons"]))
    doc["persons"]["employee"]["ratioBp"] = 7500
    rule_file = tmp_path / "pharmacy-pooling-v3.json"
    rule_file.write_text(json.dumps(doc, ensure_ascii=False))

    first = with_axe(page_for(DESKTOP))
    sign_in(first, "/console/", d.tokens["admin"])
    first.get_by_role("heading", name="Rule sets").wait_for()
    first.locator("#rs-file").set_input_files(str(rule_file))
    first.get_by_role("button", name="Check").click()
    first.get_by_text("Valid with the active versions: sx-pharmacy-pooling@3").wait_for()
    first.get_by_role("button", name="Import").click()
    first.get_by_text("Imported, waiting for a second admin").wait_for()
    row = first.locator('tr[data-ref="sx-pharmacy-pooling@3"]')
    row.wait_for()
    assert "Proposed" in row.inner_text() and "You imported it" in row.inner_text()   # maker-checker
    assert row.get_by_role("button", name="Activate").count() == 0
    shoot_three(first, "console-rules-proposed")

    other = with_axe(page_for(DESKTOP))
    sign_in(other, "/console/#/rules", second)
    row = other.locator('tr[data-ref="sx-pharmacy-pooling@3"]')
    row.get_by_role("button", name="Activate").click()
    row.get_by_role("button", name="Yes").click()
    other.locator('tr[data-ref="sx-pharmacy-pooling@3"][data-state="active"]').wait_for()
    assert "second admin" in other.locator('tr[data-ref="sx-pharmacy-pooling@3"]').inner_text()   # by label
    entry = d.http("GET", "/v1/rules/sx-pharmacy-pooling/3", d.tokens["auditor"]).json()
    assert entry["state"] == "active" and entry["approvedByLabel"] == "second admin"
    # what changed from version 2
    other.locator("#rs-from").select_option("sx-pharmacy-pooling@2")
    other.locator("#rs-to").select_option("sx-pharmacy-pooling@3")
    other.get_by_role("button", name="Compare").click()
    other.locator("table.rs-differences").wait_for()
    diff = other.locator("table.rs-differences").inner_text()
    assert "persons.employee.ratioBp" in diff and "7500" in diff and "effectiveFrom" in diff
    shoot_three(other, "console-rules-diff", at="form.rs-diff")
    # retiring the only version in force for outpatients would leave a gap: refused, in place, nothing changed
    row = other.locator('tr[data-ref="sx-pharmacy-pooling@2"]')
    row.get_by_role("button", name="Retire").click()
    row.get_by_role("button", name="Yes").click()
    other.get_by_role("alert").filter(has_text="sx-pharmacy-pooling@2 was not changed").wait_for()
    assert d.http("GET", "/v1/rules/sx-pharmacy-pooling/2", d.tokens["auditor"]).json()["state"] == "active"

    # reviewers read the rule sets and their documents; nothing to press
    payer = with_axe(page_for(PHONE))
    sign_in(payer, "/console/#/rules/sx-pharmacy-pooling@3", d.tokens["payer"])
    payer.locator(".rs-document").wait_for()
    assert "second admin" in payer.locator("main").inner_text()
    assert payer.get_by_role("button", name="Retire").count() == 0
    shoot_three(payer, "console-rule-set")
    payer.goto("/console/#/rules")
    payer.locator("table.rule-sets").wait_for()
    assert payer.locator("#rs-file").count() == 0 and payer.locator(".rs-actions").count() == 0


def test_the_outbox_shows_each_citizens_messages_in_development(page_for: Any, deployment: Deployment) -> None:
    d = deployment
    upload_for(d, "wang", seed=707)
    r = d.http("PUT", "/v1/me/language", d.citizens["wang"].token, json={"language": "en"})
    assert r.status_code == 200, r.text
    mine = claim(d, "wang", low=0, high=10**9)
    page = with_axe(page_for(DESKTOP))
    sign_in(page, "/console/", d.tokens["admin"])
    page.locator("#nav").get_by_role("link", name="Outbox").click()
    page.get_by_role("heading", name="Outbox: messages to citizens").wait_for()
    page.locator("table.outbox tbody tr").first.wait_for()
    assert "Development: no message leaves this service" in page.locator("main").inner_text()
    rows = page.locator("tr[data-kind]", has=page.locator(f'a[title="{mine["id"]}"]'))
    rows.first.wait_for()
    texts = [rows.nth(i).inner_text() for i in range(rows.count())]
    assert any("[Medical insurance] Your claim" in t and mine["id"][4:] in t for t in texts), texts
    assert all("王伟" not in t for t in texts)                        # no name in a message
    page.locator("#f-ob-state").select_option("delivered")
    page.wait_for_url("**/console/#/outbox?state=delivered")
    page.locator("[data-ob-state=delivered]").first.wait_for()
    assert page.locator("[data-ob-state=pending]").count() == 0
    shoot_three(page, "console-outbox")
    r = d.http("PUT", "/v1/me/language", d.citizens["wang"].token, json={"language": "zh"})
    assert r.status_code == 200, r.text
    # reviewers and auditors have no outbox
    payer = with_axe(page_for(PHONE))
    sign_in(payer, "/console/#/outbox", d.tokens["payer"])
    payer.get_by_role("alert").filter(has_text="may not open this section").wait_for()
