"""A calendar month in China time: what a monthly report covers.

Reports to the regulator and to hospitals count by the month in China (UTC+8, no daylight
saving): a claim filed on 2026-10-31 at 16:30 UTC was filed on 1 November at 00:30 in
China, so it belongs to November. :class:`Month` knows its first instant and the first
instant of the next month, both in China time and in UTC (the store keeps UTC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger.errors import InvalidInput
from ledger.workdays import CHINA_TZ

#: a month as the API and the command line write it
MONTH_PATTERN = r"^20[0-9]{2}-(0[1-9]|1[0-2])$"
_MONTH = re.compile(MONTH_PATTERN)


@dataclass(frozen=True, order=True)
class Month:
    """One calendar month (``year`` 2000-2099, ``month`` 1-12) in China time."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not (2000 <= self.year <= 2099 and 1 <= self.month <= 12):
            raise ValueError(f"no month {self.year}-{self.month:02d}: the year must be 2000-2099, the month 1-12")

    @classmethod
    def parse(cls, text: str, *, field: str = "month") -> Month:
        """``2026-11`` as a month; :class:`InvalidInput` naming ``field`` for anything else."""
        if not isinstance(text, str) or not _MONTH.fullmatch(text):
            shown = text if isinstance(text, str) else type(text).__name__
            raise InvalidInput.single(field, "month", f"a month is written YYYY-MM (2000-01 to 2099-12), "
                                                      f"got {shown[:40]!r}")
        return cls(int(text[:4]), int(text[5:]))

    @classmethod
    def containing(cls, t: datetime) -> Month:
        """The month in China in which the aware instant ``t`` falls."""
        if t.tzinfo is None:
            raise ValueError(f"a naive time has no month in China: {t.isoformat()}")
        local = t.astimezone(CHINA_TZ)
        return cls(local.year, local.month)

    @property
    def start(self) -> datetime:
        """The month's first instant, in China time."""
        return datetime(self.year, self.month, 1, tzinfo=CHINA_TZ)

    @property
    def end(self) -> datetime:
        """The first instant of the next month, in China time (the month ends just before it)."""
        return self.next().start if self.year < 2099 or self.month < 12 else datetime(2100, 1, 1, tzinfo=CHINA_TZ)

    @property
    def start_utc(self) -> datetime:
        return self.start.astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        return self.end.astimezone(UTC)

    def next(self) -> Month:
        """The month after this one."""
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def holds(self, t: datetime) -> bool:
        """Whether the aware instant ``t`` falls in this month in China."""
        return self.start <= t < self.end

    def __str__(self) -> str:
        return f"{self.year}-{self.month:02d}"
