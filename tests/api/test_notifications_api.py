"""The citizens' messages over HTTP (issue 14, "Notifications"), tried to be broken.

Every step of a claim writes exactly one message, in the person's language, in the step's own
transaction: a step that is rolled back leaves none. A message holds the claim's reference and
amounts in yuan and nothing of anyone else. The outbox is the admin's to read (GET
/v1/notifications), a citizen chooses their language (PUT /v1/me/language), and the dispatcher
sends it through the delivery adapter: the development one only marks messages delivered.
The stamper runs no thread here: each test ticks it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from claims_stack import ClaimsStack, category_of, make_claims_stack
from clawback_support import class_a_invoice, paid_claim, upload

from ledger.app.notifier import NotificationDispatcher
from ledger.claims.notice_outbox import OutboxMessage, Receipt
from ledger.errors import GatewayUnavailable, MessageUndeliverable, StoreUnavailable

INSTANT_MAX = 10_000       # ¥100: a ¥70 claim is paid at once, a ¥140 one goes to a reviewer


@pytest.fixture
def cs(tmp_path: Path) -> Iterator[ClaimsStack]:
    s = make_claims_stack(f"sqlite:///{tmp_path}/ebill.sqlite", tmp_path, run_stamper=False,
                          instant_max_fen=INSTANT_MAX)
    yield s
    s.stop()


@pytest.fixture
def cs_any(database_url: str, tmp_path: Path) -> Iterator[ClaimsStack]:
    s = make_claims_stack(database_url, tmp_path, run_stamper=False, instant_max_fen=INSTANT_MAX)
    yield s
    s.stop()


def employees(cs: ClaimsStack) -> list[str]:
    return [n for n in sorted({d["patientId"] for docs in cs.docs.values() for d in docs})
            if category_of(n) == "employee"]


def messages(cs: ClaimsStack, claim_id: str) -> list[dict[str, Any]]:
    """The claim's messages, oldest first."""
    r = cs.client.get(f"/v1/notifications?claim={claim_id}&limit=500", headers=cs.auth("admin"))
    assert r.status_code == 200, r.text
    return list(reversed(r.json()["notifications"]))


def kinds(cs: ClaimsStack, claim_id: str) -> list[str]:
    return [m["kind"] for m in messages(cs, claim_id)]


def pseudonym(cs: ClaimsStack, nid: str) -> str:
    return cs.claims.known_as([nid])[0].hex()


def claim_one(cs: ClaimsStack, nid: str, fen: int, number: int, key: str) -> dict[str, Any]:
    fp, = upload(cs, [class_a_invoice(cs, nid, number, fen)])
    r = cs.claim(nid, [fp], key)
    assert r.status_code in (201, 202), r.text
    cs.stamper.drain()
    return dict(r.json()["claims"][0])


def enrol(cs: ClaimsStack, nid: str, **extra: Any) -> None:
    r = cs.client.post("/v1/persons", json=[{"nationalId": nid, "name": f"person {nid[-4:]}",
                                             "category": category_of(nid), **extra}], headers=cs.auth("admin"))
    assert r.status_code == 201, r.text


# ---------------------------------------------------------------------------------- one message per step


