"""ledger.formats: JSON and NDJSON readers, format detection, the SourceItem contract."""

from __future__ import annotations

import io
import json
import tracemalloc
from typing import Any

import orjson
import pytest

from ledger.devtools.synth import generate, iter_documents
from ledger.errors import InvalidInput
from ledger.formats import Limits, SourceItem, UploadPart, detect_format, read_upload
from ledger.formats.jsonfmt import dumps_json, iter_json, iter_ndjson, write_ndjson
from ledger.invoice_check import parse_invoice

PEPPER = b"formats-test-pepper-0123456789ab"


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return list(iter_documents(generate(11, hospitals=4, invoices=30, fee_lines=1500, pepper=PEPPER)))


def ndjson(docs: list[dict[str, Any]]) -> bytes:
    out = io.BytesIO()
    assert write_ndjson(docs, out)[0] == len(docs)
    return out.getvalue()


def only_problem(item: SourceItem) -> tuple[str, str, str]:
    assert item.document is None and len(item.problems) == 1, item
    p = item.problems[0]
    return p.field, p.rule, p.message


# ------------------------------------------------------------------ round trips


def test_ndjson_round_trip_is_identity_and_parses(docs: list[dict[str, Any]]) -> None:
    items = list(iter_ndjson(io.BytesIO(ndjson(docs)), name="invoices.ndjson"))
    assert [i.document for i in items] == docs
    assert [i.index for i in items] == list(range(len(docs)))
    assert items[2].ref == "invoices.ndjson line 3"
    for item in items:
        parse_invoice(item.document, pepper=PEPPER)


def test_json_array_and_single_object(docs: list[dict[str, Any]]) -> None:
    items = list(iter_json(dumps_json(docs[:3]), name="a.json"))
    assert [i.document for i in items] == docs[:3]
    assert [i.ref for i in items] == ["a.json[0]", "a.json[1]", "a.json[2]"]
    (one,) = iter_json(io.BytesIO(b"\xef\xbb\xbf" + orjson.dumps(docs[0])), name="one.json")
    assert one.document == docs[0] and one.ref == "one.json"


def test_ndjson_blank_lines_crlf_and_bom(docs: list[dict[str, Any]]) -> None:
    data = (b"\xef\xbb\xbf" + orjson.dumps(docs[0]) + b"\r\n\r\n   \n" + orjson.dumps(docs[1]) + b"\r\n\n"
            + orjson.dumps(docs[2]))  # no newline at the end
    items = list(iter_ndjson(io.BytesIO(data), name="x.ndjson"))
    assert [i.document for i in items] == docs[:3]
    assert [i.ref for i in items] == ["x.ndjson line 1", "x.ndjson line 4", "x.ndjson line 6"]


# ------------------------------------------------------------------ item problems


def test_bad_lines_are_item_problems_naming_the_line(docs: list[dict[str, Any]]) -> None:
    data = b"\n".join([orjson.dumps(docs[0]), b'{"issuer": "H1", oops}', b"[1, 2]", b"42", orjson.dumps(docs[1])])
    items = list(iter_ndjson(io.BytesIO(data), name="up.ndjson"))
    assert [i.ok for i in items] == [True, False, False, False, True]
    field, rule, message = only_problem(items[1])
    assert (field, rule) == ("up.ndjson line 2", "json") and "column 18" in message
    assert only_problem(items[2])[:2] == ("up.ndjson line 3", "object")
    assert "an array" in only_problem(items[2])[2]
    assert only_problem(items[3])[:2] == ("up.ndjson line 4", "object")
    assert items[4].document == docs[1] and items[4].index == 4


def test_invalid_utf8_line_is_an_item_problem(docs: list[dict[str, Any]]) -> None:
    data = b'{"issuer": "\xff\xfe"}\n' + orjson.dumps(docs[0])
    items = list(iter_ndjson(io.BytesIO(data)))
    assert only_problem(items[0])[:2] == ("upload.ndjson line 1", "json")
    assert items[1].document == docs[0]


