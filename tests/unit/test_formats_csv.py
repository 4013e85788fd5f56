"""ledger.formats.his_csv: HIS CSV exports (invoices.csv + fee_lines.csv, or flat), both ways."""

from __future__ import annotations

import io
from typing import Any

import pytest

from ledger.devtools.synth import generate, iter_documents
from ledger.errors import InvalidInput, InvalidInvoice
from ledger.formats import Limits, SourceItem, UploadPart, read_upload
from ledger.formats.his_csv import read_csv_pair, read_flat_csv
from ledger.formats.his_csv_write import CsvPairWriter, FlatCsvWriter
from ledger.invoice_check import parse_invoice

PEPPER = b"formats-test-pepper-0123456789ab"


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return list(iter_documents(generate(11, hospitals=4, invoices=30, fee_lines=1500, pepper=PEPPER)))


def pair(docs: list[dict[str, Any]], money: str = "fen") -> tuple[str, str]:
    a, b = io.StringIO(newline=""), io.StringIO(newline="")
    w = CsvPairWriter(a, b, money=money)  # type: ignore[arg-type]
    for d in docs:
        w.write(d)
    return a.getvalue(), b.getvalue()


def flat(docs: list[dict[str, Any]], money: str = "fen") -> str:
    out = io.StringIO(newline="")
    w = FlatCsvWriter(out, money=money)  # type: ignore[arg-type]
    for d in docs:
        w.write(d)
    return out.getvalue()


def read_pair(invoices: str | bytes, fee_lines: str | bytes, **kw: Any) -> list[SourceItem]:
    enc = [x.encode() if isinstance(x, str) else x for x in (invoices, fee_lines)]
    return list(read_csv_pair(io.BytesIO(enc[0]), io.BytesIO(enc[1]), **kw))


def read_flat(text: str | bytes, **kw: Any) -> list[SourceItem]:
    return list(read_flat_csv(io.BytesIO(text.encode() if isinstance(text, str) else text), **kw))


def problems(items: list[SourceItem]) -> list[tuple[str, str]]:
    return [(p.field, p.rule) for i in items for p in i.problems]


def edit(text: str, row: int, column: str, value: str) -> str:
    """``text`` with one cell replaced (row numbers as in the problems: header = 1)."""
    lines = text.split("\r\n")
    names = lines[0].split(",")
    cells = lines[row - 1].split(",")
    cells[names.index(column)] = value
    lines[row - 1] = ",".join(cells)
    return "\r\n".join(lines)


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("money", ["fen", "yuan"])
@pytest.mark.parametrize("grouping", ["stream", "memory"])
def test_pair_round_trip_is_identity_and_parses(docs: list[dict[str, Any]], money: str, grouping: str) -> None:
    invoices, lines = pair(docs, money)
    assert ("total_yuan" in invoices) == (money == "yuan")
    items = read_pair(invoices, lines, grouping=grouping)
    assert [i.document for i in items] == docs
    assert items[1].ref == "invoices.csv row 3"
    for item in items:
        parse_invoice(item.document, pepper=PEPPER)


@pytest.mark.parametrize("money", ["fen", "yuan"])
def test_flat_round_trip_is_identity(docs: list[dict[str, Any]], money: str) -> None:
    items = read_flat(flat(docs, money), name="export.csv")
    assert [i.document for i in items] == docs
    assert items[0].ref == "export.csv row 2"


def test_gbk_and_gb18030_exports(docs: list[dict[str, Any]]) -> None:
    invoices, lines = pair(docs)
    assert any(ord(c) > 127 for c in lines)
    for codec in ("gbk", "gb18030"):
        assert [i.document for i in read_pair(invoices.encode(codec), lines.encode(codec))] == docs
        assert [i.document for i in read_flat(flat(docs).encode(codec))] == docs


def test_utf8_bom(docs: list[dict[str, Any]]) -> None:
    invoices, lines = pair(docs[:3])
    items = read_pair(invoices.encode("utf-8-sig"), lines.encode("utf-8-sig"))
    assert [i.document for i in items] == docs[:3]


