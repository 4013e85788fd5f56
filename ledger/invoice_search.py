"""Finding stored invoices: by state, invoice number and issue date, a page at a time.

A hospital's desk looks for an invoice the way its billing office knows it: by its number
(printed on the paper invoice; leading zeros may be left out, ``1234567`` finds
``0001234567``) and by the day it was issued, newest first. Payers' mirrors and
``ebill upload --wait`` page through invoices in fingerprint order instead, which never
changes as invoices arrive.

A page is continued with the last fingerprint of the previous page (``after``) in either
order: in fingerprint order any fingerprint is a position; in upload order it must be an
invoice the searcher can see, since its place is where it was uploaded.

Requires nothing of the outside: :meth:`InvoiceSearch.parse` checks every field and raises
:class:`~ledger.errors.InvalidInput` naming each broken one; the store runs the search.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TypeVar

from ledger.errors import FieldProblem, InvalidInput
from ledger.hashing import parse_hash32
from ledger.invoice import DATE_RE, INVOICE_NUMBER_RE
from ledger.records import InvoiceState

_E = TypeVar("_E", bound=StrEnum)

#: the most invoices one page holds
MAX_PAGE = 1000


class InvoiceOrder(StrEnum):
    """How a page of invoices is ordered."""

    FINGERPRINT = "fingerprint"   # stable as invoices arrive: mirrors, waiting for anchors
    NEWEST = "newest"             # upload order, the latest first: a hospital's desk


@dataclass(frozen=True)
class InvoiceSearch:
    """Which invoices, in what order, how many. ``issuer`` limits them to one hospital's (the use
    case sets it for a hospital's credential); dates are issue dates, inclusive, in the
    invoice's own time zone (as printed on it)."""

    issuer: str | None = None
    state: InvoiceState | None = None
    number: str | None = None
    issued_from: str | None = None
    issued_to: str | None = None
    order: InvoiceOrder = InvoiceOrder.FINGERPRINT
    after: bytes | None = None
    limit: int = 100

    @classmethod
    def parse(cls, *, state: str | None = None, number: str | None = None, issued_from: str | None = None,
              issued_to: str | None = None, order: str | None = None, after: str | None = None,
              limit: int = 100) -> InvoiceSearch:
        """The search the API's query names (``issuedFrom``, ``issuedTo``, …); every broken field named."""
        problems: list[FieldProblem] = []
        parsed_state = _enum(InvoiceState, state, "state", problems)
        parsed_order = _enum(InvoiceOrder, order, "order", problems) or InvoiceOrder.FINGERPRINT
        if number is not None:
            number = number.strip()
            padded = number.zfill(10)
            if not number or not INVOICE_NUMBER_RE.match(padded):
                problems.append(FieldProblem("number", "pattern",
                                             f"an invoice number is 1 to 10 digits, got {number!r}"))
            number = padded
        days = {name: _day(value, name, problems) for name, value in (("issuedFrom", issued_from),
                                                                       ("issuedTo", issued_to))}
        if days["issuedFrom"] and days["issuedTo"] and days["issuedFrom"] > days["issuedTo"]:
            problems.append(FieldProblem("issuedTo", "range", f"issuedTo {issued_to} is before issuedFrom "
                                                              f"{issued_from}"))
        cursor = None
        if after is not None:
            try:
                cursor = bytes(parse_hash32(after, what="after"))
            except ValueError as exc:
                problems.append(FieldProblem("after", "hash32", str(exc)))
        if not 1 <= limit <= MAX_PAGE:
            problems.append(FieldProblem("limit", "range", f"limit must be 1 to {MAX_PAGE}, got {limit}"))
        if problems:
            raise InvalidInput(problems)
        return cls(state=parsed_state, number=number, order=parsed_order, after=cursor, limit=limit,
                   issued_from=days["issuedFrom"].isoformat() if days["issuedFrom"] else None,
                   issued_to=days["issuedTo"].isoformat() if days["issuedTo"] else None)


def _enum(kind: type[_E], value: str | None, name: str, problems: list[FieldProblem]) -> _E | None:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        problems.append(FieldProblem(name, "enum", f"expected one of {', '.join(m.value for m in kind)}; "
                                                   f"got {value!r}"))
        return None


def _day(value: str | None, name: str, problems: list[FieldProblem]) -> date | None:
    if value is None:
        return None
    try:
        if not DATE_RE.match(value):   # YYYY-MM-DD only (fromisoformat also reads 20240105, 2024-W01-1)
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        problems.append(FieldProblem(name, "date", f"expected a date as YYYY-MM-DD, got {value!r}"))
        return None
