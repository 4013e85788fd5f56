"""Migrations 0016 and 0017 on a database with data: every hospital holding a key gets it as its current
key; every pseudonym already held (persons, delegations both ways, claims, year-to-date figures) is
recorded as its own person's version-1 pseudonym, so the first rotation carries them all forward.
SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from sqlalchemy import MetaData, Table, create_engine, insert

from ledger.adapters.keystore import KeyVault
from ledger.adapters.sql.claims import ClaimStore
from ledger.adapters.sql.engine import upgrade
from ledger.adapters.sql.store import SqlStore
from ledger.hospital_keys import KeyState

ENROLLED, HOLDER, CHILD, YEAR_ONLY = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, b"\x04" * 32


def test_keys_and_pseudonyms_held_before_are_carried(database_url: str) -> None:
    upgrade(database_url, "0015")
    now = datetime.now(UTC)
    engine = create_engine(database_url)
    with engine.begin() as conn:
        t = {n: Table(n, MetaData(), autoload_with=conn) for n in ("hospitals", "persons", "delegations",
                                                                     "person_years")}
        conn.execute(insert(t["hospitals"]), [
            {"institution_id": "H33010200001", "name": "own", "region": "330100", "account": "0x" + "aa" * 20,
             "keystore": '{"v": 1}', "created_at": now, "registered_block": 7},
            {"institution_id": "H33010200002", "name": "mirrored", "region": "330100", "account": "0x" + "bb" * 20,
             "keystore": "", "created_at": now, "registered_block": None}])
        conn.execute(insert(t["persons"]).values(pseudonym=ENROLLED, name="p", category="employee", enrolled_at=now))
        conn.execute(insert(t["delegations"]).values(holder=HOLDER, person=CHILD, relation="child", created_at=now,
                                                     created_by="test"))
        conn.execute(insert(t["person_years"]).values(pseudonym=YEAR_ONLY, scheme="s", year=2026,
                                                      deductible_used_fen=1, reimbursed_fen=2))
    engine.dispose()
    upgrade(database_url)
    store = SqlStore.open(database_url)
    try:
        keys = store.hospital_keys("H33010200001")
        assert [(k.account, k.state) for k in keys] == [("0x" + "aa" * 20, KeyState.CURRENT)]
        assert store.hospital_keys("H33010200002") == []   # (its keys are held by the service it is mirrored from)
        assert store.persons_by_version() == {1: 4}
        claims = ClaimStore(store)
        for p in (ENROLLED, HOLDER, CHILD, YEAR_ONLY):
            assert claims.person_of(p) == p
        # the first rotation carries each of them to version 2, derived from version 1
        pepper2 = b"second pepper of the test.."
        vault = KeyVault("migration test passphrase")
        persons = store.add_pepper_version(
            version=2, pepper_id="00" * 8, sealed=vault.seal(pepper2, owner="pepper", address="v2"),
            first_id="11" * 8, advance=lambda p: hmac.new(pepper2, p, hashlib.sha256).digest(), actor="test")
        assert persons == 4 and store.persons_by_version() == {1: 4, 2: 4}
        assert claims.person_of(hmac.new(pepper2, CHILD, hashlib.sha256).digest()) == CHILD
    finally:
        store.close()
