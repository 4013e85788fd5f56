"""Migration 0008 on persons enrolled before the insured region was recorded: no region, not
registered, so their inpatient care is judged as off-site unregistered, as before, and the
claims store reads them so. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import MetaData, Table, create_engine, insert

from ledger.adapters.sql.claims import ClaimStore
from ledger.adapters.sql.engine import upgrade
from ledger.adapters.sql.store import SqlStore
from ledger.claims.model import PersonRecord


def test_persons_enrolled_before_have_no_region_and_no_registration(database_url: str) -> None:
    upgrade(database_url, "0005")
    engine = create_engine(database_url)
    with engine.begin() as conn:
        persons = Table("persons", MetaData(), autoload_with=conn)
        conn.execute(insert(persons).values(pseudonym=b"\x07" * 32, name="old", category="retired",
                                            enrolled_at=datetime.now(UTC)))
    engine.dispose()
    upgrade(database_url)
    store = SqlStore.open(database_url)
    try:
        claims = ClaimStore(store)
        assert claims.person(b"\x07" * 32) == PersonRecord(b"\x07" * 32, "old", "retired", None, False)
        claims.enrol([PersonRecord(b"\x08" * 32, "new", "employee", "330600", True)], actor="test")
        assert claims.person(b"\x08" * 32) == PersonRecord(b"\x08" * 32, "new", "employee", "330600", True)
    finally:
        store.close()
