"""Claw-backs over HTTP (issue 13 §5): who owes, who sees it, and the office settling it, tried to be broken.

A void after the payout opens a claw-back owed by the hospital; a post-payment finding one
owed as its code says. The hospital sees what it must return and nothing of another
hospital's; a citizen sees their claims'; only this payer's office settles, never beyond what
is due, never twice for one transfer, a write-off only with a second person. The stamper runs
no thread here (each test ticks it); the offsets against a later payout, and crashes around
them, are in test_clawback_offsets.py.
"""

from __future__ import annotations

import threading
from typing import Any

from claims_stack import ClaimsStack, claims_fixture
from clawback_support import class_a_invoice, clawback_url, employee, get_as, paid_claim, upload, voided_after_payout

cs = claims_fixture(run_stamper=False, instant_max_fen=10**9)


cs_any = claims_fixture(every_database=True, run_stamper=False, instant_max_fen=10**9)


# ---------------------------------------------------------------------------------- who owes, who sees it


def test_a_void_after_the_payout_opens_one_clawback_the_hospital_sees(cs: ClaimsStack) -> None:
    claim, nid = voided_after_payout(cs)
    a, payer = cs.auth("a"), cs.auth("payer")
    cb = get_as(cs, f"/v1/claims/{claim['id']}/clawback", payer).json()
    assert cb["claim"] == claim["id"] and cb["id"].startswith("cbk_")
    assert (cb["state"], cb["debtor"], cb["reason"]["code"]) == ("requested", {"kind": "hospital", "id": claim[
        "issuer"]}, "invoice-voided")
    assert (cb["amountDueFen"], cb["outstandingFen"], cb["recoveredFen"], cb["offsetFen"]) == (14_000, 14_000, 0, 0)
    assert (cb["dueWorkingDays"], cb["overdue"], cb["requestedBy"]) == (20, False, "system:stamper")
    assert cb["invoiceNumber"] == "8800000001" and cb["hospitalName"]
    # the hospital sees what it must return: in its list, by id, by claim
    mine = get_as(cs, "/v1/clawbacks", a).json()["clawbacks"]
    assert [c["id"] for c in mine] == [cb["id"]] and mine[0]["outstandingFen"] == 14_000
    # the same claw-back, but whom the claim paid is the payer office's to know (its enrolment), not the hospital's
    seen = get_as(cs, f"/v1/clawbacks/{cb['id']}", a).json()
    assert seen == {**cb, "insured": None, "person": None} and cb["insured"]["enrolled"] is True
    assert all(c["person"] is None for c in mine)          # nor the person's pseudonym
    assert get_as(cs, f"/v1/claims/{claim['id']}/clawback", a).status_code == 200
    assert get_as(cs, f"/v1/clawbacks?hospital={claim['issuer']}&state=requested", a).json()["clawbacks"] == mine
    # another hospital sees nothing of it, and may not look at the first one's list
    b = cs.auth("b")
    assert get_as(cs, "/v1/clawbacks", b).json()["clawbacks"] == []
    assert get_as(cs, f"/v1/clawbacks/{cb['id']}", b).status_code == 404
    assert get_as(cs, f"/v1/claims/{claim['id']}/clawback", b).status_code == 404
    assert get_as(cs, f"/v1/clawbacks?hospital={claim['issuer']}", b).status_code == 403
    assert get_as(cs, "/v1/clawbacks?debtor=person", a).status_code == 403
    # the citizen sees their claim's (owed by the hospital), another citizen nothing
    assert get_as(cs, f"/v1/clawbacks/{cb['id']}", cs.citizen(nid)).json()["debtor"]["kind"] == "hospital"
    other = next(n for n in sorted({d["patientId"] for d in cs.docs["a"]}) if n != nid)
    assert get_as(cs, f"/v1/clawbacks/{cb['id']}", cs.citizen(other)).status_code == 404
    assert get_as(cs, "/v1/clawbacks", cs.citizen(other)).json()["clawbacks"] == []
    # the payer and auditors read all; a clerk, the admin and another payer nothing
    assert [c["id"] for c in get_as(cs, "/v1/clawbacks?debtor=hospital", cs.auth("auditor")).json()["clawbacks"]] \
        == [cb["id"]]
    for who in ("clerk", "admin", "other-payer"):
        assert get_as(cs, "/v1/clawbacks", cs.auth(who)).status_code == 403
        assert get_as(cs, f"/v1/clawbacks/{cb['id']}", cs.auth(who)).status_code == 403
    # once per claim, however often the voids are applied again
    for _ in range(3):
        cs.stamper.tick(force_voids=True)
    assert len(get_as(cs, "/v1/clawbacks", payer).json()["clawbacks"]) == 1
    audit = get_as(cs, f"/v1/claims/{claim['id']}/audit", cs.auth("auditor")).json()["entries"]
    opened = [e for e in audit if e["action"] == "clawback.requested"]
    assert len(opened) == 1 and opened[0]["detail"]["debtor"] == "hospital"
    assert opened[0]["detail"]["amountDueFen"] == 14_000


