"""The SQL store: SQLModel tables, Alembic migrations, and the store adapter.

SQLite (WAL) is the zero-setup default; PostgreSQL is the production database. Both
run the same migrations and the same code; dialect differences (upserts, pragmas) are
confined to :mod:`ledger.adapters.sql.engine`.
"""
