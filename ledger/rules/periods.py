"""What a person was supplied of an item over a period, across every hospital's invoices.

A period limit (``periodLimits`` in :mod:`ledger.rules.ruleset`) bounds the quantity of an
item reimbursed to one person in ``days`` days: the same repeat prescription collected at
several hospitals beyond the days' supply is self-paid. For a fee line on service date D,
the supply *before* it is what the person got in the ``days`` days up to and including D:

- on other invoices (:class:`~ledger.rules.decision.EarlierLine`, any hospital, read by
  the claims use case): lines of an earlier service date, or of the same date on an
  invoice issued earlier (issue time, then invoice key: two invoices of one day never
  both count the other, so only the later one's excess is self-paid);
- on this invoice: lines of an earlier service date, or the same date and a lower seq.

Whole quantities count, paid or not: the limit is about what was supplied. Pure; the
lines are grouped by normalised code once, so the work is proportional to the lines of
limited items.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from ledger.invoice import FeeLine, Invoice
from ledger.rules.decision import EarlierLine
from ledger.rules.ruleset import RuleSet

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Supplied:
    """The supply before one line within its window: how much, and on which other invoices."""

    quantity: Decimal
    on_other_invoices: tuple[EarlierLine, ...]
    on_this_invoice: Decimal


class PeriodSupply:
    """The supply of each period-limited item before each line of one invoice."""

    def __init__(self, invoice: Invoice, codes: Sequence[str], ruleset: RuleSet, earlier: Sequence[EarlierLine],
                 canonical: Callable[[str], str]) -> None:
        self._limits = ruleset.period_limits
        self._issued = (_instant(invoice.issued_at), invoice.key)
        self._other: dict[str, list[EarlierLine]] = defaultdict(list)
        for e in earlier:
            code = canonical(e.item_code)
            if code in self._limits and e.invoice_key != invoice.key:
                self._other[code].append(e)
        self._mine: dict[str, list[FeeLine]] = defaultdict(list)
        for line, code in zip(invoice.fee_lines, codes, strict=True):
            if code in self._limits:
                self._mine[code].append(line)

    def before(self, code: str, line: FeeLine) -> Supplied:
        """What was supplied of ``code`` before ``line`` in the limit's window (``code`` is limited)."""
        days = self._limits[code].days
        day = date.fromisoformat(line.service_date)
        first = (day - timedelta(days=days - 1)).isoformat()
        others = tuple(e for e in self._other.get(code, ()) if first <= e.service_date and self._counts(e, line))
        mine = sum((Decimal(x.quantity) for x in self._mine[code]
                    if first <= x.service_date and (x.service_date, x.seq) < (line.service_date, line.seq)), _ZERO)
        return Supplied(sum((Decimal(e.quantity) for e in others), mine), others, mine)

    def _counts(self, e: EarlierLine, line: FeeLine) -> bool:
        """An other invoice's line counts before ``line`` if it was supplied first."""
        if e.service_date != line.service_date:
            return e.service_date < line.service_date
        return (_instant(e.issued_at), e.invoice_key) < self._issued


def _instant(issued_at: str) -> datetime:
    return datetime.fromisoformat(issued_at)


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """Which of a person's fee lines on other invoices the period limits need to decide one
    invoice: those billing ``codes`` (each limited code and its aliases) with a service date
    from ``since`` to ``until`` (inclusive)."""

    codes: tuple[str, ...]
    since: str
    until: str


def history_needed(invoice: Invoice, ruleset: RuleSet) -> HistoryQuery | None:
    """The earlier fee lines :func:`~ledger.rules.adjudicate` needs for ``invoice`` under
    ``ruleset``'s period limits, or None when it bills no limited item."""
    limits = ruleset.period_limits
    if not limits:
        return None
    first: str | None = None
    last: str | None = None
    billed: set[str] = set()
    for line in invoice.fee_lines:
        code = ruleset.normalise(line.item_code)
        if code not in limits:
            continue
        billed.add(code)
        start = (date.fromisoformat(line.service_date) - timedelta(days=limits[code].days - 1)).isoformat()
        first = start if first is None else min(first, start)
        last = line.service_date if last is None else max(last, line.service_date)
    if first is None or last is None:
        return None
    aliases = [alias for alias, canonical in ruleset.code_aliases.items() if canonical in billed]
    return HistoryQuery(tuple(sorted(billed | set(aliases))), first, last)
