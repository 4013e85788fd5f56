"""Migration 0009 (claims drawn for a post-payment audit) goes down and up again on both databases."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect

from ledger.adapters.sql.engine import alembic_config, normalise_url, upgrade


def test_post_audit_column_and_index_go_down_and_up(database_url: str) -> None:
    upgrade(database_url)
    engine = create_engine(normalise_url(database_url))
    try:
        def shape() -> tuple[bool, bool]:
            insp = inspect(engine)
            return ("post_audit" in {c["name"] for c in insp.get_columns("claims")},
                    "ix_claims_post_audit_due" in {i["name"] for i in insp.get_indexes("claims")})

        assert shape() == (True, True)
        command.downgrade(alembic_config(database_url), "0008")
        assert shape() == (False, False)
        upgrade(database_url)
        assert shape() == (True, True)
    finally:
        engine.dispose()