def test_line_over_the_size_limit_is_skipped_with_a_problem(docs: list[dict[str, Any]]) -> None:
    limit = max(len(orjson.dumps(docs[1])), len(orjson.dumps(docs[2]))) + 10
    big = orjson.dumps({**docs[0], "padding": "x" * limit})
    data = orjson.dumps(docs[1]) + b"\n" + big + b"\n" + orjson.dumps(docs[2]) + b"\n"
    items = list(iter_ndjson(io.BytesIO(data), limits=Limits(max_item_bytes=limit)))
    assert [i.document for i in items if i.ok] == [docs[1], docs[2]]
    field, rule, message = only_problem(items[1])
    assert (field, rule) == ("upload.ndjson line 2", "max-item-bytes")
    assert f"{len(big) + 1:,} bytes" in message and f"{limit:,}" in message


def test_json_array_element_that_is_not_an_object(docs: list[dict[str, Any]]) -> None:
    items = list(iter_json(orjson.dumps([docs[0], "x"])))
    assert only_problem(items[1])[:2] == ("upload.json[1]", "object")


# ------------------------------------------------------------------ upload problems


def test_more_items_than_allowed_raises(docs: list[dict[str, Any]]) -> None:
    it = iter_ndjson(io.BytesIO(ndjson(docs[:3])), limits=Limits(max_items=2))
    assert next(it).ok and next(it).ok
    with pytest.raises(InvalidInput) as exc:
        next(it)
    assert exc.value.problems[0].rule == "max-items"
    with pytest.raises(InvalidInput, match="at most 2"):
        iter_json(dumps_json(docs[:3]), limits=Limits(max_items=2))


