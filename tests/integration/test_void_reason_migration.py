"""Migration 0004 on voids recorded before reason codes: the store agrees with what the chain says.

The old API stamped the hospital's text itself on chain, so a void whose text is exactly a
code already reads as that code on chain (ledger.voids.reason_from_bytes32); 0004 gives it
that code in the store, and every other void the code ``other``. SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import MetaData, Table, create_engine, insert, select

from ledger.adapters.sql.engine import upgrade
from ledger.voids import VoidReason, reason_from_bytes32


def test_old_voids_get_the_code_their_text_spells_or_other(database_url: str) -> None:
    upgrade(database_url, "0003")
    engine = create_engine(database_url)
    now = datetime.now(UTC)
    texts = {b"\x01" * 32: "refund", b"\x02" * 32: "patient-details-error", b"\x03" * 32: "refund 退费 (window 2)",
             b"\x04" * 32: "Refund"}
    with engine.begin() as conn:
        meta = MetaData()
        hospitals, voids = Table("hospitals", meta, autoload_with=conn), Table("voids", meta, autoload_with=conn)
        conn.execute(insert(hospitals).values(institution_id="H33010200001", name="h", region="330100",
                                              account="0x" + "11" * 20, keystore="", created_at=now))
        for fp, text in texts.items():
            conn.execute(insert(voids).values(fingerprint=fp, issuer="H33010200001", reason=text, requested_at=now,
                                              state="voided", attempts=1))
    engine.dispose()
    upgrade(database_url)
    engine = create_engine(database_url)
    with engine.connect() as conn:
        voids = Table("voids", MetaData(), autoload_with=conn)
        codes = {bytes(fp): (code, text) for fp, code, text in conn.execute(select(voids.c.fingerprint,
                                                                                   voids.c.reason_code,
                                                                                   voids.c.reason))}
    engine.dispose()
    assert codes == {b"\x01" * 32: ("refund", "refund"),
                     b"\x02" * 32: ("patient-details-error", "patient-details-error"),
                     b"\x03" * 32: ("other", "refund 退费 (window 2)"), b"\x04" * 32: ("other", "Refund")}
    # the same reading as the chain's: the text as bytes32 decodes to the code the store now holds
    for code, text in codes.values():
        on_chain = reason_from_bytes32(text.encode()[:32].ljust(32, b"\0")).code
        assert (on_chain or VoidReason.OTHER) == VoidReason(code)
