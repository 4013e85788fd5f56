"""One entry point for an upload: tell its format, then read it with the right reader.

:func:`detect_format` decides from, in this order: a specific content type
(``application/fhir+json``, ``application/x-ndjson``, ``text/csv``...), the file name's
extension (``.ndjson``/``.jsonl``, ``.csv``/``.tsv``), then the first bytes: a JSON
document naming ``"resourceType": "Bundle"`` is FHIR; a first line that is a complete
JSON object followed by another object is NDJSON; other JSON is JSON; a header row with
our CSV column names is CSV. ``application/json`` or ``.json`` alone do not decide
between JSON, NDJSON and FHIR: the content does.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO, Literal

import orjson

from ledger.errors import InvalidInput
from ledger.formats.fhir import iter_fhir_bundle
from ledger.formats.his_csv import csv_kind, read_csv_pair, read_flat_csv
from ledger.formats.items import DEFAULT_LIMITS, Limits, SourceItem
from ledger.formats.jsonfmt import iter_json, iter_ndjson

__all__ = ["FORMATS", "Format", "UploadPart", "detect_format", "read_upload"]

Format = Literal["json", "ndjson", "csv", "fhir"]
FORMATS: tuple[Format, ...] = ("json", "ndjson", "csv", "fhir")
HEAD_BYTES = 64 * 1024
_TYPES: dict[str, Format] = {
    "application/fhir+json": "fhir", "application/json+fhir": "fhir",
    "application/x-ndjson": "ndjson", "application/ndjson": "ndjson", "application/jsonl": "ndjson",
    "application/x-jsonlines": "ndjson", "application/jsonlines": "ndjson",
    "text/csv": "csv", "application/csv": "csv", "text/tab-separated-values": "csv",
}
_EXTENSIONS: dict[str, Format] = {".ndjson": "ndjson", ".jsonl": "ndjson", ".csv": "csv", ".tsv": "csv"}
_BUNDLE_RE = re.compile(rb'"resourceType"\s*:\s*"Bundle"')
_WS = b" \t\r\n"


def detect_format(filename: str | None, content_type: str | None, head: bytes) -> Format:
    """The format of an upload from its name, content type and first bytes (see the module doc).

    Raises :class:`InvalidInput` when none of them tells.
    """
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype in _TYPES:
        return _TYPES[ctype]
    ext = PurePath(filename).suffix.lower() if filename else ""
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    body = head.removeprefix(b"\xef\xbb\xbf").lstrip(_WS)
    if body[:1] in (b"{", b"["):
        if _BUNDLE_RE.search(body):
            return "fhir"
        if body[:1] == b"{" and _looks_ndjson(body):
            return "ndjson"
        return "json"
    if ctype == "application/json" or ext == ".json":
        return "json"  # not JSON after all: the JSON reader says where
    if csv_kind(head) is not None:
        return "csv"
    raise InvalidInput.single(filename or "upload", "format",
                              "cannot tell the format: send JSON, NDJSON (.ndjson), CSV (.csv) or a FHIR Bundle, "
                              "or name it with its content type")


def _looks_ndjson(body: bytes) -> bool:
    first, sep, rest = body.partition(b"\n")
    if not sep:
        return False
    try:
        obj = orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return isinstance(obj, dict) and rest.lstrip(_WS)[:1] == b"{"


@dataclass(frozen=True)
class UploadPart:
    """One file of an upload (a request body, or one part of a multipart form)."""

    stream: IO[bytes]
    filename: str | None = None
    content_type: str | None = None


def read_upload(parts: Sequence[UploadPart], *, fmt: Format | None = None, limits: Limits = DEFAULT_LIMITS,
                validate_fhir: bool = True) -> Iterator[SourceItem]:
    """The items of an upload of one file, or of two CSV files (invoices.csv + fee_lines.csv).

    ``fmt`` forces the format; otherwise it is detected. Raises :class:`InvalidInput` for
    problems with the upload as a whole (also while iterating: see :mod:`ledger.formats`).
    """
    if len(parts) == 2:
        if fmt not in (None, "csv"):
            raise InvalidInput.single("upload", "parts", f"two files make a CSV upload, not {fmt}")
        return _csv_pair(parts, limits)
    if len(parts) != 1:
        raise InvalidInput.single("upload", "parts", f"expected one file, or invoices.csv and fee_lines.csv; "
                                  f"got {len(parts)} files")
    part = parts[0]
    head, stream = _peek(part.stream)
    fmt = fmt or detect_format(part.filename, part.content_type, head)
    if fmt == "ndjson":
        return iter_ndjson(stream, name=part.filename or "upload.ndjson", limits=limits)
    if fmt == "json":
        return iter_json(stream, name=part.filename or "upload.json", limits=limits)
    if fmt == "fhir":
        return iter_fhir_bundle(stream, name=part.filename or "bundle.json", limits=limits, validate=validate_fhir)
    if fmt == "csv":
        name = part.filename or "invoices.csv"
        kind = csv_kind(head)
        if kind != "flat":
            raise InvalidInput.single(
                f"{name} row 1", "csv-kind",
                "a single CSV file must be flat (a row per fee line with the invoice columns); "
                f"this looks like {kind or 'none of ours'}: send invoices.csv and fee_lines.csv together")
        return read_flat_csv(stream, name=name, limits=limits)
    raise InvalidInput.single("format", "one-of", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")


def _csv_pair(parts: Sequence[UploadPart], limits: Limits) -> Iterator[SourceItem]:
    kinds: dict[str, tuple[UploadPart, IO[bytes]]] = {}
    for part in parts:
        head, stream = _peek(part.stream)
        kind = csv_kind(head)
        if kind not in ("invoices", "fee_lines") or kind in kinds:
            raise InvalidInput.single(
                f"{part.filename or 'upload'} row 1", "csv-kind",
                f"two files must be invoices.csv (invoice columns) and fee_lines.csv (fee-line columns); "
                f"this one looks like {kind or 'none of ours'}")
        kinds[kind] = (part, stream)
    (inv, inv_stream), (fl, fl_stream) = kinds["invoices"], kinds["fee_lines"]
    return read_csv_pair(inv_stream, fl_stream, invoices_name=inv.filename or "invoices.csv",
                         fee_lines_name=fl.filename or "fee_lines.csv", limits=limits)


def _peek(stream: IO[bytes], n: int = HEAD_BYTES) -> tuple[bytes, IO[bytes]]:
    """The first ``n`` bytes, and a stream that still starts at them."""
    try:
        if stream.seekable():
            here = stream.tell()
            head = stream.read(n)
            stream.seek(here)
            return head, stream
    except (OSError, AttributeError):
        pass
    chunks, size = [], 0
    while size < n:  # a raw stream may return less than asked
        chunk = stream.read(n - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    head = b"".join(chunks)
    return head, io.BufferedReader(_Replay(head, stream))


class _Replay(io.RawIOBase):
    """``head`` then the rest of ``stream``, for streams that cannot seek back."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head, self._stream = memoryview(head), stream

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(b))
        b[: len(data)] = data
        return len(data)
