"""ledger.formats.strict_json: duplicate keys found and located, on the fast path and the exact one."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ledger.formats.strict_json import (
    DuplicateKey,
    MalformedJson,
    depth_exceeds,
    parse,
    parse_decimal,
    render_path,
)


def _keys_twice(raw: bytes) -> list[tuple[str | int, ...]]:
    return [d.path for d in parse(raw).duplicates]


@pytest.mark.parametrize(("raw", "expected"), [
    (b'{"a":1,"b":2}', []),
    (b'{"a":1,"a":2}', [("a",)]),
    (b'{"a":1, "a" :2}', [("a",)]),                        # blank before a colon: the exact path
    (b'{\n  "a": 1,\n  "a": 2\n}', [("a",)]),                # pretty-printed
    (b'[{"feeLines":[{},{},{},{"amountFen":1,"amountFen":2}]}]', [(0, "feeLines", 3, "amountFen")]),
    (b'{"x":"\\":","x":1}', [("x",)]),                     # a string holding '":' hides nothing
    (b'{"x":"\\":"}', []),                                  # ... nor invents a duplicate
    (b'{"a":{"b":1,"b":1},"c":[{"d":0,"d":0}]}', [("a", "b"), ("c", 0, "d")]),
    (b'{"a b":1,"a b":2}', [("a b",)]),
    (b'[1, 2, "x"]', []),
    (b'"scalar"', []),
])
def test_duplicates_are_found_where_they_are(raw: bytes, expected: list[tuple[str | int, ...]]) -> None:
    assert _keys_twice(raw) == expected
    assert parse(raw).value == orjson.loads(raw)  # the value is orjson's on both paths


def test_paths_render_as_fields() -> None:
    assert DuplicateKey(("feeLines", 3, "amountFen")).at() == "feeLines[3].amountFen"
    assert DuplicateKey((3, "nationalId")).at() == "[3].nationalId"
    assert DuplicateKey((0, "feeLines", 3, "amountFen")).at(1) == "feeLines[3].amountFen"
    assert render_path(("a b", "c")) == '["a b"].c'


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=4) | st.lists(st.tuples(st.sampled_from(
                        ['a', 'b', '":', 'a":', ' ', '\\"']), inner), max_size=4), max_leaves=20))
@example([("a", 1), ("a", 2)])
@example([('":', [("x", 1)]), ("b", [("b", 0), ("b", 1)])])
def test_matches_a_reference_that_sees_every_member(tree: Any) -> None:
    """Objects are drawn as lists of (key, value) pairs, so keys may repeat; both renderings are read."""
    for compact in (True, False):
        raw = _render(tree, compact).encode()
        reference: list[tuple[str | int, ...]] = []
        _reference_duplicates(tree, (), reference)
        assert sorted(map(str, _keys_twice(raw))) == sorted(map(str, reference))


def _render(node: Any, compact: bool) -> str:
    sep = ":" if compact else " : "
    if isinstance(node, list) and node and all(isinstance(p, tuple) for p in node):
        return "{" + ",".join(json.dumps(k) + sep + _render(v, compact) for k, v in node) + "}"
    if isinstance(node, list):
        return "[" + ",".join(_render(v, compact) for v in node) + "]"
    return json.dumps(node)


def _reference_duplicates(node: Any, path: tuple[str | int, ...], out: list[tuple[str | int, ...]]) -> None:
    if isinstance(node, list) and node and all(isinstance(p, tuple) for p in node):
        seen: dict[str, Any] = {}
        for k, v in node:
            if k in seen and (*path, k) not in out:
                out.append((*path, k))
            seen[k] = v
        for k, v in seen.items():  # the last value is the one kept
            _reference_duplicates(v, (*path, k), out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _reference_duplicates(v, (*path, i), out)


def test_deep_documents_are_refused_not_crashed() -> None:
    for deep in (b"[" * 1025 + b"]" * 1025, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        for reader in (parse, parse_decimal):
            with pytest.raises(MalformedJson) as caught:
                reader(deep)
            assert caught.value.rule == "json-depth"
    assert depth_exceeds(parse(b"[" * 1024 + b"]" * 1024).value, 32)
    assert not depth_exceeds([[[]]], 3) and depth_exceeds([[[[]]]], 3) and not depth_exceeds(1, 0)


def test_decimal_reading_keeps_the_text_and_refuses_constants() -> None:
    doc = parse_decimal(b'{"v":0.30000000000000001,"w":1.10,"a":{"k":1,"k":2}}')
    assert doc.value["v"] == Decimal("0.30000000000000001") and str(doc.value["w"]) == "1.10"
    assert [d.path for d in doc.duplicates] == [("a", "k")]
    with pytest.raises(MalformedJson) as caught:
        parse_decimal(b"[NaN]")
    assert caught.value.rule == "json"


def test_invoice_documents_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.devtools.synth import generate, iter_documents
    from ledger.formats import strict_json

    docs = list(iter_documents(generate(3, hospitals=1, invoices=5, fee_lines=200, pepper=b"p" * 32)))

    def no_exact_parse(*args: Any, **kw: Any) -> Any:
        raise AssertionError("the exact (stdlib) parse ran for a document without duplicates")

    monkeypatch.setattr(strict_json.json, "loads", no_exact_parse)
    for raw in [orjson.dumps(docs), *map(orjson.dumps, docs)]:
        assert parse(raw).duplicates == ()
