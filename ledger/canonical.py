"""Canonical bytes of JSON documents: RFC 8785 (JSON Canonicalization Scheme).

:func:`canonical_json` is the definition: it delegates to the maintained ``rfc8785``
library for any JSON value.

:func:`canonical_json_flat` is the hot path for the ledger's own fixed-schema
documents (fee lines, invoice headers), whose values the models restrict to
strings of valid Unicode, integers with ``|n| <= 2**53 - 1`` and ASCII keys. On that
domain the standard library's C JSON encoder with sorted keys, no whitespace and
``ensure_ascii=False`` emits byte-for-byte what RFC 8785 emits (same string escapes,
integers print the same, ASCII keys sort the same in UTF-16 and code points); it is
3x faster, which is what lets 1.3 M fee lines be fingerprinted in seconds. The
equality is property-tested against ``rfc8785`` and the function refuses anything
outside its domain rather than encoding it differently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import rfc8785

#: JSON numbers are IEEE doubles in JCS; larger integers would not round-trip
MAX_SAFE_INTEGER = 2**53 - 1

_encode_flat = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
).encode


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of any JSON value (raises ``ValueError`` if not JSON)."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(f"not canonicalizable as RFC 8785 JSON: {exc}") from exc


def canonical_json_flat(doc: Mapping[str, str | int]) -> bytes:
    """RFC 8785 bytes of a flat object of ASCII keys to safe integers / valid strings.

    Requires the domain described in the module docstring; callers are the ledger's
    validated models. Raises ``ValueError`` for a value outside it.
    """
    for key, value in doc.items():
        if not key.isascii():
            raise ValueError(f"canonical_json_flat: non-ASCII key {key!r}")
        if type(value) is int:
            if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                raise ValueError(f"canonical_json_flat: {key} = {value} exceeds 2**53-1")
        elif type(value) is str:
            if _has_surrogate(value):
                raise ValueError(f"canonical_json_flat: {key} holds a lone surrogate")
        else:
            raise ValueError(f"canonical_json_flat: {key} has type {type(value).__name__}")
    return _encode_flat(doc).encode("utf-8")


def _has_surrogate(text: str) -> bool:
    # Fast path: pure ASCII or any text encodable as UTF-8 has no lone surrogates.
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
