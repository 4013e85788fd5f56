"""Delivery adapters for the citizens' messages (``ledger.ports.NotificationDelivery``).

Only the development adapter exists today: :class:`DevelopmentOutbox` sends nothing and
marks each message delivered to the outbox, where the console's Outbox screen (admin) and
``GET /v1/notifications`` show it. A production adapter for an agency's SMS gateway plugs in
here later: it implements ``deliver`` (the gateway resolves the person's mobile number from
their pseudonym; the ledger holds no phone numbers), raises
:class:`~ledger.errors.GatewayUnavailable` when the gateway does not answer and
:class:`~ledger.errors.MessageUndeliverable` when it refuses a message for good, and is
chosen in :func:`delivery_adapter` (``EBILL_NOTIFY_ADAPTER``). See ``docs/notifications.md``.
"""

from __future__ import annotations

from ledger.claims.notice_outbox import OutboxMessage, Receipt
from ledger.errors import InvalidInput

#: the adapters :func:`delivery_adapter` knows
ADAPTERS = ("development",)


class DevelopmentOutbox:
    """Sends nothing: each message is marked delivered to the outbox (development and tests)."""

    channel = "development-outbox"
    sends = False

    def deliver(self, message: OutboxMessage) -> Receipt:
        """Mark ``message`` delivered to the outbox: nothing leaves this service."""
        return Receipt(self.channel, f"outbox-{message.id}")


def delivery_adapter(name: str) -> DevelopmentOutbox:
    """The delivery adapter called ``name`` (one of :data:`ADAPTERS`)."""
    if name == "development":
        return DevelopmentOutbox()
    raise InvalidInput.single("EBILL_NOTIFY_ADAPTER", "enum", f"expected one of {', '.join(ADAPTERS)}, got {name!r} "
                                                              "(production SMS gateways plug in here later)")
