"""The SQL store on SQLite and PostgreSQL: migrations, sealed keys, outbox batching, atomicity."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from ledger.adapters.keystore import KdfParams, KeyVault
from ledger.adapters.sql.engine import current_revision, head_revision, open_engine, upgrade
from ledger.adapters.sql.schema import metadata
from ledger.adapters.sql.store import SqlStore
from ledger.app.service import LedgerService
from ledger.composition import ledger_service
from ledger.devtools import synth
from ledger.errors import InvalidInput, NotFound, VerificationError, WrongPassphrase
from ledger.formats.items import SourceItem

PEPPER = b"store-test-pepper-0123"


def test_migrations_build_exactly_the_models(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)  # idempotent
    engine = open_engine(database_url)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == [], f"the migrations differ from ledger/adapters/sql/schema.py: {diff}"
    assert {"invoices", "fee_lines", "batches", "voids", "chain_events"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_sealed_keys_need_the_right_passphrase_and_owner() -> None:
    vault = KeyVault("a long enough passphrase")
    sealed = vault.seal(b"\x11" * 32, owner="H33010200001", address="0xAbC")
    params = KdfParams.from_json(vault.params.to_json())
    again = KeyVault("a long enough passphrase", params)
    assert again.open(sealed, owner="H33010200001", address="0xabc") == b"\x11" * 32
    with pytest.raises(WrongPassphrase):
        KeyVault("another passphrase!!", params)
    with pytest.raises(VerificationError):
        again.open(sealed, owner="H33010200002", address="0xabc")   # moved to another hospital's row
    doc = json.loads(sealed)
    doc["ct"] = ("0" if doc["ct"][0] != "0" else "1") + doc["ct"][1:]
    with pytest.raises(VerificationError):
        again.open(json.dumps(doc), owner="H33010200001", address="0xabc")
    with pytest.raises(InvalidInput):
        KeyVault("short")
    assert "11" * 32 not in sealed


def _service(url: str) -> LedgerService:
    upgrade(url)
    svc = ledger_service(SqlStore.open(url), pepper=PEPPER, passphrase="store test passphrase")
    svc.bind_chain(31337, "0x" + "22" * 20)
    return svc


def test_batches_close_by_size_and_age_and_keep_their_leaves(database_url: str) -> None:
    svc = _service(database_url)
    ds = synth.generate(seed=5, hospitals=1, invoices=25, fee_lines=500, pepper=PEPPER)
    h = ds.hospitals[0]
    _, token = svc.register_hospital(institution_id=h.code, name=h.name, region="330100")
    p = svc.authenticate(token)
    docs = list(synth.iter_documents(ds))
    svc.upload(p, [SourceItem(i, f"#{i}", d) for i, d in enumerate(docs)])
    store = svc.store
    # full batches of 10 close at once; the 5 left wait for their age
    closed = store.close_batches(max_leaves=10, max_age=timedelta(hours=1))
    assert [b.leaf_count for b in closed] == [10, 10]
    assert store.counts()["unbatched"] == 5
    later = datetime.now(UTC) + timedelta(hours=2)
    assert [b.leaf_count for b in store.close_batches(max_leaves=10, max_age=timedelta(hours=1), now=later)] == [5]
    waiting = store.batches_waiting()
    assert sorted(b.root for b in waiting) == sorted(b.root for b in [*closed, *waiting[2:]])
    for b in closed:
        loaded, info = store.batch(b.root)
        assert loaded.leaves == b.leaves and info["state"] == "sealed"
    svc.store.close()


def test_a_failing_upload_transaction_stores_nothing(database_url: str) -> None:
    """Nothing partial: if storing fails midway (here, a fee-line row the database refuses),
    neither the invoices nor any of their lines remain."""
    svc = _service(database_url)
    ds = synth.generate(seed=6, hospitals=1, invoices=4, fee_lines=80, pepper=PEPPER)
    h = ds.hospitals[0]
    _, token = svc.register_hospital(institution_id=h.code, name=h.name, region="330100")
    p = svc.authenticate(token)
    docs = list(synth.iter_documents(ds))
    store = svc.store
    original = store._insert_lines

    def broken(conn, items):  # type: ignore[no-untyped-def]
        original(conn, items[:1])
        raise RuntimeError("disk full")

    store._insert_lines = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        svc.upload(p, [SourceItem(i, f"#{i}", d) for i, d in enumerate(docs)])
    store._insert_lines = original  # type: ignore[method-assign]
    assert store.counts()["invoices"] == 0
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM fee_lines").scalar_one() == 0
        assert conn.exec_driver_sql("SELECT count(*) FROM invoices").scalar_one() == 0
    report = svc.upload(p, [SourceItem(i, f"#{i}", d) for i, d in enumerate(docs)])
    assert report.counts["created"] == 4
    with pytest.raises(NotFound):
        store.invoice(b"\0" * 32)
    svc.store.close()


def test_stamps_and_clawbacks_are_kept_per_issuing_hospital(database_url: str) -> None:
    """A fingerprint is public: another hospital's leaf with it is another invoice record on
    chain, and its stamps and claw-back must not land on (or take the place of) the real one's."""
    upgrade(database_url)
    store = SqlStore.open(database_url)
    fp = bytes(range(32))

    def event(n: int, name: str, issuer: str, **args: object) -> dict[str, object]:
        return {"block": n, "logIndex": 0, "blockHash": "0x" + "ab" * 32, "tx": f"0x{n:064x}", "name": name,
                "fingerprint": fp, "args": {"fingerprint": "0x" + fp.hex(), "institutionId": issuer, **args}}

    store.save_events([
        event(1, "ClawbackRequired", "H33060000001", paidFen=500, reservedFen=0),
        event(2, "ClawbackRequired", "H33060000002", paidFen=700, reservedFen=100),
        event(3, "ReimbursementReserved", "H33060000002", payerId="P1", claimId="0x" + "11" * 32, amountFen=100),
    ])
    from sqlalchemy import select

    from ledger.adapters.sql.store import CB, ST

    with store.engine.connect() as conn:
        claws = {r.issuer: (r.paid_fen, r.reserved_fen) for r in conn.execute(select(CB))}
        stamps = [(r.issuer, r.amount_fen) for r in conn.execute(select(ST))]
    assert claws == {"H33060000001": (500, 0), "H33060000002": (700, 100)}
    assert stamps == [("H33060000002", 100)]
    store.close()


def test_the_audit_trail_holds_the_longest_actor_a_credential_makes(database_url: str) -> None:
    """role : auditor name (32) : key id (24), as the credentials table allows: PostgreSQL refused
    such an entry, and the act it records with it."""
    from ledger.app.access import Principal
    from ledger.records import Role
    upgrade(database_url)
    engine = open_engine(database_url)
    store = SqlStore(engine)
    actor = Principal(Role.AUDITOR, "a" * 32, "k" * 24).actor
    assert len(actor) > 64
    store.audit(actor=actor, action="claim.reviewed", subject="clm_x", detail={})
    assert store.audit_trail(subject="clm_x")[0]["actor"] == actor
    engine.dispose()
