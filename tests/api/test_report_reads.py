"""The monthly report's reads on SQLite and PostgreSQL (``ledger.adapters.sql.claims.reports``):
a range's claims each once, however many share a time and however small the pages; one
snapshot while claims change state under the reader; the state index, no table scan; the
item names of fee lines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from claims_stack import ClaimsStack, make_claims_stack
from sqlalchemy import update

from ledger.adapters.sql.claims.reports import page_query
from ledger.adapters.sql.claims.rows import CL
from ledger.claims.states import ClaimState

START = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)   # 1 November 2026, 00:00 in China
END = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)


@pytest.fixture
def cs(database_url: str, tmp_path: Path) -> Iterator[ClaimsStack]:
    """Every claimable invoice claimed (stamper stopped afterwards, so nothing moves but what the
    test moves); the claims put in November three at a time on one instant, and one on each edge."""
    s = make_claims_stack(database_url, tmp_path)
    s.upload_all("a")
    s.upload_all("b")
    for i, (fp, nid) in enumerate(sorted(s.patients.items())):
        s.claim(nid, [fp], f"reads-tap-{i:04d}")
    s.stamper.stop()
    if s._thread is not None:
        s._thread.join(timeout=10)
    claims = sorted(s.claims.store.claims(limit=500), key=lambda c: c.id)
    at = {c.id: START + timedelta(hours=i // 3) for i, c in enumerate(claims)}
    at[claims[-1].id] = END - timedelta(microseconds=1)      # the last instant of November
    at[claims[-2].id] = END                                   # December
    at[claims[-3].id] = START - timedelta(microseconds=1)     # October
    with s.service.store.engine.begin() as conn:
        for cid, t in at.items():
            conn.execute(update(CL).where(CL.c.id == cid).values(created_at=t))
    yield s
    s.service.store.close()


def test_each_claim_of_the_range_once_whatever_the_page_size(cs: ClaimsStack) -> None:
    every = cs.claims.store.claims(limit=500)
    inside = {c.id for c in every if START <= c.created_at < END}
    assert len(inside) == len(every) - 2 and len({c.state for c in every}) >= 2
    for page in (1, 2, 3, 500):
        got = [c.id for c in cs.claims.store.claims_filed(start=START, end=END, page=page)]
        assert len(got) == len(set(got)) and set(got) == inside, page
    issuer = every[0].issuer
    mine = [c for c in cs.claims.store.claims_filed(start=START, end=END, issuer=issuer, page=2)]
    assert {c.id for c in mine} == {c.id for c in every if c.id in inside and c.issuer == issuer}
    assert all(c.hospital_name and c.invoice_number for c in mine)


def test_one_snapshot_while_claims_move_on(cs: ClaimsStack) -> None:
    """Claims change state while the report is being read: each still counts once, as it stood."""
    before = {c.id: c.state for c in cs.claims.store.claims_filed(start=START, end=END)}
    reading = cs.claims.store.claims_filed(start=START, end=END, page=1)
    first = next(reading)
    # every other claim moves to the state being read now, and those in it to a later one
    later = next(s for s in ClaimState if list(ClaimState).index(s) > list(ClaimState).index(first.state))
    with cs.service.store.engine.begin() as conn:
        conn.execute(update(CL).where(CL.c.state == first.state.value).values(state=later.value))
        conn.execute(update(CL).where(CL.c.state != later.value, CL.c.state != "refused")
                     .values(state=first.state.value))
    got = [(first.id, first.state), *((c.id, c.state) for c in reading)]
    assert len(got) == len(before) and dict(got) == before


def test_a_page_reads_the_state_index(cs: ClaimsStack) -> None:
    store = cs.service.store
    q = page_query(ClaimState.PAID, start=START, end=END, issuer=None, after=(START, "clm_0"), limit=500)
    compiled = q.compile(dialect=store.engine.dialect)
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            params = tuple(compiled.params[k] for k in compiled.positiontup or ())
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), params))
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")   # the test table is tiny: ask whether it can
            plan = " ".join(str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params))
    assert "ix_claims_state" in plan, plan


def test_item_names_of_fee_lines(cs: ClaimsStack) -> None:
    doc = cs.docs["a"][0]
    fp = bytes.fromhex(next(f for f, n in cs.patients.items() if n == doc["patientId"])[2:])
    stored = cs.claims.store.fee_item_names([(fp, 1), (fp, 2), (fp, 99_999), (b"\x00" * 32, 1)])
    lines = {line["seq"]: line["item_name"] for line in cs.service.store.fee_lines(fp)}
    assert lines[1] and lines[2]
    assert stored == {(fp, 1): lines[1], (fp, 2): lines[2]}
    assert cs.claims.store.fee_item_names([]) == {}
