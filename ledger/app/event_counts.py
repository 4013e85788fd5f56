"""Named event counts, kept in memory and added to the store in batches.

Some events are worth counting but not recording one by one: a forged QR code presented
to the public verifier needs no account, so writing an audit row for each let anyone add
rows to the audit trail as fast as they could send requests (2,000 requests, 2,000 rows
in 5 s). :class:`EventCounts` adds them up per process and writes the sums (one row per
name, ``counters`` table) at most once per ``interval``, from a timer thread that exists
only while counts are waiting, and when closed. A dashboard reading the store lags by at
most ``interval`` for other processes' counts; :meth:`flush` writes this process's own.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Protocol

__all__ = ["CountStore", "EventCounts"]

log = logging.getLogger("ebill.counts")


class CountStore(Protocol):
    def add_counts(self, counts: Mapping[str, int]) -> None:
        """Add ``counts`` to the named counters, in one transaction."""


class EventCounts:
    """Counts by name, added to ``store`` at most once per ``interval`` seconds (see the module doc)."""

    def __init__(self, store: CountStore, *, interval: float = 1.0) -> None:
        self._store = store
        self._interval = interval
        self._lock = threading.Lock()
        self._pending: Counter[str] = Counter()
        self._timer: threading.Timer | None = None
        self._closed = False
        #: transactions written so far (each adds every pending name at once)
        self.writes = 0

    def add(self, name: str, n: int = 1) -> None:
        """Count ``n`` events called ``name``; cheap (no I/O), safe from any thread or the event loop."""
        with self._lock:
            self._pending[name] += n
            if self._timer is None and not self._closed:
                self._timer = threading.Timer(self._interval, self._tick)
                self._timer.daemon = True
                self._timer.name = "event-counts"
                self._timer.start()

    def flush(self) -> None:
        """Write what is pending now (blocking: a database transaction)."""
        with self._lock:
            counts, self._pending = self._pending, Counter()
        if not counts:
            return
        try:
            self._store.add_counts(counts)
        except Exception:  # the store is down: keep the counts for the next attempt
            with self._lock:
                self._pending.update(counts)
            raise
        with self._lock:
            self.writes += 1

    def close(self) -> None:
        """Stop the timer and write what is pending (at shutdown)."""
        with self._lock:
            self._closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        try:
            self.flush()
        except Exception:
            log.exception("event counts lost at shutdown: %s", dict(self._pending))

    def _tick(self) -> None:
        with self._lock:
            self._timer = None
        try:
            self.flush()
        except Exception:
            log.exception("cannot write event counts; retrying in %.0f s", self._interval)
            with self._lock:  # try again later, unless closing
                if self._pending and self._timer is None and not self._closed:
                    self._timer = threading.Timer(self._interval, self._tick)
                    self._timer.daemon = True
                    self._timer.start()
