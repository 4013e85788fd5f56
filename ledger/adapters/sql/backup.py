"""``ebill backup`` and ``ebill restore`` for the store's database.

**SQLite:** SQLite's online backup API copies the live database in one read transaction:
a consistent snapshot while the service runs on (WAL: readers never block writers). The
copy is gzipped into a backup file (:mod:`~ledger.adapters.sql.backup_file`). A restore
checks the file (manifest, checksum, ``PRAGMA quick_check``, a schema revision this code
knows), migrates an older database forward in a temporary copy, and then copies it into the
target with the backup API again, under the store's writer lock, so that nothing a process
still holding the file writes lands half in the old and half in the new database.

**PostgreSQL:** ``pg_dump -Fc`` and ``pg_restore`` when they are on ``PATH``
(:mod:`~ledger.adapters.sql.backup_pg`); production PostgreSQL is better served by
continuous archiving (PITR), see ``docs/backups.md``.

After a restore the store is told to rebuild its chain index from the chain at the next
start (``indexer.rebuild``): everything the chain recorded after the backup — anchors,
voids, stamps, claw-backs — comes back from the contract's events, and the claims stamper
checks every claim against the chain (the index generation moves). What only the database
held (fee lines, salts, claims filed after the backup) cannot come back; ``ebill backup
gaps`` lists what the chain knows and the store lacks.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import sqlite3
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ledger.adapters.sql import backup_pg
from ledger.adapters.sql.backup_file import (
    Manifest,
    describe,
    extract_payload,
    file_sha256,
    read_manifest,
    write_backup,
)
from ledger.adapters.sql.base import LS, M, StoreBase, _aware, utcnow
from ledger.adapters.sql.engine import normalise_url, upgrade
from ledger.adapters.sql.leases import _holder_dead
from ledger.errors import BackupInvalid, DatabaseInUse, InvalidInput, StoreUnavailable

#: meta keys a restore writes: when and from what, and the request to rebuild the chain index
#: (an ``indexer.`` key: the rebuild deletes it in its own transaction, so a crash before the
#: rebuild leaves the request standing)
RESTORED_FROM, REBUILD_INDEX = "restore.from", "indexer.rebuild"


@dataclass(frozen=True)
class Restored:
    """What a restore did."""

    manifest: Manifest
    revision: str                   # the schema revision the database is at now
    migrated_from: str | None       # the backup's revision, if it was migrated forward


def engine_of(url: str) -> str:
    """``sqlite`` or ``postgresql``."""
    return make_url(normalise_url(url)).get_backend_name()


def sqlite_path(url: str) -> Path:
    """The file of an SQLite URL (an in-memory database has none to back up)."""
    database = make_url(normalise_url(url)).database
    if not database or database == ":memory:":
        raise InvalidInput.single("db", "database-url", "an in-memory database has nothing to back up or restore")
    return Path(database)


def known_revisions() -> tuple[list[str], str]:
    """(every schema revision this code knows, its head)."""
    from alembic.script import ScriptDirectory

    from ledger.adapters.sql.engine import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    return [r.revision for r in script.walk_revisions()], head


def check_revision(revision: str | None) -> None:
    """:class:`BackupInvalid` unless this code knows ``revision`` (and so can migrate it forward)."""
    known, head = known_revisions()
    if revision is None:
        raise BackupInvalid("the backup's database was never migrated: it is not an ebill store")
    if revision not in known:
        raise BackupInvalid(f"the backup's database is at schema revision {revision}, which this code does not "
                            f"know (its newest is {head}): it was taken by a newer ebill; restore it with that "
                            "release or a newer one")


# ------------------------------------------------------------------ backup


def take_backup(url: str, out: Path) -> Manifest:
    """Write a backup of the database at ``url`` to ``out`` (consistent while the service runs)."""
    if engine_of(url) == "postgresql":
        return backup_pg.take_backup(url, out)
    db = sqlite_path(url)
    if not db.is_file():
        raise StoreUnavailable(f"no database at {db}: nothing to back up")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".ebill-backup-") as work:
        snapshot, packed = Path(work) / "snapshot.sqlite3", Path(work) / "database.sqlite3.gz"
        _snapshot(db, snapshot)
        conn = sqlite3.connect(snapshot)
        try:
            described = describe(lambda sql: conn.execute(sql).fetchall())
        finally:
            conn.close()
        with snapshot.open("rb") as src, gzip.open(packed, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        size, digest = file_sha256(packed)
        manifest = Manifest(created_at=datetime.now(UTC).isoformat(timespec="seconds"), engine="sqlite",
                            source=make_url(normalise_url(url)).render_as_string(hide_password=True),
                            payload_bytes=size, payload_sha256=digest, **described)
        write_backup(out, manifest, packed)
    return manifest


def _snapshot(db: Path, to: Path) -> None:
    """A consistent copy of the live database ``db`` (one read transaction: writers go on)."""
    try:
        src = sqlite3.connect(f"file:{db}?mode=rw", uri=True, timeout=60)
        try:
            dst = sqlite3.connect(to)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")   # one self-contained file
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"could not read {db}: {exc}") from exc


# ------------------------------------------------------------------ verify


def verify_backup(path: Path) -> Manifest:
    """Check the backup at ``path`` as a restore would, restoring nothing: manifest, checksum, a
    schema revision this code knows, and (SQLite) the database's pages."""
    manifest = read_manifest(path)
    check_revision(manifest.schema_revision)
    if manifest.engine != "sqlite":
        return extract_payload(path, lambda stream: None)
    scratch = path.parent if os.access(path.parent, os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=scratch, prefix=".ebill-verify-") as work:
        copy = Path(work) / "restored.sqlite3"
        extract_payload(path, _gunzip_to(copy, path))
        _checked(copy, path, manifest)
    return manifest


