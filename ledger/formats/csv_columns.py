"""The columns of HIS CSV files: their names, their upload fields, and converting one row.

See :mod:`.his_csv` for the files. A money column is ``<stem>_fen`` (integer fen) or
``<stem>_yuan`` (at most two decimals, exact); integer cells are ASCII digits, optionally
padded with spaces; an empty cell is a missing field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Literal

from ledger.errors import FieldProblem, InvalidInput
from ledger.formats.csvtext import Row, first_line
from ledger.formats.items import problem
from ledger.formats.money import yuan_to_fen

__all__ = [
    "HEADER_COLUMNS",
    "KEY_COLUMNS",
    "KEY_SPECS",
    "LINE_COLUMNS",
    "MONEY",
    "OPTIONAL",
    "Field",
    "LineConverter",
    "Plan",
    "convert_row",
    "csv_kind",
    "line_converter",
    "plan_columns",
]

TEXT, INT, MONEY = "text", "int", "money"

#: (upload field, column stem, kind); a money column is ``<stem>_fen`` or ``<stem>_yuan``
HEADER_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("schemaVersion", "schema_version", INT),
    ("issuer", "issuer", TEXT),
    ("invoiceCode", "invoice_code", TEXT),
    ("invoiceNumber", "invoice_number", TEXT),
    ("checkCode", "check_code", TEXT),
    ("issuedAt", "issued_at", TEXT),
    ("visitType", "visit_type", TEXT),
    ("patientId", "patient_id", TEXT),
    ("totalFen", "total", MONEY),
    ("fundPaidFen", "fund_paid", MONEY),
    ("accountPaidFen", "account_paid", MONEY),
    ("cashPaidFen", "cash_paid", MONEY),
)
LINE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("seq", "seq", INT),
    ("itemCode", "item_code", TEXT),
    ("itemName", "item_name", TEXT),
    ("category", "category", TEXT),
    ("quantity", "quantity", TEXT),
    ("unit", "unit", TEXT),
    ("unitPriceFen", "unit_price", MONEY),
    ("amountFen", "amount", MONEY),
    ("serviceDate", "service_date", TEXT),
)
KEY_COLUMNS = ("issuer", "invoice_code", "invoice_number")
KEY_SPECS = tuple(s for s in HEADER_COLUMNS if s[1] in KEY_COLUMNS)
OPTIONAL = frozenset({"schema_version"})
_MAX_DIGITS = 18

#: (upload field, column index, column name, converter or None, rule of its problems)
Field = tuple[str, int, str, "Callable[[str], int] | None", str]


# =========================================================================== cells


def _int(v: str) -> int:
    t = v.strip(" ")
    body = t[1:] if t[:1] == "-" else t
    if body.isdigit() and body.isascii() and len(body) <= _MAX_DIGITS:
        return int(t)
    raise ValueError(f"must be an integer (at most {_MAX_DIGITS} ASCII digits), got {v[:40]!r}")


def _fen(v: str) -> int:
    try:
        return _int(v)
    except ValueError:
        raise ValueError(f"must be an integer number of fen (1/100 yuan), got {v[:40]!r}") from None


def money_column(stem: str, column: str) -> tuple[Callable[[str], int], str]:
    return (yuan_to_fen, "yuan") if column == f"{stem}_yuan" else (_fen, "integer-fen")


def convert_row(row: Row, fields: Sequence[Field], where: str, problems: list[FieldProblem]) -> dict[str, Any]:
    """The upload fields of one row; conversion problems are appended, naming row and column."""
    out: dict[str, Any] = {}
    for up, idx, col, conv, rule in fields:
        v = row[idx]
        if not v:
            continue  # an empty cell is a missing field: parse_invoice reports it if required
        if conv is None:
            out[up] = v
            continue
        try:
            out[up] = conv(v)
        except ValueError as exc:
            problems.append(problem(f"{where} column {col}", rule, str(exc)))
    return out


LineConverter = Callable[[Row, int, list[FieldProblem]], dict[str, Any]]


def line_converter(fields: Sequence[Field], file: str) -> LineConverter:
    """The fee line of a row, with a fast path for the usual row: no empty cell and plain
    digits in the integer columns (one pass in C instead of a Python loop over the cells)."""
    assert tuple(f[0] for f in fields) == tuple(s[0] for s in LINE_COLUMNS)
    fields = tuple(fields)
    get = itemgetter(*(f[1] for f in fields))
    to_price, to_amount = fields[6][3], fields[7][3]
    assert to_price is not None and to_amount is not None
    in_fen = to_price is _fen and to_amount is _fen

    def convert(row: Row, rowno: int, problems: list[FieldProblem]) -> dict[str, Any]:
        values = get(row)
        if "" not in values:
            seq, code, name, category, quantity, unit, price, amount, day = values
            try:
                if in_fen:
                    digits = seq + price + amount
                    if digits.isdigit() and digits.isascii() and len(digits) <= _MAX_DIGITS:
                        return {"seq": int(seq), "itemCode": code, "itemName": name, "category": category,
                                "quantity": quantity, "unit": unit, "unitPriceFen": int(price),
                                "amountFen": int(amount), "serviceDate": day}
                elif seq.isdigit() and seq.isascii():
                    return {"seq": int(seq), "itemCode": code, "itemName": name, "category": category,
                            "quantity": quantity, "unit": unit, "unitPriceFen": to_price(price),
                            "amountFen": to_amount(amount), "serviceDate": day}
            except ValueError:
                pass  # the slow path names the cell
        return convert_row(row, fields, f"{file} row {rowno}", problems)

    return convert


# =========================================================================== columns


@dataclass(frozen=True)
class Plan:
    """How one file's columns map to upload fields."""

    file: str
    width: int
    fields: tuple[Field, ...]
    key_columns: tuple[str, ...]
    key_index: tuple[int, ...]
    names: dict[str, str]

    def part(self, specs: Sequence[tuple[str, str, str]]) -> tuple[Field, ...]:
        wanted = {s[0] for s in specs}
        return tuple(f for f in self.fields if f[0] in wanted)