def test_every_step_of_a_reviewed_claim_sends_one_message_in_the_persons_language(cs_any: ClaimsStack) -> None:
    cs = cs_any
    nid = employees(cs)[0]
    claim = claim_one(cs, nid, 80_000, 1, "tap-notice-1")           # ¥800 of Class A care: ¥140, a reviewer's
    cid, ref = claim["id"], claim["id"].removeprefix("clm_")
    assert kinds(cs, cid) == ["received", "in-review"]
    r = cs.client.post(f"/v1/claims/{cid}/reject", json={"reason": "缺少门诊病历"}, headers=cs.auth("payer"))
    assert r.status_code == 200, r.text
    cs.stamper.drain()                                               # the release sends nothing
    assert kinds(cs, cid) == ["received", "in-review", "rejected"]
    r = cs.client.post(f"/v1/claims/{cid}/appeal", json={"reason": "病历已补交"}, headers=cs.citizen(nid))
    assert r.status_code == 200, r.text
    cs.stamper.drain()
    assert kinds(cs, cid) == ["received", "in-review", "rejected", "in-review"]
    r = cs.client.post(f"/v1/claims/{cid}/approve", json={"reason": "ok"}, headers=cs.auth("payer2"))
    assert r.status_code == 200, r.text
    cs.stamper.drain()                                               # finalised (nothing), then paid
    got = messages(cs, cid)
    assert [m["kind"] for m in got] == ["received", "in-review", "rejected", "in-review", "approved", "paid"]
    assert [m["event"] for m in got] == ["filed", "reserved", "rejected", "reserved", "approved", "paid"]
    assert {m["language"] for m in got} == {"zh"} and {m["person"] for m in got} == {pseudonym(cs, nid)}
    assert all(ref in m["text"] and m["text"].startswith("【医保报销】") for m in got)
    assert "申请金额800.00元" in got[0]["text"] and "原因：缺少门诊病历" in got[2]["text"]
    assert "报销140.00元" in got[4]["text"] and "报销款140.00元已转入" in got[5]["text"]
    assert all(m["state"] == "pending" and m["attempts"] == 0 for m in got)


def test_an_instant_claim_in_english_then_its_claw_back(cs: ClaimsStack) -> None:
    nid = employees(cs)[1]
    enrol(cs, nid, language="en")
    claim = claim_one(cs, nid, 70_000, 2, "tap-notice-2")           # ¥700: ¥70, paid at once
    cid = claim["id"]
    got = messages(cs, cid)
    assert [m["kind"] for m in got] == ["received", "paid"]          # no "approved" a second before the money
    assert got[1]["text"] == (f"[Medical insurance] ¥70.00 was paid to your account for claim "
                              f"{cid.removeprefix('clm_')}.")
    r = cs.client.post(f"/v1/invoices/{claim['fingerprint']}/void", json={"reasonCode": "refund"},
                       headers=cs.auth("a"))
    assert r.status_code in (200, 202), r.text
    cs.worker.drain()
    cs.stamper.drain()
    for _ in range(3):                                               # applied again: still one message
        cs.stamper.tick(force_voids=True)
    got = messages(cs, cid)
    assert [m["kind"] for m in got] == ["received", "paid", "clawback"]
    assert "recovered from the hospital; you need do nothing" in got[2]["text"] and "¥70.00" in got[2]["text"]


def test_a_finding_the_person_owes_and_a_claim_that_pays_nothing(cs: ClaimsStack) -> None:
    a, b = employees(cs)[:2]
    fp, = upload(cs, [class_a_invoice(cs, a, 3, 80_000)])
    cs.claims.policy = cs.claims.policy.__class__(**{**cs.claims.policy.__dict__, "instant_max_fen": 10**9})
    claim = paid_claim(cs, a, fp, "tap-notice-3", drawn=True)
    r = cs.client.post(f"/v1/claims/{claim['id']}/post-audit", json={
        "outcome": "finding", "code": "paid-elsewhere", "reason": "reimbursed in Hangzhou"}, headers=cs.auth("payer"))
    assert r.status_code == 200, r.text
    got = messages(cs, claim["id"])
    assert [m["kind"] for m in got] == ["received", "paid", "clawback"]
    assert "需由您退回，请于20个工作日内退回" in got[2]["text"] and "140.00元" in got[2]["text"]
    assert "Hangzhou" not in got[2]["text"]                          # the finding's words stay in the app
    nothing = claim_one(cs, b, 50_000, 4, "tap-notice-4")           # ¥500: below the ¥600 deductible
    assert nothing["state"] == "nothing-payable"
    assert kinds(cs, nothing["id"]) == ["nothing-payable"]


# ---------------------------------------------------------------------------------- rolled back: no message


def test_a_refused_tap_sends_nothing(cs: ClaimsStack) -> None:
    nid = employees(cs)[0]
    fps = upload(cs, [class_a_invoice(cs, nid, 5, 80_000), class_a_invoice(cs, nid, 6, 70_000)])
    r = cs.client.post(f"/v1/invoices/{fps[1]}/void", json={"reasonCode": "refund"}, headers=cs.auth("a"))
    assert r.status_code in (200, 202), r.text
    before = cs.client.get("/v1/notifications", headers=cs.auth("admin")).json()["notifications"]
    r = cs.claim(nid, fps, "tap-notice-5")                           # the second is voided: the tap stores nothing
    assert r.status_code == 409, r.text
    assert cs.client.get("/v1/notifications", headers=cs.auth("admin")).json()["notifications"] == before