def test_a_finding_opens_a_clawback_owed_as_its_code_says(cs: ClaimsStack) -> None:
    nid = employee(cs)
    fp1, fp2 = upload(cs, [class_a_invoice(cs, nid, 1, 80_000), class_a_invoice(cs, nid, 2, 80_000)])
    hospital_fault = paid_claim(cs, nid, fp1, "tap-cbk-find-1", drawn=True)
    person_fault = paid_claim(cs, nid, fp2, "tap-cbk-find-2", drawn=True)
    payer2 = cs.auth("payer2")
    url = f"/v1/claims/{hospital_fault['id']}/post-audit"
    # a finding names a finding's code; a clearance none; an unknown code is refused
    for body in ({"outcome": "finding", "reason": "x"}, {"outcome": "finding", "code": "invoice-voided",
                                                          "reason": "x"},
                 {"outcome": "cleared", "code": "unbundling", "reason": "x"},
                 {"outcome": "finding", "code": "audit-finding", "reason": "x"}):
        r = cs.client.post(url, json=body, headers=payer2)
        assert r.status_code == 422, (body, r.text)
    r = cs.client.post(url, json={"outcome": "finding", "code": "duplicate-charging", "reason": "the visit fee "
                                  "was charged twice"}, headers=payer2)
    assert r.status_code == 200 and r.json()["state"] == "clawback", r.text
    r = cs.client.post(f"/v1/claims/{person_fault['id']}/post-audit", json={
        "outcome": "finding", "code": "repeat-prescriptions", "reason": "collected at three hospitals"},
        headers=payer2)
    assert r.status_code == 200, r.text
    by_claim = {c["claim"]: c for c in get_as(cs, "/v1/clawbacks", cs.auth("payer")).json()["clawbacks"]}
    assert by_claim[hospital_fault["id"]]["debtor"] == {"kind": "hospital", "id": hospital_fault["issuer"]}
    assert by_claim[person_fault["id"]]["debtor"] == {"kind": "person", "id": person_fault["person"]}
    assert by_claim[person_fault["id"]]["note"] == "collected at three hospitals"
    assert by_claim[person_fault["id"]]["requestedBy"].startswith("payer:")
    # the hospital sees the one it owes, not the one its patient owes; the citizen sees both
    assert [c["claim"] for c in get_as(cs, "/v1/clawbacks", cs.auth("a")).json()["clawbacks"]] == [
        hospital_fault["id"]]
    assert get_as(cs, f"/v1/claims/{person_fault['id']}/clawback", cs.auth("a")).status_code == 404
    assert {c["claim"] for c in get_as(cs, "/v1/clawbacks", cs.citizen(nid)).json()["clawbacks"]} == set(by_claim)
    person_owes = get_as(cs, "/v1/clawbacks?debtor=person", cs.citizen(nid)).json()["clawbacks"]
    assert [c["claim"] for c in person_owes] == [person_fault["id"]]
    # a claim that owes nothing has no claw-back
    assert get_as(cs, f"/v1/claims/{hospital_fault['id']}/clawback", cs.auth("payer")).status_code == 200
    paging = get_as(cs, "/v1/clawbacks?limit=1", cs.auth("payer")).json()
    assert len(paging["clawbacks"]) == 1 and paging["next"] == paging["clawbacks"][0]["id"]
    rest = get_as(cs, f"/v1/clawbacks?limit=1&after={paging['next']}", cs.auth("payer")).json()["clawbacks"]
    assert len(rest) == 1 and rest[0]["id"] != paging["next"]


# ---------------------------------------------------------------------------------- the office settles it


