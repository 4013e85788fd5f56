"""JSON and NDJSON uploads: upload-format documents as they are, parsed with orjson.

- **JSON**: one invoice object, or an array of them. The document is parsed whole, so it
  is bounded by :attr:`Limits.max_document_bytes`; bigger uploads use NDJSON.
- **NDJSON** (``application/x-ndjson``, JSON Lines): one invoice object per line, read line
  by line in bounded memory whatever the file size. Blank lines are skipped; a UTF-8 byte
  order mark before the first line is ignored; ``\\r\\n`` line ends are accepted. A line
  that is not JSON, not an object, or longer than :attr:`Limits.max_item_bytes` is an
  item problem naming the line; the following lines are still read.

An object with a key written twice is refused as an item problem naming the key and its
place (``upload.ndjson line 7: feeLines[3].amountFen``, rule ``duplicate-key``): parsers
disagree on which value such a document means, and a fingerprint must not depend on it
(:mod:`ledger.formats.strict_json`, which finds them at little cost on the fast path).

Refs and problem locations are ``<file> line <n>`` (NDJSON, 1-based physical lines) and
``<file>`` or ``<file>[<i>]`` (JSON).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

import orjson

from ledger.errors import FieldProblem, InvalidInput
from ledger.formats.items import DEFAULT_LIMITS, Limits, SourceItem, count_items, problem
from ledger.formats.strict_json import DuplicateKey, MalformedJson, duplicate_keys, parse

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
                twice = duplicate_keys(raw, doc)
                item = SourceItem(index, ref, None, duplicate_problems(ref, twice)) if twice \
                    else SourceItem(index, ref, doc)
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
    doc, twice = load_document(data, name=name, limits=limits)
    if isinstance(doc, dict):
        item = SourceItem(0, name, None, duplicate_problems(name, twice)) if twice else SourceItem(0, name, doc)
        return iter((item,))
    if not isinstance(doc, list):
        raise InvalidInput.single(name, "object-or-array",
                                  f"must be an invoice object or an array of them, got {_jtype(doc)}")
    if len(doc) > limits.max_items:
        raise InvalidInput.single(name, "max-items",
                                  f"has {len(doc):,} invoices; at most {limits.max_items:,} per upload")
    by_item: dict[int, list[DuplicateKey]] = {}
    for dup in twice:  # an array has no keys: each duplicate is inside one of its invoices
        by_item.setdefault(int(dup.path[0]), []).append(dup)
    return (_array_item(i, f"{name}[{i}]", v, by_item.get(i, ())) for i, v in enumerate(doc))


def _array_item(i: int, ref: str, value: Any, twice: Sequence[DuplicateKey]) -> SourceItem:
    if twice:
        return SourceItem(i, ref, None, duplicate_problems(ref, twice, start=1))
    if type(value) is dict:
        return SourceItem(i, ref, value)
    return SourceItem(i, ref, None, (problem(ref, "object", f"must be an invoice object, got {_jtype(value)}"),))


def load_document(data: bytes | IO[bytes], *, name: str,
                  limits: Limits) -> tuple[Any, tuple[DuplicateKey, ...]]:
    """Parse a whole JSON document of at most ``limits.max_document_bytes`` (BOM ignored), and
    the keys written twice in it."""
    raw = read_bounded(data, name=name, limit=limits.max_document_bytes, hint="use NDJSON for large uploads")
    if raw.startswith(_BOM):
        raw = raw[3:]
    try:
        parsed = parse(raw)
    except MalformedJson as exc:
        raise InvalidInput.single(name, exc.rule, exc.message) from None
    return parsed.value, parsed.duplicates


#: duplicate keys listed per invoice (the count is always given)
MAX_DUPLICATES_LISTED = 20


def duplicate_problems(ref: str, twice: Sequence[DuplicateKey], *, start: int = 0,
                       sep: str = ": ") -> tuple[FieldProblem, ...]:
    """One ``duplicate-key`` problem per key written twice, at ``ref`` + ``sep`` + its path from ``path[start:]``."""
    out = [problem(f"{ref}{sep}{dup.at(start)}", "duplicate-key",
                   f"the key {dup.key!r} appears more than once in this object; which value is meant is ambiguous")
           for dup in twice[:MAX_DUPLICATES_LISTED]]
    if len(twice) > MAX_DUPLICATES_LISTED:
        out.append(problem(ref, "duplicate-key", f"… {len(twice) - MAX_DUPLICATES_LISTED} more keys appear twice"))
    return tuple(out)


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
