"""Writing upload documents as HIS CSV files, in the layout :mod:`.his_csv` reads.

RFC 4180 output: comma-separated, CRLF line ends, quotes only where needed; the text
streams must be opened with ``newline=""`` (and, for Excel, ``encoding="utf-8-sig"``).
Money columns in fen (``total_fen``, exact, the default) or yuan with two decimals
(``total_yuan``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any, Literal

from ledger.formats.csv_columns import HEADER_COLUMNS, KEY_COLUMNS, LINE_COLUMNS, MONEY
from ledger.formats.money import fen_to_yuan

__all__ = ["CsvPairWriter", "FlatCsvWriter", "Money"]

Money = Literal["fen", "yuan"]


def _columns(specs: Iterable[tuple[str, str, str]], money: Money) -> list[tuple[str, str, bool]]:
    """(upload field, column name, is money) in the order written."""
    return [(up, f"{stem}_{money}" if kind == MONEY else stem, kind == MONEY) for up, stem, kind in specs]


def _cells(doc: Mapping[str, Any], columns: Sequence[tuple[str, str, bool]], yuan: bool) -> list[str]:
    out = []
    for up, _, is_money in columns:
        v = doc.get(up)
        if v is None:
            out.append("")
        elif yuan and is_money and type(v) is int:
            out.append(fen_to_yuan(v))
        else:
            out.append(str(v))
    return out


class CsvPairWriter:
    """Writes documents as invoices.csv + fee_lines.csv (fee lines keyed by issuer, code, number)."""

    def __init__(self, invoices: IO[str], fee_lines: IO[str], *, money: Money = "fen") -> None:
        self._yuan = money == "yuan"
        self._inv = csv.writer(invoices, lineterminator="\r\n")
        self._lines = csv.writer(fee_lines, lineterminator="\r\n")
        self._hcols = _columns(HEADER_COLUMNS, money)
        self._kcols = [c for c in self._hcols if c[1] in KEY_COLUMNS]
        self._lcols = _columns(LINE_COLUMNS, money)
        self._inv.writerow([c for _, c, _ in self._hcols])
        self._lines.writerow([c for _, c, _ in (*self._kcols, *self._lcols)])

    def write(self, doc: Mapping[str, Any]) -> None:
        """Write one invoice row and its fee-line rows."""
        yuan, lcols = self._yuan, self._lcols
        self._inv.writerow(_cells(doc, self._hcols, yuan))
        key = _cells(doc, self._kcols, yuan)
        self._lines.writerows(key + _cells(line, lcols, yuan) for line in doc.get("feeLines") or ())


class FlatCsvWriter:
    """Writes documents as one flat CSV: a row per fee line, the invoice columns repeated."""

    def __init__(self, out: IO[str], *, money: Money = "fen") -> None:
        self._yuan = money == "yuan"
        self._w = csv.writer(out, lineterminator="\r\n")
        self._hcols = _columns(HEADER_COLUMNS, money)
        self._lcols = _columns(LINE_COLUMNS, money)
        self._w.writerow([c for _, c, _ in (*self._hcols, *self._lcols)])

    def write(self, doc: Mapping[str, Any]) -> None:
        """Write one row per fee line of the invoice."""
        yuan, lcols = self._yuan, self._lcols
        head = _cells(doc, self._hcols, yuan)
        self._w.writerows(head + _cells(line, lcols, yuan) for line in doc.get("feeLines") or ())
