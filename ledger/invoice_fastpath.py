"""The fast path of :func:`ledger.invoice_check.parse_invoice`: a fee line that is plainly valid.

A year of a city's uploads is 1.3 M fee lines, and nearly all of them are valid and spelt
the usual way. :func:`plain_fee_line` accepts those without the careful checker's per-field
bookkeeping (paths, problem lists, Decimal) and returns None for everything else, which
then goes the careful way (``ledger.invoice_check._fee_line``). The careful checker alone
decides what is refused and how it is reported; this module only makes the common case
cheap, and ``tests/unit/test_invoice_fastpath.py`` checks that it changes nothing else.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from operator import itemgetter
from typing import Any

from ledger.invoice import (
    DATE_RE,
    ITEM_CODE_RE,
    LINE_FIELDS,
    MAX_AMOUNT_FEN,
    MAX_FEE_LINES,
    MAX_TEXT,
    MAX_UNIT_PRICE_FEN,
    MAX_UNIT_TEXT,
    QUANTITY_RE,
    FeeCategory,
    FeeLine,
    normal_quantity,
    price_times_quantity,
)

_line_values = itemgetter("seq", "itemCode", "itemName", "category", "quantity", "unit",
                          "unitPriceFen", "amountFen", "serviceDate")
_CATEGORIES = {c.value: c for c in FeeCategory}
_MAX_SEQ = MAX_FEE_LINES * 5
_MAX_INTEGRAL_QUANTITY = 9_999_999  # QUANTITY_RE: at most 7 integer digits
# Bound once: CPython compiles ``NAME.match(...)`` for a NAME bound by ``import`` as an
# attribute load plus a call (it takes NAME for a module), not as a method call, and that
# cost 3% of the fast path when these patterns moved to ledger.invoice.
_item_code_match = ITEM_CODE_RE.match
_quantity_match = QUANTITY_RE.match
_date_match = DATE_RE.match


def plain_fee_line(item: Any, good_dates: set[str], issue_date: str | None) -> FeeLine | None:
    """The fee line if ``item`` is plainly valid, else None: then the careful checker decides.

    Every test here implies the matching rule of the careful checker
    (``ledger.invoice_check._fee_line``) holds *and* yields the same value; anything else, including
    valid but unusual spellings (``"007"``, a no-break space in a name, a dict subclass),
    returns None and goes the careful way, so the accepted set, the lines and the problem
    reports are exactly the careful checker's (``tests/unit/test_invoice_fastpath.py``).

    ``good_dates`` holds the service dates already found valid in this invoice (most
    invoices have one or two), so each is parsed once.
    """
    # exactly the nine fields, each present with its exact JSON type (bool is not int,
    # a str subclass is not str): then no field is missing, null or unknown
    if type(item) is not dict or len(item) != len(LINE_FIELDS):
        return None
    try:
        seq, code, name, category, quantity, unit, price, amount, service_date = _line_values(item)
    except KeyError:
        return None
    if not (
        type(seq) is int and 1 <= seq <= _MAX_SEQ
        and type(price) is int and 0 <= price <= MAX_UNIT_PRICE_FEN
        and type(amount) is int and 0 <= amount <= MAX_AMOUNT_FEN
        and type(code) is str and _item_code_match(code)
        and type(category) is str and category in _CATEGORIES
        # isprintable() is False for every character invoice_check._CONTROL_RE matches (C0 and C1
        # controls, surrogates, the invisible format characters)
        and type(name) is str and len(name) <= MAX_TEXT and name.isprintable() and name.strip()
        and type(unit) is str and len(unit) <= MAX_UNIT_TEXT and unit.isprintable() and unit.strip()
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
    elif type(quantity) is str and _quantity_match(quantity):
        quantity = normal_quantity(quantity)
        if quantity is None or amount != price_times_quantity(price, quantity):
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
    if not _date_match(v):
        return False
    try:
        date.fromisoformat(v)
    except ValueError:
        return False
    return not (issue_date and v > issue_date)
