"""JSON and NDJSON uploads: upload-format documents as they are, parsed with orjson.

- **JSON**: one invoice object, or an array of them. The document is parsed whole, so it
  is bounded by :attr:`Limits.max_document_bytes`; bigger uploads use NDJSON.
- **NDJSON** (``application/x-ndjson``, JSON Lines): one invoice object per line, read line
  by line in bounded memory whatever the file size. Blank lines are skipped; a UTF-8 byte
  order mark before the first line is ignored; ``\\r\\n`` line ends are accepted. A line
  that is not JSON, not an object, or longer than :attr:`Limits.max_item_bytes` is an
  item problem naming the line; the following lines are still read.

Refs and problem locations are ``<file> line <n>`` (NDJSON, 1-based physical lines) and
``<file>`` or ``<file>[<i>]`` (JSON).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

import orjson

from ledger.errors import InvalidInput
from ledger.formats.items import DEFAULT_LIMITS, Limits, SourceItem, count_items, problem

__all__ = ["dumps_json", "iter_json", "iter_ndjson", "write_ndjson"]

_BOM = b"\xef\xbb\xbf"
_SKIP_CHUNK = 1 << 20


def iter_ndjson(stream: IO[bytes], *, name: str = "upload.ndjson",
                limits: Limits = DEFAULT_LIMITS) -> Iterator[SourceItem]:
    """One item per non-blank line of an NDJSON stream, reading one line at a time."""
    return count_items(_ndjson(stream, name, limits), limits=limits, name=name)


def _ndjson(stream: IO[bytes], name: str, limits: Limits) -> Iterator[SourceItem]:
    cap = limits.max_item_bytes
    readline, loads = stream.readline, orjson.loads
    index = lineno = 0
    while True:
        raw = readline(cap + 1)
        if not raw:
            return
        lineno += 1
        ref = f"{name} line {lineno}"
        if len(raw) > cap and raw[-1:] != b"\n":
            skipped = len(raw)
            while raw and raw[-1:] != b"\n":  # drop the rest of the line, a chunk at a time
                raw = readline(_SKIP_CHUNK)
                skipped += len(raw)
            yield SourceItem(index, ref, None, (problem(
                ref, "max-item-bytes", f"is {skipped:,} bytes; one invoice may take at most {cap:,}"),))
            index += 1
            continue
        if lineno == 1 and raw.startswith(_BOM):
            raw = raw[3:]
        if not raw or (raw[:1].isspace() and not raw.strip()):
            continue  # a blank line
        try:
            doc = loads(raw)
        except orjson.JSONDecodeError as exc:
            item = SourceItem(index, ref, None, (problem(ref, "json", f"column {exc.colno}: {exc.msg}"),))
        else:
            if type(doc) is dict:
                item = SourceItem(index, ref, doc)
            else:
                item = SourceItem(index, ref, None, (problem(
                    ref, "object", f"each line must be one invoice object, got {_jtype(doc)}"),))
        yield item
        index += 1


def iter_json(data: bytes | IO[bytes], *, name: str = "upload.json",
              limits: Limits = DEFAULT_LIMITS) -> Iterator[SourceItem]:
    """Items of a JSON upload: one invoice object, or an array of invoice objects.

    Raises :class:`InvalidInput` when the document is not JSON, neither an object nor an
    array, too large, or holds more invoices than allowed.
    """
    doc = load_document(data, name=name, limits=limits)
    if isinstance(doc, dict):
        return iter((SourceItem(0, name, doc),))
    if not isinstance(doc, list):
        raise InvalidInput.single(name, "object-or-array",
                                  f"must be an invoice object or an array of them, got {_jtype(doc)}")
    if len(doc) > limits.max_items:
        raise InvalidInput.single(name, "max-items",
                                  f"has {len(doc):,} invoices; at most {limits.max_items:,} per upload")
    return (_array_item(i, f"{name}[{i}]", v) for i, v in enumerate(doc))


def _array_item(i: int, ref: str, value: Any) -> SourceItem:
    if type(value) is dict:
        return SourceItem(i, ref, value)
    return SourceItem(i, ref, None, (problem(ref, "object", f"must be an invoice object, got {_jtype(value)}"),))


def load_document(data: bytes | IO[bytes], *, name: str, limits: Limits) -> Any:
    """Parse a whole JSON document of at most ``limits.max_document_bytes`` (BOM ignored)."""
    raw = read_bounded(data, name=name, limit=limits.max_document_bytes, hint="use NDJSON for large uploads")
    if raw.startswith(_BOM):
        raw = raw[3:]
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput.single(name, "json", f"not valid JSON at line {exc.lineno} column {exc.colno}: "
                                  f"{exc.msg}") from None


def read_bounded(data: bytes | IO[bytes], *, name: str, limit: int, hint: str) -> bytes:
    """All bytes of ``data``, refusing more than ``limit``."""
    raw = data if isinstance(data, bytes | bytearray | memoryview) else data.read(limit + 1)
    if len(raw) > limit:
        raise InvalidInput.single(name, "max-document-bytes",
                                  f"is larger than {limit:,} bytes, the limit for a document parsed whole; {hint}")
    return bytes(raw)


def write_ndjson(docs: Iterable[Mapping[str, Any]], out: IO[bytes]) -> tuple[int, int]:
    """Write one compact JSON object per line; returns (documents, bytes) written."""
    dumps, opt, write = orjson.dumps, orjson.OPT_APPEND_NEWLINE, out.write
    n = size = 0
    for doc in docs:
        size += write(dumps(doc, option=opt))
        n += 1
    return n, size


def dumps_json(docs: Iterable[Mapping[str, Any]]) -> bytes:
    """A JSON array of the documents."""
    return orjson.dumps(list(docs))


def _jtype(v: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(v), type(v).__name__)
