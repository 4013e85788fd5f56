"""``GET /v1/reports/monthly`` over HTTP: real claims of two hospitals, filed on the embedded
EVM, then moved in time across the November boundary (China time); who may read what; the
three formats; no personal data; bad months. The figures themselves are counted by hand in
tests/unit/test_claims_reports.py: here the claims the store selects for a month must be the
ones the pure module selects from every claim."""

from __future__ import annotations

import copy
import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from claims_stack import PAYER, ClaimsStack, make_claims_stack
from pypdf import PdfReader
from sqlalchemy import update

from ledger.adapters.sql.claims.rows import CL
from ledger.claims.model import Claim
from ledger.claims.reports import monthly_report
from ledger.months import Month

NOV = Month(2026, 11)
NOW = datetime(2027, 1, 5, 3, 0, tzinfo=UTC)
#: where the test puts the claims: one just inside November in China, one just before it, one just after it
INSIDE, BEFORE, AFTER = (datetime(2026, 10, 31, 16, 30, tzinfo=UTC), datetime(2026, 10, 31, 15, 59, 59, tzinfo=UTC),
                         datetime(2026, 11, 30, 16, 0, tzinfo=UTC))
MID = datetime(2026, 11, 15, 2, 0, tzinfo=UTC)


class PinnedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@pytest.fixture(scope="module")
def filed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ClaimsStack, list[Claim]]]:
    """Every claimable invoice of both hospitals claimed by its patient; the claims spread over
    November, one on either side of it (SQLite; the store's reads on PostgreSQL are in
    tests/integration/test_report_reads.py)."""
    tmp = tmp_path_factory.mktemp("reports")
    cs = make_claims_stack(f"sqlite:///{tmp}/ebill.sqlite", tmp)
    cs.upload_all("a")
    cs.upload_all("b")
    for i, (fp, nid) in enumerate(sorted(cs.patients.items())):
        r = cs.claim(nid, [fp], f"report-tap-{i:04d}")
        assert r.status_code in (200, 201, 202, 409), r.text
    claims = cs.claims.store.claims(limit=500, with_reviews=True)
    assert len(claims) >= 10 and {c.issuer for c in claims} == {cs.docs["a"][0]["issuer"], cs.docs["b"][0]["issuer"]}
    # a reviewer approves one claim but a fee line, and rejects another
    part, whole = [c for c in claims if c.state.value == "in-review"][:2]
    seq = part.decision["lines"][0]["seq"]
    r = cs.client.post(f"/v1/claims/{part.id}/approve", headers=cs.auth("payer"),
                       json={"lines": [{"seq": seq, "reason": "not-medically-necessary"}]})
    assert r.status_code == 200, r.text
    r = cs.client.post(f"/v1/claims/{whole.id}/reject", headers=cs.auth("payer"), json={"reason": "no referral"})
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 30     # the stamper finalises the approval on chain, then pays it
    while cs.claims.store.claim(part.id).state.value != "paid":
        assert time.monotonic() < deadline, cs.claims.store.claim(part.id)
        time.sleep(0.05)
    moved = [c for c in claims if c.id not in (part.id, whole.id)]
    times = {moved[0].id: INSIDE, moved[1].id: BEFORE, moved[2].id: AFTER}
    with cs.service.store.engine.begin() as conn:
        for c in claims:
            conn.execute(update(CL).where(CL.c.id == c.id).values(created_at=times.get(c.id, MID)))
    cs.claims.clock = PinnedClock(NOW)   # type: ignore[assignment]
    yield cs, cs.claims.store.claims(limit=500, with_reviews=True)
    cs.stop()


def get(cs: ClaimsStack, who: str, **params: str) -> Any:
    headers = cs.auth(who) if who in cs.tokens else {}
    return cs.client.get("/v1/reports/monthly", params=params, headers=headers)


def expected(claims: list[Claim], month: Month, hospital: str | None = None) -> dict[str, Any]:
    mine = [c for c in claims if month.holds(c.created_at) and hospital in (None, c.issuer)]
    return monthly_report(month, mine, payer_id=PAYER, payer_name=f"payer {PAYER}", generated_at=NOW,
                          hospital=hospital).to_json()