def plan_columns(header: Row, specs: Sequence[tuple[str, str, str]], *, file: str,
          required: Callable[[str], bool]) -> Plan:
    names = [c.strip() for c in header]
    where = f"{file} row 1"
    known: list[str] = []
    for _, stem, kind in specs:
        known.extend((f"{stem}_fen", f"{stem}_yuan") if kind == MONEY else (stem,))
    problems: list[FieldProblem] = []
    seen: dict[str, int] = {}
    for i, col in enumerate(names):
        if col in seen:
            problems.append(problem(f"{where} column {col}", "duplicate-column",
                                    f"appears twice (columns {seen[col] + 1} and {i + 1})"))
            continue
        if col not in known:
            problems.append(problem(f"{where} column {col or '(empty)'}", "unknown-column",
                                    f"is not a column of {file} (expected: {', '.join(known)})"))
        seen[col] = i
    fields: list[Field] = []
    for up, stem, kind in specs:
        cols = [c for c in ((f"{stem}_fen", f"{stem}_yuan") if kind == MONEY else (stem,)) if c in seen]
        if len(cols) > 1:
            problems.append(problem(f"{where} column {cols[1]}", "one-money-column",
                                    f"{stem} is given both in fen and in yuan; keep one column"))
        if not cols:
            if required(stem):
                want = f"{stem}_fen or {stem}_yuan" if kind == MONEY else stem
                problems.append(problem(where, "missing-column", f"{file} needs the column {want}"))
            continue
        col = cols[0]
        conv: Callable[[str], int] | None = None
        rule = ""
        if kind == INT:
            conv, rule = _int, "integer"
        elif kind == MONEY:
            conv, rule = money_column(stem, col)
        fields.append((up, seen[col], col, conv, rule))
    if problems:
        raise InvalidInput(problems)
    key_cols = tuple(c for c in KEY_COLUMNS if c in seen)
    return Plan(file=file, width=len(names), fields=tuple(fields), key_columns=key_cols,
                 key_index=tuple(seen[c] for c in key_cols),
                 names={up: f"column {col}" for up, _, col, _, _ in fields})


def csv_kind(head: bytes) -> Literal["invoices", "fee_lines", "flat"] | None:
    """Which of our CSV files this is, from the column names in its first line (None: not ours)."""
    text = first_line(head)
    if text is None:
        return None
    cols = {c.strip().strip('"') for c in text.replace("\t", ",").split(",")}
    has_line = bool(cols & {"seq", "item_code", "item_name"})
    has_header = bool(cols & {"check_code", "issued_at", "patient_id", "visit_type"})
    if has_line:
        return "flat" if has_header else "fee_lines"
    return "invoices" if has_header or "invoice_code" in cols else None
