"""Every route of the OpenAPI document × every role, against the one declared policy.

The expected answer of each (route, caller) comes from the tables in the code —
``api/policy.py`` (route → operation) and ``ledger/app/access.py`` (operation → role →
reach) — and the request is made for real:

- no credential on a route that needs one: 401;
- a role not in the operation's allow-list (or another payer on this payer's claims): 403;
- a role in the list but outside its reach (hospital B, citizen B, clerk B on hospital A's
  citizen A's records): 404 for one record; for listings, admitted but nothing of A's
  appears in the answer;
- a role within reach: admitted (not 401/403/404).

A route in the OpenAPI document without a recipe here fails the test: a route added later
must be added to the policy and to this walk. And whatever a caller outside the reach
gets, it never contains citizen A's invoice fingerprint, claim id or pseudonym.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from claims_stack import ClaimsStack, make_claims_stack

from api.policy import ROUTES
from ledger.app.access import OPERATIONS, Reach
from ledger.calendar import shipped_documents as shipped_calendar
from ledger.claims.sampling import sample_key
from ledger.months import Month
from ledger.records import Role
from ledger.rules.book import shipped_documents


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role | None
    #: reaches hospital A's invoice of citizen A and the claim on it (own hospital, own person, delegation)
    reaches_a: bool
    this_payer: bool = True


CALLERS = [
    Caller("none", None, False),
    Caller("hospital A", Role.HOSPITAL, True), Caller("hospital B", Role.HOSPITAL, False),
    Caller("citizen A", Role.CITIZEN, True), Caller("citizen B", Role.CITIZEN, False),
    Caller("delegate of A", Role.CITIZEN, True),
    Caller("clerk A", Role.CLERK, True), Caller("clerk B", Role.CLERK, False),
    Caller("payer", Role.PAYER, True), Caller("other payer", Role.PAYER, True, this_payer=False),
    Caller("auditor", Role.AUDITOR, True), Caller("admin", Role.ADMIN, True),
]
#: operations that address no one record of citizen A: listings filtered by reach, and an upload
#: (hospital B uploading hospital A's document is refused as a wrong issuer, not "not found")
LISTINGS = {"invoice.list", "claim.list", "claim.invoices", "feed.read", "audit.read", "claim.review",
            "invoice.upload", "claim.report", "clawback.list"}


@dataclass
class World:
    cs: ClaimsStack
    headers: dict[str, dict[str, str]]
    fp: str                 # hospital A's invoice of citizen A (anchored, claimed by clerk A)
    fp_void: str            # another of hospital A's invoices of citizen A (for the void route)
    claim_id: str
    root: str
    nid_a: str
    nid_b: str
    person_a: str
    qr: str
    clawback_id: str        # what hospital A owes back of another claim of citizen A (a post-payment finding)
    owed_claim: str         # ... that claim
    a_issuer: str           # hospital A
    old_key: str            # hospital A's key before a rotation (retired: may be revoked)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("policy")
    # every caller here is one client: lift the per-address budgets (tests/api/test_edge.py tests them)
    cs = make_claims_stack(f"sqlite:///{tmp}/ebill.sqlite", tmp, public_rate_limit="1000000/minute",
                           auth_failure_rate_limit="1000000/minute")
    items = cs.upload_all("a") + cs.upload_all("b")
    by_nid: dict[str, list[str]] = {}
    for fp, nid in cs.patients.items():
        by_nid.setdefault(nid, []).append(fp)
    a_issuer = cs.docs["a"][0]["issuer"]
    issuer_of = {it["invoice"]["fingerprint"]: it["invoice"]["issuer"] for it in items}
    nid_a = next(n for n, fps in by_nid.items() if sum(issuer_of[f] == a_issuer for f in fps) >= 2)
    nid_b = next(n for n, fps in by_nid.items() if n != nid_a and all(issuer_of[f] != a_issuer for f in fps))
    fp, fp_void = [f for f in by_nid[nid_a] if issuer_of[f] == a_issuer][:2]
    tokens = cs.tokens
    clerk_b = cs.service.create_credential(role=Role.CLERK, subject=cs.docs["b"][0]["issuer"], label="window B")
    relative = "11010519491231002X"
    r = cs.client.post("/v1/delegations", json={"holderNationalId": relative, "personNationalId": nid_a,
                                                 "relation": "child"}, headers=cs.auth("admin"))
    assert r.status_code == 201, r.text
    cs.claims.enrol([(relative, "relative", "employee")], by=_system())
    headers: dict[str, dict[str, str]] = {
        "none": {}, "hospital A": cs.auth("a"), "hospital B": cs.auth("b"),
        "citizen A": cs.citizen(nid_a), "citizen B": cs.citizen(nid_b), "delegate of A": cs.citizen(relative),
        "clerk A": cs.auth("clerk"), "clerk B": {"Authorization": f"Bearer {clerk_b}"},
        "payer": cs.auth("payer"), "other payer": cs.auth("other-payer"), "auditor": cs.auth("auditor"),
        "admin": cs.auth("admin"),
    }
    assert tokens["clerk"] and cs.service.store.credential(tokens["clerk"].split("_")[1]).subject == a_issuer
    r = cs.client.post("/v1/claims", json={"fingerprints": [fp], "nationalId": nid_a},
                       headers={**headers["clerk A"], "Idempotency-Key": "policy-walk-0001"})
    assert r.status_code in (200, 201, 202), r.text
    claim_id = r.json()["claims"][0]["id"]
    # another invoice of citizen A at hospital A (¥5,000 of Class A care), paid at once and drawn for a
    # post-payment audit, whose finding makes hospital A owe it back
    doc = copy.deepcopy(cs.docs["a"][0])
    doc.update(invoiceNumber="9900000001", patientId=nid_a, visitType="outpatient", totalFen=500_000, fundPaidFen=0,
               accountPaidFen=0, cashPaidFen=500_000, feeLines=[{
                   **doc["feeLines"][0], "seq": 1, "category": "A", "quantity": "1", "unitPriceFen": 500_000,
                   "amountFen": 500_000, "itemCode": "001102000010000-110200001", "itemName": "门诊诊查费"}])
    fp_owed = cs.post_invoice("a", doc).json()["items"][0]["invoice"]["fingerprint"]
    cs.worker.drain()
    policy = cs.claims.policy
    cs.claims.policy = policy.__class__(**{**policy.__dict__, "instant_max_fen": 10**9, "post_audit_share_bp": 10_000,
                                           "sample_key": sample_key(b"k" * 32)})
    r = cs.claim(nid_a, [fp_owed], "policy-walk-owed")
    cs.claims.policy = policy
    assert r.status_code in (200, 201, 202), r.text
    owed = r.json()["claims"][0]["id"]
    cs.stamper.drain()
    r = cs.client.post(f"/v1/claims/{owed}/post-audit", json={"outcome": "finding", "code": "unbundling",
                                                               "reason": "policy walk"}, headers=headers["payer"])
    assert r.status_code == 200, r.text
    clawback_id = cs.client.get(f"/v1/claims/{owed}/clawback", headers=headers["payer"]).json()["id"]
    detail = cs.client.get(f"/v1/invoices/{fp}", headers=headers["hospital A"]).json()
    person_a = cs.claims.known_as([nid_a])[0].hex()
    # hospital A's key rotated (the worker binds the new one on chain): its first key is retired
    old_key = cs.service.store.hospital(a_issuer).account
    r = cs.client.post(f"/v1/hospitals/{a_issuer}/keys", headers=headers["admin"])
    assert r.status_code == 202, r.text
    cs.worker.tick()
    assert cs.service.store.hospital(a_issuer).account == r.json()["key"]["account"]
    yield World(cs, headers, fp, fp_void, claim_id, detail["inclusionProof"]["batchRoot"], nid_a, nid_b, person_a,
                detail["qr"], clawback_id, owed, a_issuer, old_key)
    cs.stop()


def _system() -> Any:
    from ledger.app.access import SYSTEM

    return SYSTEM


Recipe = Callable[[World, str], tuple[str, dict[str, Any]]]


def _path(template: str) -> Recipe:
    def make(w: World, caller: str) -> tuple[str, dict[str, Any]]:
        fp = w.fp_void if template.endswith("/void") else w.fp
        path = (template.replace("{fingerprint}", fp).replace("{claim_id}", w.claim_id)
                .replace("{root}", w.root).replace("{seq}", "1")
                .replace("{rule_id}", "sx-pharmacy-pooling").replace("{version}", "2").replace("{year}", "2026")
                .replace("{clawback_id}", w.clawback_id)
                .replace("{institution_id}", w.a_issuer).replace("{account}", w.old_key))
        return path, {}
    return make


def _body(template: str, body: Callable[[World, str], Any], **extra: Any) -> Recipe:
    def make(w: World, caller: str) -> tuple[str, dict[str, Any]]:
        path, _ = _path(template)(w, caller)
        return path, {"json": body(w, caller), **extra}
    return make


def _claim_body(w: World, caller: str) -> dict[str, Any]:
    if caller.startswith("clerk"):
        return {"fingerprints": [w.fp], "nationalId": w.nid_a}
    if caller == "delegate of A":
        return {"fingerprints": [w.fp], "for": w.person_a}
    return {"fingerprints": [w.fp]}


#: how to call each route of the OpenAPI document (method, path template) -> request
RECIPES: dict[tuple[str, str], Recipe] = {
    ("POST", "/v1/invoices"): _body("/v1/invoices", lambda w, c: w.cs.docs["a"][0]),
    ("GET", "/v1/invoices"): _path("/v1/invoices"),
    ("POST", "/v1/invoices/{fingerprint}/void"): _body(
        "/v1/invoices/{fingerprint}/void", lambda w, c: {"reasonCode": "issued-in-error", "reason": "policy walk"}),
    ("POST", "/v1/hospitals"): _body("/v1/hospitals", lambda w, c: {
        "institutionId": "H33019900001", "name": "Policy Walk Hospital", "region": "330100"}),
    ("POST", "/v1/credentials"): _body("/v1/credentials", lambda w, c: {"role": "auditor", "subject": "walker"}),
    ("POST", "/v1/verify"): _body("/v1/verify", lambda w, c: {"payload": w.qr}),
    ("POST", "/v1/claims"): _body("/v1/claims", _claim_body, headers={"Idempotency-Key": "policy-walk-0002"}),
    ("POST", "/v1/me/estimate"): _body("/v1/me/estimate", lambda w, c: {
        "fingerprints": [w.fp], **({"for": w.person_a} if c == "delegate of A" else {})}),
    ("POST", "/v1/claims/{claim_id}/appeal"): _body("/v1/claims/{claim_id}/appeal",
                                                    lambda w, c: {"reason": "policy walk"}),
    ("POST", "/v1/claims/{claim_id}/approve"): _body("/v1/claims/{claim_id}/approve", lambda w, c: {"reason": ""}),
    ("POST", "/v1/claims/{claim_id}/reject"): _body("/v1/claims/{claim_id}/reject",
                                                    lambda w, c: {"reason": "policy walk"}),
    ("POST", "/v1/claims/{claim_id}/post-audit"): _body("/v1/claims/{claim_id}/post-audit",
                                                        lambda w, c: {"outcome": "cleared", "reason": "policy walk"}),
    ("GET", "/v1/claims/{claim_id}/clawback"): lambda w, c: (f"/v1/claims/{w.owed_claim}/clawback", {}),
    ("POST", "/v1/clawbacks/{clawback_id}/recover"): _body(
        "/v1/clawbacks/{clawback_id}/recover", lambda w, c: {"amountFen": 1, "reference": f"walk-recover-{c}"}),
    ("POST", "/v1/clawbacks/{clawback_id}/offset"): _body(
        "/v1/clawbacks/{clawback_id}/offset", lambda w, c: {"amountFen": 1, "reference": f"walk-offset-{c}"}),
    ("POST", "/v1/clawbacks/{clawback_id}/write-off"): _body("/v1/clawbacks/{clawback_id}/write-off",
                                                            lambda w, c: {"reason": "policy walk"}),
    ("POST", "/v1/clawbacks/{clawback_id}/write-off/approve"): _body(
        "/v1/clawbacks/{clawback_id}/write-off/approve", lambda w, c: {"reason": "policy walk"}),
    ("POST", "/v1/clawbacks/{clawback_id}/write-off/decline"): _body(
        "/v1/clawbacks/{clawback_id}/write-off/decline", lambda w, c: {"reason": "policy walk"}),
    ("POST", "/v1/persons"): _body("/v1/persons", lambda w, c: [
        {"nationalId": "11010519491231002X", "name": "relative", "category": "employee"}]),
    ("PUT", "/v1/me/language"): _body("/v1/me/language", lambda w, c: {"language": "zh"}),
    ("POST", "/v1/delegations"): _body("/v1/delegations", lambda w, c: {
        "holderNationalId": "11010519491231002X", "personNationalId": w.nid_a, "relation": "child"}),
    # (the shipped sets are this payer's seed data: a re-import of one changes nothing)
    # this month in China: it has begun (a hospital's report is of its own claims only)
    ("GET", "/v1/reports/monthly"): _path(f"/v1/reports/monthly?month={Month.containing(datetime.now(UTC))}"),
    ("GET", "/v1/rules/diff"): _path("/v1/rules/diff?from=sx-pharmacy-pooling@1&to=sx-pharmacy-pooling@2"),
    ("POST", "/v1/rules/validate"): _body("/v1/rules/validate", lambda w, c: [_shipped("pharmacy-pooling-v2")]),
    ("POST", "/v1/rules"): _body("/v1/rules", lambda w, c: [_shipped("pharmacy-pooling-v2")]),
    ("POST", "/v1/rules/approve"): _body("/v1/rules/approve", lambda w, c: {"ruleSets": ["sx-pharmacy-pooling@2"]}),
    ("POST", "/v1/rules/retire"): _body("/v1/rules/retire", lambda w, c: {"ruleSets": ["sx-pharmacy-pooling@1"]}),
    ("POST", "/v1/hospitals/{institution_id}/keys"): _body("/v1/hospitals/{institution_id}/keys", lambda w, c: {}),
    ("POST", "/v1/hospitals/{institution_id}/keys/{account}/revoke"): _body(
        "/v1/hospitals/{institution_id}/keys/{account}/revoke", lambda w, c: {"reason": "superseded"}),
    # (the shipped year is seed data: loading it again changes nothing)
    ("POST", "/v1/calendar"): _body("/v1/calendar", lambda w, c: dict(shipped_calendar())["cn-2026.json"]),
}


def _shipped(name: str) -> Any:
    return dict(shipped_documents())[f"{name}.json"]


def _recipe(method: str, template: str) -> Recipe:
    if (method, template) in RECIPES:
        return RECIPES[(method, template)]
    if method == "GET":
        return _path(template)
    raise AssertionError(f"{method} {template} has no recipe in tests/api/test_route_policy.py: add one, "
                         "and its policy in api/policy.py")


def _openapi_routes(w: World) -> list[tuple[str, str]]:
    doc = w.cs.client.get("/openapi.json").json()
    return sorted((m.upper(), p) for p, ops in doc["paths"].items() for m in ops)


def test_every_route_has_a_policy_and_a_recipe(world: World) -> None:
    routes = _openapi_routes(world)
    assert len(routes) >= 30
    for method, template in routes:
        assert (method, template) in ROUTES, f"{method} {template} has no policy in api/policy.py"
        _recipe(method, template)


def _expected(method: str, template: str, caller: Caller) -> str:
    """``public`` | ``401`` | ``403`` | ``404`` | ``admitted`` | ``listing`` (admitted, filtered)."""
    op = OPERATIONS[ROUTES[(method, template)].operation]
    if op.public:
        return "public"
    if caller.role is None:
        return "401"
    reach = op.roles.get(caller.role)
    if reach is None:
        return "403"
    if reach is Reach.THIS_PAYER and not caller.this_payer:
        return "403"
    if op.name in LISTINGS:
        return "listing"
    if reach in (Reach.OWN, Reach.PERSON) and not caller.reaches_a:
        return "404"
    return "admitted"


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c.name)
def test_each_route_answers_each_caller_as_the_policy_says(world: World, caller: Caller) -> None:
    failures = []
    for method, template in _openapi_routes(world):
        path, kw = _recipe(method, template)(world, caller.name)
        headers = {**kw.pop("headers", {}), **world.headers[caller.name]}
        if caller.name == "delegate of A" and template == "/v1/me/invoices":
            path += f"?for={world.person_a}"
        r = world.cs.client.request(method, path, headers=headers, **kw)
        expected = _expected(method, template, caller)
        got = r.status_code
        ok = {"public": got not in (401, 403, 429) and got < 500,
              "401": got == 401, "403": got == 403, "404": got == 404,
              "admitted": got not in (401, 403, 404) and got < 500,
              "listing": got not in (401, 403, 404) and got < 500}[expected]
        if got >= 400 and r.headers.get("content-type", "").split(";")[0] != "application/problem+json":
            failures.append(f"{method} {template}: {got} is not problem+json")
        if not ok:
            failures.append(f"{method} {template}: expected {expected}, got {got} {r.text[:200]}")
        if not caller.reaches_a and expected != "public" and got < 400:
            body = r.text.lower()
            for secret in (world.fp.lower().removeprefix("0x"), world.claim_id, world.person_a, world.clawback_id,
                           world.owed_claim):
                if secret in body:
                    failures.append(f"{method} {template}: {caller.name} was shown citizen A's {secret[:12]}…")
    assert not failures, "\n".join(failures)


def test_unknown_roles_and_unlisted_operations_do_nothing() -> None:
    from ledger.app.access import authorize
    from ledger.errors import Forbidden

    for name, op in OPERATIONS.items():
        assert op.public or op.roles, f"{name} is neither public nor allowed to any role"
    with pytest.raises(KeyError):
        authorize(None, "invoice.delete")
    # a role the operation does not list may not perform it, whatever its name
    from ledger.app.access import Principal

    with pytest.raises(Forbidden):
        authorize(Principal(Role.CLERK, "H33010200001", "k"), "invoice.void")


def test_a_credential_of_an_unknown_role_does_nothing(world: World) -> None:
    from sqlalchemy import update

    from ledger.adapters.sql.schema import Credential

    token = world.cs.service.create_credential(role=Role.AUDITOR, subject="soon-unknown")
    table = Credential.__table__  # type: ignore[attr-defined]
    with world.cs.service.store._tx() as conn:  # a row written by a newer release, or edited by hand
        conn.execute(update(table).where(table.c.key_id == token.split("_")[1]).values(role="superuser"))
    headers = {"Authorization": f"Bearer {token}"}
    for path in ("/v1/me", "/v1/invoices", f"/v1/invoices/{world.fp}", "/v1/audit"):
        assert world.cs.client.get(path, headers=headers).status_code == 401, path