def test_mixed_encodings_are_refused_naming_the_line(docs: list[dict[str, Any]]) -> None:
    invoices, lines = pair(docs[:3])
    rows = lines.split("\r\n")
    data = "\r\n".join(rows[:5]).encode() + b"\r\n" + "\r\n".join(rows[5:]).encode("gbk")
    with pytest.raises(InvalidInput) as exc:
        read_pair(invoices, data)
    (p,) = exc.value.problems
    assert (p.field, p.rule) == ("fee_lines.csv line 6", "encoding") and "UTF-8" in p.message


def test_tab_separated_and_lf_or_cr_line_ends(docs: list[dict[str, Any]]) -> None:
    text = flat(docs[:2]).replace(",", "\t").replace("\r\n", "\n")
    assert [i.document for i in read_flat(text)] == docs[:2]
    # CR only (old Mac exports), in a file larger than one read chunk
    many = flat(docs).replace("\r\n", "\r")
    assert len(many.encode()) > 1 << 16
    assert [i.document for i in read_flat(many)] == docs


def test_quoted_cells_with_commas_quotes_and_newlines(docs: list[dict[str, Any]]) -> None:
    doc = {**docs[0], "feeLines": [dict(docs[0]["feeLines"][0], itemName='复方"甘草",片\n二号')]}
    text = flat([doc])
    assert '"复方""甘草"",片\n二号"' in text
    (item,) = read_flat(text)
    assert item.document == doc


def test_optional_issuer_and_schema_version_columns(docs: list[dict[str, Any]]) -> None:
    invoices, lines = pair(docs[:4])
    invoices = "\r\n".join(",".join(r.split(",")[1:]) for r in invoices.split("\r\n") if r)  # no schema_version
    lines = "\r\n".join(",".join(r.split(",")[1:]) for r in lines.split("\r\n") if r)  # no issuer
    assert not invoices.startswith("schema_version") and lines.startswith("invoice_code,")
    assert [i.document for i in read_pair(invoices, lines)] == docs[:4]


# ------------------------------------------------------------------ item problems


def test_yuan_with_three_decimals_is_refused(docs: list[dict[str, Any]]) -> None:
    invoices, lines = pair(docs[:2], "yuan")
    items = read_pair(edit(invoices, 2, "total_yuan", "12.345"), edit(lines, 3, "amount_yuan", "1.005"))
    assert [i.ok for i in items] == [False, True]
    assert problems(items) == [("invoices.csv row 2 column total_yuan", "yuan"),
                               ("fee_lines.csv row 3 column amount_yuan", "yuan")]
    assert "at most 2 decimals" in items[0].problems[0].message
    items = read_pair(invoices, edit(lines, 4, "unit_price_yuan", '"1,234.00"'))
    assert problems(items) == [("fee_lines.csv row 4 column unit_price_yuan", "yuan")]


@pytest.mark.parametrize("value", ["12.5", "1e3", "１２", "+5", "9" * 30])
def test_fen_columns_take_plain_integers(docs: list[dict[str, Any]], value: str) -> None:
    invoices, lines = pair(docs[:1])
    (item,) = read_pair(invoices, edit(lines, 2, "amount_fen", value))
    assert problems([item]) == [("fee_lines.csv row 2 column amount_fen", "integer-fen")]


