"""Operating the service: /metrics (who may scrape, what it counts), the request id from the access
log to the chain transaction, /livez and /readyz, and /v1/health without counting rows per call."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_stack import Stack, make_stack
from claims_stack import ClaimsStack, make_claims_stack
from obs_support import captured_logs, parse, value
from sqlalchemy import create_engine, event, text

from ledger.adapters.metrics import PrometheusTelemetry
from ledger.adapters.sql.engine import alembic_config, head_revision
from ledger.records import Role


@pytest.fixture
def cs(tmp_path: Path) -> Iterator[ClaimsStack]:
    s = make_claims_stack(f"sqlite:///{tmp_path}/ebill.sqlite", tmp_path)
    s.service.telemetry = PrometheusTelemetry()   # as `ebill serve` wires it
    s.tokens["monitor"] = s.service.create_credential(role=Role.MONITOR, subject="prometheus")
    yield s
    s.stop()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = make_stack(f"sqlite:///{tmp_path}/ebill.sqlite", tmp_path)
    s.tokens["monitor"] = s.service.create_credential(role=Role.MONITOR, subject="prometheus")
    yield s
    s.service.store.close()


def _scrape(s: Stack) -> Any:
    r = s.client.get("/metrics", headers=s.auth("monitor"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return parse(r.text)


def _claimable(cs: ClaimsStack) -> tuple[str, str]:
    for fp, nid in cs.patients.items():
        for inv in cs.client.get("/v1/me/invoices", headers=cs.citizen(nid)).json()["invoices"]:
            if inv["fingerprint"] == fp and inv["claimable"] and inv["estimateFen"]:
                return fp, nid
    raise AssertionError("no claimable invoice in the test data")


# ------------------------------------------------------------------ /metrics


def test_only_a_monitor_credential_scrapes_and_sends_no_body(stack: Stack) -> None:
    assert stack.client.get("/metrics").status_code == 401
    for who in ("a", "payer", "auditor", "admin"):
        r = stack.client.get("/metrics", headers=stack.auth(who))
        assert r.status_code == 403, (who, r.text)
        assert "monitor" in r.json()["detail"]
    r = stack.client.request("GET", "/metrics", headers={**stack.auth("monitor"), "Content-Length": "5"},
                             content=b"12345")
    assert r.status_code == 413
    # the monitor's credential reaches nothing else
    assert stack.client.get("/v1/invoices", headers=stack.auth("monitor")).status_code == 403
    assert stack.client.get("/v1/audit", headers=stack.auth("monitor")).status_code == 403
    assert stack.client.get("/v1/me", headers=stack.auth("monitor")).json()["role"] == "monitor"
    assert _scrape(stack)
    # the admin makes one over HTTP too
    r = stack.client.post("/v1/credentials", json={"role": "monitor", "subject": "prometheus-2"},
                          headers=stack.auth("admin"))
    assert r.status_code == 201, r.text
    assert stack.client.get("/metrics", headers={"Authorization": f"Bearer {r.json()['apiToken']}"}).status_code == 200


def test_uploads_anchoring_claims_and_verifications_are_counted(cs: ClaimsStack) -> None:
    before = _scrape(cs)
    docs = cs.docs["a"]
    items = cs.upload_all("a")                    # one bulk upload; the worker anchors it
    fp, nid = _claimable(cs)
    r = cs.claim(nid, [fp], "metrics-claim-0001")
    assert r.status_code in (201, 202), r.text
    qr = next(i["invoice"]["qr"] for i in items if i["invoice"]["fingerprint"] == fp)
    assert cs.client.post("/v1/verify", json={"payload": qr}).json()["status"] == "anchored"
    assert cs.client.post("/v1/verify", json={"payload": qr[:-4] + "AAAA"}).status_code == 200
    bad = cs.client.post("/v1/invoices", content=b"[{}]", headers={**cs.auth("a"), "Content-Type": "text/csv"})
    assert bad.status_code in (200, 422)
    cs.stamper.drain()
    cs.stamper._states_at = 0.0                   # the claims-by-state snapshot, now rather than in 15 s
    cs.stamper.tick()
    cs.worker._status_at = None                   # the outbox figures, now rather than in 5 s
    cs.worker.tick()
    after = _scrape(cs)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("ebill_upload_invoices_total", status="created") == len(docs)
    assert grew("ebill_upload_fee_lines_total") == sum(len(d["feeLines"]) for d in docs)
    assert grew("ebill_http_request_duration_seconds_count", method="POST", route="/v1/invoices", status="200") == 1
    assert grew("ebill_invoices_anchored_total") == len(docs)
    assert grew("ebill_batches_anchored_total") >= 1
    assert grew("ebill_anchoring_delay_seconds_count") == grew("ebill_batches_anchored_total")
    assert grew("ebill_chain_gas_used_total", function="anchorSignedBatches") > 0
    assert grew("ebill_chain_transactions_total", function="reserveMany") >= 1
    assert grew("ebill_claims_filed_total") == 1
    assert grew("ebill_stamper_outcomes_total", outcome="reserved") >= 1
    assert grew("ebill_stamper_round_seconds_count") >= 1
    assert grew("ebill_verifications_total", verdict="anchored") == 1
    assert grew("ebill_verifications_total") == 2
    assert grew("ebill_chain_worker_tick_seconds_count") >= 1
    assert value(after, "ebill_claims") >= 1                        # claims by state, a snapshot
    assert value(after, "ebill_outbox_depth", queue="invoices") == 0
    assert value(after, "ebill_anchoring_lag_seconds") == 0
    assert value(after, "ebill_chain_indexed_block") == value(after, "ebill_chain_head_block") > 0
    # no label names an invoice, a claim, a person or a path asked for
    labels = " ".join(v for (_, lab) in after for _, v in lab)
    assert not re.search(r"0x[0-9a-f]{64}|clm_|sub_", labels), labels
    assert "/v1/claims/{claim_id}" not in labels or "clm_" not in labels


def test_unmatched_paths_and_odd_methods_do_not_grow_the_labels(stack: Stack) -> None:
    for n in range(5):
        stack.client.get(f"/no/such/path/{n}")
    stack.client.request("BREW", "/v1/health")
    labels = {dict(lab).get("route") for (name, lab) in _scrape(stack) if name.startswith("ebill_http_request")}
    assert "unmatched" in labels and not any(str(r).startswith("/no/") for r in labels)
    methods = {dict(lab).get("method") for (name, lab) in _scrape(stack) if name.startswith("ebill_http_request")}
    assert "BREW" not in methods and "other" in methods


# ------------------------------------------------------------------ request ids


@pytest.mark.parametrize("sent,kept", [
    ("req-20261206-0001", True),
    ("a" * 64, True),
    ("0123abcd.ef:gh_ij-kl", True),
    ("short", False),                   # fewer than 8 characters
    ("a" * 65, False),                  # more than 64
    ("has space 12345", False),
    ('quote"injection12', False),
    ("line\\nbreak-0000", False),
    ("汉字汉字汉字汉字", False),
])
def test_a_sane_request_id_is_kept_and_any_other_replaced(stack: Stack, sent: str, kept: bool) -> None:
    r = stack.client.get("/livez", headers={"X-Request-Id": sent.encode("utf-8")})
    got = r.headers["x-request-id"]
    assert (got == sent) is kept
    if not kept:
        assert re.fullmatch(r"[0-9a-f]{32}", got)


def test_an_upload_is_followed_from_its_access_line_to_its_anchoring(stack: Stack) -> None:
    stack.worker.drain()
    with captured_logs() as logs:
        r = stack.client.post("/v1/invoices", json=stack.docs["a"][:3],
                              headers={**stack.auth("a"), "X-Request-Id": "upload-0001-trace"})
        assert r.status_code == 200 and r.headers["x-request-id"] == "upload-0001-trace"
        other = stack.client.post("/v1/invoices", json=stack.docs["a"][3:5], headers=stack.auth("a"))
        stack.worker.drain()
    access = [ln for ln in logs.events("request") if ln.get("request_id") == "upload-0001-trace"]
    assert len(access) == 1
    assert access[0] | {"ms": 0, "ts": "", "pid": 0} == {
        "event": "request", "level": "info", "logger": "ebill.http", "request_id": "upload-0001-trace",
        "method": "POST", "route": "/v1/invoices", "status": 200, "ms": 0, "ts": "", "pid": 0}
    anchored = logs.events("batch anchored")
    assert anchored, logs.text
    named = [ln for ln in anchored if "upload-0001-trace" in ln["request_ids"]]
    assert len(named) == 1 and named[0]["invoices"] == 5 and named[0]["tx"].startswith("0x")
    assert set(named[0]["request_ids"]) == {"upload-0001-trace", other.headers["x-request-id"]}
    with stack.service.store.engine.connect() as conn:
        ids = conn.execute(text("SELECT request_id, COUNT(*) FROM invoices GROUP BY request_id")).all()
    assert dict(ids) == {"upload-0001-trace": 3, other.headers["x-request-id"]: 2}


def test_a_void_names_its_request_when_it_reaches_the_chain(stack: Stack) -> None:
    fp = stack.post_invoice("a", stack.docs["a"][0]).json()["items"][0]["invoice"]["fingerprint"]
    stack.worker.drain()
    with captured_logs() as logs:
        r = stack.client.post(f"/v1/invoices/{fp}/void", json={"reason": "refund"},
                              headers={**stack.auth("a"), "X-Request-Id": "void-request-0042"})
        assert r.status_code == 202, r.text
        stack.worker.drain()
    voided = logs.events("invoice voided")
    assert [(v["fingerprint"], v["request_id"]) for v in voided] == [(fp, "void-request-0042")]


def test_a_claim_is_followed_to_the_stampers_reservation(cs: ClaimsStack) -> None:
    cs.upload_all("a")
    fp, nid = _claimable(cs)
    with captured_logs() as logs:
        r = cs.client.post("/v1/claims", json={"fingerprints": [fp]},
                           headers={**cs.citizen(nid), "Idempotency-Key": "trace-claim-0001",
                                    "X-Request-Id": "claim-trace-0001"})
        assert r.status_code in (201, 202), r.text
        cs.stamper.drain()
    claim_id = r.json()["claims"][0]["id"]
    reserved = [ln for ln in logs.events("claims stamped") if ln["op"] == "reserve"]
    assert any("claim-trace-0001" in ln["request_ids"] and claim_id in ln["claim_ids"] and ln["txs"]
               for ln in reserved), logs.text
    access = [ln for ln in logs.events("request") if ln.get("request_id") == "claim-trace-0001"]
    assert [(a["route"], a["status"]) for a in access] == [("/v1/claims", r.status_code)]


# ------------------------------------------------------------------ no personal data in the logs


def test_no_personal_data_reaches_the_logs(cs: ClaimsStack) -> None:
    from ledger.identity import check_character

    nid_new, name_new = "33060219900101123" + check_character("33060219900101123"), "欧阳测试"
    with captured_logs() as logs:
        items = cs.upload_all("a")
        # enrolment with a national id and a name, by the payer
        r = cs.client.post("/v1/persons", json=[{"nationalId": nid_new, "name": name_new, "category": "employee"}],
                           headers=cs.auth("payer"))
        assert r.status_code == 201, r.text
        # a malformed enrolment: the national id is in the error answered, never in a log line
        bad = cs.client.post("/v1/persons", json=[{"nationalId": nid_new[:-1] + "0" if nid_new[-1] != "0" else
                                                   nid_new[:-1] + "1", "name": name_new, "category": "employee"}],
                             headers=cs.auth("payer"))
        assert bad.status_code == 422
        fp, nid = _claimable(cs)
        assert cs.claim(nid, [fp], "pii-claim-0001").status_code in (201, 202)
        cs.stamper.drain()
        assert cs.client.get("/v1/me/invoices", headers=cs.citizen(nid)).status_code == 200
        assert cs.client.get("/v1/claims", headers=cs.citizen(nid)).status_code == 200
        qr = items[0]["invoice"]["qr"]
        assert cs.client.post("/v1/verify", json={"payload": qr}).status_code == 200
        # a broken upload naming a patient, and a request with a wrong token
        broken = {**cs.docs["a"][0], "invoiceNumber": "bad", "patientId": nid}
        assert cs.client.post("/v1/invoices", json=broken, headers=cs.auth("a")).status_code == 422
        assert cs.client.get("/v1/me", headers={"Authorization": "Bearer ebill_000000000000_wrong"}).status_code == 401
        cs.worker.drain()
    written = logs.text + "\n" + logs.decoded()
    assert logs.events("request") and logs.events("batch anchored") and logs.events("claims stamped")

    nids = {nid_new, *cs.patients.values()}
    secrets_ = {
        **{f"national id {n}": n for n in nids},
        **{f"pseudonym of {n}": cs.claims.known_as([n])[0].hex() for n in nids},
        "enrolled name": name_new,
        **{f"token {k}": t for k, t in cs.tokens.items()},
        # the secret after "ebill_<key id>_" (base64url: it may hold "_" itself, so split twice only)
        **{f"token part {k}": t.split("_", 2)[2] for k, t in cs.tokens.items()},
        "voucher": cs.citizen(nid)["Authorization"].split()[1],
    }
    names = {li["itemName"] for d in cs.docs["a"] for li in d["feeLines"]}
    secrets_.update({f"fee line {n}": n for n in names if len(n) >= 2})
    found = {what for what, s in secrets_.items() if s and s in written}
    assert not found, f"personal data in the logs: {sorted(found)[:10]}"


# ------------------------------------------------------------------ /livez, /readyz, /v1/health


def test_livez_answers_without_a_credential_or_any_io(stack: Stack) -> None:
    queries: list[str] = []
    event.listen(stack.service.store.engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
    r = stack.client.get("/livez")
    assert (r.status_code, r.json()) == (200, {"status": "alive"})
    assert queries == []


def test_readyz_is_ready_once_the_worker_reported(stack: Stack) -> None:
    r = stack.client.get("/readyz")
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"].endswith("/unready") and body["detail"] == (
        "not ready: chain: no chain worker has reported yet (is `ebill serve` running?)")
    assert body["checks"]["database"]["ok"] and body["checks"]["migrations"]["ok"]
    assert body["checks"]["chain"] == {"ok": False, "detail": "no chain worker has reported yet (is `ebill serve` "
                                                              "running?)"}
    stack.worker.tick()
    r = stack.client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready" and r.json()["checks"]["migrations"]["detail"] == f"at {head_revision()}"


def test_readyz_fails_when_migrations_are_behind(stack: Stack, tmp_path: Path) -> None:
    from alembic import command

    stack.worker.tick()
    command.downgrade(alembic_config(f"sqlite:///{tmp_path}/ebill.sqlite"), "0017")
    r = stack.client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["migrations"] == {
        "ok": False, "detail": f"the database is at migration 0017; this code needs {head_revision()}: "
                               "run `ebill db upgrade`"}
    assert r.json()["checks"]["chain"]["ok"] is False


def test_readyz_and_health_fail_clearly_when_the_database_is_gone(stack: Stack, tmp_path: Path) -> None:
    stack.worker.tick()
    assert stack.client.get("/readyz").status_code == 200
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    store = stack.service.store
    kept = store.engine   # type: ignore[attr-defined]
    store.engine = create_engine(f"sqlite:///{blocker}/ebill.sqlite")   # type: ignore[attr-defined]
    try:
        r = stack.client.get("/readyz")
        assert r.status_code == 503
        checks = r.json()["checks"]
        assert checks["database"]["ok"] is False and "unable to open database file" in checks["database"]["detail"]
        assert checks["migrations"] == {"ok": False, "detail": "not checked: the database did not answer"}
        h = stack.client.get("/v1/health")
        assert h.status_code == 503 and h.json()["status"] == "unavailable"
        assert stack.client.get("/livez").status_code == 200     # the process itself is alive
    finally:
        store.engine.dispose()   # type: ignore[attr-defined]
        store.engine = kept      # type: ignore[attr-defined]


def test_readyz_says_when_the_chain_did_not_answer_the_worker(stack: Stack) -> None:
    stack.worker.tick()
    stack.session.ledger.w3.provider = _Unreachable()   # the node goes away
    stack.worker.tick()                                 # the worker's round fails, and it says so at once
    r = stack.client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["chain"]["detail"].startswith("the chain node did not answer the chain worker")
    health = stack.client.get("/v1/health").json()
    assert health["status"] == "ok" and health["warnings"][0].startswith("the chain node did not answer")


class _Unreachable:
    """A web3 provider whose node is gone."""

    is_async = False

    def make_request(self, method: str, params: Any) -> Any:
        raise ConnectionError("connection refused")

    def __getattr__(self, name: str) -> Any:
        raise ConnectionError("connection refused")


def test_health_counts_no_rows_per_call(stack: Stack) -> None:
    stack.post_invoice("a", stack.docs["a"][0])
    stack.worker.drain()
    queries: list[str] = []
    event.listen(stack.service.store.engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
    h = stack.client.get("/v1/health").json()
    assert not [q for q in queries if "count(" in q.lower()], queries
    reads = [q for q in queries if q != "BEGIN"]
    # one read for the worker's status and the chain rows; the calendar's version when its 1 s cache expired
    assert len(reads) <= 2 and "meta.key IN" in reads[0].replace('"', ""), reads
    assert h["store"] == {"invoices": 1, "unbatched": 0, "batchesWaiting": 0, "batchesAnchored": 1,
                          "voidsPending": 0}
    assert h["figuresAt"] and h["chain"]["contract"] == stack.session.ledger.contract_address


def test_health_figures_are_the_rows_and_never_behind_an_upload(any_db_stack: Stack) -> None:
    stack = any_db_stack   # (SQLite and PostgreSQL)
    stack.worker.drain()
    docs = stack.docs["a"]
    first = stack.client.post("/v1/invoices", json=docs[:6], headers=stack.auth("a")).json()
    stack.client.post("/v1/invoices", json=docs[:8], headers=stack.auth("a"))          # 6 duplicates, 2 new
    conflict = {**docs[8], "checkCode": "ZZZZZZ"}
    stack.client.post("/v1/invoices", json=[docs[8], conflict], headers=stack.auth("a"))  # 1 new, 1 conflict
    # before the chain worker ran again: the uploads are in the figures already
    h = stack.client.get("/v1/health").json()["store"]
    assert h == stack.service.store.counts() and h["invoices"] == 9 and h["unbatched"] == 9
    stack.worker.tick()          # closes and anchors: reported at once (it did something)
    fp = first["items"][0]["invoice"]["fingerprint"]
    stack.client.post(f"/v1/invoices/{fp}/void", json={"reason": "refund"}, headers=stack.auth("a"))
    h = stack.client.get("/v1/health").json()["store"]
    assert h == stack.service.store.counts() and h["voidsPending"] == 1 and h["batchesAnchored"] >= 1
    stack.worker.drain()
    assert stack.client.get("/v1/health").json()["store"] == stack.service.store.counts()
