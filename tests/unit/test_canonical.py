"""ledger.canonical against the published RFC 8785 vectors and the rfc8785 library."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger.canonical import (
    MAX_SAFE_INTEGER,
    canonical_json,
    canonical_json_flat,
    encode_flat_unchecked,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "jcs"
VECTOR_NAMES = ["arrays", "french", "structures", "unicode", "values", "weird"]


# --- (a) the published vectors (cyberphone/json-canonicalization testdata) ------------


def test_every_vector_is_present() -> None:
    for sub in ("input", "output"):
        assert sorted(p.stem for p in (VECTORS / sub).glob("*.json")) == VECTOR_NAMES


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_rfc8785_published_vector(name: str) -> None:
    source = (VECTORS / "input" / f"{name}.json").read_bytes()
    expected = (VECTORS / "output" / f"{name}.json").read_bytes()

    assert canonical_json(json.loads(source)) == expected
    # canonical output is a fixed point
    assert canonical_json(json.loads(expected)) == expected


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), 2**53, -(2**53), "\ud800", {1: "a"}, {"a": object()}],
)
def test_canonical_json_refuses_non_json(value: Any) -> None:
    with pytest.raises(ValueError):
        canonical_json(value)


# --- (b) the fast path equals RFC 8785 on its domain ----------------------------------

# ASCII keys, control characters, quote and backslash included
keys = st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=10)
safe_ints = st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
TRICKY = (
    '"\\/\x00\x01\x08\t\n\x0b\x0c\r\x1f\x20\x7f\x80\x9f\xa0\u00e9\u2028\u2029\ufeff\ufffd'
    "\uffff\U00010000\U0001f602\U0010ffff中文字\u0301\u200d€"
)
# st.text() never yields surrogates (category Cs) unless asked to
strings = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.sampled_from(TRICKY), max_size=20),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=20),
)
flat_docs = st.dictionaries(keys, st.one_of(safe_ints, strings), max_size=12)

EXAMPLES: list[dict[str, Any]] = [
    {},
    {"": ""},
    {"b": 1, "a": 2, "B": 3, "_": 4, "aa": 5, "a ": 6},
    {"max": MAX_SAFE_INTEGER, "min": -MAX_SAFE_INTEGER, "zero": 0, "neg": -1},
    {"s": '"\\/\b\f\n\r\t\x00\x1f\x7f'},
    {"emoji": "😂👨‍👩‍👧", "cjk": "医疗电子票据", "sep": "\u2028\u2029", "bom": "\ufeff"},
    {'"': "key is a quote", "\\": "key is a backslash", "\x00": "NUL key", "\x7f": "DEL"},
    {"\n": 1, "\r": 2, "1": 3, "</script>": "x"},
]


def _with_examples(fn: Any) -> Any:
    for doc in EXAMPLES:
        fn = example(doc=doc)(fn)
    return fn


@settings(max_examples=1000, deadline=None)
@_with_examples
@given(doc=flat_docs)
def test_flat_equals_rfc8785(doc: dict[str, str | int]) -> None:
    expected = rfc8785.dumps(doc)
    assert canonical_json_flat(doc) == expected
    assert encode_flat_unchecked(doc) == expected
    assert canonical_json(doc) == expected


@pytest.mark.parametrize(
    "doc",
    [
        {"a": 1.0},
        {"a": 0.5},
        {"a": float("nan")},
        {"a": -0.0},
        {"a": True},
        {"a": False},
        {"a": None},
        {"a": {}},
        {"a": {"b": 1}},
        {"a": []},
        {"a": [1]},
        {"a": b"bytes"},
        {"a": MAX_SAFE_INTEGER + 1},
        {"a": -MAX_SAFE_INTEGER - 1},
        {"a": 2**64},
        {"a": -(2**64)},
        {"a": "\ud800"},
        {"a": "lone low \udfff surrogate"},
        {"a": "reversed pair \ude02\ud83d"},
        {"é": 1},
        {"中": "x"},
        {"😂": 1},
        {"ok": 1, "clé": 2},
        {1: "non-string key"},
        {b"k": "bytes key"},
    ],
    ids=repr,
)
def test_flat_refuses_outside_its_domain(doc: dict[Any, Any]) -> None:
    with pytest.raises(ValueError):
        canonical_json_flat(doc)


@given(
    doc=flat_docs,
    key=keys,
    bad=st.one_of(
        st.floats(),
        st.booleans(),
        st.none(),
        st.integers().filter(lambda n: abs(n) > MAX_SAFE_INTEGER),
    ),
)
@settings(max_examples=100, deadline=None)
def test_flat_refuses_one_bad_value_among_good_ones(
    doc: dict[str, str | int], key: str, bad: Any
) -> None:
    with pytest.raises(ValueError):
        canonical_json_flat({**doc, key: bad})
