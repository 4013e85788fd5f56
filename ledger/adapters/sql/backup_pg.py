"""``ebill backup`` / ``ebill restore`` on PostgreSQL: ``pg_dump -Fc`` and ``pg_restore``.

A dump is one consistent snapshot (``pg_dump`` reads in one repeatable-read transaction),
taken while the service runs. The password never appears on a command line (``PGPASSWORD``
in the tools' environment). A restore goes into an **empty** database only — restoring over
tables a newer schema made would leave them behind — so an operator creates one
(``createdb``), restores into it and points ``EBILL_DB`` at it. Without the client tools on
``PATH`` the commands say so and point to ``docs/backups.md`` (continuous archiving, PITR, is
what production PostgreSQL should use in any case).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import text
from sqlalchemy.engine import make_url

from ledger.adapters.sql.backup_file import Manifest, describe, extract_payload, file_sha256, write_backup
from ledger.adapters.sql.engine import normalise_url, open_engine
from ledger.errors import BackupInvalid, StoreUnavailable, ToolchainError

_DOCS = "see docs/backups.md (pg_dump -Fc, or continuous archiving for point-in-time recovery)"


def libpq(url: str) -> tuple[str, dict[str, str]]:
    """(a libpq connection URI without the password, the environment carrying it)."""
    parsed = make_url(normalise_url(url)).set(drivername="postgresql")
    env = {"PGPASSWORD": parsed.password} if parsed.password else {}
    return parsed.set(password=None).render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolchainError(f"{name} is not on PATH: install the PostgreSQL client tools "
                             f"(Debian: postgresql-client), or back up the server yourself; {_DOCS}")
    return path


def _run(argv: list[str], env: dict[str, str], *, stdin: BinaryIO | None = None) -> None:
    done = subprocess.run(argv, env={**os.environ, **env}, stdin=stdin, capture_output=True, check=False)
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip()[-600:]
        raise StoreUnavailable(f"{Path(argv[0]).name} failed (exit {done.returncode}): {tail}")


def _describe(url: str) -> dict[str, Any]:

    engine = open_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            return describe(lambda sql: conn.exec_driver_sql(sql).fetchall())
    finally:
        engine.dispose()


def take_backup(url: str, out: Path) -> Manifest:
    """``pg_dump -Fc`` of the database at ``url`` into the backup file ``out``."""
    pg_dump = _tool("pg_dump")
    uri, env = libpq(url)
    described = _describe(url)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".ebill-backup-") as work:
        dump = Path(work) / "database.pgdump"
        _run([pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--file={dump}", f"--dbname={uri}"], env)
        after = _describe(url)
        if after["schema_revision"] != described["schema_revision"]:
            raise StoreUnavailable("the database was migrated while it was dumped: take the backup again")
        size, digest = file_sha256(dump)
        manifest = Manifest(created_at=datetime.now(UTC).isoformat(timespec="seconds"), engine="postgresql",
                            source=make_url(normalise_url(url)).render_as_string(hide_password=True),
                            payload_bytes=size, payload_sha256=digest, **described)
        write_backup(out, manifest, dump)
    return manifest


def _is_empty(url: str) -> bool:
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            n = conn.execute(text("SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()"))
            return int(n.scalar_one()) == 0
    finally:
        engine.dispose()


def restore_backup(url: str, path: Path, manifest: Manifest) -> str:
    """``pg_restore`` the backup at ``path`` into the empty database at ``url``, in one transaction;
    the schema revision it holds (the caller migrates it forward)."""
    pg_restore = _tool("pg_restore")
    if not _is_empty(url):
        raise BackupInvalid("a PostgreSQL backup is restored into an empty database only: create one "
                            "(createdb ebill_restored), restore into it with --db, check it, then point EBILL_DB "
                            "at it (or drop and create this one first)")
    uri, env = libpq(url)
    with tempfile.TemporaryDirectory(prefix="ebill-restore-") as work:
        dump = Path(work) / "database.pgdump"

        def save(stream: BinaryIO) -> None:
            with dump.open("wb") as f:
                shutil.copyfileobj(stream, f, 1 << 20)

        extract_payload(path, save)
        _run([pg_restore, "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
              f"--dbname={uri}", str(dump)], env)
    revision = _describe(url)["schema_revision"]
    if revision != manifest.schema_revision:
        raise BackupInvalid(f"{path} is inconsistent: its manifest says schema revision "
                            f"{manifest.schema_revision}, its database is at {revision}")
    return str(revision)
