"""The e-invoice and its fee lines, and the validation of an uploaded invoice document.

Upload format (JSON, camelCase, money in integer fen)::

    {"schemaVersion": 1, "issuer": "H33010200001", "invoiceCode": "33060124",
     "invoiceNumber": "0001234567", "checkCode": "a1B2c3",
     "issuedAt": "2024-03-05T10:21:33+08:00", "visitType": "outpatient",
     "patientId": "<18-character resident ID>",
     "totalFen": 2500, "fundPaidFen": 0, "accountPaidFen": 0, "cashPaidFen": 2500,
     "feeLines": [{"seq": 1, "itemCode": "XJ01CAA040A001010104465", "itemName": "阿莫西林胶囊",
                   "category": "A", "quantity": "2", "unit": "盒", "unitPriceFen": 1250,
                   "amountFen": 2500, "serviceDate": "2024-03-05"}]}

:func:`parse_invoice` checks every rule and reports *all* broken ones at once, each
naming its field (``feeLines[3].amountFen``) and rule, so a hospital IT team can fix a
rejected upload in one pass. The patient ID is replaced by its pseudonym on parsing;
the model never holds the ID itself.

A city's year is 1.3 M fee lines, nearly all valid: a line that is plainly valid is
accepted by a fast path (:func:`_plain_fee_line`); every other line goes through the
careful checker, which alone decides what is refused and how it is reported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from operator import itemgetter
from typing import Any

from ledger.errors import FieldProblem, InvalidInvoice
from ledger.hashing import Hash32
from ledger.identity import national_id_problem, pseudonymise

SCHEMA_VERSION = 1
MAX_FEE_LINES = 20_000        # the largest inpatient bills run to a few thousand lines
MAX_AMOUNT_FEN = 10**12       # ¥10 bn: anything above is an encoding error, not a bill
MAX_UNIT_PRICE_FEN = 10**10
MAX_TEXT = 200
_MAX_UNIT_TEXT = 16


class VisitType(StrEnum):
    OUTPATIENT = "outpatient"
    INPATIENT = "inpatient"
    EMERGENCY = "emergency"
    PHARMACY = "pharmacy"


class FeeCategory(StrEnum):
    """National insurance catalogue class of a fee line."""

    CLASS_A = "A"   # 甲类: fully eligible
    CLASS_B = "B"   # 乙类: the patient first pays a share, the rest is eligible
    SELF_PAY = "C"  # 丙类: not eligible


# National codes: institution H + 6-digit region + 5 digits; e-invoice code 8 digits,
# number 10 digits, check code 6 characters; catalogue item codes (drugs X.../Z...,
# consumables C..., service items with local suffixes) are 20-40 characters of
# upper-case letters, digits and inner hyphens.
# \Z, not $ ($ also matches before a trailing newline), and [0-9], not \d (\d matches
# full-width and other Unicode digits): a code must have exactly one spelling.
ISSUER_RE = re.compile(r"H[0-9]{11}\Z")
INVOICE_CODE_RE = re.compile(r"[0-9]{8}\Z")
INVOICE_NUMBER_RE = re.compile(r"[0-9]{10}\Z")
CHECK_CODE_RE = re.compile(r"[0-9A-Za-z]{6}\Z")
ITEM_CODE_RE = re.compile(r"[A-Z0-9][A-Z0-9-]{18,38}[A-Z0-9]\Z")
QUANTITY_RE = re.compile(r"[0-9]{1,7}(\.[0-9]{1,3})?\Z")
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
# control characters, lone surrogates, and invisible format characters (zero-width,
# bidi overrides) that would make a name display differently from what is stored
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


@dataclass(frozen=True, slots=True)
class FeeLine:
    """One itemised line of an invoice (费用明细). Quantity is a normalised decimal string."""

    seq: int
    item_code: str
    item_name: str
    category: FeeCategory
    quantity: str
    unit: str
    unit_price_fen: int
    amount_fen: int
    service_date: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "itemCode": self.item_code, "itemName": self.item_name,
            "category": self.category.value, "quantity": self.quantity, "unit": self.unit,
            "unitPriceFen": self.unit_price_fen, "amountFen": self.amount_fen,
            "serviceDate": self.service_date,
        }


@dataclass(frozen=True, slots=True)
class Invoice:
    """A validated e-invoice: header fields, pseudonymised patient and fee lines."""

    issuer: str
    invoice_code: str
    invoice_number: str
    check_code: str
    issued_at: str
    visit_type: VisitType
    patient: Hash32
    total_fen: int
    fund_paid_fen: int
    account_paid_fen: int
    cash_paid_fen: int
    fee_lines: tuple[FeeLine, ...]
    schema_version: int = SCHEMA_VERSION

    @property
    def key(self) -> tuple[str, str, str]:
        """(issuer, invoice code, invoice number): the same key is the same invoice."""
        return (self.issuer, self.invoice_code, self.invoice_number)

    @property
    def issue_date(self) -> str:
        return self.issued_at[:10]

    def to_json(self, *, patient_id: str | None = None) -> dict[str, Any]:
        """Upload-format document; ``patient_id`` is needed to make it re-parsable."""
        doc: dict[str, Any] = {
            "schemaVersion": self.schema_version, "issuer": self.issuer,
            "invoiceCode": self.invoice_code, "invoiceNumber": self.invoice_number,
            "checkCode": self.check_code, "issuedAt": self.issued_at,
            "visitType": self.visit_type.value,
            "totalFen": self.total_fen, "fundPaidFen": self.fund_paid_fen,
            "accountPaidFen": self.account_paid_fen, "cashPaidFen": self.cash_paid_fen,
            "feeLines": [line.to_json() for line in self.fee_lines],
        }
        if patient_id is not None:
            doc["patientId"] = patient_id
        return doc


# --------------------------------------------------------------------------- parsing

_INVOICE_FIELDS = frozenset({
    "schemaVersion", "issuer", "invoiceCode", "invoiceNumber", "checkCode", "issuedAt",
    "visitType", "patientId", "totalFen", "fundPaidFen", "accountPaidFen", "cashPaidFen",
    "feeLines",
})
_LINE_FIELDS = frozenset({
    "seq", "itemCode", "itemName", "category", "quantity", "unit", "unitPriceFen",
    "amountFen", "serviceDate",
})


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


def parse_invoice(doc: Any, *, pepper: bytes) -> Invoice:
    """Validate an uploaded invoice document and return the model.

    Raises :class:`InvalidInvoice` listing every broken rule with its field.
    """
    p = _Problems()
    if not isinstance(doc, Mapping):
        raise InvalidInvoice([FieldProblem("", "type", f"invoice must be a JSON object, got {_tname(doc)}")])
    for name in sorted(set(doc) - _INVOICE_FIELDS):
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
            patient = pseudonymise(raw_id, pepper=pepper)

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
        line = _plain_fee_line(item, good_dates, issue_date)
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
    for name in sorted(set(item) - _LINE_FIELDS):
        p.add(f"{at}.{name}", "unknown-field", "is not a field of a fee line (misspelt?)")
    seq = _req(item, "seq", p, at)
    if seq is not None and (type(seq) is not int or not 1 <= seq <= MAX_FEE_LINES * 5):
        p.add(f"{at}.seq", "seq-range", f"must be an integer from 1 to {MAX_FEE_LINES * 5}, got {seq!r}")
    code = _req_str(item, "itemCode", ITEM_CODE_RE,
                    "20-40 upper-case letters, digits or inner hyphens (national catalogue code)", p, at)
    name = _text(item, "itemName", p, at)
    category = _enum(item, "category", FeeCategory, p, at)
    unit = _text(item, "unit", p, at, max_len=_MAX_UNIT_TEXT)
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
        expected = _price_times_quantity(price, quantity)
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


_line_values = itemgetter("seq", "itemCode", "itemName", "category", "quantity", "unit",
                          "unitPriceFen", "amountFen", "serviceDate")
_CATEGORIES = {c.value: c for c in FeeCategory}
_MAX_SEQ = MAX_FEE_LINES * 5
_MAX_INTEGRAL_QUANTITY = 9_999_999  # QUANTITY_RE: at most 7 integer digits


def _plain_fee_line(item: Any, good_dates: set[str], issue_date: str | None) -> FeeLine | None:
    """The fee line if ``item`` is plainly valid, else None: then :func:`_fee_line` decides.

    A year of a city's uploads is 1.3 M fee lines, and nearly all of them are valid and
    spelt the usual way, so they are accepted here without the careful checker's per-field
    bookkeeping (paths, problem lists, Decimal). Every test here implies the matching rule
    of :func:`_fee_line` holds *and* yields the same value; anything else, including
    valid but unusual spellings (``"007"``, a no-break space in a name, a dict subclass),
    returns None and goes the careful way, so the accepted set, the lines and the problem
    reports are exactly the careful checker's (``tests/unit/test_invoice_fastpath.py``).

    ``good_dates`` holds the service dates already found valid in this invoice (most
    invoices have one or two), so each is parsed once.
    """
    # exactly the nine fields, each present with its exact JSON type (bool is not int,
    # a str subclass is not str): then no field is missing, null or unknown
    if type(item) is not dict or len(item) != len(_LINE_FIELDS):
        return None
    try:
        seq, code, name, category, quantity, unit, price, amount, service_date = _line_values(item)
    except KeyError:
        return None
    if not (
        type(seq) is int and 1 <= seq <= _MAX_SEQ
        and type(price) is int and 0 <= price <= MAX_UNIT_PRICE_FEN
        and type(amount) is int and 0 <= amount <= MAX_AMOUNT_FEN
        and type(code) is str and ITEM_CODE_RE.match(code)
        and type(category) is str and category in _CATEGORIES
        # isprintable() is False for every character _CONTROL_RE matches (C0 and C1
        # controls, surrogates, the invisible format characters)
        and type(name) is str and len(name) <= MAX_TEXT and name.isprintable() and name.strip()
        and type(unit) is str and len(unit) <= _MAX_UNIT_TEXT and unit.isprintable() and unit.strip()
        and type(service_date) is str
    ):
        return None
    if service_date not in good_dates:
        if not _good_service_date(service_date, issue_date):
            return None
        good_dates.add(service_date)
    # quantity: a plain integer string is its own normal form, and its amount is an
    # exact integer product; only fractions need Decimal
    if type(quantity) is str and quantity.isdigit() and quantity.isascii() and quantity[0] != "0":
        if len(quantity) > 7 or amount != price * int(quantity):
            return None
    elif type(quantity) is int and 0 < quantity <= _MAX_INTEGRAL_QUANTITY:
        if amount != price * quantity:
            return None
        quantity = str(quantity)
    elif type(quantity) is str and QUANTITY_RE.match(quantity):
        quantity = _normal_quantity(quantity)
        if quantity is None or amount != _price_times_quantity(price, quantity):
            return None
    else:
        return None
    return _new_fee_line(seq, code, name, _CATEGORIES[category], quantity, unit, price, amount, service_date)


def _new_fee_line(seq: int, item_code: str, item_name: str, category: FeeCategory, quantity: str,
                  unit: str, unit_price_fen: int, amount_fen: int, service_date: str) -> FeeLine:
    """``FeeLine(...)`` at half the cost, for values already validated.

    The frozen dataclass's ``__init__`` sets each of the nine fields through
    ``object.__setattr__``: 1.2 us, a third of the fast path. Setting the slots through
    their own descriptors stores the same values and skips nothing else (FeeLine has
    no ``__post_init__``; both are checked at import).
    """
    line: FeeLine = _object_new(FeeLine)
    _set_seq(line, seq)
    _set_item_code(line, item_code)
    _set_item_name(line, item_name)
    _set_category(line, category)
    _set_quantity(line, quantity)
    _set_unit(line, unit)
    _set_unit_price_fen(line, unit_price_fen)
    _set_amount_fen(line, amount_fen)
    _set_service_date(line, service_date)
    return line


_FEE_LINE_FIELDS = ("seq", "item_code", "item_name", "category", "quantity", "unit",
                    "unit_price_fen", "amount_fen", "service_date")
if tuple(f.name for f in fields(FeeLine)) != _FEE_LINE_FIELDS or hasattr(FeeLine, "__post_init__"):
    raise TypeError("FeeLine changed: update _new_fee_line")  # pragma: no cover
_object_new = object.__new__
(_set_seq, _set_item_code, _set_item_name, _set_category, _set_quantity, _set_unit,
 _set_unit_price_fen, _set_amount_fen, _set_service_date) = (FeeLine.__dict__[f].__set__ for f in _FEE_LINE_FIELDS)


def _good_service_date(v: str, issue_date: str | None) -> bool:
    if not DATE_RE.match(v):
        return False
    try:
        date.fromisoformat(v)
    except ValueError:
        return False
    return not (issue_date and v > issue_date)


def _normal_quantity(v: str) -> str | None:
    """Normal form of a quantity matching QUANTITY_RE, or None if it is zero.

    No trailing zeros, no exponent: ``"2.50"`` -> ``"2.5"``, ``"3.000"`` -> ``"3"``.
    """
    q = Decimal(v)
    if q <= 0:
        return None
    return format(q.normalize(), "f")


def _price_times_quantity(price: int, quantity: str) -> int:
    """round-half-up(price x quantity) in fen, for a quantity in normal form."""
    if "." not in quantity:  # integral: the exact integer product
        return price * int(quantity)
    return int((Decimal(price) * Decimal(quantity)).quantize(_ONE, ROUND_HALF_UP))


_ONE = Decimal(1)


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
    text = _normal_quantity(v)  # the regex admits only decimals, so Decimal(v) cannot fail
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


def format_timestamp(t: datetime) -> str:
    """Normal form of an issue time: seconds precision with its own ``±HH:MM`` offset."""
    offset = t.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hh, mm = divmod(abs(minutes), 60)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{hh:02d}:{mm:02d}"
