"""The validation of an uploaded invoice document: :func:`parse_invoice`.

:func:`parse_invoice` checks every rule and reports *all* broken ones at once, each
naming its field (``feeLines[3].amountFen``) and rule, so a hospital IT team can fix a
rejected upload in one pass, and returns the model of :mod:`ledger.invoice`. The patient
ID is replaced by its pseudonym on parsing; the model never holds the ID itself.

A city's year is 1.3 M fee lines, nearly all valid: a line that is plainly valid is
accepted by the fast path (:func:`ledger.invoice_fastpath.plain_fee_line`); every other
line goes through the careful checker here (:func:`_fee_line`), which alone decides what
is refused and how it is reported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from ledger.errors import FieldProblem, InvalidInvoice
from ledger.hashing import Hash32
from ledger.identity import national_id_problem, pseudonymise
from ledger.invoice import (
    CHECK_CODE_RE,
    DATE_RE,
    INVOICE_CODE_RE,
    INVOICE_FIELDS,
    INVOICE_NUMBER_RE,
    ISSUER_RE,
    ITEM_CODE_RE,
    LINE_FIELDS,
    MAX_AMOUNT_FEN,
    MAX_FEE_LINES,
    MAX_TEXT,
    MAX_UNIT_PRICE_FEN,
    MAX_UNIT_TEXT,
    QUANTITY_RE,
    SCHEMA_VERSION,
    FeeCategory,
    FeeLine,
    Invoice,
    VisitType,
    format_timestamp,
    normal_quantity,
    price_times_quantity,
)
from ledger.invoice_fastpath import plain_fee_line
from ledger.peppers import PepperRing

# control characters, lone surrogates, and invisible format characters (zero-width,
# bidi overrides) that would make a name display differently from what is stored
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")

#: problems found in one invoice before its remaining fee lines are left unchecked: a hospital
#: fixes a file from the first hundred, and a 1 MB upload of empty fee lines would otherwise
#: cost seconds of CPU and hundreds of MB to describe (each line breaks eight rules)
MAX_PROBLEMS = 100


class _Problems:
    """The problems found, at most :data:`MAX_PROBLEMS` of them (the last place says what was left out)."""

    def __init__(self) -> None:
        self.items: list[FieldProblem] = []
        self.dropped = 0

    def add(self, field: str, rule: str, message: str) -> None:
        if self.full:
            self.dropped += 1
        else:
            self.items.append(FieldProblem(field, rule, message))

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_PROBLEMS - 1

    def close(self) -> list[FieldProblem]:
        if self.dropped:
            self.items.append(FieldProblem("", "more-problems", f"{self.dropped} more problems are not listed"))
            self.dropped = 0
        return self.items


def parse_invoice(doc: Any, *, pepper: bytes | PepperRing) -> Invoice:
    """Validate an uploaded invoice document and return the model (the patient's pseudonym made
    with ``pepper``, or with the current version of a :class:`~ledger.peppers.PepperRing`).

    Raises :class:`InvalidInvoice` listing every broken rule with its field.
    """
    p = _Problems()
    if not isinstance(doc, Mapping):
        raise InvalidInvoice([FieldProblem("", "type", f"invoice must be a JSON object, got {_tname(doc)}")])
    for name in sorted(set(doc) - INVOICE_FIELDS):
        p.add(str(name), "unknown-field", "is not a field of an invoice (misspelt?)")

    version = _req(doc, "schemaVersion", p)
    if version is not None and (type(version) is not int or version != SCHEMA_VERSION):
        p.add("schemaVersion", "supported-version", f"must be {SCHEMA_VERSION}, got {version!r}")
    issuer = _req_str(doc, "issuer", ISSUER_RE, "H followed by 11 digits (national institution code)", p)
    code = _req_str(doc, "invoiceCode", INVOICE_CODE_RE, "8 digits", p)
    number = _req_str(doc, "invoiceNumber", INVOICE_NUMBER_RE, "10 digits", p)
    check = _req_str(doc, "checkCode", CHECK_CODE_RE, "6 letters or digits", p)
    issued_at = _issued_at(doc, p)
    visit = _enum(doc, "visitType", VisitType, p)

    patient: Hash32 | None = None
    raw_id = _req(doc, "patientId", p)
    if raw_id is not None:
        why = national_id_problem(raw_id)
        if why:
            p.add("patientId", "national-id", why)
        else:
            patient = pepper.pseudonym(raw_id) if isinstance(pepper, PepperRing) else pseudonymise(raw_id,
                                                                                                 pepper=pepper)

    total = _amount(doc, "totalFen", p, positive=True)
    parts = [_amount(doc, f, p) for f in ("fundPaidFen", "accountPaidFen", "cashPaidFen")]
    if total is not None and all(x is not None for x in parts):
        paid = sum(x for x in parts if x is not None)
        if paid != total:
            p.add("cashPaidFen", "payments-sum-to-total",
                  f"fund + account + cash = {paid} fen, but totalFen = {total}")

    lines = _fee_lines(doc, p, issue_date=issued_at[:10] if issued_at else None)
    if lines is not None and total is not None:
        line_sum = sum(line.amount_fen for line in lines)
        if line_sum != total:
            p.add("feeLines", "lines-sum-to-total",
                  f"fee lines sum to {line_sum} fen, but totalFen = {total}")

    if p.items:
        raise InvalidInvoice(p.close())
    assert issuer and code and number and check and issued_at and visit and patient
    assert total is not None and lines is not None and None not in parts
    fund, account, cash = (x for x in parts if x is not None)
    return Invoice(
        issuer=issuer, invoice_code=code, invoice_number=number, check_code=check,
        issued_at=issued_at, visit_type=visit, patient=patient, total_fen=total,
        fund_paid_fen=fund, account_paid_fen=account, cash_paid_fen=cash,
        fee_lines=tuple(lines),
    )


def _fee_lines(doc: Mapping[str, Any], p: _Problems, *, issue_date: str | None) -> list[FeeLine] | None:
    raw = _req(doc, "feeLines", p)
    if raw is None:
        return None
    if not isinstance(raw, list):
        p.add("feeLines", "type", f"must be an array of fee lines, got {_tname(raw)}")
        return None
    if not raw:
        p.add("feeLines", "non-empty", "an invoice needs at least one fee line")
        return None
    if len(raw) > MAX_FEE_LINES:
        p.add("feeLines", "max-lines", f"has {len(raw)} lines; at most {MAX_FEE_LINES} are accepted")
        return None
    before = len(p.items)
    lines: list[FeeLine] = []
    seen: dict[int, int] = {}
    good_dates: set[str] = set()
    for i, item in enumerate(raw):
        if p.full:
            p.close()
            p.items.append(FieldProblem("feeLines", "not-checked", f"fee lines {i + 1}-{len(raw)} were not checked: "
                                        "fix the problems listed and upload the invoice again"))
            return None
        line = plain_fee_line(item, good_dates, issue_date)
        if line is None:  # not plainly valid: the careful check decides and says why
            line = _fee_line(item, f"feeLines[{i}]", p, issue_date)
            if line is None:
                continue
        if line.seq in seen:
            p.add(f"feeLines[{i}].seq", "unique-seq",
                  f"sequence number {line.seq} already used by feeLines[{seen[line.seq]}]")
        else:
            seen[line.seq] = i
        lines.append(line)
    return lines if len(p.items) == before else None


def _fee_line(item: Any, at: str, p: _Problems, issue_date: str | None) -> FeeLine | None:
    if not isinstance(item, Mapping):
        p.add(at, "type", f"fee line must be a JSON object, got {_tname(item)}")
        return None
    before = len(p.items)
    for name in sorted(set(item) - LINE_FIELDS):
        p.add(f"{at}.{name}", "unknown-field", "is not a field of a fee line (misspelt?)")
    seq = _req(item, "seq", p, at)
    if seq is not None and (type(seq) is not int or not 1 <= seq <= MAX_FEE_LINES * 5):
        p.add(f"{at}.seq", "seq-range", f"must be an integer from 1 to {MAX_FEE_LINES * 5}, got {seq!r}")
    code = _req_str(item, "itemCode", ITEM_CODE_RE,
                    "20-40 upper-case letters, digits or inner hyphens (national catalogue code)", p, at)
    name = _text(item, "itemName", p, at)
    category = _enum(item, "category", FeeCategory, p, at)
    unit = _text(item, "unit", p, at, max_len=MAX_UNIT_TEXT)
    quantity = _quantity(item, p, at)
    price = _amount(item, "unitPriceFen", p, at=at, maximum=MAX_UNIT_PRICE_FEN)
    amount = _amount(item, "amountFen", p, at=at)
    service_date = _req_str(item, "serviceDate", DATE_RE, "a date YYYY-MM-DD", p, at)
    if service_date is not None:
        try:
            date.fromisoformat(service_date)
        except ValueError:
            p.add(f"{at}.serviceDate", "calendar-date", f"{service_date} is not a calendar date")
        else:
            if issue_date and service_date > issue_date:
                p.add(f"{at}.serviceDate", "not-after-issue",
                      f"service date {service_date} is after the invoice date {issue_date}")
    if quantity is not None and price is not None and amount is not None:
        expected = price_times_quantity(price, quantity)
        # exact: a tolerance would let a long bill be inflated a fen per line, and give
        # one invoice two accepted spellings (two fingerprints)
        if expected != amount:
            p.add(f"{at}.amountFen", "price-times-quantity",
                  f"is {amount} fen, but unitPriceFen x quantity = {price} x {quantity} = {expected}")
    if len(p.items) != before:
        return None
    assert isinstance(seq, int) and code and name and category and unit and quantity and service_date
    assert price is not None and amount is not None
    return FeeLine(seq, code, name, category, quantity, unit, price, amount, service_date)


# --------------------------------------------------------------------------- field helpers


def _tname(v: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null",
            int: "integer", float: "number"}.get(type(v), type(v).__name__)


def _path(at: str, name: str) -> str:
    return f"{at}.{name}" if at else name


def _req(doc: Mapping[str, Any], name: str, p: _Problems, at: str = "") -> Any:
    if name not in doc or doc[name] is None:
        p.add(_path(at, name), "required", "is required")
        return None
    return doc[name]


def _req_str(doc: Mapping[str, Any], name: str, pattern: re.Pattern[str], shape: str,
             p: _Problems, at: str = "") -> str | None:
    v = _req(doc, name, p, at)
    if v is None:
        return None
    if not isinstance(v, str):
        p.add(_path(at, name), "type", f"must be a string ({shape}), got {_tname(v)}")
        return None
    if not pattern.match(v):
        p.add(_path(at, name), "format", f"must be {shape}, got {v[:60]!r}")
        return None
    return v


def _text(doc: Mapping[str, Any], name: str, p: _Problems, at: str, max_len: int = MAX_TEXT) -> str | None:
    v = _req(doc, name, p, at)
    if v is None:
        return None
    if not isinstance(v, str):
        p.add(_path(at, name), "type", f"must be a string, got {_tname(v)}")
        return None
    if not v.strip() or len(v) > max_len:
        p.add(_path(at, name), "length", f"must be 1-{max_len} characters, not blank")
        return None
    if _CONTROL_RE.search(v):
        p.add(_path(at, name), "printable", "must not contain control characters")
        return None
    return v


def _enum(doc: Mapping[str, Any], name: str, enum: type[Any], p: _Problems, at: str = "") -> Any:
    v = _req(doc, name, p, at)
    if v is None:
        return None
    allowed = [e.value for e in enum]
    if v not in allowed:
        p.add(_path(at, name), "one-of", f"must be one of {', '.join(allowed)}, got {v!r}")
        return None
    return enum(v)


def _amount(doc: Mapping[str, Any], name: str, p: _Problems, *, at: str = "",
            positive: bool = False, maximum: int = MAX_AMOUNT_FEN) -> int | None:
    v = _req(doc, name, p, at)
    if v is None:
        return None
    if type(v) is not int:
        p.add(_path(at, name), "integer-fen",
              f"must be an integer number of fen (1/100 yuan), got {_tname(v)} {v!r}")
        return None
    if v < 0 or (positive and v == 0):
        p.add(_path(at, name), "positive" if positive else "non-negative",
              f"must be {'> 0' if positive else '>= 0'}, got {v}")
        return None
    if v > maximum:
        p.add(_path(at, name), "max", f"must be at most {maximum} fen, got {v}")
        return None
    return v


def _quantity(item: Mapping[str, Any], p: _Problems, at: str) -> str | None:
    v = _req(item, "quantity", p, at)
    if v is None:
        return None
    if type(v) is int:
        v = str(v)
    if not isinstance(v, str) or not QUANTITY_RE.match(v):
        p.add(f"{at}.quantity", "decimal-quantity",
              f"must be a positive decimal with at most 3 decimals, as a string or integer; got {v!r}")
        return None
    text = normal_quantity(v)  # the regex admits only decimals, so Decimal(v) cannot fail
    if text is None:
        p.add(f"{at}.quantity", "positive", f"must be > 0, got {v}")
    return text


def _issued_at(doc: Mapping[str, Any], p: _Problems) -> str | None:
    v = _req(doc, "issuedAt", p)
    if v is None:
        return None
    if not isinstance(v, str):
        p.add("issuedAt", "type", f"must be an ISO 8601 string, got {_tname(v)}")
        return None
    try:
        t = datetime.fromisoformat(v)
    except ValueError:
        p.add("issuedAt", "iso-8601", f"must be ISO 8601 like 2024-03-05T10:21:33+08:00, got {v[:40]!r}")
        return None
    offset = t.utcoffset()
    if offset is None:
        p.add("issuedAt", "utc-offset", "must carry a UTC offset, e.g. +08:00")
        return None
    if offset.total_seconds() % 60:
        p.add("issuedAt", "utc-offset", "the UTC offset must be whole minutes (±HH:MM)")
        return None
    if not 2000 <= t.year <= 2999:
        p.add("issuedAt", "plausible-year", f"year {t.year} is outside 2000-2999")
        return None
    return format_timestamp(t)
