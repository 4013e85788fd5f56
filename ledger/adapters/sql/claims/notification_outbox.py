"""The notification outbox as the dispatcher and the admin's listing use it
(``ledger.ports.NotificationOutbox``), and a person's language."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import update

from ledger.adapters.sql.claims.notices import NT, record, select_messages
from ledger.adapters.sql.claims.rows import PE, ClaimTables
from ledger.claims.languages import Language
from ledger.claims.notice_outbox import DeliveryState, DeliveryUpdate, OutboxMessage
from ledger.errors import NotFound


class NotificationRecords(ClaimTables):
    """Reading and updating the outbox; a person's language."""

    def notifications(self, *, states: Sequence[DeliveryState] | None = None, claim_id: str | None = None,
                      after: int | None = None, limit: int = 100) -> list[OutboxMessage]:
        """Messages newest first (those in ``states``, of ``claim_id``), below the id ``after``."""
        cond: list[Any] = []
        if states:
            cond.append(NT.c.state.in_([s.value for s in states]))
        if claim_id is not None:
            cond.append(NT.c.claim_id == claim_id)
        if after is not None:
            cond.append(NT.c.id < after)
        with self.store._read() as conn:
            return select_messages(conn, *cond, limit=limit, oldest_first=False)

    def pending_notifications(self, *, limit: int = 100) -> list[OutboxMessage]:
        """Pending messages, oldest first (what the dispatcher sends next)."""
        with self.store._read() as conn:
            return select_messages(conn, NT.c.state == DeliveryState.PENDING.value, limit=limit, oldest_first=True)

    def record_deliveries(self, updates: Sequence[DeliveryUpdate]) -> int:
        """Record delivery attempts in one transaction (a message no longer pending is left alone)."""
        if not updates:
            return 0
        with self.store._tx() as conn:
            return record(conn, updates)

    def set_language(self, pseudonym: bytes, language: Language, *, actor: str) -> None:
        """Record the language the enrolled person prefers; :class:`NotFound` if they are not enrolled."""
        with self.store._tx() as conn:
            n = conn.execute(update(PE).where(PE.c.pseudonym == pseudonym).values(language=language.value)).rowcount
            if not n:
                raise NotFound("you are not enrolled with this payer: there is no record to keep a language in")
            self.store.audit(conn, actor=actor, action="person.language", subject="0x" + pseudonym.hex()[:16],
                             detail={"language": language.value})
