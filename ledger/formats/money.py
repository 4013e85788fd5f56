"""Exact conversions between yuan as HIS systems and FHIR write them and integer fen.

Money in the ledger is integer fen. Yuan text (CSV) must have at most two decimals
("13.5", "13.54", "-0.05"; no thousands separators, no exponent); anything finer is
refused rather than rounded, because a rounded amount would no longer be the amount the
hospital signed. FHIR JSON numbers are read as :class:`~decimal.Decimal` (never float),
so the same rule applies exactly.
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = ["MAX_YUAN_DIGITS", "decimal_to_fen", "fen_to_decimal_number", "fen_to_yuan", "yuan_to_fen"]

#: integer digits accepted in a yuan amount (10^13 yuan is far beyond any bill)
MAX_YUAN_DIGITS = 13
_YUAN_RE = re.compile(rf" *(-?)([0-9]{{1,{MAX_YUAN_DIGITS}}})(?:\.([0-9]{{1,2}}))? *\Z")
_DECIMALS_RE = re.compile(r" *-?[0-9]+\.[0-9]{3,} *\Z")


def yuan_to_fen(text: str) -> int:
    """Fen from yuan text with at most two decimals; raises ValueError saying what is wrong."""
    m = _YUAN_RE.match(text)
    if m is None:
        if _DECIMALS_RE.match(text):
            raise ValueError(f"yuan must have at most 2 decimals (exact fen), got {text!r}")
        raise ValueError(f"must be an amount in yuan like 13.54 (no separators or exponent), got {text[:40]!r}")
    sign, whole, frac = m.groups()
    fen = int(whole) * 100 + (int(frac.ljust(2, "0")) if frac else 0)
    return -fen if sign else fen


def fen_to_yuan(fen: int) -> str:
    """Yuan text with exactly two decimals: 1354 -> "13.54", -5 -> "-0.05"."""
    sign = "-" if fen < 0 else ""
    whole, frac = divmod(abs(fen), 100)
    return f"{sign}{whole}.{frac:02d}"


def decimal_to_fen(value: object) -> int:
    """Fen from a JSON number read as int or Decimal (yuan); raises ValueError unless exact."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError(f"must be a number of yuan, got {type(value).__name__} {value!r}")
    if isinstance(value, int):
        if abs(value) >= 10**MAX_YUAN_DIGITS:
            raise ValueError(f"{value} yuan is out of range")
        return value * 100
    if not value.is_finite() or abs(value) >= 10**MAX_YUAN_DIGITS:
        raise ValueError(f"{value} yuan is out of range")
    fen = value * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"yuan must have at most 2 decimals (exact fen), got {value}")
    return int(fen)


def fen_to_decimal_number(fen: int) -> int | float:
    """A JSON number of yuan for ``fen``: an int when whole, else the float whose shortest
    representation is the two-decimal value (exact up to 15 significant digits)."""
    if fen % 100 == 0:
        return fen // 100
    if abs(fen) >= 10**15:
        raise ValueError(f"{fen} fen cannot be written exactly as a JSON number")
    return fen / 100
