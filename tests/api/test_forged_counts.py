"""Forged codes at the public verifier are counted in batches, not audited one row each."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from claims_stack import ClaimsStack, make_claims_stack
from sqlalchemy import func, select

from ledger.adapters.sql.store import A, SqlStore
from ledger.qr import decode_qr, sign_seal


@pytest.fixture
def cs(tmp_path: Path) -> Iterator[ClaimsStack]:
    # one client sends them all: lift the per-address budget (tests/api/test_edge.py tests the limit)
    s = make_claims_stack(f"sqlite:///{tmp_path}/ebill.sqlite", tmp_path, run_stamper=False,
                          public_rate_limit="1000000/minute")
    yield s
    s.stop()


def _audit_rows(cs: ClaimsStack) -> int:
    with cs.service.store._read() as conn:
        return int(conn.execute(select(func.count()).select_from(A)).scalar_one())


def test_two_thousand_forged_codes_add_no_audit_rows_and_few_writes(cs: ClaimsStack) -> None:
    cs.worker.drain()
    qr = cs.post_invoice("a", cs.docs["a"][0]).json()["items"][0]["invoice"]["qr"]
    seal = decode_qr(qr).seal
    forged = sign_seal(seal, private_key=b"\x42" * 32, domain=cs.service.qr_domain).encode()
    counts = cs.client.app.state.event_counts  # type: ignore[attr-defined]
    rows, writes = _audit_rows(cs), counts.writes
    start = time.monotonic()
    for _ in range(2000):
        r = cs.client.post("/v1/verify", json={"payload": forged})
        assert r.status_code == 200 and r.json()["status"] == "tampered-or-forged"
    seconds = time.monotonic() - start
    assert _audit_rows(cs) == rows
    # written by the timer at most once a second while they came in (and at most once more now)
    time.sleep(1.5)
    assert counts.writes - writes <= seconds + 2
    assert cs.service.store.counters(prefix="verify.refused:") == {"verify.refused:tampered-or-forged": 2000}
    blocked = cs.client.get("/v1/stats/claims", headers=cs.auth("auditor")).json()["blocked"]
    assert blocked["forgedCodes"] == 2000 and blocked["forgedByVerdict"] == {"tampered-or-forged": 2000}


def test_the_dashboard_sees_this_process_counts_at_once(cs: ClaimsStack) -> None:
    cs.client.post("/v1/verify", json={"payload": "EBILL:1" + "A" * 60})  # malformed: not counted as forged
    cs.client.app.state.event_counts.add("verify.refused:unknown-issuer", 3)  # type: ignore[attr-defined]
    blocked = cs.client.get("/v1/stats/claims", headers=cs.auth("auditor")).json()["blocked"]
    assert blocked["forgedByVerdict"] == {"unknown-issuer": 3}


def test_counts_are_written_at_shutdown(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ebill.sqlite"
    s = make_claims_stack(url, tmp_path, run_stamper=False, public_rate_limit="1000000/minute")
    with s.client:  # runs the app's lifespan: its end closes the counts (and the store)
        s.client.app.state.event_counts.add("verify.refused:revoked-issuer")  # type: ignore[attr-defined]
    assert s.client.app.state.event_counts.writes == 1  # type: ignore[attr-defined]
    s.stamper.stop()
    store = SqlStore.open(url)
    try:
        assert store.counters(prefix="verify.") == {"verify.refused:revoked-issuer": 1}
    finally:
        store.close()
