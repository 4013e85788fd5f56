"""The citizens' messages: the outbox as the operator reads it, and the language a citizen wants.

Each step of a claim writes its message into the outbox in the step's transaction
(:mod:`ledger.claims.notices`); the dispatcher (:mod:`ledger.app.notifier`) sends them. Here:
the admin reads the outbox (``notification.read``: what went out, what waits, what failed),
and a citizen records the language of their messages (``person.language``).
"""

from __future__ import annotations

from ledger.app.access import Principal, authorize, citizen_person
from ledger.app.claims.context import ClaimsContext, actor_of
from ledger.claims.languages import Language, parse_language
from ledger.claims.notice_outbox import DeliveryState, OutboxMessage
from ledger.errors import InvalidInput

#: the most messages one listing returns
MAX_LISTED = 500


class Notifications(ClaimsContext):
    """The outbox and a citizen's language."""

    def notifications(self, principal: Principal, *, state: DeliveryState | str | None = None,
                      claim: str | None = None, after: int | None = None, limit: int = 50) -> list[OutboxMessage]:
        """The outbox, newest first (messages in ``state``, of ``claim``), below the message id ``after``."""
        authorize(principal, "notification.read", payer_id=self.payer_id)
        if after is not None and after < 1:
            raise InvalidInput.single("after", "minimum", "a message id is 1 or more")
        return self.store.notifications(states=[DeliveryState(state)] if state else None, claim_id=claim,
                                        after=after, limit=max(1, min(limit, MAX_LISTED)))

    def set_language(self, principal: Principal, language: str) -> Language:
        """Record the language the calling citizen wants their messages in (they must be enrolled with
        this payer: their record is where it is kept)."""
        authorize(principal, "person.language", payer_id=self.payer_id)
        chosen = parse_language(language)
        self.store.set_language(citizen_person(principal), chosen, actor=actor_of(principal))
        return chosen
