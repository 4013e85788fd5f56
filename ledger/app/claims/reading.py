"""Reading claims: a citizen's own (and their delegators'), all of them for this payer and
auditors, their audit trail, and the dashboard's raw figures."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ledger.app.access import Principal, Reach, authorize, citizen_person
from ledger.app.actors import actor_labels
from ledger.app.claims.context import ClaimsContext, person_arg
from ledger.claims.model import Claim, PersonRecord
from ledger.claims.states import ClaimState
from ledger.errors import Forbidden, Unauthenticated


class ClaimReading(ClaimsContext):
    """Listings, audit trails and figures."""

    def claims(self, principal: Principal, *, state: ClaimState | str | None = None, person: str | None = None,
               after: str | None = None, limit: int = 50) -> list[Claim]:
        """Claims ``principal`` may see, newest first (paged by claim id)."""
        reach = authorize(principal, "claim.list", payer_id=self.payer_id)
        limit = max(1, min(limit, 500))
        states = [ClaimState(state)] if state else None
        if reach is Reach.PERSON:
            me = citizen_person(principal)
            persons = [me] + [p.pseudonym for p, _ in self.store.delegations_of(me)]
            if person:
                wanted = person_arg(person)
                if wanted not in persons:
                    raise Forbidden("you have no recorded delegation from this person")
                persons = [wanted]
            return self.store.claims(persons=persons, states=states, after=after, limit=limit)
        return self.store.claims(persons=[person_arg(person)] if person else None, states=states, after=after,
                                 limit=limit)

    def enrolments(self, principal: Principal, claims: Sequence[Claim]) -> dict[bytes, PersonRecord] | None:
        """Whom ``claims`` are for, as this payer's enrolment holds it (name, category, insured region,
        language), by pseudonym: for this payer's reviewers (``person.read``), who decide them. Anyone
        else gets None (not a refusal: the claims themselves they may read, the person's record not)."""
        return self.enrolments_of(principal, [c.person for c in claims])

    def enrolments_of(self, principal: Principal, persons: Sequence[bytes]) -> dict[bytes, PersonRecord] | None:
        """This payer's enrolment of ``persons`` for its reviewers and office (``person.read``); None for anyone
        else."""
        try:
            authorize(principal, "person.read", payer_id=self.payer_id)
        except (Forbidden, Unauthenticated):
            return None
        return self.store.persons_of(persons)

    def actor_labels(self, actors: Iterable[str]) -> dict[str, str]:
        """The label the office gave the credential of each staff actor (those with one)."""
        return actor_labels(self.service.store, actors)

    def stats(self, principal: Principal) -> dict[str, Any]:
        """The dashboard's raw figures (this payer's reviewers, auditors, the admin)."""
        authorize(principal, "claim.stats", payer_id=self.payer_id)
        return self.store.stats()

    def audit(self, principal: Principal, claim_id: str) -> list[dict[str, Any]]:
        """Every recorded change of a claim ``principal`` may see, oldest first."""
        c = self.claim(principal, claim_id)
        return self.service.store.audit_trail(subject=c.id, limit=1000)[::-1]
