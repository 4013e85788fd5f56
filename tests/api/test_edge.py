"""The edge (api/edge.py): body limits before and while reading, credentials before bodies,
per-client rate limits with Retry-After. Each test fails on a service without the edge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_stack import Stack, make_stack

from api.policy import CONTROL, ENROLMENT, ROUTES

MIB = 2**20


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[Stack]:
    s = make_stack(f"sqlite:///{tmp_path}/ebill.sqlite", tmp_path, public_rate_limit="5/minute",
                   auth_failure_rate_limit="4/minute")
    yield s
    s.service.store.close()


def _problem(r: object, status: int, kind: str) -> dict[str, object]:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    doc: dict[str, object] = r.json()  # type: ignore[attr-defined]
    assert str(doc["type"]).endswith("/" + kind), doc
    return doc


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield b"[" * n


def test_control_routes_refuse_a_declared_oversize_body_before_reading_it(edge: Stack) -> None:
    body = b"[" + b"[]," * (CONTROL // 3) + b"[]]"
    for path in ("/v1/claims", "/v1/delegations", "/v1/hospitals", "/v1/credentials"):
        doc = _problem(edge.client.post(path, content=body, headers={**edge.auth("admin"),
                                                                      "content-type": "application/json"}),
                       413, "payload-too-large")
        assert f"{CONTROL:,}" in str(doc["detail"])


def test_a_streamed_body_is_stopped_at_the_limit(edge: Stack) -> None:
    # no Content-Length (chunked): the edge counts while the route reads
    r = edge.client.post("/v1/persons", content=_chunks(ENROLMENT + MIB),
                         headers={**edge.auth("admin"), "content-type": "application/json"})
    doc = _problem(r, 413, "payload-too-large")
    assert f"{ENROLMENT:,}" in str(doc["detail"])


def test_no_credential_no_body_read(edge: Stack) -> None:
    # an unauthenticated upload is refused from its headers: 401, whatever the body holds
    r = edge.client.post("/v1/invoices", content=_chunks(3 * MIB), headers={"content-type": "application/json"})
    _problem(r, 401, "unauthenticated")
    assert r.headers["www-authenticate"].startswith("Bearer")
    # a role that may not upload is refused before its body is parsed (403, not 422)
    r = edge.client.post("/v1/invoices", content=b"{not json", headers={**edge.auth("auditor"),
                                                                        "content-type": "application/json"})
    _problem(r, 403, "forbidden")


def test_reads_take_no_body(edge: Stack) -> None:
    r = edge.client.request("GET", "/v1/invoices", content=b"x" * 100, headers=edge.auth("a"))
    _problem(r, 413, "payload-too-large")


def test_public_endpoints_are_rate_limited_per_client_without_credential(edge: Stack) -> None:
    statuses = [edge.client.post("/v1/verify", json={"payload": "EBILL:NOTHING"}).status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429], statuses
    r = edge.client.post("/v1/verify", json={"payload": "EBILL:NOTHING"})
    doc = _problem(r, 429, "rate-limited")
    assert 1 <= int(r.headers["retry-after"]) <= 60, r.headers
    assert "5 per 1 minute" in str(doc["detail"])
    # a caller with a credential is not counted: a payer's clerk verifying in bulk
    for _ in range(10):
        assert edge.client.post("/v1/verify", json={"payload": "EBILL:NOTHING"},
                                headers=edge.auth("payer")).status_code == 200
    # the budget is the client's: another address still gets through
    other = edge.client.__class__(edge.client.app, client=("203.0.113.9", 4711))
    assert other.post("/v1/verify", json={"payload": "EBILL:NOTHING"}).status_code == 200


def test_failed_sign_ins_turn_into_429(edge: Stack) -> None:
    bad = {"Authorization": "Bearer ebill_000000000000_wrong"}
    statuses = [edge.client.get("/v1/invoices", headers=bad).status_code for _ in range(6)]
    assert statuses[:4] == [401] * 4 and statuses[4:] == [429, 429], statuses
    # a valid credential from the same address is never refused by it
    assert edge.client.get("/v1/invoices", headers=edge.auth("a")).status_code == 200


def test_unknown_paths_and_methods_go_to_the_router(edge: Stack) -> None:
    _problem(edge.client.post("/v1/nothing-here", content=b"x" * 1000), 404, "not-found")
    _problem(edge.client.delete("/v1/invoices", headers=edge.auth("a")), 405, "method-not-allowed")


def test_the_policy_table_names_known_operations_only() -> None:
    from ledger.app.access import OPERATIONS

    for (method, path), policy in ROUTES.items():
        assert policy.operation in OPERATIONS, (method, path)
        assert policy.body_limit == -1 or 0 <= policy.body_limit <= 8 * MIB, (method, path)
        if method == "GET":
            assert policy.body_limit == 0, (method, path)


def test_the_policy_document_is_generated_from_the_tables() -> None:
    from api.policy import markdown

    doc = Path(__file__).resolve().parents[2] / "docs" / "access-policy.md"
    assert doc.read_text(encoding="utf-8") == markdown(), "docs/access-policy.md is stale: python -m api.policy > it"