def _gunzip_to(copy: Path, path: Path) -> Callable[[BinaryIO], None]:
    def unpack(stream: BinaryIO) -> None:
        try:
            with gzip.GzipFile(fileobj=stream, mode="rb") as src, copy.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
            raise BackupInvalid(f"{path} is truncated or corrupt: {exc}") from None
    return unpack


# ------------------------------------------------------------------ restore


def restore_backup(url: str, path: Path, *, force: bool = False) -> Restored:
    """Restore the backup at ``path`` into the database at ``url``; see the module's docstring."""
    manifest = read_manifest(path)
    target = engine_of(url)
    if manifest.engine != target:
        raise BackupInvalid(f"{path} holds a {manifest.engine} database; it restores into {manifest.engine} only "
                            f"(the target is {target})")
    check_revision(manifest.schema_revision)
    users = database_users(url)
    epochs = _lease_epochs(url)
    if users and not force:
        raise DatabaseInUse("a running service uses this database: " + "; ".join(users)
                            + ". Stop it first (or pass --force to overwrite it anyway)")
    if target == "postgresql":
        revision_before = backup_pg.restore_backup(url, path, manifest)
    else:
        revision_before = _restore_sqlite(url, path)
    _, head = known_revisions()
    if target == "postgresql" and revision_before != head:
        upgrade(url)
    _mark_restored(url, manifest, migrated_from=revision_before if revision_before != head else None,
                   epochs_before=epochs)
    return Restored(manifest, head, revision_before if revision_before != head else None)


def _restore_sqlite(url: str, path: Path) -> str:
    """Unpack, check and migrate the backup in a temporary file, then copy it into the target;
    the revision the backup's database was at."""
    db = sqlite_path(url)
    db.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=db.parent, prefix=".ebill-restore-") as work:
        copy = Path(work) / "restored.sqlite3"
        manifest = extract_payload(path, _gunzip_to(copy, path))
        revision = _checked(copy, path, manifest)
        _, head = known_revisions()
        if revision != head:
            upgrade(f"sqlite:///{copy}")
        _copy_into(copy, db)
    return revision


def _checked(copy: Path, path: Path, manifest: Manifest) -> str:
    """The schema revision of the unpacked database, after SQLite checked its pages."""
    try:
        with sqlite3.connect(copy) as conn:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise BackupInvalid(f"{path} holds a damaged database: {verdict}")
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupInvalid(f"{path} does not hold an SQLite database ebill can read: {exc}") from None
    revision = row[0] if row else None
    if revision != manifest.schema_revision:
        raise BackupInvalid(f"{path} is inconsistent: its manifest says schema revision "
                            f"{manifest.schema_revision}, its database is at {revision}")
    check_revision(revision)
    assert revision is not None
    return str(revision)


