"""The backup file: a tar archive of a manifest and the database, that says what it is.

``ebill-backup.json`` comes first — the format, when the backup was taken, the engine, the
schema revision, the chain id and contract the store served, the block its chain index had
reached, a few counts, and the size and SHA-256 of the payload — then the payload itself:
``database.sqlite3.gz`` (a consistent copy of an SQLite database, gzip) or
``database.pgdump`` (``pg_dump -Fc``). Any ``tar`` lists it; :func:`read_manifest` refuses a
file that is not an ebill backup, and :func:`extract_payload` one whose payload is truncated
or altered (its size or checksum differs), before anything is restored.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from sqlalchemy.exc import SQLAlchemyError

from ledger.errors import BackupInvalid

FORMAT = "ebill-backup"
VERSION = 1
MANIFEST = "ebill-backup.json"
#: the payload member of each engine
PAYLOADS = {"sqlite": "database.sqlite3.gz", "postgresql": "database.pgdump"}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Manifest:
    """What a backup holds (the first member of the file, as JSON)."""

    created_at: str                     # ISO 8601, UTC
    engine: str                         # sqlite | postgresql
    schema_revision: str | None         # the Alembic revision of the database inside
    chain_id: str | None                # the store's meta: the chain and contract it served
    contract: str | None
    indexed_block: int | None           # the block its chain index had reached
    payers: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    source: str = ""                    # the database URL, password hidden
    payload_bytes: int = 0
    payload_sha256: str = ""

    @property
    def payload(self) -> str:
        return PAYLOADS[self.engine]

    def to_json(self) -> dict[str, Any]:
        doc = {"format": FORMAT, "version": VERSION}
        doc.update({_camel(k): list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()})
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> Manifest:
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise BackupInvalid("not an ebill backup (its manifest does not say format "
                                f"{FORMAT!r})")
        if doc.get("version") != VERSION:
            raise BackupInvalid(f"backup format version {doc.get('version')!r} is not one this code reads "
                                f"(it reads version {VERSION}): restore it with the ebill release that wrote it")
        try:
            m = cls(created_at=str(doc["createdAt"]), engine=str(doc["engine"]),
                    schema_revision=doc.get("schemaRevision"), chain_id=doc.get("chainId"),
                    contract=doc.get("contract"), indexed_block=doc.get("indexedBlock"),
                    payers=tuple(doc.get("payers") or ()), counts=dict(doc.get("counts") or {}),
                    source=str(doc.get("source") or ""), payload_bytes=int(doc["payloadBytes"]),
                    payload_sha256=str(doc["payloadSha256"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BackupInvalid(f"the backup's manifest is incomplete: {exc}") from None
        if m.engine not in PAYLOADS:
            raise BackupInvalid(f"the backup holds a {m.engine!r} database; this code restores "
                                f"{' or '.join(PAYLOADS)}")
        return m


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def file_sha256(path: Path) -> tuple[int, str]:
    """(size, SHA-256 hex) of a file, read in chunks."""
    h, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def write_backup(out: Path, manifest: Manifest, payload: Path) -> None:
    """Write ``manifest`` and ``payload`` to ``out`` atomically (a temporary file renamed into
    place once on disk): a crash leaves either no file or a whole one."""
    tmp = out.with_name(f".{out.name}.partial")
    try:
        with tmp.open("wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            doc = json.dumps(manifest.to_json(), indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(doc), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(doc))
            info = tar.gettarinfo(str(payload), arcname=manifest.payload)
            info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
            with payload.open("rb") as f:
                tar.addfile(info, f)
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)   # it holds sealed keys and medical data: its owner's alone
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def read_manifest(path: Path) -> Manifest:
    """The manifest of the backup at ``path``; :class:`BackupInvalid` if it is not one."""
    with _open(path) as tar:
        return _manifest(tar, path)


def extract_payload(path: Path, sink: Callable[[BinaryIO], None]) -> Manifest:
    """Check the backup at ``path`` and hand its payload, as a stream, to ``sink``.

    The stream's bytes are counted and hashed as ``sink`` reads them; whatever ``sink``
    leaves unread is read afterwards, and a size or checksum other than the manifest's is a
    :class:`BackupInvalid` (the caller then throws away what ``sink`` wrote).
    """
    with _open(path) as tar:
        manifest = _manifest(tar, path)
        member = _member(tar, manifest.payload, path)
        raw = tar.extractfile(member)
        assert raw is not None
        stream = _Hashing(raw)
        try:
            sink(stream)  # type: ignore[arg-type]
            while stream.read(_CHUNK):
                pass
        except (OSError, EOFError, tarfile.TarError) as exc:
            raise BackupInvalid(f"{path} is truncated or corrupt: {exc}") from None
        if stream.size != manifest.payload_bytes or stream.sha256.hexdigest() != manifest.payload_sha256:
            raise BackupInvalid(f"{path} is truncated or corrupt: its database holds {stream.size} bytes with "
                                f"SHA-256 {stream.sha256.hexdigest()[:16]}…, the manifest says "
                                f"{manifest.payload_bytes} bytes, {manifest.payload_sha256[:16]}…")
        return manifest


class _Hashing(io.RawIOBase):
    """A read-only stream that hashes and counts what is read through it."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner, self.sha256, self.size = inner, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.inner.read(len(b))
        n = len(data)
        b[:n] = data
        self.sha256.update(data)
        self.size += n
        return n


