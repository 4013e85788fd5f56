"""Claw-backs: who sees what a paid claim owes back, and the payer's office settling it.

- a **hospital** sees the claw-backs it owes (voids after the payout, findings on its
  billing), with their amounts: what it must return, by when;
- a **citizen** sees the claw-backs of their own claims (and their delegators'), whoever
  owes them: what they owe, or that the hospital does;
- the **payer**'s office (this payer's credentials) sees all, and records what was
  recovered, what was offset outside this ledger (against a hospital's next settlement),
  and write-offs (one member proposes, another approves); an **auditor** reads them all.

The rules of settling are :mod:`ledger.claims.clawbacks`; the offsets against a person's
later payout are planned by the stamper (:mod:`ledger.app.claim_worker`).
"""

from __future__ import annotations

from ledger.app.access import Principal, Reach, authorize, citizen_person
from ledger.app.claims.context import ClaimsContext, actor_of
from ledger.claims.clawbacks import (
    NOTE_CHARS,
    REFERENCE_CHARS,
    ClawBack,
    ClawbackEvent,
    ClawbackState,
    Debtor,
    OfficeAct,
)
from ledger.errors import Forbidden, InvalidInput, NotFound
from ledger.records import Role


class ClawbackOffice(ClaimsContext):
    """Reading claw-backs within each role's reach; the office's acts on them."""

    # ------------------------------------------------------------------ reading

    def clawbacks(self, principal: Principal, *, state: ClawbackState | str | None = None,
                  hospital: str | None = None, debtor: Debtor | str | None = None, claim: str | None = None,
                  after: str | None = None, limit: int = 50) -> list[ClawBack]:
        """Claw-backs ``principal`` may see that match, newest first (paged by claw-back id)."""
        reach = authorize(principal, "clawback.list", payer_id=self.payer_id)
        states = [ClawbackState(state)] if state else None
        owed_by = Debtor(debtor) if debtor else None
        limit = max(1, min(limit, 500))
        persons = None
        if reach is Reach.OWN:
            if hospital is not None and hospital != principal.subject:
                raise Forbidden("a hospital sees the claw-backs it owes, not another hospital's")
            if owed_by is Debtor.PERSON:
                raise Forbidden("a hospital sees the claw-backs it owes, not those its patients owe")
            hospital, owed_by = principal.subject, Debtor.HOSPITAL
        elif reach is Reach.PERSON:
            me = citizen_person(principal)
            persons = [me] + [p.pseudonym for p, _ in self.store.delegations_of(me)]
        return self.store.clawbacks(states=states, issuer=hospital, debtor=owed_by, persons=persons, claim_id=claim,
                                    after=after, limit=limit)

    def clawback(self, principal: Principal, clawback_id: str) -> ClawBack:
        """The claw-back, if ``principal`` may see it; anyone else's is "not found"."""
        reach = authorize(principal, "clawback.read", payer_id=self.payer_id)
        return self._within(principal, reach, self.store.clawback(clawback_id))

    def clawback_of_claim(self, principal: Principal, claim_id: str) -> ClawBack:
        """The claw-back a claim owes, if ``principal`` may see it."""
        reach = authorize(principal, "clawback.read", payer_id=self.payer_id)
        return self._within(principal, reach, self.store.clawback_of(claim_id))

    def _within(self, principal: Principal, reach: Reach, cb: ClawBack) -> ClawBack:
        if reach in (Reach.ANY, Reach.THIS_PAYER):
            return cb
        if reach is Reach.OWN and principal.role is Role.HOSPITAL and cb.debtor is Debtor.HOSPITAL \
                and cb.issuer == principal.subject:
            return cb
        if reach is Reach.PERSON:
            me = citizen_person(principal)
            if cb.person == me or self.store.relation(me, cb.person) is not None:
                return cb
        raise NotFound(f"no claw-back {cb.id!r}")

    # ------------------------------------------------------------------ the office

    def recover(self, principal: Principal, clawback_id: str, *, amount_fen: int, reference: str,
                note: str = "") -> tuple[ClawBack, bool]:
        """Record money the debtor paid back (``reference``: the transfer's); (claw-back, repeat)."""
        return self._act(principal, clawback_id, OfficeAct(ClawbackEvent.RECOVERED, actor_of(principal), amount_fen,
                                                           _reference(reference), _note(note, "note")))

    def record_offset(self, principal: Principal, clawback_id: str, *, amount_fen: int, reference: str,
                      note: str = "") -> tuple[ClawBack, bool]:
        """Record an offset made outside this ledger, e.g. against the hospital's next settlement
        (``reference``: the settlement's); (claw-back, repeat)."""
        return self._act(principal, clawback_id, OfficeAct(ClawbackEvent.OFFSET, actor_of(principal), amount_fen,
                                                           _reference(reference), _note(note, "note")))

    def propose_write_off(self, principal: Principal, clawback_id: str, *, reason: str) -> ClawBack:
        """Propose writing off what is outstanding; another member of the office approves it."""
        return self._act(principal, clawback_id, OfficeAct(ClawbackEvent.WRITE_OFF_PROPOSED, actor_of(principal),
                                                           note=_reason(reason)))[0]

    def approve_write_off(self, principal: Principal, clawback_id: str, *, reason: str) -> ClawBack:
        """Write off what is outstanding, as proposed by another member of the office."""
        return self._act(principal, clawback_id, OfficeAct(ClawbackEvent.WRITTEN_OFF, actor_of(principal),
                                                           note=_reason(reason)))[0]

    def decline_write_off(self, principal: Principal, clawback_id: str, *, reason: str) -> ClawBack:
        """Decline a proposed write-off: the money stays owed."""
        return self._act(principal, clawback_id, OfficeAct(ClawbackEvent.WRITE_OFF_DECLINED, actor_of(principal),
                                                           note=_reason(reason)))[0]

    def _act(self, principal: Principal, clawback_id: str, act: OfficeAct) -> tuple[ClawBack, bool]:
        authorize(principal, "clawback.settle", payer_id=self.payer_id)
        return self.store.clawback_act(clawback_id, act)


def _reference(text: str) -> str:
    ref = (text or "").strip()
    if not ref or len(ref) > REFERENCE_CHARS:
        raise InvalidInput.single("reference", "length", f"the reference of the transfer or settlement: 1-"
                                                         f"{REFERENCE_CHARS} characters, not blank")
    return ref


def _note(text: str, field: str) -> str:
    note = (text or "").strip()
    if len(note) > NOTE_CHARS:
        raise InvalidInput.single(field, "length", f"at most {NOTE_CHARS} characters")
    return note


def _reason(text: str) -> str:
    reason = _note(text, "reason")
    if not reason:
        raise InvalidInput.single("reason", "required", "say why, in words (the audit trail keeps it)")
    return reason
