"""CSV exports of hospital billing systems (HIS): invoices.csv + fee_lines.csv, or one flat file.

Columns are the upload-format fields in **snake_case** (``invoice_code``, ``item_name``).
A money column carries either integer fen (``total_fen``) or yuan with at most two
decimals (``total_yuan``: ``13.54``; ``13.545`` and ``1,354.00`` are refused, never
rounded); each amount is given one way, not both:

- ``invoices.csv``, one row per invoice: ``issuer, invoice_code, invoice_number,
  check_code, issued_at, visit_type, patient_id, total_*, fund_paid_*, account_paid_*,
  cash_paid_*``, and optionally ``schema_version`` (1 when the column is absent);
- ``fee_lines.csv``, one row per fee line: the invoice key ``invoice_code,
  invoice_number`` (plus ``issuer``, optional, when the upload spans hospitals), then
  ``seq, item_code, item_name, category, quantity, unit, unit_price_*, amount_*,
  service_date``;
- a **flat** file: one row per fee line with all the invoice columns too; they must
  hold the same value on every row of one invoice.

Text cells are taken verbatim (``parse_invoice`` judges them); an empty cell is a
missing field; numeric cells may be padded with spaces. Unknown, duplicate or missing
columns refuse the file. Columns: :mod:`.csv_columns`; encoding, dialect and row numbers:
:mod:`.csvtext`; writing: :mod:`.his_csv_write`.

**Joins**: the fee lines of one invoice must be contiguous (what any HIS export ``ORDER BY
invoice`` gives), which lets a 100 MB fee_lines.csv stream in flat memory. A seekable
file of at most :attr:`Limits.max_grouped_bytes` may be in any order: it is grouped in
memory (``grouping="auto"``, the default; ``"stream"`` or ``"memory"`` force one way).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import IO, Any, Literal

from ledger.errors import FieldProblem, InvalidInput
from ledger.formats.csv_columns import (
    HEADER_COLUMNS,
    KEY_COLUMNS,
    KEY_SPECS,
    LINE_COLUMNS,
    OPTIONAL,
    LineConverter,
    Plan,
    convert_row,
    csv_kind,
    line_converter,
    plan_columns,
)
from ledger.formats.csvtext import Lines, Row, Rows, records
from ledger.formats.items import DEFAULT_LIMITS, Limits, RowRefs, SourceItem, count_items, problem
from ledger.invoice import SCHEMA_VERSION

__all__ = [
    "HEADER_COLUMNS",
    "KEY_COLUMNS",
    "LINE_COLUMNS",
    "Grouping",
    "csv_kind",
    "read_csv_pair",
    "read_flat_csv",
]

Grouping = Literal["auto", "stream", "memory"]
Key = tuple[str, ...]


# =========================================================================== grouping


class _Group:
    """The rows of one invoice key as they are read, converted."""

    __slots__ = ("cells", "first", "first_row", "key", "lines", "problems", "rows")

    def __init__(self, key: Key, rowno: int, row: Row, cells: tuple[str, ...]) -> None:
        self.key, self.first, self.first_row, self.cells = key, rowno, row, cells
        self.rows: list[int] = []
        self.lines: list[dict[str, Any]] = []
        self.problems: list[FieldProblem] = []


def _mode(stream: IO[bytes], grouping: Grouping, limits: Limits) -> Literal["stream", "memory"]:
    if grouping != "auto":
        return grouping
    try:
        if not stream.seekable():
            return "stream"
        here = stream.tell()
        size = stream.seek(0, io.SEEK_END) - here
        stream.seek(here)
    except (OSError, AttributeError, ValueError):
        return "stream"
    return "memory" if size <= limits.max_grouped_bytes else "stream"


def _groups(rows: Rows, text: Lines, plan: Plan, convert: LineConverter, *, mode: Literal["stream", "memory"],
            limits: Limits, header_index: tuple[int, ...] = ()) -> Iterator[_Group]:
    """Each invoice's rows: contiguous runs (stream) or collected in memory.

    With ``header_index`` (flat files) every row's invoice cells must equal the first row's.
    """
    kget, hget = _key_getter(plan.key_index), _key_getter(header_index)
    width, file = plan.width, plan.file
    header_cols = [c for _, i, c, _, _ in plan.fields if i in header_index]

    def add(g: _Group, rowno: int, row: Row) -> None:
        g.rows.append(rowno)
        if len(row) != width:
            g.problems.append(problem(f"{file} row {rowno}", "csv-fields",
                                      f"has {len(row)} fields, the header has {width} (an unquoted comma?)"))
            return
        if header_index and rowno != g.first:
            cells = hget(row)
            if cells != g.cells:
                g.problems.extend(_disagreements(plan, g, rowno, header_cols, cells))
        g.lines.append(convert(row, rowno, g.problems))

    if mode == "memory":
        raw: dict[Key, list[tuple[int, Row]]] = {}
        with rows.errors():
            for rowno, row in rows:
                raw.setdefault(kget(row), []).append((rowno, row))
                if text.consumed > limits.max_grouped_bytes:
                    raise InvalidInput.single(
                        file, "max-grouped-bytes",
                        f"is larger than {limits.max_grouped_bytes:,} bytes, the most grouped in memory: list each "
                        f"invoice's fee lines together (sorted by {', '.join(plan.key_columns)}) to stream it")
        for key, run in raw.items():
            group = _Group(key, run[0][0], run[0][1], hget(run[0][1]))
            for rowno, row in run:
                add(group, rowno, row)
            yield group
        return

    closed: dict[Key, tuple[int, int]] = {}
    g: _Group | None = None
    current: Key | None = None
    fast_key = _tuple_getter(plan.key_index)
    check = bool(header_index)
    with rows.errors():
        for rowno, row in rows:
            try:
                key = fast_key(row)
            except IndexError:  # a short row: add() reports it
                key = kget(row)
            if key != current:
                if g is not None:
                    closed[g.key] = (g.first, g.rows[-1])
                    yield g
                if key in closed:
                    a, b = closed[key]
                    raise InvalidInput.single(
                        f"{file} row {rowno}", "grouped-by-invoice",
                        f"invoice {_key_text(plan, key)} continues here after its rows {a}-{b}: the fee lines of "
                        f"an invoice must be contiguous (sort by {', '.join(plan.key_columns)}), or the file at "
                        f"most {limits.max_grouped_bytes:,} bytes")
                g = _Group(key, rowno, row, hget(row))
                current, first, cells = key, rowno, g.cells
                add_row, add_line, found = g.rows.append, g.lines.append, g.problems
            # add() inlined for the usual row: this is the hot loop of a CSV upload
            if len(row) == width and (not check or rowno == first or hget(row) == cells):
                add_row(rowno)
                add_line(convert(row, rowno, found))
            else:
                assert g is not None
                add(g, rowno, row)
    if g is not None:
        yield g


def _disagreements(plan: Plan, g: _Group, rowno: int, cols: list[str], cells: tuple[str, ...]) -> list[FieldProblem]:
    return [problem(f"{plan.file} row {rowno} column {col}", "consistent-header",
                    f"is {got[:40]!r}, but {want[:40]!r} in row {g.first}, the first row of invoice "
                    f"{_key_text(plan, g.key)}: invoice columns must repeat the same value on every row")
            for col, want, got in zip(cols, g.cells, cells, strict=True) if want != got]


def _key_getter(index: tuple[int, ...]) -> Callable[[Row], Key]:
    if not index:
        return lambda row: ()
    top = max(index)
    get = itemgetter(*index)
    single = len(index) == 1

    def key(row: Row) -> Key:
        if len(row) > top:
            return (get(row),) if single else get(row)
        return tuple(row[i] if i < len(row) else "" for i in index)  # a short row: its problem is reported

    return key


def _tuple_getter(index: tuple[int, ...]) -> Callable[[Row], Key]:
    if len(index) == 1:
        i = index[0]
        return lambda row: (row[i],)
    return itemgetter(*index)


def _key_text(plan: Plan, key: Key) -> str:
    return ", ".join(f"{c}={v!r}" for c, v in zip(plan.key_columns, key, strict=True))


def _item(index: int, ref: str, header: dict[str, Any], g: _Group, problems: list[FieldProblem],
          file: str, names: Mapping[str, str]) -> SourceItem:
    if problems:
        return SourceItem(index, ref, None, tuple(problems))
    doc = dict(header)
    doc["feeLines"] = g.lines
    return SourceItem(index, ref, doc, line_refs=RowRefs(file, g.rows), names=names)


# =========================================================================== readers


def read_csv_pair(invoices: IO[bytes], fee_lines: IO[bytes], *, invoices_name: str = "invoices.csv",
                  fee_lines_name: str = "fee_lines.csv", limits: Limits = DEFAULT_LIMITS,
                  grouping: Grouping = "auto") -> Iterator[SourceItem]:
    """Join invoices.csv (read whole) with fee_lines.csv (streamed): one item per invoice.

    Items come in fee_lines.csv order, then the invoices that have no fee lines (each an
    item problem). Fee lines of an invoice key not in invoices.csv are an item problem.
    Raises :class:`InvalidInput` for column problems, broken CSV or encoding, more
    invoices than allowed, and fee lines out of order (see ``grouping`` in the module doc).
    """
    return count_items(_pair(invoices, fee_lines, invoices_name, fee_lines_name, limits, grouping),
                       limits=limits, name=invoices_name)


@dataclass
class _Header:
    ref: str
    doc: dict[str, Any]
    problems: list[FieldProblem]
    used: bool = False


def _pair(invoices: IO[bytes], fee_lines: IO[bytes], inv_name: str, fl_name: str, limits: Limits,
          grouping: Grouping) -> Iterator[SourceItem]:
    line_head, line_rows, line_text = records(fee_lines, file=fl_name, limits=limits)
    lplan = plan_columns(line_head, (*KEY_SPECS, *LINE_COLUMNS), file=fl_name, required=lambda c: c != "issuer")
    inv_head, inv_rows, _ = records(invoices, file=inv_name, limits=limits)
    iplan = plan_columns(inv_head, HEADER_COLUMNS, file=inv_name, required=lambda c: c not in OPTIONAL)
    version = {} if any(f[0] == "schemaVersion" for f in iplan.fields) else {"schemaVersion": SCHEMA_VERSION}
    # join on the key columns fee_lines.csv has (issuer is optional there)
    ikey = _key_getter(tuple(iplan.key_index[iplan.key_columns.index(c)] for c in lplan.key_columns))

    headers: dict[Key, _Header] = {}
    index = 0
    with inv_rows.errors():
        for rowno, row in inv_rows:
            ref = f"{inv_name} row {rowno}"
            problems: list[FieldProblem] = []
            if len(row) != iplan.width:
                problems.append(problem(ref, "csv-fields", f"has {len(row)} fields, the header has {iplan.width}"))
            doc = {**version, **convert_row(row, iplan.fields, ref, problems)} if not problems else {}
            key = ikey(row)
            if key in headers:
                yield SourceItem(index, ref, None, (problem(
                    ref, "duplicate-invoice", f"invoice {_key_text(lplan, key)} is already in {headers[key].ref}"),))
                index += 1
                continue
            if len(headers) >= limits.max_items:
                raise InvalidInput.single(inv_name, "max-items",
                                          f"has more than {limits.max_items:,} invoices; split the upload")
            headers[key] = _Header(ref, doc, problems)

    convert = line_converter(lplan.part(LINE_COLUMNS), fl_name)
    names = {**iplan.names, **lplan.names}
    for g in _groups(line_rows, line_text, lplan, convert, mode=_mode(fee_lines, grouping, limits), limits=limits):
        head = headers.get(g.key)
        if head is None:
            ref = f"{fl_name} row {g.first}"
            which = f"{len(g.rows)} fee lines (rows {g.first}-{g.rows[-1]}) belong" if len(g.rows) > 1 \
                else "the fee line belongs"
            yield SourceItem(index, ref, None, (problem(
                ref, "unknown-invoice", f"{which} to invoice {_key_text(lplan, g.key)}, which is not in {inv_name}"),))
        else:
            head.used = True
            yield _item(index, head.ref, head.doc, g, head.problems + g.problems, fl_name, names)
        index += 1
    for key, head in headers.items():
        if not head.used:
            yield SourceItem(index, head.ref, None, (problem(
                head.ref, "no-fee-lines", f"invoice {_key_text(lplan, key)} has no fee lines in {fl_name}"),))
            index += 1


def read_flat_csv(stream: IO[bytes], *, name: str = "invoices.csv", limits: Limits = DEFAULT_LIMITS,
                  grouping: Grouping = "auto") -> Iterator[SourceItem]:
    """One item per invoice of a flat CSV (a row per fee line, the invoice columns repeated).

    Raises :class:`InvalidInput` as :func:`read_csv_pair` does.
    """
    return count_items(_flat(stream, name, limits, grouping), limits=limits, name=name)


def _flat(stream: IO[bytes], name: str, limits: Limits, grouping: Grouping) -> Iterator[SourceItem]:
    head, rows, text = records(stream, file=name, limits=limits)
    plan = plan_columns(head, (*HEADER_COLUMNS, *LINE_COLUMNS), file=name, required=lambda c: c not in OPTIONAL)
    header_fields = plan.part(HEADER_COLUMNS)
    version = {} if any(f[0] == "schemaVersion" for f in header_fields) else {"schemaVersion": SCHEMA_VERSION}
    convert = line_converter(plan.part(LINE_COLUMNS), name)
    groups = _groups(rows, text, plan, convert, mode=_mode(stream, grouping, limits), limits=limits,
                     header_index=tuple(f[1] for f in header_fields))
    for index, g in enumerate(groups):
        ref = f"{name} row {g.first}"
        problems: list[FieldProblem] = []
        header = {**version, **convert_row(g.first_row, header_fields, ref, problems)} \
            if len(g.first_row) == plan.width else {}
        yield _item(index, ref, header, g, problems + g.problems, name, plan.names)