class _open:
    """``tarfile.open`` whose failures say what the file is not."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> tarfile.TarFile:
        if not self.path.is_file():
            raise BackupInvalid(f"no backup file at {self.path}")
        try:
            self.tar = tarfile.open(self.path, mode="r:")
        except (tarfile.TarError, OSError) as exc:
            raise BackupInvalid(f"{self.path} is not an ebill backup (not a tar archive: {exc})") from None
        return self.tar

    def __exit__(self, *exc: object) -> None:
        self.tar.close()


def _manifest(tar: tarfile.TarFile, path: Path) -> Manifest:
    member = _member(tar, MANIFEST, path, what="an ebill backup (no manifest)")
    f = tar.extractfile(member)
    assert f is not None
    try:
        doc = json.loads(f.read(1 << 20))
    except (ValueError, OSError, EOFError, tarfile.TarError) as exc:
        raise BackupInvalid(f"{path} is not an ebill backup (its manifest is not JSON: {exc})") from None
    return Manifest.from_json(doc)


def _member(tar: tarfile.TarFile, name: str, path: Path, *, what: str = "") -> tarfile.TarInfo:
    try:
        member = tar.getmember(name)
    except KeyError:
        raise BackupInvalid(f"{path} is not {what}" if what else
                            f"{path} is truncated or corrupt: it has no {name}") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupInvalid(f"{path} is truncated or corrupt: {exc}") from None
    if not member.isfile():
        raise BackupInvalid(f"{path} is not an ebill backup ({name} is not a file)")
    return member


#: the tables whose rows a manifest counts
_COUNTED = ("hospitals", "invoices", "batches", "voids", "payers", "claims")


def describe(query: Callable[[str], Sequence[Any]]) -> dict[str, Any]:
    """The manifest's facts about a database, read with ``query`` (plain SQL to its rows, from an
    sqlite3 or SQLAlchemy connection): revision, chain, index, payers, counts."""

    def rows(sql: str) -> Sequence[Any]:
        try:
            return query(sql)
        except (sqlite3.Error, SQLAlchemyError):
            return []   # a table an old revision lacks

    def first(sql: str) -> Any:
        found = rows(sql)
        return found[0][0] if found else None

    def meta(key: str) -> str | None:
        value = first(f"SELECT value FROM meta WHERE key = '{key}'")
        return str(value) if value is not None else None

    counts = {t: int(n) for t in _COUNTED if (n := first(f"SELECT count(*) FROM {t}")) is not None}
    indexed, revision = meta("indexer.block"), first("SELECT version_num FROM alembic_version")
    return {"schema_revision": str(revision) if revision is not None else None, "chain_id": meta("chain.id"),
            "contract": meta("chain.contract"), "indexed_block": int(indexed) if indexed else None,
            "payers": tuple(str(r[0]) for r in rows("SELECT payer_id FROM payers ORDER BY payer_id")),
            "counts": counts}