def test_recoveries_and_offsets_never_exceed_what_is_due_nor_count_twice(cs: ClaimsStack) -> None:
    claim, nid = voided_after_payout(cs)
    cb = get_as(cs, f"/v1/claims/{claim['id']}/clawback", cs.auth("payer")).json()
    url = f"/v1/clawbacks/{cb['id']}"
    payer = cs.auth("payer")
    # only this payer's office records settlements
    for who in (cs.auth("a"), cs.auth("auditor"), cs.auth("other-payer"), cs.auth("clerk"), cs.auth("admin"),
                cs.citizen(nid)):
        for action in ("recover", "offset"):
            r = cs.client.post(f"{url}/{action}", json={"amountFen": 100, "reference": "T-1"}, headers=who)
            assert r.status_code == 403, (action, r.text)
        assert cs.client.post(f"{url}/write-off", json={"reason": "x"}, headers=who).status_code == 403
    # malformed: 422 naming the field; too large a body: 413; nothing recorded by any of these
    for body, field in (({"amountFen": 0, "reference": "T-1"}, "amountFen"),
                        ({"amountFen": -500, "reference": "T-1"}, "amountFen"),
                        ({"amountFen": 1.5, "reference": "T-1"}, "amountFen"),
                        ({"amountFen": "100", "reference": "T-1"}, "amountFen"),
                        ({"amountFen": 100}, "reference"), ({"amountFen": 100, "reference": " \t"}, "reference"),
                        ({"amountFen": 100, "reference": "x" * 65}, "reference"),
                        ({"amountFen": 100, "reference": "T-1", "extra": 1}, "extra")):
        r = cs.client.post(f"{url}/recover", json=body, headers=payer)
        assert r.status_code == 422 and field in r.text, (body, r.text)
    r = cs.client.post(f"{url}/recover", json={"amountFen": 100, "reference": "T-1", "note": "x" * 20_000},
                       headers=payer)
    assert r.status_code == 413
    assert cs.client.post("/v1/clawbacks/cbk_" + "0" * 20 + "/recover", json={"amountFen": 1, "reference": "T"},
                          headers=payer).status_code == 404
    assert get_as(cs, url, payer).json()["actions"] == cb["actions"]
    # more than is due: refused, not cut down
    r = cs.client.post(f"{url}/recover", json={"amountFen": 14_001, "reference": "T-1"}, headers=payer)
    assert r.status_code == 409 and r.json()["type"].endswith("/exceeds-outstanding"), r.text
    assert "¥140.01 is more than claw-back" in r.json()["detail"]
    # a partial recovery, retried: recorded once
    first = cs.client.post(f"{url}/recover", json={"amountFen": 4_000, "reference": "BANK-0001"}, headers=payer)
    assert first.status_code == 200 and first.json()["replayed"] is False, first.text
    assert (first.json()["state"], first.json()["recoveredFen"], first.json()["outstandingFen"]) == ("requested",
                                                                                                     4_000, 10_000)
    again = cs.client.post(f"{url}/recover", json={"amountFen": 4_000, "reference": "BANK-0001"},
                           headers=cs.auth("payer2"))
    assert again.status_code == 200 and again.json()["replayed"] is True and again.json()["recoveredFen"] == 4_000
    other = cs.client.post(f"{url}/recover", json={"amountFen": 5_000, "reference": "BANK-0001"}, headers=payer)
    assert other.status_code == 409 and "another amount needs its own reference" in other.json()["detail"]
    # more than what is left
    r = cs.client.post(f"{url}/offset", json={"amountFen": 10_001, "reference": "SETTLE-2024-03"}, headers=payer)
    assert r.status_code == 409 and "¥100.00 is outstanding of ¥140.00" in r.json()["detail"]
    # the rest offset against the hospital's next settlement (outside this ledger): settled
    r = cs.client.post(f"{url}/offset", json={"amountFen": 10_000, "reference": "SETTLE-2024-03",
                                              "note": "March settlement"}, headers=payer)
    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["state"], done["recoveredFen"], done["offsetFen"], done["outstandingFen"]) == ("offset", 4_000,
                                                                                                10_000, 0)
    assert done["closedAt"] is not None
    assert [a["action"] for a in done["actions"]] == ["requested", "recovered", "offset"]
    # settled: nothing more is recorded, nor written off
    r = cs.client.post(f"{url}/recover", json={"amountFen": 1, "reference": "BANK-0002"}, headers=payer)
    assert r.status_code == 409 and r.json()["type"].endswith("/clawback-refused")
    assert "nothing is outstanding" in r.json()["detail"]
    assert cs.client.post(f"{url}/write-off", json={"reason": "x"}, headers=payer).status_code == 409
    # the hospital sees what it returned; every step is in the claim's audit trail
    assert get_as(cs, "/v1/clawbacks?state=offset", cs.auth("a")).json()["clawbacks"][0]["recoveredFen"] == 4_000
    audit = [e["action"] for e in get_as(cs, f"/v1/claims/{claim['id']}/audit", cs.citizen(nid)).json()["entries"]]
    assert audit[-3:] == ["clawback.requested", "clawback.recovered", "clawback.offset"]