@pytest.mark.parametrize(("data", "rule"), [
    (b'{"a": 1', "json"),
    (b'"just a string"', "object-or-array"),
    (b"[" + b"1," * 100 + b"1]", "max-document-bytes"),
])
def test_whole_document_problems_raise(data: bytes, rule: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        iter_json(data, name="doc.json", limits=Limits(max_document_bytes=150))
    (p,) = exc.value.problems
    assert (p.field, p.rule) == ("doc.json", rule)


def test_source_item_holds_a_document_or_problems() -> None:
    with pytest.raises(ValueError):
        SourceItem(0, "x", None)
    item = SourceItem(0, "up.ndjson line 2", {"feeLines": []})
    assert item.locate("feeLines[3].amountFen") == "up.ndjson line 2: feeLines[3].amountFen"


# ------------------------------------------------------------------ memory


def _peak_while_reading(path: Any) -> tuple[int, int]:
    tracemalloc.start()
    try:
        with path.open("rb") as f:
            lines = sum(len(item.document["feeLines"]) for item in iter_ndjson(f))
        return tracemalloc.get_traced_memory()[1], lines
    finally:
        tracemalloc.stop()


def test_ndjson_streams_in_flat_memory(tmp_path: Any) -> None:
    docs = list(iter_documents(generate(5, hospitals=5, invoices=200, fee_lines=17_000, pepper=PEPPER)))
    small, large = tmp_path / "small.ndjson", tmp_path / "large.ndjson"
    with small.open("wb") as f:
        write_ndjson(docs, f)
    with large.open("wb") as f:
        for _ in range(4):
            write_ndjson(docs, f)
    peak_small, n_small = _peak_while_reading(small)
    peak_large, n_large = _peak_while_reading(large)
    assert (n_small, n_large) == (17_000, 68_000)
    # one line and its document at a time: four times the file, (about) the same peak
    assert peak_large < peak_small * 1.25 + 100_000, (peak_small, peak_large)


# ------------------------------------------------------------------ detection


@pytest.mark.parametrize(("filename", "ctype", "head", "expected"), [
    (None, "application/x-ndjson", b"", "ndjson"),
    (None, "application/fhir+json; charset=utf-8", b"", "fhir"),
    ("up.jsonl", None, b"{}", "ndjson"),
    ("up.CSV", None, b"", "csv"),
    ("up.json", "application/json", b'{"a": 1}\n{"a": 2}\n', "ndjson"),
    ("up.json", "application/json", b'{\n  "a": 1\n}\n', "json"),
    (None, None, b'  [{"a": 1}]', "json"),
    (None, None, b'{"entry": [], "resourceType" : "Bundle"}', "fhir"),
    (None, None, b"\xef\xbb\xbfissuer,invoice_code,invoice_number,seq,item_code\r\n", "csv"),
    ("x.json", None, b"not json", "json"),
])
def test_detect_format(filename: str | None, ctype: str | None, head: bytes, expected: str) -> None:
    assert detect_format(filename, ctype, head) == expected


def test_detect_format_refuses_what_it_cannot_tell() -> None:
    with pytest.raises(InvalidInput, match="cannot tell the format"):
        detect_format("up.bin", "application/octet-stream", b"\x00\x01")


class _Pipe(io.RawIOBase):
    """A stream that cannot seek, like a request body."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        chunk = self._data.read(min(len(b), 1000))
        b[: len(chunk)] = chunk
        return len(chunk)


def test_read_upload_detects_and_dispatches(docs: list[dict[str, Any]]) -> None:
    data = ndjson(docs[:5])
    for stream in (io.BytesIO(data), _Pipe(data)):
        items = list(read_upload([UploadPart(stream, filename="h.json")]))  # type: ignore[arg-type]
        assert [i.document for i in items] == docs[:5] and items[0].ref == "h.json line 1"
    items = list(read_upload([UploadPart(io.BytesIO(dumps_json(docs[:2])))]))
    assert [i.document for i in items] == docs[:2]
    with pytest.raises(InvalidInput, match="expected one file"):
        read_upload([])


# ------------------------------------------------------------------ ambiguous input


def test_a_key_twice_is_an_item_problem_naming_it_in_json(docs: list[dict[str, Any]]) -> None:
    raw = orjson.dumps(docs[:3])
    line = orjson.dumps(docs[1]["feeLines"][3])
    twice = line[:-1] + b',"amountFen":1' + b"}"
    raw = raw.replace(line, twice, 1)
    items = list(iter_json(raw, name="up.json"))
    assert [i.ok for i in items] == [True, False, True]
    assert only_problem(items[1])[:2] == ("up.json[1]: feeLines[3].amountFen", "duplicate-key")
    # one invoice object: its own problem, the document's root as the place
    single = list(iter_json(b'{"issuer":"H1",  "issuer" : "H2"}', name="one.json"))
    assert only_problem(single[0])[:2] == ("one.json: issuer", "duplicate-key")


def test_a_key_twice_is_an_item_problem_naming_it_in_ndjson(docs: list[dict[str, Any]]) -> None:
    lines = ndjson(docs[:3]).splitlines(keepends=True)
    lines[2] = lines[2].replace(b'{"', b'{"totalFen":1,"', 1)  # its own totalFen comes later
    items = list(iter_ndjson(io.BytesIO(b"".join(lines)), name="up.ndjson"))
    assert [i.ok for i in items] == [True, True, False]
    field, rule, message = only_problem(items[2])
    assert (field, rule) == ("up.ndjson line 3: totalFen", "duplicate-key") and "'totalFen'" in message


def test_pretty_printed_uploads_without_duplicates_read_as_before(docs: list[dict[str, Any]]) -> None:
    raw = json.dumps(docs[:3], indent=2, ensure_ascii=False).replace('": ', '" : ').encode()
    assert [i.document for i in iter_json(raw)] == docs[:3]


def test_a_deep_document_is_refused_as_a_whole() -> None:
    with pytest.raises(InvalidInput) as caught:
        list(iter_json(b"[" * 5000 + b"]" * 5000, name="deep.json"))
    assert caught.value.problems[0].rule == "json-depth"