def test_a_step_rolled_back_after_its_message_was_written_leaves_no_message(cs: ClaimsStack,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.adapters.sql.claims import rows

    nid = employees(cs)[0]
    claim = claim_one(cs, nid, 80_000, 7, "tap-notice-6")
    cid = claim["id"]
    real = rows.write_notices

    def then_fail(conn: Any, changes: Any, *, now: datetime) -> int:
        written = real(conn, changes, now=now)
        assert written == 1
        raise StoreUnavailable("the database went away after the message was written")

    monkeypatch.setattr(rows, "write_notices", then_fail)
    r = cs.client.post(f"/v1/claims/{cid}/reject", json={"reason": "first try"}, headers=cs.auth("payer"))
    assert r.status_code == 503, r.text
    monkeypatch.undo()
    assert cs.client.get(f"/v1/claims/{cid}", headers=cs.auth("payer")).json()["state"] == "in-review"
    assert kinds(cs, cid) == ["received", "in-review"]
    r = cs.client.post(f"/v1/claims/{cid}/reject", json={"reason": "second try"}, headers=cs.auth("payer"))
    assert r.status_code == 200, r.text
    got = messages(cs, cid)
    assert [m["kind"] for m in got] == ["received", "in-review", "rejected"] and "second try" in got[2]["text"]


# ---------------------------------------------------------------------------------- nobody else's data


def test_a_message_goes_to_the_claims_person_and_holds_nothing_of_anyone_else(cs: ClaimsStack) -> None:
    a, b = employees(cs)[:2]
    mine = claim_one(cs, a, 80_000, 8, "tap-notice-7")
    theirs = claim_one(cs, b, 70_000, 9, "tap-notice-8")
    hospital = cs.client.get(f"/v1/claims/{mine['id']}", headers=cs.auth("payer")).json()["hospitalName"]
    everything = cs.client.get("/v1/notifications?limit=500", headers=cs.auth("admin")).json()["notifications"]
    for m in everything:
        owner = a if m["claim"] == mine["id"] else b
        other = b if owner == a else a
        assert m["claim"] in (mine["id"], theirs["id"])
        assert m["person"] == pseudonym(cs, owner)
        for secret in (a, b, a[-4:] + " ", f"person {a[-4:]}", f"person {b[-4:]}", pseudonym(cs, other),
                       (theirs if owner == a else mine)["id"].removeprefix("clm_"), hospital, "门诊诊查费",
                       "001102000010000"):
            assert secret not in m["text"], (secret, m["text"])
    assert {m["claim"] for m in messages(cs, mine["id"])} == {mine["id"]}


# ---------------------------------------------------------------------------------- who reads, who chooses


def test_only_the_admin_reads_the_outbox(cs: ClaimsStack) -> None:
    nid = employees(cs)[0]
    claim_one(cs, nid, 70_000, 10, "tap-notice-9")
    admin = cs.client.get("/v1/notifications", headers=cs.auth("admin"))
    assert admin.status_code == 200 and admin.json()["delivery"] == {"channel": "development-outbox", "sends": False}
    for who in ("payer", "other-payer", "auditor", "a", "clerk"):
        r = cs.client.get("/v1/notifications", headers=cs.auth(who))
        assert r.status_code == 403, (who, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert cs.client.get("/v1/notifications", headers=cs.citizen(nid)).status_code == 403
    assert cs.client.get("/v1/notifications").status_code == 401
    for bad in ("state=sent", "after=0", "limit=0", "limit=501", "claim=clm_nothex", "after=x"):
        assert cs.client.get(f"/v1/notifications?{bad}", headers=cs.auth("admin")).status_code == 422, bad
    # pages, newest first
    first = cs.client.get("/v1/notifications?limit=1", headers=cs.auth("admin")).json()
    second = cs.client.get(f"/v1/notifications?limit=1&after={first['next']}", headers=cs.auth("admin")).json()
    assert first["notifications"][0]["id"] > second["notifications"][0]["id"]
    assert [m["kind"] for m in first["notifications"] + second["notifications"]] == ["paid", "received"]
    pending = cs.client.get("/v1/notifications?state=pending", headers=cs.auth("admin")).json()["notifications"]
    assert len(pending) == 2


def test_a_citizen_chooses_the_language_of_their_messages(cs: ClaimsStack) -> None:
    nid = employees(cs)[0]
    me = cs.citizen(nid)
    r = cs.client.put("/v1/me/language", json={"language": "en"}, headers=me)
    assert (r.status_code, r.json()) == (200, {"language": "en"}), r.text
    claim = claim_one(cs, nid, 70_000, 11, "tap-notice-10")
    assert {m["language"] for m in messages(cs, claim["id"])} == {"en"}
    # enrolling again without a language keeps the citizen's choice; with one, it is the enrolment's
    enrol(cs, nid)
    assert cs.client.get(f"/v1/claims/{claim['id']}", headers=cs.auth("payer")).json()["insured"]["language"] == "en"
    enrol(cs, nid, language="zh")
    assert cs.client.get(f"/v1/claims/{claim['id']}", headers=cs.auth("payer")).json()["insured"]["language"] == "zh"
    # refused: another language, another field, a body too large, staff, a person not enrolled, no credential
    for body in ({"language": "fr"}, {"language": "EN"}, {"language": "en", "person": "x"}, {}, ["en"]):
        assert cs.client.put("/v1/me/language", json=body, headers=me).status_code == 422, body
    big = '{"language": "en", "pad": "' + "x" * 17_000 + '"}'
    r = cs.client.put("/v1/me/language", content=big, headers={**me, "content-type": "application/json"})
    assert r.status_code == 413, r.text
    for who in ("payer", "admin", "a", "clerk", "auditor"):
        assert cs.client.put("/v1/me/language", json={"language": "en"}, headers=cs.auth(who)).status_code == 403
    stranger = "11010519491231002X"
    r = cs.client.put("/v1/me/language", json={"language": "en"}, headers=cs.citizen(stranger))
    assert r.status_code == 404, r.text
    assert cs.client.put("/v1/me/language", json={"language": "en"}).status_code == 401
    trail = cs.client.get("/v1/audit?limit=1000", headers=cs.auth("auditor")).json()["entries"]
    assert [e["detail"] for e in trail if e["action"] == "person.language"] == [{"language": "en"}]


def test_enrolment_takes_a_language_and_names_a_wrong_one(cs: ClaimsStack) -> None:
    nid = employees(cs)[0]
    r = cs.client.post("/v1/persons", json=[{"nationalId": nid, "name": "x", "category": "employee",
                                             "language": "fr"}], headers=cs.auth("admin"))
    assert r.status_code == 422 and "language" in r.text
    from ledger.app.access import SYSTEM
    from ledger.app.claims import Enrolee
    from ledger.errors import InvalidInput

    with pytest.raises(InvalidInput) as err:
        cs.claims.enrol([Enrolee(nid, "x", "employee", None, False, "de")], by=SYSTEM)
    assert err.value.problems[0].field == "[0].language"


# ---------------------------------------------------------------------------------- the reviewer sees whom for


def test_the_payers_reviewer_sees_whom_a_claim_is_for_and_nobody_else_does(cs: ClaimsStack) -> None:
    nid = employees(cs)[0]
    enrol(cs, nid, insuredRegion="330600", language="en")
    claim = claim_one(cs, nid, 80_000, 12, "tap-notice-11")
    cid = claim["id"]
    payer = cs.client.get(f"/v1/claims/{cid}", headers=cs.auth("payer")).json()
    assert payer["insured"] == {"enrolled": True, "name": f"person {nid[-4:]}", "category": "employee",
                                "insuredRegion": "330600", "offsiteRegistered": False, "language": "en"}
    queued = cs.client.get("/v1/review/queue", headers=cs.auth("payer")).json()["claims"]
    assert next(c for c in queued if c["id"] == cid)["insured"]["name"] == f"person {nid[-4:]}"
    listed = cs.client.get("/v1/claims", headers=cs.auth("payer")).json()["claims"]
    assert next(c for c in listed if c["id"] == cid)["insured"]["enrolled"] is True
    for who in (cs.auth("auditor"), cs.citizen(nid)):
        seen = cs.client.get(f"/v1/claims/{cid}", headers=who).json()
        assert "insured" not in seen and f"person {nid[-4:]}" not in str(seen)
    assert all("insured" not in c for c in cs.client.get("/v1/claims", headers=cs.auth("auditor")).json()["claims"])
    assert cs.client.get(f"/v1/claims/{cid}", headers=cs.auth("other-payer")).status_code == 403
    # the reviewer who decides is named by the label the office gave their credential
    r = cs.client.post(f"/v1/claims/{cid}/approve", json={"reason": "ok"}, headers=cs.auth("payer"))
    assert r.json()["review"]["reviews"][0]["reviewerLabel"] == "reviewer one"
    audit = cs.client.get(f"/v1/claims/{cid}/audit", headers=cs.auth("auditor")).json()["entries"]
    assert {e["actorLabel"] for e in audit if e["action"] == "claim.review.approve"} == {"reviewer one"}
    assert {e["actorLabel"] for e in audit if e["actor"].startswith("system")} == {None}
    me = cs.client.get("/v1/me", headers=cs.auth("payer2")).json()
    assert (me["role"], me["label"]) == ("payer", "reviewer two")


# ---------------------------------------------------------------------------------- the dispatcher


class FlakyGateway:
    """Refuses one recipient for good, then stops answering."""

    channel = "test-gateway"
    sends = True

    def __init__(self, refuse: int, down_from: int) -> None:
        self.refuse, self.down_from, self.sent = refuse, down_from, []

    def deliver(self, message: OutboxMessage) -> Receipt:
        if message.id == self.refuse:
            raise MessageUndeliverable("no mobile number on record")
        if message.id >= self.down_from:
            raise GatewayUnavailable("gateway timed out")
        self.sent.append(message.id)
        return Receipt(self.channel, f"gw-{message.id}")


def test_the_dispatcher_delivers_retries_and_gives_up(cs: ClaimsStack) -> None:
    for n, nid in enumerate(employees(cs)[:3]):
        claim_one(cs, nid, 70_000, 13 + n, f"tap-notice-d{n}")       # two messages each
    ids = sorted(m["id"] for m in cs.client.get("/v1/notifications", headers=cs.auth("admin")).json()[
        "notifications"])
    assert len(ids) == 6
    gateway = FlakyGateway(refuse=ids[1], down_from=ids[3])
    dispatcher = NotificationDispatcher(cs.claims.store, gateway, leases=cs.service.store, clock=cs.service.clock)
    report = dispatcher.deliver_once()
    assert (report.delivered, report.failed, report.retry) == (2, 1, 1) and gateway.sent == [ids[0], ids[2]]
    by_id = {m["id"]: m for m in cs.client.get("/v1/notifications", headers=cs.auth("admin")).json()[
        "notifications"]}
    assert (by_id[ids[0]]["state"], by_id[ids[0]]["channel"], by_id[ids[0]]["reference"]) == (
        "delivered", "test-gateway", f"gw-{ids[0]}")
    assert by_id[ids[0]]["deliveredAt"] is not None
    assert (by_id[ids[1]]["state"], by_id[ids[1]]["error"]) == ("failed", "no mobile number on record")
    assert (by_id[ids[3]]["state"], by_id[ids[3]]["attempts"], by_id[ids[3]]["error"]) == (
        "pending", 1, "gateway timed out")
    assert by_id[ids[4]]["attempts"] == 0                            # the round stopped at the silent gateway
    # the development adapter takes the rest; nothing delivered or failed is sent again
    from ledger.adapters.notify import DevelopmentOutbox

    dev = NotificationDispatcher(cs.claims.store, DevelopmentOutbox(), leases=cs.service.store,
                                 clock=cs.service.clock)
    assert dev.deliver_once().delivered == 3
    assert dev.deliver_once().delivered == 0
    final = cs.client.get("/v1/notifications", headers=cs.auth("admin")).json()["notifications"]
    assert sorted(m["state"] for m in final) == ["delivered"] * 5 + ["failed"]
    assert {m["channel"] for m in final if m["id"] in ids[3:]} == {"development-outbox"}