def test_a_write_off_needs_a_second_member_of_the_office(cs: ClaimsStack) -> None:
    claim, _ = voided_after_payout(cs)
    url = clawback_url(cs, claim)
    payer, payer2 = cs.auth("payer"), cs.auth("payer2")
    assert cs.client.post(f"{url}/recover", json={"amountFen": 2_500, "reference": "B-1"}, headers=payer).status_code \
        == 200
    r = cs.client.post(f"{url}/write-off/approve", json={"reason": "x"}, headers=payer2)
    assert r.status_code == 409 and "no write-off" in r.json()["detail"]
    assert cs.client.post(f"{url}/write-off", json={"reason": " "}, headers=payer).status_code == 422
    r = cs.client.post(f"{url}/write-off", json={"reason": "the hospital was closed down"}, headers=payer)
    assert r.status_code == 200 and r.json()["writeOff"]["reason"] == "the hospital was closed down", r.text
    assert r.json()["state"] == "requested"
    r = cs.client.post(f"{url}/write-off/approve", json={"reason": "agreed"}, headers=payer)
    assert r.status_code == 409 and r.json()["type"].endswith("/separation-of-duties"), r.text
    r = cs.client.post(f"{url}/write-off/decline", json={"reason": "ask the successor hospital"}, headers=payer2)
    assert r.status_code == 200 and r.json()["writeOff"] is None
    assert cs.client.post(f"{url}/write-off/approve", json={"reason": "x"}, headers=payer2).status_code == 409
    assert cs.client.post(f"{url}/write-off", json={"reason": "no successor"}, headers=payer2).status_code == 200
    r = cs.client.post(f"{url}/write-off/approve", json={"reason": "agreed"}, headers=cs.auth("payer3"))
    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["state"], done["writtenOffFen"], done["recoveredFen"], done["outstandingFen"]) == ("written-off",
                                                                                                    11_500, 2_500, 0)
    steps = [(a["action"], a["amountFen"]) for a in done["actions"]]
    assert steps == [("requested", 14_000), ("recovered", 2_500), ("write-off-proposed", 11_500),
                     ("write-off-declined", 0), ("write-off-proposed", 11_500), ("written-off", 11_500)]
    assert {a["actor"] for a in done["actions"][-2:]} == {done["actions"][-2]["actor"], done["actions"][-1]["actor"]}
    assert done["actions"][-2]["actor"] != done["actions"][-1]["actor"]


def test_concurrent_settlements_never_take_the_same_money_twice(cs_any: ClaimsStack) -> None:
    """SQLite and PostgreSQL: a recovery and an outside offset of ¥100 each on ¥140 owed, sent at once,
    and the same recovery sent twice at once: one of the first two is refused, the retry counts once."""
    cs = cs_any
    claim, _ = voided_after_payout(cs)
    url = clawback_url(cs, claim)
    payer = cs.auth("payer")
    start = threading.Barrier(4)
    answers: dict[str, Any] = {}

    def send(name: str, action: str, body: dict[str, Any]) -> None:
        start.wait()
        answers[name] = cs.client.post(f"{url}/{action}", json=body, headers=payer)

    calls = [("recover", "recover", {"amountFen": 10_000, "reference": "BANK-A"}),
             ("offset", "offset", {"amountFen": 10_000, "reference": "SETTLE-B"}),
             ("retry-1", "recover", {"amountFen": 1_000, "reference": "BANK-C"}),
             ("retry-2", "recover", {"amountFen": 1_000, "reference": "BANK-C"})]
    threads = [threading.Thread(target=send, args=call) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    statuses = sorted(answers[n].status_code for n in ("recover", "offset"))
    assert statuses == [200, 409], {n: a.text for n, a in answers.items()}
    assert {answers["retry-1"].status_code, answers["retry-2"].status_code} == {200}
    assert sorted(answers[n].json()["replayed"] for n in ("retry-1", "retry-2")) == [False, True]
    final = get_as(cs, url, payer).json()
    assert final["recoveredFen"] + final["offsetFen"] == 11_000 and final["outstandingFen"] == 3_000
    assert sum(a["amountFen"] for a in final["actions"] if a["action"] in ("recovered", "offset")) == 11_000
