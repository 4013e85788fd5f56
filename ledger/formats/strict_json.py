"""JSON read without guessing: duplicate keys found and located, nesting bounded, no crash.

RFC 8259 says the names in an object SHOULD be unique and leaves a document with
duplicates to the parser: orjson and the stdlib keep the last value, other parsers the
first, some refuse. An invoice fingerprinted from one reading of an ambiguous upload
could be read differently by the hospital's own tools, so readers refuse duplicates,
naming the key and where it is (``feeLines[3].amountFen``): :func:`parse` returns them
in :attr:`ParsedJson.duplicates`.

Fast path (uploads are the hot path; orjson parses ~0.7 µs per fee line): orjson parses,
then the members of the objects in the parsed tree are counted and compared with
``raw.count(b'":')``. When no whitespace separates a key from its colon, every member
written contributes one ``":``, and a string holding ``":`` itself only adds more, so a
tree with as many members as that count lost none to a duplicate (a lower bound on the
tree's members is enough, and cheaper: :func:`_members_at_least`). When the counts
differ, or whitespace precedes a colon somewhere (``"\\s+:``), the document is parsed
again with the stdlib and an ``object_pairs_hook`` that sees every member: exact, ~4x
slower, and needed only by rare documents. The value returned is always orjson's, so
both paths read a document alike.

Depth: orjson refuses documents nested deeper than 1,024 levels and never overflows the
C stack. The stdlib parser recurses in C under the interpreter's recursion limit (held
by :mod:`ledger.adapters.recursion_limit`); its :class:`RecursionError` is reported as
too deep, and :func:`parse_decimal` lets only documents orjson accepted reach it.
Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

__all__ = ["ORJSON_MAX_DEPTH", "DuplicateKey", "MalformedJson", "ParsedJson", "depth_exceeds", "duplicate_keys",
           "parse", "parse_decimal", "render_path"]

#: orjson's own nesting limit: deeper documents are refused (JSONDecodeError), never a crash
ORJSON_MAX_DEPTH = 1024
_SPACE_BEFORE_COLON = re.compile(rb'"[ \t\r\n]+:')
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: objects at this depth and deeper are counted, not looked into (see _members_at_least)
_LOOK_INTO = 2


class MalformedJson(ValueError):
    """The bytes are not a JSON document we read: bad syntax (``rule`` ``json``) or too deep (``json-depth``)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


@dataclass(frozen=True, slots=True)
class DuplicateKey:
    """A key written twice in one object; ``path`` leads from the document root to the key."""

    path: tuple[str | int, ...]

    @property
    def key(self) -> str:
        return str(self.path[-1])

    def at(self, start: int = 0) -> str:
        """The path from ``path[start:]`` as ``feeLines[3].amountFen``."""
        return render_path(self.path[start:])


@dataclass(frozen=True, slots=True)
class ParsedJson:
    """A parsed document and the duplicate keys it holds (empty: the document is unambiguous)."""

    value: Any
    duplicates: tuple[DuplicateKey, ...] = ()


def render_path(parts: Sequence[str | int]) -> str:
    """``("feeLines", 3, "amountFen")`` as ``feeLines[3].amountFen``; ``(3, "nationalId")`` as ``[3].nationalId``."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{json.dumps(part, ensure_ascii=False)}]")
    return "".join(out)


def parse(raw: bytes) -> ParsedJson:
    """Parse UTF-8 JSON with orjson, finding duplicate keys (see the module doc).

    Raises :class:`MalformedJson` for invalid JSON or nesting deeper than 1,024 levels.
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _malformed(exc) from None
    return ParsedJson(value, duplicate_keys(raw, value))


