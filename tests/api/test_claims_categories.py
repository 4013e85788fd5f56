"""Person categories beyond employee/retired/resident, end to end: enrolled over HTTP, stored
(SQLite and PostgreSQL: ``severe-disability`` is longer than the column once was), shown to
the citizen, and claims decided under the rules of that category."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from claims_stack import ClaimsStack, make_claims_stack

from ledger.rules import PersonCategory, RuleBook, load_ruleset

NEW = ("assistance", "severe-disability", "special-relief")


def _book_for_every_category() -> RuleBook:
    """The shipped rule sets, each also covering the special groups: no deductible, 90 %."""
    folder = resources.files("ledger.rules") / "data"
    sets = []
    for p in sorted(folder.iterdir(), key=lambda p: p.name):
        if not p.name.endswith(".json"):
            continue
        doc: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
        for category in NEW:
            doc["persons"][category] = {"deductibleFen": 0, "ratioBp": 9000, "annualCapFen": 40000000}
        sets.append(load_ruleset(doc, source=p.name))
    return RuleBook(sets)


@pytest.fixture
def cs_any(database_url: str, tmp_path: Path) -> Iterator[ClaimsStack]:
    s = make_claims_stack(database_url, tmp_path, rulebook=_book_for_every_category())
    yield s
    s.stop()


def test_special_groups_are_enrolled_and_judged_by_their_rules(cs_any: ClaimsStack) -> None:
    cs = cs_any
    cs.upload_all()
    nids = sorted(set(cs.patients.values()))[:3]
    entries = [{"nationalId": nid, "name": f"person {category}", "category": category}
               for nid, category in zip(nids, NEW, strict=True)]
    r = cs.client.post("/v1/persons", json=entries, headers=cs.auth("admin"))
    assert r.status_code in (200, 201), r.text
    for nid, category in zip(nids, NEW, strict=True):
        me = cs.client.get("/v1/me", headers=cs.citizen(nid)).json()
        assert me["insured"] and me["category"] == category
    # a claim of the severely disabled person is decided under their category: no deductible, 90 %
    nid = nids[1]
    fp = next(f for f, n in cs.patients.items() if n == nid)
    claim = cs.claim(nid, [fp], "tap-disabled-01").json()["claims"][0]
    decision = claim["decision"]
    assert decision["person"] == "severe-disability"
    assert decision["deductibleUsedFen"] == 0 and decision["ratioBp"] == 9000
    eligible = decision["eligibleFen"]
    assert decision["reimbursableFen"] == (2 * eligible * 9000 + 10000) // 20000   # 90 %, half up


def test_an_unknown_category_is_refused_naming_the_entry(cs_any: ClaimsStack) -> None:
    cs = cs_any
    nid = "110101199003074514"
    r = cs.client.post("/v1/persons", json=[{"nationalId": nid, "name": "x", "category": "disabled"}],
                       headers=cs.auth("admin"))
    assert r.status_code == 422, r.text
    problems = r.json()["errors"] if "errors" in r.json() else r.json()["problems"]
    assert any("category" in p["field"] for p in problems), problems
    assert all(c.value in json.dumps(problems) for c in PersonCategory if c.value != "disabled")
    schema = cs.client.get("/openapi.json").json()["components"]["schemas"]["PersonIn"]
    assert schema["properties"]["category"]["enum"] == [c.value for c in PersonCategory]
