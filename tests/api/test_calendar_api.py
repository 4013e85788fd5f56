"""The working-day calendar over HTTP and the SQL store (issue 13 §4).

Today (the machine's clock) is December 2026 and the shipped years end with 2026, so 2027
is missing: the health report and ``GET /v1/calendar`` must say so now. Loading 2027 as an
admin clears it, and the claims service counts with it without a restart; everything that
should be refused is (wrong role, another year's content without ``replace``, a document
breaking a rule, a body too large or not JSON) and stores nothing.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from api_stack import Stack, make_stack

from ledger.calendar import json_schema
from tests.api.claims_stack import ClaimsStack, make_claims_stack

CN = timezone(timedelta(hours=8))
Y2027: dict[str, Any] = {
    "country": "CN", "year": 2027, "source": "国务院办公厅关于2027年部分节假日安排的通知 (test)",
    "published": "2026-11-05",
    "holidays": [{"name": "元旦", "nameEn": "New Year's Day", "from": "2027-01-01", "to": "2027-01-03"},
                 {"name": "春节", "nameEn": "Spring Festival", "from": "2027-02-06", "to": "2027-02-12"}],
    "makeUpWorkdays": [{"date": "2027-02-13", "for": "春节"}],
}


@pytest.fixture(scope="module")
def cs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClaimsStack]:
    tmp: Path = tmp_path_factory.mktemp("calendar")
    s = make_claims_stack(f"sqlite:///{tmp}/ebill.sqlite", tmp, run_stamper=False)
    yield s
    s.stop()


def _needs_2027() -> bool:
    """Whether today + 60 days reaches 2027 (true on this project's clock, December 2026)."""
    today = datetime.now(CN).date()
    return today.year == 2026 and today + timedelta(days=60) >= date(2027, 1, 1)


def test_health_warns_of_a_missing_year_and_the_service_stays_up(cs: ClaimsStack) -> None:
    r = cs.client.get("/v1/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert body["calendar"]["years"] == list(range(2004, 2027)) or 2027 in body["calendar"]["years"]
    if _needs_2027() and 2027 not in body["calendar"]["years"]:
        assert body["calendar"]["missing"] == [2027]
        assert body["warnings"] == [body["calendar"]["warning"]]
        assert "no working-day calendar for 2027" in body["warnings"][0]
        assert "ebill calendar load cn-2027.json" in body["warnings"][0]


def test_a_service_for_no_payer_reports_the_calendar_too(tmp_path: Path) -> None:
    s: Stack = make_stack(f"sqlite:///{tmp_path}/ebill.sqlite", tmp_path)
    try:
        body = s.client.get("/v1/health").json()
        assert body["calendar"]["years"][-1] == 2026 and "missing" in body["calendar"]
        r = s.client.get("/v1/calendar/2025", headers=s.auth("a"))
        assert r.status_code == 200 and r.json()["loadedBy"] == "system:seed"
    finally:
        s.service.store.close()


def test_staff_read_the_seeded_years_citizens_and_strangers_do_not(cs: ClaimsStack) -> None:
    r = cs.client.get("/v1/calendar", headers=cs.auth("a"))
    assert r.status_code == 200, r.text
    years = r.json()["years"]
    assert [y["year"] for y in years][:23] == list(range(2004, 2027))
    first = years[0]
    assert first["loadedBy"] == "system:seed" and first["loadedFrom"] == "cn-2004.json"
    shown = cs.client.get("/v1/calendar/2026", headers=cs.auth("clerk")).json()
    assert shown["published"] == "2025-11-04"
    assert {"name": "春节", "nameEn": "Spring Festival", "from": "2026-02-15", "to": "2026-02-23"} \
        in shown["document"]["holidays"]
    assert {"date": "2026-02-14", "for": "春节"} in shown["document"]["makeUpWorkdays"]
    assert cs.client.get("/v1/calendar", headers=cs.citizen(cs.docs["a"][0]["patientId"])).status_code == 403
    assert cs.client.get("/v1/calendar").status_code == 401
    r = cs.client.get("/v1/calendar/2031", headers=cs.auth("payer"))
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert "no working-day calendar is loaded for 2031" in r.json()["detail"]
    assert cs.client.get("/v1/calendar/1999", headers=cs.auth("payer")).status_code == 422


@pytest.mark.parametrize(("who", "status"), [("payer", 403), ("a", 403), ("auditor", 403), ("clerk", 403)])
def test_only_an_admin_loads(cs: ClaimsStack, who: str, status: int) -> None:
    r = cs.client.post("/v1/calendar", json={**Y2027, "year": 2029, "holidays": [
        {"name": "元旦", "from": "2029-01-01", "to": "2029-01-01"}], "makeUpWorkdays": []}, headers=cs.auth(who))
    assert r.status_code == status, r.text
    assert cs.client.get("/v1/calendar/2029", headers=cs.auth("admin")).status_code == 404


@pytest.mark.parametrize(("change", "field", "rule"), [
    (lambda d: d["makeUpWorkdays"].append({"date": "2030-02-11", "for": "春节"}), "makeUpWorkdays[1].date",
     "weekend"),   # a Monday
    (lambda d: d["holidays"][1].update({"to": "2031-02-08"}), "holidays[1].to", "in-year"),
    (lambda d: d["makeUpWorkdays"].append({"date": "2030-02-03", "for": "春节"}), "makeUpWorkdays[1].date",
     "holiday-and-workday"),   # a Sunday of the Spring Festival
    (lambda d: d["holidays"][0].pop("name"), "holidays[0].name", "required"),
])
def test_a_broken_document_gets_a_problem_naming_the_entry_and_stores_nothing(
        cs: ClaimsStack, change: Any, field: str, rule: str) -> None:
    doc = copy.deepcopy(Y2027) | {"year": 2030}
    doc["holidays"] = [{"name": "元旦", "from": "2030-01-01", "to": "2030-01-01"},
                       {"name": "春节", "from": "2030-02-02", "to": "2030-02-08"}]
    doc["makeUpWorkdays"] = [{"date": "2030-02-09", "for": "春节"}]
    change(doc)
    r = cs.client.post("/v1/calendar", json=doc, headers=cs.auth("admin"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (field, rule) in [(p["field"], p["rule"]) for p in r.json()["errors"]], r.json()
    assert cs.client.get("/v1/calendar/2030", headers=cs.auth("admin")).status_code == 404


@pytest.mark.parametrize(("body", "status"), [
    (b'{"country": "CN", "country": "CN"}', 400),
    (b'{"country": "CN",', 400),
    (b"[" * 40 + b"]" * 40, 400),
    (b'{"$comment": "' + b"x" * (65 * 1024) + b'"}', 413),
])
def test_malformed_or_oversized_bodies_are_refused(cs: ClaimsStack, body: bytes, status: int) -> None:
    r = cs.client.post("/v1/calendar", content=body, headers={**cs.auth("admin"), "content-type": "application/json"})
    assert r.status_code == status, r.text


def test_loading_next_year_reaches_the_claims_service_and_health_without_a_restart(cs: ClaimsStack) -> None:
    filed = datetime(2027, 2, 5, 10, tzinfo=CN)   # the Friday before the 2027 Spring Festival
    assert cs.claims.calendar.add(filed, 5) == datetime(2027, 2, 12, 10, tzinfo=CN)   # Monday to Friday
    r = cs.client.post("/v1/calendar", json=Y2027, headers=cs.auth("admin"))
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "loaded" and r.json()["loadedFrom"] == "POST /v1/calendar"
    assert r.json()["loadedBy"].startswith("admin:bureau:")
    # Saturday 13 February 2027 is worked, 15–18 February count
    assert cs.claims.calendar.add(filed, 5) == datetime(2027, 2, 18, 10, tzinfo=CN)
    health = cs.client.get("/v1/health").json()
    assert 2027 in health["calendar"]["years"] and 2027 not in health["calendar"]["missing"]
    if _needs_2027():
        assert health["warnings"] == []
    audit = cs.client.get("/v1/audit?subject=calendar:2027", headers=cs.auth("admin")).json()
    assert [e["action"] for e in audit["entries"]] == ["calendar.loaded"]

    # the same again: nothing changes; other content: 409 unless replace=true
    again = cs.client.post("/v1/calendar", json=copy.deepcopy(Y2027), headers=cs.auth("admin"))
    assert again.status_code == 200 and again.json()["outcome"] == "unchanged"
    corrected = copy.deepcopy(Y2027)
    corrected["holidays"][1]["to"] = "2027-02-11"
    r = cs.client.post("/v1/calendar", json=corrected, headers=cs.auth("admin"))
    assert r.status_code == 409 and "2027 is already loaded, with other content" in r.json()["detail"]
    r = cs.client.post("/v1/calendar?replace=true", json=corrected, headers=cs.auth("admin"))
    assert r.status_code == 200 and r.json()["outcome"] == "replaced"
    assert cs.claims.calendar.is_working(date(2027, 2, 12))
    audit = cs.client.get("/v1/audit?subject=calendar:2027", headers=cs.auth("admin")).json()
    assert [e["action"] for e in audit["entries"]] == ["calendar.replaced", "calendar.loaded"]


def test_two_admins_loading_other_content_for_one_year_at_once_one_wins(cs: ClaimsStack) -> None:
    docs = []
    for last in ("2032-02-15", "2032-02-16"):
        d = json.loads(json.dumps(Y2027).replace("2027", "2032"))
        d["holidays"] = [{"name": "春节", "from": "2032-02-10", "to": last}]
        d["makeUpWorkdays"] = []
        docs.append(d)
    answers: list[int] = []
    barrier = threading.Barrier(len(docs))

    def load(doc: dict[str, Any]) -> None:
        barrier.wait()
        answers.append(cs.client.post("/v1/calendar", json=doc, headers=cs.auth("admin")).status_code)

    threads = [threading.Thread(target=load, args=(d,)) for d in docs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(answers) == [200, 409]
    audit = cs.client.get("/v1/audit?subject=calendar:2032", headers=cs.auth("admin")).json()
    assert [e["action"] for e in audit["entries"]] == ["calendar.loaded"]


def test_the_published_schema_is_the_packaged_one_and_the_shipped_years_follow_it() -> None:
    import jsonschema_rs

    from ledger.calendar import shipped_documents

    docs = Path(__file__).parents[2] / "docs" / "calendar-year.schema.json"
    assert json.loads(docs.read_text(encoding="utf-8")) == json_schema(), \
        "docs/calendar-year.schema.json is a copy of ledger/calendar/calendar-year.schema.json"
    validator = jsonschema_rs.validator_for(json_schema())
    for name, doc in shipped_documents():
        assert validator.is_valid(doc), name
    assert validator.is_valid(Y2027)