def _copy_into(copy: Path, db: Path) -> None:
    """Copy the checked database into ``db`` with SQLite's backup API, holding the store's writer
    lock (processes that still hold ``db`` open see the new content, never a torn mix)."""
    store = StoreBase.open(f"sqlite:///{db}")
    try:
        with store._writer_turn():
            src, dst = sqlite3.connect(copy), sqlite3.connect(db, timeout=60)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=WAL")
            finally:
                src.close()
                dst.close()
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"could not write {db}: {exc}") from exc
    finally:
        store.close()


def _lease_epochs(url: str) -> dict[str, int]:
    """The leases' fencing tokens in the database about to be overwritten (none: no such database)."""
    store = StoreBase.open(url)
    try:
        with store._read() as conn:
            return {str(name): int(epoch) for name, epoch in conn.execute(select(LS.c.name, LS.c.epoch))}
    except (SQLAlchemyError, StoreUnavailable):
        return {}
    finally:
        store.close()


def _mark_restored(url: str, manifest: Manifest, *, migrated_from: str | None, epochs_before: dict[str, int]) -> None:
    """After a restore: free the leases of processes that ran before it, each with a fencing token above
    both the backup's and the overwritten database's (a worker still running from before, under
    ``--force``, is fenced out, never admitted by a token that happens to match), have the chain index
    rebuilt at the next start, and record the restore (meta and audit trail)."""
    store = StoreBase.open(url)
    try:
        at = utcnow().isoformat(timespec="seconds")
        with store._tx() as conn:
            restored = {str(name): int(epoch) for name, epoch in conn.execute(select(LS.c.name, LS.c.epoch))}
            conn.execute(delete(LS))
            names = restored.keys() | epochs_before.keys()
            if names:
                conn.execute(insert(LS), [{"name": n, "holder": "", "expires_at": utcnow(),
                                           "epoch": max(restored.get(n, 0), epochs_before.get(n, 0)) + 1}
                                          for n in sorted(names)])
            conn.execute(delete(M).where(M.c.key.in_(("indexer.block", "indexer.hash"))))
            store.set_meta(REBUILD_INDEX, f"restored from a backup taken at {manifest.created_at}", conn)
            store.set_meta(RESTORED_FROM, json.dumps({"at": at, "backupCreatedAt": manifest.created_at,
                                                      "schemaRevision": manifest.schema_revision,
                                                      "migratedFrom": migrated_from,
                                                      "indexedBlock": manifest.indexed_block}), conn)
            store.audit(conn, actor="cli", action="store.restore", subject="database",
                        detail={"backupCreatedAt": manifest.created_at, "revision": manifest.schema_revision,
                                "migratedFrom": migrated_from, "indexedBlock": manifest.indexed_block,
                                "host": socket.gethostname()})
    finally:
        store.close()


# ------------------------------------------------------------------ who uses the database


def database_users(url: str) -> list[str]:
    """Who uses the database now, in words: live worker leases (any engine, any host), and for
    SQLite the processes of this host that hold the file open. Empty: nobody (as far as can be seen)."""
    users: list[str] = []
    if engine_of(url) == "sqlite":
        db = sqlite_path(url)
        if not db.exists():
            return users
        users += [f"process {pid} ({cmd})" for pid, cmd in processes_holding(db)]
    store = StoreBase.open(url)
    try:
        with store._read() as conn:
            rows = conn.execute(select(LS.c.name, LS.c.holder, LS.c.expires_at)).all()
    except (SQLAlchemyError, StoreUnavailable):
        rows = []   # (no such table, or no such database: nobody uses it)
    finally:
        store.close()
    now = utcnow()
    for name, holder, expires in rows:
        expires = _aware(expires)
        if expires is not None and expires > now and not _holder_dead(holder):
            users.append(f"{name} held by {holder} until {expires.isoformat(timespec='seconds')}")
    return users


def processes_holding(db: Path) -> list[tuple[int, str]]:
    """(pid, command line) of the other processes of this host with ``db`` (or its WAL) open."""
    wanted = {str(db.resolve()), f"{db.resolve()}-wal", f"{db.resolve()}-shm"}
    found: list[tuple[int, str]] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue    # gone, or another user's
        for fd in fds:
            try:
                if os.readlink(fd) in wanted:
                    cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                    found.append((int(entry.name), cmd[:120]))
                    break
            except OSError:
                continue
    return found