def test_row_numbers_stay_right_across_read_chunks(docs: list[dict[str, Any]]) -> None:
    invoices, lines = pair(docs)
    rows = lines.split("\r\n")
    assert len(lines.encode()) > 2 * (1 << 16)
    for row in (len(rows) // 2, len(rows) - 2):  # beyond the first 64 KiB chunk
        items = read_pair(invoices, edit(lines, row, "amount_fen", "x"))
        assert problems(items) == [(f"fee_lines.csv row {row} column amount_fen", "integer-fen")]


def test_padded_and_negative_numbers_pass_to_validation(docs: list[dict[str, Any]]) -> None:
    invoices, lines = pair(docs[:1])
    (item,) = read_pair(invoices, edit(edit(lines, 2, "seq", " 1 "), 3, "amount_fen", "-5"))
    assert item.document["feeLines"][0]["seq"] == 1  # type: ignore[index]
    assert item.document["feeLines"][1]["amountFen"] == -5  # type: ignore[index]


def test_fee_lines_of_an_unknown_invoice(docs: list[dict[str, Any]]) -> None:
    invoices, lines = pair(docs[:3])
    n0 = len(docs[0]["feeLines"])
    # the first invoice's lines now point at an invoice number that invoices.csv lacks
    for row in range(2, n0 + 2):
        lines = edit(lines, row, "invoice_number", "9999999999")
    items = read_pair(invoices, lines)
    assert [i.document for i in items if i.ok] == docs[1:3]
    unknown = [i for i in items if any(p.rule == "unknown-invoice" for p in i.problems)]
    (p,) = unknown[0].problems
    assert p.field == "fee_lines.csv row 2"
    assert f"{n0} fee lines (rows 2-{n0 + 1})" in p.message and "'9999999999'" in p.message
    (missing,) = [i for i in items if any(p.rule == "no-fee-lines" for p in i.problems)]
    assert missing.ref == "invoices.csv row 2" and missing.problems[0].field == "invoices.csv row 2"


def test_duplicate_invoice_rows(docs: list[dict[str, Any]]) -> None:
    invoices, lines = pair(docs[:2])
    rows = invoices.split("\r\n")
    items = read_pair("\r\n".join([*rows[:3], rows[1], *rows[3:]]), lines)
    assert problems(items)[0] == ("invoices.csv row 4", "duplicate-invoice")
    assert "invoices.csv row 2" in items[0].problems[0].message
    assert [i.document for i in items if i.ok] == docs[:2]


def test_flat_rows_must_agree_on_the_invoice_columns(docs: list[dict[str, Any]]) -> None:
    text = flat(docs[:2])
    items = read_flat(edit(edit(text, 4, "total_fen", "1"), 5, "check_code", "ZZZZZZ"))
    assert problems(items)[:2] == [("invoices.csv row 4 column total_fen", "consistent-header"),
                                   ("invoices.csv row 5 column check_code", "consistent-header")]
    assert "in row 2, the first row of invoice" in items[0].problems[0].message
    assert items[1].document == docs[1]


def test_a_row_with_the_wrong_number_of_fields(docs: list[dict[str, Any]]) -> None:
    invoices, lines = pair(docs[:2])
    rows = lines.split("\r\n")
    rows[2] += ",extra"
    items = read_pair(invoices, "\r\n".join(rows))
    assert problems(items) == [("fee_lines.csv row 3", "csv-fields")]


def test_empty_cell_is_a_missing_field_located_by_row_and_column(docs: list[dict[str, Any]]) -> None:
    invoices, lines = pair(docs[:1])
    (item,) = read_pair(invoices, edit(lines, 4, "unit", ""))
    assert item.ok and "unit" not in item.document["feeLines"][2]  # type: ignore[index]
    with pytest.raises(InvalidInvoice) as exc:
        parse_invoice(item.document, pepper=PEPPER)
    (p,) = exc.value.problems
    assert (p.field, p.rule) == ("feeLines[2].unit", "required")
    assert item.locate(p.field) == "fee_lines.csv row 4 column unit"
    assert item.locate("totalFen") == "invoices.csv row 2 column total_fen"
    assert item.locate("feeLines") == "invoices.csv row 2: feeLines"


# ------------------------------------------------------------------ upload problems


def test_column_problems_refuse_the_file(docs: list[dict[str, Any]]) -> None:
    invoices, lines = pair(docs[:1])
    bad = lines.replace("amount_fen", "amount_fenn", 1)
    with pytest.raises(InvalidInput) as exc:
        read_pair(invoices, bad)
    assert [(p.field, p.rule) for p in exc.value.problems] == [
        ("fee_lines.csv row 1 column amount_fenn", "unknown-column"), ("fee_lines.csv row 1", "missing-column")]
    assert "amount_fen or amount_yuan" in exc.value.problems[1].message
    both = invoices.replace("total_fen", "total_fen,total_yuan", 1)
    with pytest.raises(InvalidInput, match="both in fen and in yuan"):
        read_pair(both, lines)
    with pytest.raises(InvalidInput, match="appears twice"):
        read_pair(invoices.replace("check_code", "issuer", 1), lines)
    with pytest.raises(InvalidInput, match="empty"):
        read_pair("", lines)


def test_broken_quoting_names_the_line(docs: list[dict[str, Any]]) -> None:
    invoices, lines = pair(docs[:1])
    rows = lines.split("\r\n")
    rows[3] = rows[3].replace(",", ',"x"y,', 1)
    with pytest.raises(InvalidInput) as exc:
        read_pair(invoices, "\r\n".join(rows))
    assert [(p.field, p.rule) for p in exc.value.problems] == [("fee_lines.csv line 4", "csv-syntax")]


def test_unsorted_fee_lines_stream_only_when_contiguous(docs: list[dict[str, Any]]) -> None:
    invoices, lines = pair(docs[:3])
    head, *rows = [r for r in lines.split("\r\n") if r]
    n0 = len(docs[0]["feeLines"])
    shuffled = "\r\n".join([head, *rows[1:n0], *rows[n0:], rows[0]]) + "\r\n"  # invoice 1's first line last
    with pytest.raises(InvalidInput) as exc:
        read_pair(invoices, shuffled, grouping="stream")
    (p,) = exc.value.problems
    assert (p.field, p.rule) == (f"fee_lines.csv row {len(rows) + 1}", "grouped-by-invoice")
    assert f"after its rows 2-{n0}" in p.message
    # grouped in memory (forced, or automatically for a small seekable file): the order does not matter
    for grouping in ("memory", "auto"):
        items = read_pair(invoices, shuffled, grouping=grouping)
        by_number = {i.document["invoiceNumber"]: i.document for i in items}  # type: ignore[index]
        first = by_number[docs[0]["invoiceNumber"]]
        assert sorted(first["feeLines"], key=lambda x: x["seq"]) == docs[0]["feeLines"]
        assert first["feeLines"][-1] == docs[0]["feeLines"][0]
    with pytest.raises(InvalidInput) as exc:
        read_pair(invoices, shuffled, grouping="memory", limits=Limits(max_grouped_bytes=1000))
    assert exc.value.problems[0].rule == "max-grouped-bytes"


def test_more_invoices_than_allowed(docs: list[dict[str, Any]]) -> None:
    invoices, lines = pair(docs[:3])
    with pytest.raises(InvalidInput, match="more than 2 invoices"):
        read_pair(invoices, lines, limits=Limits(max_items=2))
    with pytest.raises(InvalidInput, match="more than 2 invoices"):
        read_flat(flat(docs[:3]), limits=Limits(max_items=2))


def test_read_upload_tells_the_two_files_apart(docs: list[dict[str, Any]]) -> None:
    invoices, lines = pair(docs[:3])
    parts = [UploadPart(io.BytesIO(lines.encode("gbk")), filename="明细.csv"),
             UploadPart(io.BytesIO(invoices.encode()), filename="发票.csv")]
    items = list(read_upload(parts))
    assert [i.document for i in items] == docs[:3] and items[0].ref == "发票.csv row 2"
    (flat_item, *_) = read_upload([UploadPart(io.BytesIO(flat(docs[:3]).encode()), content_type="text/csv")])
    assert flat_item.document == docs[0]
    with pytest.raises(InvalidInput, match="must be flat"):
        read_upload([UploadPart(io.BytesIO(invoices.encode()), filename="invoices.csv")])
    with pytest.raises(InvalidInput, match=r"must be invoices\.csv"):
        read_upload([UploadPart(io.BytesIO(invoices.encode())), UploadPart(io.BytesIO(invoices.encode()))])
