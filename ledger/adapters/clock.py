"""The system's clock, for the use cases' :class:`~ledger.ports.Clock` port."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """The host's wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
