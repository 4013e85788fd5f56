"""The database fixtures: SQLite and a throw-away PostgreSQL cluster (tests/pg.py)."""

from __future__ import annotations

import re

import pg
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, select, text


def test_round_trip(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        meta = MetaData()
        notes = Table("notes", meta, Column("id", Integer, primary_key=True), Column("body", String(100)))
        meta.create_all(engine)
        with engine.begin() as conn:
            conn.execute(notes.insert(), [{"id": 1, "body": "挂号费"}, {"id": 2, "body": "药费"}])
        with engine.connect() as conn:
            assert conn.execute(select(notes.c.id, notes.c.body).order_by(notes.c.id)).all() == [
                (1, "挂号费"),
                (2, "药费"),
            ]
            if engine.dialect.name == "postgresql":
                version = conn.execute(text("SELECT version()")).scalar_one()
                match = re.match(r"PostgreSQL (\d+)", version)
                assert match, version
                assert int(match.group(1)) >= 15, version
            else:
                assert engine.dialect.name == "sqlite"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_fresh_databases_are_isolated(fresh_postgres_url: str, postgres_cluster: pg.Cluster, postgres_url: str) -> None:
    with postgres_cluster.database() as other_url:
        assert len({fresh_postgres_url, other_url, postgres_url}) == 3
        first, second = create_engine(fresh_postgres_url), create_engine(other_url)
        try:
            with first.begin() as conn:
                conn.execute(text("CREATE TABLE only_here (x int)"))
                conn.execute(text("INSERT INTO only_here VALUES (1)"))
            with second.connect() as conn:
                assert conn.execute(text("SELECT to_regclass('only_here')")).scalar_one() is None
            with first.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM only_here")).scalar_one() == 1
        finally:
            first.dispose()
            second.dispose()  # (the drop is WITH (FORCE), but be tidy)
        other_name = other_url.rsplit("/", 1)[1]
    with postgres_cluster.connect() as conn:  # dropped on leaving the block
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (other_name,)).fetchone() is None


@pytest.mark.postgres
def test_cluster_is_private(postgres_cluster: pg.Cluster) -> None:
    """Tuned for speed, listening only on loopback, with its socket in its own temp dir."""
    assert postgres_cluster.dir is not None
    with postgres_cluster.connect() as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('fsync', 'synchronous_commit', 'full_page_writes', 'listen_addresses', 'unix_socket_directories')"
            ).fetchall()
        )
    assert settings == {
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(postgres_cluster.dir),
    }
