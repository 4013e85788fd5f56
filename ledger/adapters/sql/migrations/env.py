"""Alembic environment: runs the package's migrations against the configured URL.

Several instances may start at once against one database (``ebill serve --role api`` on
two hosts, and the workers): they migrate one after another, and only the first finds
anything to do.

- PostgreSQL: a session-level advisory lock (:data:`~ledger.leadership.MIGRATION_LOCK`) is
  taken before Alembic reads the schema's revision and released after the migrations
  committed (or with the session, should the process die). DDL is transactional there: the
  migrations run in one transaction.
- SQLite: the migrations' transaction begins ``IMMEDIATE`` (the connection's ``write``
  option, :mod:`ledger.adapters.sql.engine`), taking the database's one write lock before
  the revision is read; a second instance waits on the busy timeout and then finds the
  schema at head.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from ledger.adapters.sql.engine import open_engine
from ledger.adapters.sql.schema import metadata
from ledger.leadership import MIGRATION_LOCK

config = context.config


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    engine = open_engine(url)
    with engine.connect().execution_options(write=True) as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
        try:
            context.configure(connection=connection, target_metadata=metadata,
                              render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            if postgres:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations()
