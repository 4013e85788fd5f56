"""What every upload reader yields: one :class:`SourceItem` per invoice, and the limits.

A reader converts *syntax* only (shape, encoding, joins, number formats) into upload-
format documents (see :mod:`ledger.invoice`); the service then runs
:func:`~ledger.invoice_check.parse_invoice` on each document. Two kinds of failure:

- a problem confined to one invoice (a bad line, an unknown invoice key, yuan with three
  decimals) is *yielded* as a :class:`SourceItem` without a document, its problems naming
  the original location (``fee_lines.csv row 12 column amount_yuan``);
- a problem with the upload as a whole (not JSON at all, a missing CSV column, more
  invoices than allowed, fee lines out of order) *raises*
  :class:`~ledger.errors.InvalidInput`, possibly after some items were yielded: a caller
  must not commit anything before the reader is exhausted.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from ledger.errors import FieldProblem, InvalidInput

__all__ = ["DEFAULT_LIMITS", "Limits", "RowRefs", "SourceItem", "count_items", "problem"]

_LINE_FIELD_RE = re.compile(r"feeLines\[([0-9]+)\](?:\.(\w+))?\Z")


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one upload; every reader enforces those that apply to it."""

    #: one NDJSON line or one CSV physical line; an invoice of 20,000 fee lines is ~5 MB
    max_item_bytes: int = 8 * 2**20
    #: invoices in one upload (the whole city's year is 15,605)
    max_items: int = 100_000
    #: a JSON or FHIR document is parsed whole: bigger uploads must use NDJSON or CSV
    max_document_bytes: int = 64 * 2**20
    #: CSV fee lines that are not grouped by invoice are joined in memory up to this size
    #: (about 1 KB of memory per line); larger files must list each invoice's lines together
    max_grouped_bytes: int = 32 * 2**20


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One invoice read from an upload: its upload-format document, or why it could not be read.

    Exactly one of ``document`` and ``problems`` is set. ``ref`` says where the invoice
    starts (``invoices.ndjson line 7``, ``invoices.csv row 12``, ``bundle.json entry[3]``);
    ``line_refs[i]`` where fee line ``i`` came from when lines are separate records (CSV
    rows, FHIR line items). Use :meth:`locate` to point a ``parse_invoice`` problem back at
    the source.
    """

    index: int
    ref: str
    document: dict[str, Any] | None
    problems: tuple[FieldProblem, ...] = ()
    line_refs: Sequence[str] = field(default=(), repr=False)
    #: upload-format field name -> its source name (``amountFen`` -> ``column amount_yuan``)
    names: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.document is None) == (not self.problems):
            raise ValueError("a SourceItem has either a document or problems, not both or neither")

    @property
    def ok(self) -> bool:
        return self.document is not None

    def locate(self, field_path: str) -> str:
        """Where a field of the document (``feeLines[3].amountFen``) came from in the upload."""
        m = _LINE_FIELD_RE.match(field_path)
        if m and int(m[1]) < len(self.line_refs):
            base, name = self.line_refs[int(m[1])], m[2]
            if name is None:
                return base
        else:
            base, name = self.ref, field_path
        source = self.names.get(name)
        if not source:
            return f"{base}: {field_path}"
        return f"{base}{source}" if source.startswith(".") else f"{base} {source}"


class RowRefs(Sequence[str]):
    """``<file> row <n>`` for each fee line, stored as integers (cheap for a million lines)."""

    __slots__ = ("_file", "_rows")

    def __init__(self, file: str, rows: Sequence[int]) -> None:
        self._file = file
        self._rows = array("q", rows)

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...
    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        if isinstance(i, slice):
            return [f"{self._file} row {r}" for r in self._rows[i]]
        return f"{self._file} row {self._rows[i]}"

    def __repr__(self) -> str:
        return f"RowRefs({self._file!r}, {len(self)} rows)"


def problem(where: str, rule: str, message: str) -> FieldProblem:
    """A reader problem; ``where`` names the file and the position in it."""
    return FieldProblem(where, rule, message)


def count_items(items: Iterator[SourceItem], *, limits: Limits, name: str) -> Iterator[SourceItem]:
    """Pass items through, raising :class:`InvalidInput` once there are more than allowed."""
    for n, item in enumerate(items, 1):
        if n > limits.max_items:
            raise InvalidInput.single(name, "max-items",
                                      f"has more than {limits.max_items:,} invoices; split the upload")
        yield item
