"""`ebill backup`, `backup verify` and `restore` on SQLite: round trip, online consistency, and
every refusal as one clear line (never a traceback)."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger.adapters.sql.backup import REBUILD_INDEX, database_users
from ledger.adapters.sql.backup_file import MANIFEST
from ledger.adapters.sql.engine import head_revision, upgrade
from ledger.adapters.sql.store import SqlStore
from ledger.cli import app

runner = CliRunner()


def ebill(home: Path, db: str, *args: str) -> tuple[int, str]:
    r = runner.invoke(app, [*args, "--home", str(home), "--db", db])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, " ".join(r.output.split())   # (rich wraps long lines)


@pytest.fixture
def db(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "ebill.sqlite"
    url = f"sqlite:///{path}"
    upgrade(url)
    store = SqlStore.open(url)
    store.set_meta("chain.id", "31337")
    store.set_meta("chain.contract", "0x" + "ab" * 20)
    store.set_meta("indexer.block", "42")
    store.set_meta("indexer.hash", "0x" + "cd" * 32)
    store.audit(actor="test", action="test.before", subject="backup", detail={})
    store.close()
    return path, url


def audit_actions(url: str) -> list[str]:
    store = SqlStore.open(url)
    try:
        return [e["action"] for e in store.audit_trail(limit=1000)]
    finally:
        store.close()


def test_round_trip_restores_the_backup_and_asks_for_a_chain_index_rebuild(tmp_path: Path,
                                                                            db: tuple[Path, str]) -> None:
    _, url = db
    out = tmp_path / "b.tar"
    code, text = ebill(tmp_path, url, "backup", "--out", str(out))
    assert code == 0, text
    assert "schema revision" in text and "chain 31337" in text
    with tarfile.open(out) as tar:
        assert tar.getnames()[0] == MANIFEST             # the manifest first: `tar xOf b.tar ebill-backup.json`
        doc = json.loads(tar.extractfile(MANIFEST).read())  # type: ignore[union-attr]
    assert doc["format"] == "ebill-backup" and doc["schemaRevision"] == head_revision()
    assert doc["chainId"] == "31337" and doc["contract"] == "0x" + "ab" * 20 and doc["indexedBlock"] == 42
    assert len(doc["payloadSha256"]) == 64 and (out.stat().st_mode & 0o777) == 0o600

    store = SqlStore.open(url)
    store.audit(actor="test", action="test.after", subject="backup", detail={})   # work after the backup
    store.close()
    code, text = ebill(tmp_path, url, "restore", str(out))
    assert code == 0, text
    actions = audit_actions(url)
    assert "test.after" not in actions and "test.before" in actions and actions[0] == "store.restore"
    store = SqlStore.open(url)
    try:
        assert store.get_meta("indexer.block") is None                      # the cursor is gone ...
        assert store.get_meta(REBUILD_INDEX) == f"restored from a backup taken at {doc['createdAt']}"  # ... rebuild
        assert store.get_meta("chain.contract") == "0x" + "ab" * 20
    finally:
        store.close()
    code, text = ebill(tmp_path, url, "backup", "gaps")
    assert code == 1 and "not rebuilt yet" in text


def test_backup_is_consistent_while_writers_go_on(tmp_path: Path, db: tuple[Path, str]) -> None:
    _, url = db
    store = SqlStore.open(url)
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            store.add_counts({"a": 1, "b": 1})     # two rows in one transaction: always equal
            n += 1

    t = threading.Thread(target=write)
    t.start()
    try:
        outs = [tmp_path / f"b{i}.tar" for i in range(3)]
        for out in outs:
            code, text = ebill(tmp_path, url, "backup", "--out", str(out))
            assert code == 0, text
    finally:
        stop.set()
        t.join()
        store.close()
    for i, out in enumerate(outs):
        target = f"sqlite:///{tmp_path / f'r{i}.sqlite'}"
        code, text = ebill(tmp_path, target, "restore", str(out))
        assert code == 0, text
        restored = SqlStore.open(target)
        counts = restored.counters()
        restored.close()
        assert counts.get("a") == counts.get("b")


def test_an_older_backup_is_migrated_forward(tmp_path: Path) -> None:
    old = f"sqlite:///{tmp_path / 'old.sqlite'}"
    upgrade(old, "0017")
    out = tmp_path / "old.tar"
    assert ebill(tmp_path, old, "backup", "--out", str(out))[0] == 0
    target = f"sqlite:///{tmp_path / 'new.sqlite'}"
    code, text = ebill(tmp_path, target, "restore", str(out))
    assert code == 0, text
    assert f"migrated forward from schema revision 0017 to {head_revision()}" in " ".join(text.split())
    with sqlite3.connect(tmp_path / "new.sqlite") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == head_revision()


def _rewrite(src: Path, dst: Path, *, manifest: dict | None = None, payload: bytes | None = None) -> None:
    """A copy of the backup ``src`` with its manifest or payload replaced."""
    with tarfile.open(src) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(dst, "w") as tar:
        for m, data in members:
            if m.name == MANIFEST and manifest is not None:
                data = json.dumps(manifest).encode()
            elif m.name != MANIFEST and payload is not None:
                data = payload
            m.size = len(data)
            tar.addfile(m, io.BytesIO(data))


@pytest.mark.parametrize("damage", ["not-a-tar", "empty", "no-manifest", "other-format", "truncated-half",
                                    "truncated-tail", "flipped-byte", "newer-schema", "postgres-into-sqlite",
                                    "missing"])
def test_restore_refuses_what_is_not_a_sound_backup(tmp_path: Path, db: tuple[Path, str], damage: str) -> None:
    _, url = db
    good = tmp_path / "good.tar"
    assert ebill(tmp_path, url, "backup", "--out", str(good))[0] == 0
    bad = tmp_path / "bad.tar"
    raw = good.read_bytes()
    with tarfile.open(good) as tar:
        doc = json.loads(tar.extractfile(MANIFEST).read())  # type: ignore[union-attr]
        payload = tar.extractfile("database.sqlite3.gz").read()  # type: ignore[union-attr]
    expected = {"not-a-tar": "not an ebill backup", "empty": "not an ebill backup",
                "no-manifest": "not an ebill backup", "other-format": "not an ebill backup",
                "truncated-half": "truncated or corrupt", "truncated-tail": "truncated or corrupt",
                "flipped-byte": "truncated or corrupt", "newer-schema": "newer ebill",
                "postgres-into-sqlite": "restores into postgresql only", "missing": "no backup file"}[damage]
    if damage == "not-a-tar":
        bad.write_bytes(b"SQLite format 3\x00" + bytes(4000))
    elif damage == "empty":
        bad.write_bytes(b"")
    elif damage == "no-manifest":
        with tarfile.open(bad, "w") as tar:
            info = tarfile.TarInfo("database.sqlite3.gz")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    elif damage == "other-format":
        _rewrite(good, bad, manifest={**doc, "format": "something-else"})
    elif damage == "truncated-half":
        bad.write_bytes(raw[: len(raw) // 2])
    elif damage == "truncated-tail":
        _rewrite(good, bad, payload=payload[:-100])
    elif damage == "flipped-byte":
        flipped = bytearray(payload)
        flipped[len(flipped) // 2] ^= 0xFF
        _rewrite(good, bad, payload=bytes(flipped))
    elif damage == "newer-schema":
        _rewrite(good, bad, manifest={**doc, "schemaRevision": "9999"})
    elif damage == "postgres-into-sqlite":
        _rewrite(good, bad, manifest={**doc, "engine": "postgresql"})
    before = (tmp_path / "ebill.sqlite").read_bytes()
    code, text = ebill(tmp_path, url, "restore", str(bad))
    assert code == 1, text
    assert expected in " ".join(text.split()) and "Traceback" not in text
    assert "test.before" in audit_actions(url) and "store.restore" not in audit_actions(url)   # untouched
    assert (tmp_path / "ebill.sqlite").read_bytes() == before
    r = runner.invoke(app, ["backup", "verify", str(bad)])
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output


def test_a_database_with_a_newer_schema_inside_is_refused(tmp_path: Path, db: tuple[Path, str]) -> None:
    path, url = db
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(path) as src, sqlite3.connect(newer) as dst:
        src.backup(dst)
        dst.execute("UPDATE alembic_version SET version_num = '9999'")
    out = tmp_path / "newer.tar"
    assert ebill(tmp_path, f"sqlite:///{newer}", "backup", "--out", str(out))[0] == 0
    code, text = ebill(tmp_path, url, "restore", str(out))
    assert code == 1 and "schema revision 9999" in text and "newer ebill" in " ".join(text.split())


def test_a_running_service_blocks_the_restore_unless_forced(tmp_path: Path, db: tuple[Path, str]) -> None:
    path, url = db
    out = tmp_path / "b.tar"
    assert ebill(tmp_path, url, "backup", "--out", str(out))[0] == 0
    # a chain worker's live lease (another host's: its process cannot be checked)
    store = SqlStore.open(url)
    for n in range(3):    # three takeovers since the backup: the worker still running holds token 3
        assert store.take_lease("chain-worker", f"otherhost:12{n}:abc", ttl=timedelta(seconds=0 if n < 2 else 60))
    assert store.lease_row("chain-worker").epoch == 3   # type: ignore[union-attr]
    store.close()
    code, text = ebill(tmp_path, url, "restore", str(out))
    assert code == 1 and "a running service uses this database" in text and "chain-worker held by otherhost" in text
    assert "--force" in text
    code, text = ebill(tmp_path, url, "restore", str(out), "--force")
    assert code == 0, text
    assert database_users(url) == []       # the restore freed the leases of processes from before it
    # ... with a fencing token above the one the worker from before holds: it is fenced out, never re-admitted
    store = SqlStore.open(url)
    assert store.lease_row("chain-worker").epoch == 4   # type: ignore[union-attr]
    assert store.take_lease("chain-worker", "thishost:1:new", ttl=timedelta(seconds=60)) == 5
    store.release_lease("chain-worker", "thishost:1:new")
    store.close()

    # a process of this host holding the database open (as `ebill serve` does)
    holder = subprocess.Popen([sys.executable, "-c", "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1]); "
                               "c.execute('select 1 from meta').fetchall(); print('open', flush=True); time.sleep(60)",
                               str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        code, text = ebill(tmp_path, url, "restore", str(out))
        assert code == 1 and f"process {holder.pid}" in text
    finally:
        holder.kill()
        holder.wait()
    assert ebill(tmp_path, url, "restore", str(out))[0] == 0


@pytest.mark.postgres
def test_postgresql_backup_restores_into_an_empty_database_only(postgres_cluster: Any, tmp_path: Path) -> None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("no pg_dump / pg_restore on PATH")
    with postgres_cluster.database() as src, postgres_cluster.database() as dst:
        upgrade(src)
        store = SqlStore.open(src)
        store.set_meta("chain.id", "31337")
        store.audit(actor="test", action="test.before", subject="backup", detail={})
        store.close()
        out = tmp_path / "pg.tar"
        code, text = ebill(tmp_path, src, "backup", "--out", str(out))
        assert code == 0, text
        with tarfile.open(out) as tar:
            assert tar.getnames() == [MANIFEST, "database.pgdump"]
        code, text = ebill(tmp_path, src, "restore", str(out))
        assert code == 1 and "empty database only" in text
        code, text = ebill(tmp_path, dst, "restore", str(out))
        assert code == 0, text
        actions = audit_actions(dst)
        assert actions[0] == "store.restore" and "test.before" in actions
        restored = SqlStore.open(dst)
        try:
            assert restored.get_meta("chain.id") == "31337" and restored.get_meta(REBUILD_INDEX)
            assert restored.schema_revision() == head_revision()
        finally:
            restored.close()