def without_names(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with the item names left out (the pure module is given none here)."""
    doc = copy.deepcopy(doc)
    for h in (*doc["hospitals"], doc["total"]):
        for item in h["byItem"]:
            item["itemName"] = ""
    return doc


def test_the_month_holds_the_claims_filed_in_it_in_china_time(filed: tuple[ClaimsStack, list[Claim]]) -> None:
    cs, claims = filed
    r = get(cs, "auditor", month="2026-11")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["month"] == "2026-11" and doc["complete"] and doc["from"] == "2026-11-01T00:00:00+08:00"
    assert doc["total"]["claims"] == len(claims) - 2
    assert without_names(doc) == expected(claims, NOV)
    t = doc["total"]
    assert t["claimsByState"]["rejected"] == 1 and t["manualClaims"] >= 2
    review = [r for r in t["byRule"] if r["rule"] == "review:not-medically-necessary"]
    assert review == [{"ruleSet": "", "rule": "review:not-medically-necessary",
                       "name": "Reviewer: not medically necessary for this visit", "nameZh": "审核人员：非医疗必需",
                       "kind": "refusal", "claims": 1, "lines": 1, "refusedFen": review[0]["refusedFen"]}]
    # every item refused or flagged is named from the fee line stored with its invoice
    assert doc["total"]["byItem"] and all(item["itemName"] for h in (*doc["hospitals"], doc["total"])
                                          for item in h["byItem"])
    october = get(cs, "payer", month="2026-10").json()
    december = get(cs, "admin", month="2026-12").json()
    assert october["total"]["claims"] == december["total"]["claims"] == 1
    assert without_names(october) == expected(claims, Month(2026, 10))
    assert without_names(december) == expected(claims, Month(2026, 12))
    assert december["complete"] is True                   # 5 January is after December
    assert get(cs, "admin", month="2027-01").json()["complete"] is False


def test_a_hospital_reads_its_own_report_only(filed: tuple[ClaimsStack, list[Claim]]) -> None:
    cs, claims = filed
    a, b = cs.docs["a"][0]["issuer"], cs.docs["b"][0]["issuer"]
    own = get(cs, "a", month="2026-11")
    assert own.status_code == 200, own.text
    doc = own.json()
    assert doc["hospital"] == a and [h["hospitalId"] for h in doc["hospitals"]] == [a]
    assert without_names(doc) == expected(claims, NOV, hospital=a)
    full = get(cs, "payer", month="2026-11").json()
    assert {k: v for k, v in doc["total"].items() if k not in ("hospitalId", "hospitalName")} == {
        k: v for k, v in next(h for h in full["hospitals"] if h["hospitalId"] == a).items()
        if k not in ("hospitalId", "hospitalName")}
    assert get(cs, "a", month="2026-11", hospital=a).status_code == 200
    other = get(cs, "a", month="2026-11", hospital=b)
    assert other.status_code == 404 and other.headers["content-type"].startswith("application/problem+json")
    assert get(cs, "payer", month="2026-11", hospital=b).json()["hospital"] == b
    assert get(cs, "payer", month="2026-11", hospital="H99999999999").status_code == 404


@pytest.mark.parametrize(("who", "status"), [("none", 401), ("citizen", 403), ("clerk", 403), ("other-payer", 403),
                                             ("b", 200), ("auditor", 200), ("admin", 200), ("payer", 200)])
def test_who_may_read_the_report(filed: tuple[ClaimsStack, list[Claim]], who: str, status: int) -> None:
    cs, _ = filed
    if who == "citizen":
        nid = next(iter(cs.patients.values()))
        r = cs.client.get("/v1/reports/monthly", params={"month": "2026-11"}, headers=cs.citizen(nid))
    else:
        r = get(cs, who, month="2026-11")
    assert r.status_code == status, r.text
    if status != 200:
        assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("params", "field", "rule"), [
    ({"month": "2026-13"}, "month", "string_pattern_mismatch"),
    ({"month": "2026-1"}, "month", "string_pattern_mismatch"),
    ({"month": "2026-11-01"}, "month", "string_pattern_mismatch"),
    ({}, "month", "missing"),
    ({"month": "2027-02"}, "month", "future-month"),      # begins after 5 January 2027
    ({"month": "2099-12"}, "month", "future-month"),
    ({"month": "2026-11", "format": "xlsx"}, "format", "literal_error"),
    ({"month": "2026-11", "hospital": "H1"}, "hospital", "string_pattern_mismatch"),
])
def test_a_bad_request_is_a_problem_naming_the_field(filed: tuple[ClaimsStack, list[Claim]], params: dict[str, str],
                                                      field: str, rule: str) -> None:
    cs, _ = filed
    r = get(cs, "payer", **params)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [(field, rule)]


def test_csv_and_pdf(filed: tuple[ClaimsStack, list[Claim]]) -> None:
    cs, _ = filed
    r = get(cs, "auditor", month="2026-11", format="csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="claims-report-2026-11.csv"'
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))
    total = next(row for row in rows if row["section"] == "total")
    doc = get(cs, "auditor", month="2026-11").json()
    assert int(total["claims"]) == doc["total"]["claims"]
    assert total["claimed_yuan"] == f"{doc['total']['claimedFen'] // 100}.{doc['total']['claimedFen'] % 100:02d}"
    a = cs.docs["a"][0]["issuer"]
    p = get(cs, "a", month="2026-11", format="pdf")
    assert p.status_code == 200 and p.headers["content-type"] == "application/pdf"
    assert p.headers["content-disposition"] == f'attachment; filename="claims-report-2026-11-{a}.pdf"'
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(p.content)).pages)
    assert "2026-11" in text and a in text and cs.docs["b"][0]["issuer"] not in text


def test_no_personal_data_in_any_format(filed: tuple[ClaimsStack, list[Claim]]) -> None:
    cs, claims = filed
    secrets = set()
    for c in claims:
        secrets |= {c.person.hex(), c.person.hex()[:16], c.id, c.actor, c.invoice_number, "0x" + c.fingerprint.hex()}
        secrets |= {r.reviewer for r in c.reviews}
    for nid in cs.patients.values():
        secrets |= {nid, f"person {nid[-4:]}"}
    for fmt in ("json", "csv", "pdf"):
        r = get(cs, "auditor", month="2026-11", format=fmt)
        body = (r.content.decode("utf-8-sig") if fmt != "pdf" else
                "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages))
        leaked = sorted(s for s in secrets if s and s in body)
        assert not leaked, (fmt, leaked)
