"""The notification dispatcher: sends the outbox's pending messages through the delivery adapter.

Messages are written by the claims repository in the transaction of each claim step
(:mod:`ledger.claims.notices`); this sends them, oldest first, and records each outcome as
:mod:`ledger.claims.notice_outbox` decides it. It runs in ``ebill serve``'s main process
next to the stamper, under its own lease (``notifications``, :mod:`ledger.app.leader`), so two
services on one database never hand the same message to the gateway at the same time: its
records of a round are fenced by the lease's token, checked again before each round's
messages go out. A gateway that does not answer stops the
round (the rest would fail alike) and is tried again after a pause that doubles up to a
minute; a message the gateway refuses for good is failed at once and the round goes on.

A message reaches the gateway at least once and, unless the service dies between the
gateway's acceptance and the record of it, exactly once: a production adapter passes the
message id as the gateway's idempotency key where the gateway takes one.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from ledger.app.leader import Leader
from ledger.app.survival import Survival
from ledger.claims.notice_outbox import DeliveryState, DeliveryUpdate, delivered, failed_attempt
from ledger.errors import FencedOut, GatewayUnavailable, LedgerError, MessageUndeliverable
from ledger.leadership import NOTIFICATIONS
from ledger.ports import Clock, InvoiceStore, NotificationDelivery, NotificationOutbox

log = logging.getLogger("ebill.notifications")

_LEASE_TTL = timedelta(seconds=30)
#: the longest pause after the gateway did not answer
_MAX_PAUSE = 60.0


@dataclass
class DeliveryReport:
    """What one round did."""

    delivered: int = 0
    failed: int = 0
    retry: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return bool(self.delivered or self.failed)


class NotificationDispatcher:
    """Sends pending messages (``deliver_once``; ``run_forever`` in a thread)."""

    def __init__(self, outbox: NotificationOutbox, delivery: NotificationDelivery, *, leases: InvoiceStore,
                 clock: Clock, batch: int = 100, holder: str | None = None) -> None:
        self.outbox = outbox
        self.delivery = delivery
        self.leases = leases
        self.clock = clock
        self.batch = batch
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.leader = Leader(leases.leadership(NOTIFICATIONS, self.holder, ttl=_LEASE_TTL), what="notifications",
                             log=log)
        self._under_lease = False

    def deliver_once(self) -> DeliveryReport:
        """Hand the oldest pending messages (up to ``batch``) to the adapter and record each outcome."""
        with self._lock:   # a test's call and the thread's loop take turns
            report = DeliveryReport()
            updates: list[DeliveryUpdate] = []
            pending = self.outbox.pending_notifications(limit=self.batch)
            if pending and self._under_lease:
                self.leader.check()   # a stale leader hands nothing to the gateway
            for m in pending:
                try:
                    receipt = self.delivery.deliver(m)
                except GatewayUnavailable as exc:
                    updates.append(failed_attempt(m, str(exc), at=self.clock.now(), for_good=False))
                    report.errors.append(f"message {m.id}: {exc}")
                    break
                except MessageUndeliverable as exc:
                    updates.append(failed_attempt(m, str(exc), at=self.clock.now(), for_good=True))
                    continue
                updates.append(delivered(m, receipt, at=self.clock.now()))
            self.outbox.record_deliveries(updates)
            for u in updates:
                if u.state is DeliveryState.DELIVERED:
                    report.delivered += 1
                elif u.state is DeliveryState.FAILED:
                    report.failed += 1
                    log.warning("notification %s failed for good after %s attempt(s): %s", u.message_id, u.attempts,
                                u.error)
                else:
                    report.retry += 1
            return report

    def run_forever(self, *, interval: float = 0.5) -> None:
        """Deliver until :meth:`stop`: at once while there is work, every ``interval`` seconds when
        idle, pausing (up to a minute) while the gateway does not answer."""
        pause = interval
        survival = Survival("notification dispatcher", log=log, stop=self._stop)
        while not self._stop.is_set():
            with survival.round():
                try:
                    if not self.leader.leading():
                        self._stop.wait(1.0)
                        continue
                    report = self._led_round()
                    if report.errors:
                        log.warning("notifications: %s (trying again in %.0f s)", report.errors[0], pause)
                        self._stop.wait(pause)
                        pause = min(pause * 2, _MAX_PAUSE)
                        continue
                    pause = interval
                    if not report.busy:
                        self._stop.wait(interval)
                except FencedOut as exc:
                    self.leader.fenced_out(exc)
                except LedgerError as exc:
                    log.warning("notification dispatcher: %s", exc)
                    self._stop.wait(1.0)
        self.leader.release()

    def stop(self) -> None:
        self._stop.set()

    def _led_round(self) -> DeliveryReport:
        """A round under the lease, its records fenced by the token."""
        with self.leader.fenced():
            self._under_lease = True
            try:
                return self.deliver_once()
            finally:
                self._under_lease = False
