"""The notification dispatcher: sends the outbox's pending messages through the delivery adapter.

Messages are written by the claims repository in the transaction of each claim step
(:mod:`ledger.claims.notices`); this sends them, oldest first, and records each outcome as
:mod:`ledger.claims.notice_outbox` decides it. It runs in ``ebill serve``'s main process
next to the stamper, under its own lease, so two services on one database never hand the
same message to the gateway at the same time. A gateway that does not answer stops the
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
import time
from dataclasses import dataclass, field
from datetime import timedelta

from ledger.claims.notice_outbox import DeliveryState, DeliveryUpdate, delivered, failed_attempt
from ledger.errors import GatewayUnavailable, LedgerError, MessageUndeliverable
from ledger.ports import Clock, InvoiceStore, NotificationDelivery, NotificationOutbox

log = logging.getLogger("ebill.notifications")

_LEASE = "notifications"
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
        self._lease_at = 0.0

    def deliver_once(self) -> DeliveryReport:
        """Hand the oldest pending messages (up to ``batch``) to the adapter and record each outcome."""
        with self._lock:   # a test's call and the thread's loop take turns
            report = DeliveryReport()
            updates: list[DeliveryUpdate] = []
            for m in self.outbox.pending_notifications(limit=self.batch):
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
        while not self._stop.is_set():
            try:
                if not self._hold_lease():
                    self._stop.wait(1.0)
                    continue
                report = self.deliver_once()
                if report.errors:
                    log.warning("notifications: %s (trying again in %.0f s)", report.errors[0], pause)
                    self._stop.wait(pause)
                    pause = min(pause * 2, _MAX_PAUSE)
                    continue
                pause = interval
                if not report.busy:
                    self._stop.wait(interval)
            except LedgerError as exc:
                log.warning("notification dispatcher: %s", exc)
                self._stop.wait(1.0)
        self.leases.release_lease(_LEASE, self.holder)

    def stop(self) -> None:
        self._stop.set()

    def _hold_lease(self) -> bool:
        now = time.monotonic()
        if now - self._lease_at < 10.0:
            return True
        ok = self.leases.take_lease(_LEASE, self.holder, ttl=_LEASE_TTL)
        self._lease_at = now if ok else 0.0
        return bool(ok)
