"""A singleton worker's side of its lease: lead or follow, say so in the log, step down when fenced out.

The chain worker, each payer's claims stamper and the notification dispatcher run in every
``ebill serve --role worker`` (or ``all``) process, and act only while they lead their lease
(:mod:`ledger.leadership`). Each round:

1. :meth:`Leader.leading` takes the lease or confirms it (the adapter decides how often it
   asks the database); a follower does nothing this round;
2. the round's writes run inside :meth:`Leader.fenced`: the store commits each only while the
   worker's fencing token is the lease's epoch;
3. before an act outside the store that a stale leader must not start (a chain transaction,
   a bank transfer, a message to a citizen), :meth:`Leader.check` asks again;
4. a refused write or check (:class:`~ledger.errors.FencedOut`) goes to :meth:`Leader.fenced_out`:
   the worker logs it, drops its token and follows from then on.

Between a check and the act it guards another worker can take over; what may then happen twice
is stopped further down: the contract refuses a second anchor, void or stamp; the bank pays a
payout's request id once; the message gateway is given the message id as idempotency key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from ledger.errors import FencedOut
from ledger.ports import Leadership


class Leader:
    """One worker's lease (``what``: the worker, for the log)."""

    def __init__(self, leadership: Leadership, *, what: str, log: logging.Logger) -> None:
        self.leadership = leadership
        self.what = what
        self.log = log
        self.epoch: int | None = None
        self.fenced_outs = 0

    @property
    def name(self) -> str:
        return self.leadership.name

    def leading(self) -> bool:
        """Take or confirm the lease; True while this worker leads (logs each change)."""
        epoch = self.leadership.lead()
        if epoch != self.epoch:
            if epoch is not None:
                self.log.info("%s: leading lease %s (fencing token %d)", self.what, self.name, epoch,
                              extra={"lease": self.name, "epoch": epoch})
            else:
                self.log.warning("%s: no longer leading lease %s (token %s): following", self.what, self.name,
                                 self.epoch, extra={"lease": self.name, "epoch": self.epoch})
            self.epoch = epoch
        return epoch is not None

    @contextmanager
    def fenced(self) -> Iterator[None]:
        """The round's store writes commit only while our token is current (else FencedOut)."""
        with self.leadership.fenced():
            yield

    def check(self) -> None:
        """Raise FencedOut unless our token is still current (before an act outside the store)."""
        self.leadership.check()

    def fenced_out(self, exc: FencedOut) -> None:
        """Another worker leads now: stop acting, say so, follow."""
        self.fenced_outs += 1
        self.log.error("%s: fenced out of lease %s (%s): another worker took over; this one stops acting and "
                       "follows", self.what, self.name, exc,
                       extra={"lease": self.name, "epoch": exc.token, "current_epoch": exc.current})
        self.leadership.step_down()
        self.epoch = None

    def release(self) -> None:
        """Give the lease up (clean shutdown): a successor takes over at once."""
        self.leadership.release()
        self.epoch = None
