"""A worker's loop survives what nobody expected.

The chain worker, the claims stamper, the notification dispatcher and the invoice mirror each
run in a thread of ``ebill serve`` and handle the errors of the project's tree (a chain that
does not answer, a refusal, a fenced-out lease) in their own words. Anything else — a bug, or a
library's exception an adapter does not translate yet — would end the thread silently: the
service would go on answering requests while nothing is anchored, stamped or sent. Each round
runs inside :meth:`Survival.round` instead: such an error is logged with its stack, counted
(``ebill_chain_errors_total{step="unexpected"}``), and the round is tried again after a pause
that doubles up to a minute (a persistent bug does not spin), back to nothing after a round
that ends normally. The round's database transaction, if one was open, has rolled back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ledger.ports import Telemetry

#: the longest pause between two rounds that failed unexpectedly (seconds)
MAX_PAUSE = 60.0


class Survival:
    """The unexpected errors of one worker's loop (``what``: the worker, for the log)."""

    def __init__(self, what: str, *, log: logging.Logger, stop: threading.Event, telemetry: Telemetry | None = None,
                 component: str | None = None, first_pause: float = 1.0) -> None:
        self.what, self.log, self.stop, self.telemetry = what, log, stop, telemetry
        self.component = component or what
        self.first_pause = first_pause
        self.pause = first_pause
        self.failures = 0

    @contextmanager
    def round(self) -> Iterator[None]:
        try:
            yield
        except Exception:
            self.failures += 1
            self.log.exception("%s: unexpected error (a bug, or an error no adapter translates): trying again in "
                               "%.0f s", self.what, self.pause, extra={"failures": self.failures})
            if self.telemetry is not None:
                self.telemetry.chain_error(component=self.component, step="unexpected")
            self.stop.wait(self.pause)
            self.pause = min(self.pause * 2, MAX_PAUSE)
        else:
            self.pause = self.first_pause
