"""The payer's rule office through the API and the SQL store: import, maker-checker
approval, refusals that store nothing, retirement, the live rule book, and a claim decided
by a version approved while the service runs (issue 13 §1)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from api.routers.rules import entry_json
from ledger.app.access import Principal
from ledger.errors import Conflict, Forbidden, InvalidInput
from ledger.records import Role
from ledger.rules.administration import RuleSetState, json_schema, parse_rule_file
from ledger.rules.book import shipped_documents
from tests.api.claims_stack import ClaimsStack, make_claims_stack

V2 = dict(shipped_documents())["pharmacy-pooling-v2.json"]


def _version(n: int, effective_from: str, **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(V2)
    doc.update(version=n, effectiveFrom=effective_from, effectiveTo=None, description=f"version {n}", **changes)
    return doc


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[ClaimsStack]:
    cs = make_claims_stack(f"sqlite:///{tmp_path}/ebill.sqlite", tmp_path, live_rules=True, run_stamper=False)
    cs.tokens["admin2"] = cs.service.create_credential(role=Role.ADMIN, subject="second-admin")
    cs.tokens["admin-again"] = cs.service.create_credential(role=Role.ADMIN, subject="bureau", label="2nd key")
    yield cs
    cs.stop()


def _office(cs: ClaimsStack) -> Any:
    return cs.client.app.state.rules  # type: ignore[attr-defined]


def test_a_first_start_seeds_this_payers_shipped_sets_as_active(stack: ClaimsStack) -> None:
    r = stack.client.get("/v1/rules", headers=stack.auth("admin"))
    assert r.status_code == 200, r.text
    sets = r.json()["ruleSets"]
    assert {s["ref"] for s in sets} == {"sx-pharmacy-pooling@1", "sx-pharmacy-pooling@2", "zj-offsite-inpatient@1",
                                        "sx-inpatient@1"}
    assert {s["state"] for s in sets} == {"active"} and {s["importedBy"] for s in sets} == {"system:seed"}
    audit = stack.client.get("/v1/audit?subject=sx-pharmacy-pooling@2", headers=stack.auth("admin")).json()
    assert [e["action"] for e in audit["entries"]] == ["rules.seeded"]


def test_import_then_a_second_admin_activates_and_claims_are_judged_by_it(stack: ClaimsStack) -> None:
    v3 = _version(3, "2025-01-02", persons={**V2["persons"], "employee": {**V2["persons"]["employee"],
                                                                          "ratioBp": 9000}})
    r = stack.client.post("/v1/rules", json=[v3], headers=stack.auth("admin"))
    assert r.status_code == 201, r.text
    assert r.json()["ruleSets"][0]["state"] == "proposed"
    # the importer may not approve, with this credential or another of theirs
    for who in ("admin", "admin-again"):
        r = stack.client.post("/v1/rules/approve", json={"ruleSets": ["sx-pharmacy-pooling@3"]},
                              headers=stack.auth(who))
        assert r.status_code == 403, r.text
        assert "second admin" in r.json()["detail"]
    # a payer's reviewer may read the rules but not change them
    assert stack.client.get("/v1/rules", headers=stack.auth("payer")).status_code == 200
    r = stack.client.post("/v1/rules/approve", json={"ruleSets": ["sx-pharmacy-pooling@3"]},
                          headers=stack.auth("payer"))
    assert r.status_code == 403
    r = stack.client.post("/v1/rules/approve", json={"ruleSets": ["sx-pharmacy-pooling@3"]},
                          headers=stack.auth("admin2"))
    assert r.status_code == 200, r.text
    entry = r.json()["ruleSets"][0]
    assert entry["state"] == "active" and entry["approvedBy"].startswith("admin:second-admin:")
    assert entry["importedBy"].startswith("admin:bureau:")
    # the claims service judges by it at once (the live book reloads on the generation)
    book = stack.claims.policy.rulebook()
    assert book.in_force(payer="330600-ybj", scheme="pharmacy-pooling", on="2025-06-01").version == 3
    assert book.in_force(payer="330600-ybj", scheme="pharmacy-pooling", on="2025-01-01").version == 2


def test_a_refused_import_stores_nothing_and_names_file_path_and_rule(stack: ClaimsStack) -> None:
    bad = _version(3, "2026-01-01")
    bad["persons"]["employee"]["ratioBp"] = 17000
    overlapping = {**_version(1, "2026-01-01"), "id": "sx-other"}   # another set of the same scheme
    r = stack.client.post("/v1/rules", json=[bad], headers=stack.auth("admin"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    ratio = [e for e in r.json()["errors"] if e["field"] == "persons.employee.ratioBp"]
    assert ratio and "17000 is above 10000" in ratio[0]["message"] and "ruleSets[0]" in ratio[0]["message"]
    r = stack.client.post("/v1/rules", json=[overlapping], headers=stack.auth("admin"))
    assert r.status_code == 422, r.text
    assert any(e["rule"] == "no-overlap" and "sx-pharmacy-pooling" in e["message"] for e in r.json()["errors"])
    assert {s["ref"] for s in stack.client.get("/v1/rules", headers=stack.auth("admin")).json()["ruleSets"]} == {
        "sx-pharmacy-pooling@1", "sx-pharmacy-pooling@2", "zj-offsite-inpatient@1", "sx-inpatient@1"}


def test_a_version_is_immutable_and_a_reimport_is_a_no_op(stack: ClaimsStack) -> None:
    r = stack.client.post("/v1/rules", json=[V2], headers=stack.auth("admin"))
    assert r.status_code == 201 and r.json()["ruleSets"][0]["state"] == "active"   # the seeded one, unchanged
    changed = copy.deepcopy(V2)
    changed["persons"]["retired"]["ratioBp"] = 9999
    r = stack.client.post("/v1/rules", json=[changed], headers=stack.auth("admin"))
    assert r.status_code == 409 and "new version" in r.json()["detail"]


def test_retire_withdraw_and_refuse_what_leaves_nothing_in_force(stack: ClaimsStack) -> None:
    office = _office(stack)
    alice = stack.service.authenticate(stack.tokens["admin"])
    bob = stack.service.authenticate(stack.tokens["admin2"])
    [proposed] = office.import_(alice, [("v3.json", _version(3, "2027-01-01"))])
    [withdrawn] = office.retire(bob, [("sx-pharmacy-pooling", 3)])
    assert withdrawn.state is RuleSetState.WITHDRAWN and proposed.state is RuleSetState.PROPOSED
    with pytest.raises(Conflict):
        office.approve(bob, [("sx-pharmacy-pooling", 3)])
    [retired] = office.retire(alice, [("sx-pharmacy-pooling", 1)])
    assert retired.state is RuleSetState.RETIRED and retired.retired_by == alice.actor
    with pytest.raises(Conflict):
        office.retire(alice, [("sx-pharmacy-pooling", 1)])


def test_two_admins_approving_overlapping_versions_at_once_activate_one(stack: ClaimsStack) -> None:
    office = _office(stack)
    alice = stack.service.authenticate(stack.tokens["admin"])
    bob = stack.service.authenticate(stack.tokens["admin2"])
    carol = Principal(Role.ADMIN, "carol", "k3")
    # more specific than the pharmacy-pooling sets (so each alone is consistent), alike to each other
    scope = {"visitTypes": ["pharmacy"], "insuredStatus": ["local"]}
    first = {**_version(1, "2027-01-01"), "id": "sx-new-a", "scheme": "new-scheme", "appliesTo": scope}
    second = {**_version(1, "2027-01-01"), "id": "sx-new-b", "scheme": "new-scheme", "appliesTo": scope}
    office.import_(alice, [("a.json", first)])
    office.import_(alice, [("b.json", second)])   # each alone is consistent with the active set
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def approve(who: Principal, rid: str) -> None:
        barrier.wait()
        try:
            results.append(office.approve(who, [(rid, 1)]))
        except InvalidInput as exc:
            results.append(exc)

    threads = [threading.Thread(target=approve, args=(bob, "sx-new-a")),
               threading.Thread(target=approve, args=(carol, "sx-new-b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(type(r).__name__ for r in results) == ["InvalidInput", "list"], results
    active = {e.id for e in office.repo.rule_sets(states=[RuleSetState.ACTIVE])}
    assert len(active & {"sx-new-a", "sx-new-b"}) == 1


def test_diff_names_paths(stack: ClaimsStack) -> None:
    r = stack.client.get("/v1/rules/diff?from=sx-pharmacy-pooling@1&to=sx-pharmacy-pooling@2",
                         headers=stack.auth("auditor"))
    assert r.status_code == 200, r.text
    paths = {d["path"] for d in r.json()["differences"]}
    assert {"version", "effectiveFrom", "persons.retired.deductibleFen"} <= paths


def test_maker_checker_is_on_the_person_not_the_key() -> None:
    from datetime import UTC, date, datetime

    from ledger.rules.administration import RuleSetEntry, check_approval

    e = RuleSetEntry("x", 1, "p", "s", date(2027, 1, 1), None, RuleSetState.PROPOSED, "d", "f",
                     "admin:alice:key1", datetime.now(UTC))
    with pytest.raises(Forbidden):
        check_approval(e, "admin:alice:key2")
    check_approval(e, "admin:bob:key9")


def test_rule_files_with_a_key_twice_or_broken_json_are_refused_by_name() -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_rule_file(b'{"id": "a", "id": "b"}', source="twice.json")
    assert exc.value.problems[0].rule == "duplicate-key" and "twice.json" in exc.value.problems[0].message
    with pytest.raises(InvalidInput) as exc:
        parse_rule_file(b'{"id": ', source="cut.json")
    assert "cut.json: not JSON" in exc.value.problems[0].message


def test_the_published_schema_accepts_the_shipped_sets_and_agrees_with_the_loader() -> None:
    docs = Path(__file__).parents[2] / "docs" / "rule-set.schema.json"
    assert json.loads(docs.read_text()) == json_schema(), "docs/rule-set.schema.json is a copy of the package's"
    validator = jsonschema_rs.validator_for(json_schema(), validate_formats=True)
    for name, doc in shipped_documents():
        assert validator.is_valid(doc), (name, [e.message for e in validator.iter_errors(doc)])
    from ledger.rules import load_ruleset

    broken = [
        ("persons", {"employee": {**V2["persons"]["employee"], "ratioBp": 17000}}),
        ("version", 0), ("version", True), ("effectiveFrom", "2025-13-45x"), ("surprise", 1),
        ("classBFirstSelfPay", []), ("id", "has space"), ("quantityLimits", {"X": {"maxPerLine": "0"}}),
        ("duplicateItems", "sometimes"), ("periodLimits", {"X": {"days": 0, "maxQuantity": "1"}}),
        ("persons", {"employee": {**V2["persons"]["employee"], "visitCapFen": {"spa": 1}}}),
        ("persons", {"nobody": V2["persons"]["employee"]}),
    ]
    for key, value in broken:
        doc = {**copy.deepcopy(V2), key: value}
        assert not validator.is_valid(doc), key
        with pytest.raises(InvalidInput):
            load_ruleset(doc)


def test_entry_json_round_trips_what_the_console_shows(stack: ClaimsStack) -> None:
    [entry] = [e for e in _office(stack).repo.rule_sets() if e.ref == "sx-pharmacy-pooling@2"]
    doc = entry_json(entry)
    assert doc["effectiveFrom"] == "2025-01-01" and doc["effectiveTo"] is None and doc["state"] == "active"


def test_every_worker_judges_by_an_approved_version_within_its_ttl(stack: ClaimsStack, tmp_path: Path) -> None:
    """Another API worker process holds its own store connection and live book: it sees the
    approval after at most ``ttl`` seconds, without a restart."""
    import time

    from ledger.adapters.sql.store import SqlStore
    from ledger.app.rule_office import LiveRuleBook

    other = SqlStore.open(f"sqlite:///{tmp_path}/ebill.sqlite")
    try:
        book = LiveRuleBook(other, ttl=0.2)
        assert book.book().in_force(payer="330600-ybj", scheme="pharmacy-pooling", on="2027-06-01").version == 2
        office = _office(stack)
        office.import_(stack.service.authenticate(stack.tokens["admin"]), [("v3.json", _version(3, "2027-01-01"))])
        office.approve(stack.service.authenticate(stack.tokens["admin2"]), [("sx-pharmacy-pooling", 3)])
        time.sleep(0.25)
        assert book.book().in_force(payer="330600-ybj", scheme="pharmacy-pooling", on="2027-06-01").version == 3
        assert book.book().in_force(payer="330600-ybj", scheme="pharmacy-pooling", on="2026-12-31").version == 2
    finally:
        other.close()


def test_a_document_of_unexpected_shapes_is_refused_not_a_server_error(stack: ClaimsStack) -> None:
    """(found by schemathesis: a list inside appliesTo.visitTypes was hashed and answered 500)"""
    odd = {**copy.deepcopy(V2), "version": 9, "appliesTo": {"visitTypes": [["outpatient"]], "insuredStatus": [{}]}}
    r = stack.client.post("/v1/rules/validate", json=[odd], headers=stack.auth("admin"))
    assert r.status_code == 422, r.text
    assert {e["field"] for e in r.json()["errors"]} == {"appliesTo.visitTypes[0]", "appliesTo.insuredStatus[0]"}