def parse_decimal(raw: bytes) -> ParsedJson:
    """Parse UTF-8 JSON with the stdlib, numbers with a fraction or exponent as :class:`Decimal`.

    For documents where the decimal text matters (FHIR money): a float cannot hold
    ``0.30000000000000001``, which must be refused as three-decimal yuan rather than read
    as 0.3. ``NaN`` and ``Infinity`` are refused. orjson reads the document first: it
    bounds the nesting (1,024 levels) before the recursive stdlib parser sees it.
    """
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _malformed(exc) from None
    duplicated = False

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal duplicated
        obj = dict(pairs)
        if len(obj) != len(pairs):
            duplicated = True
            return _Duplicated(obj, pairs)
        return obj

    try:
        value = json.loads(raw, parse_float=Decimal, parse_constant=_no_constant, object_pairs_hook=pairs_hook)
    except RecursionError:
        raise MalformedJson("json-depth", "nests too deeply to be read") from None
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise MalformedJson("json", f"not valid JSON: {exc}") from None
    return ParsedJson(value, tuple(_located(value)) if duplicated else ())


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests arrays and objects more than ``limit`` levels deep (a scalar is 0 deep)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, level = stack.pop()
        kind = type(node)
        if kind is dict:
            children = node.values()
        elif kind is list:
            children = node
        else:
            continue
        level += 1
        if level > limit:
            return True
        stack.extend((child, level) for child in children if type(child) in (dict, list))
    return False


# --------------------------------------------------------------------------- duplicates


class _Duplicated(dict[str, Any]):
    """An object the stdlib parser saw with a key twice; ``twice`` lists those keys in order."""

    def __init__(self, obj: dict[str, Any], pairs: list[tuple[str, Any]]) -> None:
        super().__init__(obj)
        seen: set[str] = set()
        self.twice: list[str] = []
        for key, _ in pairs:
            if key in seen and key not in self.twice:
                self.twice.append(key)
            seen.add(key)


def duplicate_keys(raw: bytes, value: Any) -> tuple[DuplicateKey, ...]:
    """The duplicate keys of ``raw``, which orjson parsed into ``value`` (see the module doc)."""
    if type(value) not in (dict, list):
        return ()
    if raw.count(b'":') == _members_at_least(value) and not _space_before_colon(raw):
        return ()
    # the counts disagree (a duplicate, or a string holding '":'), or a key has blanks before
    # its colon: an exact parse that sees every member, kept only to locate duplicates
    try:
        exact = json.loads(raw, object_pairs_hook=_pairs_hook)
    except RecursionError:  # orjson accepted it: at most 1,024 levels, near the interpreter's limit
        raise MalformedJson("json-depth", "nests too deeply to be read") from None
    return tuple(_located(exact))


def _space_before_colon(raw: bytes) -> bool:
    return _SPACE_BEFORE_COLON.search(raw) is not None


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    return obj if len(obj) == len(pairs) else _Duplicated(obj, pairs)


def _members_at_least(value: Any) -> int:
    """A lower bound on the members of all objects in a parsed tree, exact for invoice documents.

    A lower bound is enough: ``raw.count(b'":') == bound`` still proves that no member was
    lost to a duplicate (the count is at least the members written, the bound at most the
    members kept), and a tree whose bound falls short only takes the exact path. Objects
    two or more levels down (an invoice's fee lines, or the invoices of an array) are
    counted without looking at their values: that is what keeps the check cheap.
    """
    count = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if type(node) is dict:
            count += len(node)
            if depth >= _LOOK_INTO:
                continue
            children = node.values()
        elif depth + 1 >= _LOOK_INTO:
            count += sum([len(child) for child in node if type(child) is dict])
            continue
        else:
            children = node
        depth += 1
        stack.extend([(child, depth) for child in children if type(child) is dict or type(child) is list])
    return count


def _located(tree: Any) -> list[DuplicateKey]:
    """Every duplicated key in a tree parsed with :func:`_pairs_hook`, in document order."""
    found: list[DuplicateKey] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(tree, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            if isinstance(node, _Duplicated):
                found.extend(DuplicateKey((*path, key)) for key in node.twice)
            items: list[tuple[str | int, Any]] = list(node.items())
        elif isinstance(node, list):
            items = list(enumerate(node))
        else:
            continue
        stack.extend((child, (*path, key)) for key, child in reversed(items) if isinstance(child, dict | list))
    return found


def _malformed(exc: orjson.JSONDecodeError) -> MalformedJson:
    if "depth" in exc.msg or "recursion" in exc.msg.lower():
        return MalformedJson("json-depth", f"nests deeper than {ORJSON_MAX_DEPTH:,} levels (line {exc.lineno} "
                                           f"column {exc.colno})")
    return MalformedJson("json", f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
