"""JSON request bodies: deep nesting, duplicate keys and bad syntax answer 400 problem+json.

A 5,000-level body is 10 KB, a 100,000-level one 200 KB: small enough to pass any body
limit, and before the fix the second one killed the process (the stdlib decoder under
the recursion limit py_ecc had raised to 100,000 overflowed the C stack).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from claims_stack import ClaimsStack, make_claims_stack

from api.bodies import MAX_BODY_DEPTH
from api.policy import ROUTES

FP = "0x" + "ab" * 32
CLAIM = "c0ffee"
CLAWBACK = "cbk_" + "0" * 20


@pytest.fixture(scope="module")
def cs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClaimsStack]:
    tmp = tmp_path_factory.mktemp("bodies")
    s = make_claims_stack(f"sqlite:///{tmp}/ebill.sqlite", tmp, run_stamper=False)
    yield s
    s.stop()


def _routes(cs: ClaimsStack) -> list[tuple[str, dict[str, str]]]:
    """Every route that takes a JSON body, with a credential it accepts."""
    citizen = cs.citizen(cs.docs["a"][0]["patientId"])
    return [
        ("/v1/claims", {**citizen, "Idempotency-Key": "k" * 16}),
        ("/v1/persons", cs.auth("admin")),
        ("/v1/delegations", cs.auth("admin")),
        (f"/v1/claims/{CLAIM}/approve", cs.auth("payer")),
        (f"/v1/claims/{CLAIM}/reject", cs.auth("payer")),
        (f"/v1/claims/{CLAIM}/appeal", citizen),
        (f"/v1/invoices/{FP}/void", cs.auth("a")),
        ("/v1/hospitals", cs.auth("admin")),
        ("/v1/credentials", cs.auth("admin")),
        (f"/v1/clawbacks/{CLAWBACK}/recover", cs.auth("payer")),
        (f"/v1/clawbacks/{CLAWBACK}/write-off/approve", cs.auth("payer")),
    ]


def _template(path: str) -> str:
    parts = path.split("/")
    if len(parts) > 3 and parts[2] == "claims":
        parts[3] = "{claim_id}"
    if len(parts) > 3 and parts[2] == "invoices":
        parts[3] = "{fingerprint}"
    if len(parts) > 3 and parts[2] == "clawbacks":
        parts[3] = "{clawback_id}"
    return "/".join(parts)


def _problem(r: object, status: int = 400) -> dict[str, object]:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    doc: dict[str, object] = r.json()  # type: ignore[attr-defined]
    assert doc["type"] == "https://ebill-ledger.example/problems/malformed-body"
    return doc


@pytest.mark.parametrize("levels", [MAX_BODY_DEPTH + 1, 5_000, 100_000])
def test_deep_bodies_are_refused_on_every_json_route(cs: ClaimsStack, levels: int) -> None:
    body = b"[" * levels + b"]" * levels
    for path, headers in _routes(cs):
        r = cs.client.post(path, content=body, headers={**headers, "Content-Type": "application/json"})
        if len(body) > ROUTES[("POST", _template(path))].body_limit:
            # the edge stops it before it is parsed (api/edge.py): bigger than the route takes
            assert r.status_code == 413 and r.json()["type"].endswith("/payload-too-large"), (path, r.text)
            continue
        doc = _problem(r)
        assert doc["detail"] == f"the JSON body nests deeper than {MAX_BODY_DEPTH} levels", path
    assert cs.client.get("/v1/health").status_code == 200


def test_deep_objects_are_refused_too(cs: ClaimsStack) -> None:
    body = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    r = cs.client.post("/v1/persons", content=body, headers={**cs.auth("admin"), "Content-Type": "application/json"})
    assert "nests deeper than" in str(_problem(r)["detail"])


def test_nesting_up_to_the_limit_reaches_the_schema(cs: ClaimsStack) -> None:
    body = b"[" * MAX_BODY_DEPTH + b"]" * MAX_BODY_DEPTH
    r = cs.client.post("/v1/persons", content=body, headers={**cs.auth("admin"), "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["type"].endswith("/invalid-input")


def test_a_key_given_twice_is_named_with_its_place(cs: ClaimsStack) -> None:
    body = (b'[{"nationalId":"110101199003074477","category":"employee"},'
            b'{"nationalId":"110101199003074477","category":"employee","nationalId":"110101199003078713"}]')
    r = cs.client.post("/v1/persons", content=body, headers={**cs.auth("admin"), "Content-Type": "application/json"})
    detail = str(_problem(r)["detail"])
    assert "'nationalId' twice" in detail and "[1].nationalId" in detail
    r = cs.client.post(f"/v1/invoices/{FP}/void", content=b'{"reason":"refund","reason":"typo"}',
                       headers={**cs.auth("a"), "Content-Type": "application/json"})
    assert "'reason' twice" in str(_problem(r)["detail"])
    # an escaped quote before a colon inside a value is not a key
    r = cs.client.post(f"/v1/invoices/{FP}/void", content=b'{"reason":"a\\":b"}',
                       headers={**cs.auth("a"), "Content-Type": "application/json"})
    assert r.status_code == 404  # parsed, then: no such invoice


def test_bad_syntax_is_a_malformed_body(cs: ClaimsStack) -> None:
    r = cs.client.post("/v1/hospitals", content=b'{"institutionId": ', headers={
        **cs.auth("admin"), "Content-Type": "application/json"})
    assert str(_problem(r)["detail"]).startswith("the body is not valid JSON at line 1 column")


def test_deep_verify_payload_is_refused_without_harm(cs: ClaimsStack) -> None:
    # public, parsed by pydantic's own JSON reader (bounded too): the answer is a 422, not a crash
    body = b'{"payload":' + b"[" * 30_000 + b"]" * 30_000 + b"}"  # 60 KB, under its 64 KiB limit
    r = cs.client.post("/v1/verify", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
