"""The notification outbox: a message's states, and what a delivery attempt makes of it. Pure.

A message (:mod:`ledger.claims.notices`) enters the outbox ``pending`` in the transaction of
its claim's step. The dispatcher (``ledger.app.notifier``) hands pending messages, oldest
first, to the delivery adapter (``ledger.ports.NotificationDelivery``) and records the
outcome as :func:`delivered` and :func:`failed_attempt` decide it::

    pending ─delivered→ delivered         (the adapter took it: its channel and reference)
       │└─the gateway did not answer→ pending   (attempts + 1, its words; sent again later)
       └─the gateway refused it for good, or MAX_ATTEMPTS reached→ failed

A delivered or failed message is never sent again: a person must not get the same message
twice because the dispatcher retried; a failed one is for the office to look at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ledger.claims.languages import Language
from ledger.claims.notices import NoticeKind

#: attempts after which a message the gateway never answered for is given up (failed)
MAX_ATTEMPTS = 10
#: longest error kept with a message
ERROR_CHARS = 300


class DeliveryState(StrEnum):
    """Where a message stands (the API's and the database's strings)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class OutboxMessage:
    """A message in the outbox: to whom (the claim's person, by pseudonym), what, and how it went."""

    id: int
    claim_id: str
    person: bytes
    kind: NoticeKind
    event: str
    language: Language
    text: str
    created_at: datetime
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    channel: str | None = None
    reference: str | None = None
    delivered_at: datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class Receipt:
    """What a delivery adapter says of a message it took: its channel and the gateway's message id."""

    channel: str
    reference: str | None = None


@dataclass(frozen=True)
class DeliveryUpdate:
    """A message after one delivery attempt: what the outbox records."""

    message_id: int
    state: DeliveryState
    attempts: int
    at: datetime
    channel: str | None = None
    reference: str | None = None
    error: str | None = None


def delivered(m: OutboxMessage, receipt: Receipt, *, at: datetime) -> DeliveryUpdate:
    """``m`` taken by the adapter at ``at``. Requires ``m`` pending."""
    _pending(m)
    return DeliveryUpdate(m.id, DeliveryState.DELIVERED, m.attempts + 1, at, receipt.channel, receipt.reference)


def failed_attempt(m: OutboxMessage, why: str, *, at: datetime, for_good: bool) -> DeliveryUpdate:
    """``m`` not delivered at ``at``: failed if the gateway refused it ``for_good`` or this was its
    :data:`MAX_ATTEMPTS`-th attempt, else pending for the next round. Requires ``m`` pending."""
    _pending(m)
    attempts = m.attempts + 1
    state = DeliveryState.FAILED if for_good or attempts >= MAX_ATTEMPTS else DeliveryState.PENDING
    return DeliveryUpdate(m.id, state, attempts, at, error=why[:ERROR_CHARS])


def _pending(m: OutboxMessage) -> None:
    if m.state is not DeliveryState.PENDING:
        raise ValueError(f"message {m.id} is {m.state}: only a pending message is delivered")
