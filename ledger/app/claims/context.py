"""What every claims use case of one payer shares: its ports, its policy, and who acts for whom.

The use cases (:mod:`.citizens`, :mod:`.filing`, :mod:`.review`, :mod:`.reading`,
:mod:`.enrolment`) build on :class:`ClaimsContext`; :class:`~ledger.app.claims.ClaimsService`
is all of them over one payer's claims repository.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence

from ledger.app.access import Principal, Reach, authorize, citizen_person
from ledger.app.live_calendar import CalendarSource, FixedCalendar
from ledger.app.service import LedgerService
from ledger.claims.model import Claim, PersonRecord
from ledger.claims.policy import ClaimsPolicy, Filing, available_fen
from ledger.claims.stamps import first_chain_claim_id
from ledger.errors import ClaimBlocked, Conflict, Forbidden, InvalidInput, NoRulesInForce, NotFound
from ledger.evoucher import VoucherVerifier
from ledger.identity import national_id_problem
from ledger.invoice import Invoice
from ledger.peppers import PepperSource, pepper_source
from ledger.ports import ClaimsRepository, InvoiceChainState
from ledger.records import Role
from ledger.rules import EarlierLine, RuleSet
from ledger.rules.coordination import EarlierPayers, earlier_payers
from ledger.rules.periods import history_needed
from ledger.workdays import WorkCalendar

#: what a citizen's claim says of who filed it for whom
SELF = "self"


class ClaimsContext:
    """One payer's claims over the upload service (invoices, fee lines) and a claims repository.

    ``chain_state`` reads an invoice's figures on chain (reserved, paid, voided, pinned
    total), so a claim pays at most what other payers left; ``voucher`` checks citizens'
    e-vouchers (None: this service accepts none). Every payer's stamps on an invoice (payers
    in order) are read from the store's index of the chain (``store.stamps_on``). ``calendar``
    gives the working-day calendar in force (the composition root passes the loaded years'
    :class:`~ledger.app.live_calendar.LiveCalendar`; None: the shipped years).
    """

    def __init__(self, service: LedgerService, policy: ClaimsPolicy, *, store: ClaimsRepository,
                 pepper: bytes | PepperSource,
                 chain_state: Callable[[str, bytes], InvoiceChainState] | None = None,
                 voucher: VoucherVerifier | None = None, calendar: CalendarSource | None = None) -> None:
        self.service = service
        self.store = store
        self.policy = policy
        #: the pepper versions in force: a person is found under any of theirs (:mod:`ledger.peppers`)
        self.peppers = pepper_source(pepper)
        self._chain_state = chain_state
        self._voucher = voucher
        self.clock = service.clock
        self.calendars: CalendarSource = calendar if calendar is not None else FixedCalendar(clock=self.clock)
        #: hospital -> region (set once, at registration): read once per process, not per claim
        self._regions: dict[str, str] = {}

    @property
    def calendar(self) -> WorkCalendar:
        """The working-day calendar in force (a year loaded meanwhile included)."""
        return self.calendars.calendar()

    def rules_for(self, invoice: Invoice, person: PersonRecord) -> RuleSet:
        """The rule set that judges ``person``'s claim on ``invoice``, by its hospital's region;
        :class:`~ledger.errors.NoRulesInForce` if none does."""
        region = self._regions.get(invoice.issuer)
        if region is None:
            region = self._regions[invoice.issuer] = self.service.store.hospital(invoice.issuer).region
        return self.policy.rules_for(invoice, person, hospital_region=region)

    @property
    def payer_id(self) -> str:
        """The payer this service acts for."""
        return self.policy.payer_id

    def earlier_lines(self, person: bytes, fingerprint: bytes, invoice: Invoice,
                      ruleset: RuleSet) -> list[EarlierLine]:
        """The person's fee lines on other invoices (any hospital) that ``ruleset``'s period
        limits count for ``invoice``; none when it bills no limited item."""
        query = history_needed(invoice, ruleset)
        return [] if query is None else self.store.earlier_lines(person, query, exclude=fingerprint)

    def earlier_payers(self, ruleset: RuleSet, invoice: Invoice, fp: bytes) -> EarlierPayers | None:
        """The earlier payers' figures on the invoice, from their stamps as this store indexed them
        from the chain (the stamps of this issuer's invoice record), or None when the rule set names
        no earlier payer: nothing is read, so a payer outside an order costs nothing more."""
        coordination = ruleset.coordination
        if coordination is None or not coordination.waits:
            return None
        stamps = self.store.stamps_on([(invoice.issuer, fp)]).get((invoice.issuer, fp), [])
        return earlier_payers(coordination, stamps, issued_at=invoice.issued_at, now=self.clock.now())

    def _filing(self, fp: bytes, person: PersonRecord, *, actor: str, relation: str,
                window: str | None = None) -> Filing:
        """The claim of one invoice, ready to be decided (``window``: the hospital of the filing clerk)."""
        name = "0x" + fp.hex()
        target = self.store.claim_target(fp)
        if target is None or target.patient != person.pseudonym:
            raise NotFound(f"no invoice {name}")  # another person's invoice is not even confirmed to exist
        if target.voided:
            raise ClaimBlocked("voided", f"invoice {name} was voided by the hospital and can never be reimbursed")
        if target.anchored_block is None:
            raise Conflict(f"invoice {name} is not anchored on chain yet; it becomes claimable within seconds")
        invoice = self.service.store.sealed_invoice(fp).invoice
        if window is not None and invoice.issuer != window:
            raise NotFound(f"no invoice {name}")  # a claims window files on its own hospital's invoices only
        try:
            ruleset = self.rules_for(invoice, person)
        except NoRulesInForce as exc:  # several invoices may be filed at once: say which
            raise NoRulesInForce(f"invoice {name}: {exc}", payer=exc.payer, visit_type=exc.visit_type,
                                 insured_status=exc.insured_status, category=exc.category, day=exc.day) from None
        on_chain = self._chain_state(invoice.issuer, fp) if self._chain_state is not None else None
        claim_id = "clm_" + secrets.token_hex(10)
        return Filing(claim_id=claim_id, chain_claim_id=first_chain_claim_id(self.payer_id, claim_id),
                      fingerprint=fp, invoice=invoice, person=person, actor=actor, relation=relation, ruleset=ruleset,
                      available_fen=available_fen(fingerprint=fp, total_fen=invoice.total_fen, on_chain=on_chain),
                      policy=self.policy, earlier=tuple(self.earlier_lines(person.pseudonym, fp, invoice, ruleset)),
                      earlier_payers=self.earlier_payers(ruleset, invoice, fp))

    def claim(self, principal: Principal, claim_id: str, *, operation: str = "claim.read") -> Claim:
        """The claim, if ``principal`` may see it; anyone else's is "not found"."""
        reach = authorize(principal, operation, payer_id=self.payer_id)
        c = self.store.claim(claim_id)
        if not self._reaches(principal, reach, c):
            raise NotFound(f"no claim {c.id!r}")
        return c

    def _reaches(self, principal: Principal, reach: Reach, c: Claim) -> bool:
        if reach in (Reach.ANY, Reach.THIS_PAYER):
            return True
        if reach is Reach.PERSON:
            me = citizen_person(principal)
            return c.person == me or self.store.relation(me, c.person) is not None
        if reach is Reach.OWN:   # a claims window: the claims it filed, on its hospital's invoices
            return (principal.role is Role.CLERK and c.issuer == principal.subject
                    and c.actor.startswith(f"clerk:{principal.subject}:"))
        return False

    def _acting_for(self, principal: Principal, for_person: str | None,
                    national_id: str | None) -> tuple[bytes, str]:
        """(person, relation) the caller acts for, or Forbidden."""
        if principal.role is Role.CITIZEN:
            if national_id:
                raise InvalidInput.single("nationalId", "clerk-only", "citizens claim by their token, not by an ID")
            me = bytes.fromhex(principal.subject)
            if not for_person or for_person.lower().removeprefix("0x") == me.hex():
                return me, SELF
            other = person_arg(for_person)
            relation = self.store.relation(me, other)
            if relation is None:
                raise Forbidden("you have no recorded delegation from this person")
            return other, f"delegate:{relation}"
        if principal.role is Role.CLERK:
            if not national_id:
                raise InvalidInput.single("nationalId", "required",
                                          "a claims-window clerk names the citizen's resident ID")
            return self._resident(national_id, "nationalId"), "clerk"
        raise Forbidden(f"a {principal.role.value} credential may not claim (citizens and claims-window clerks)")

    def _resident(self, national_id: str, field: str) -> bytes:
        """The person a valid resident ID is known as here; :class:`InvalidInput` naming ``field`` for any other."""
        why = national_id_problem(national_id)
        if why is not None:
            raise InvalidInput.single(field, "resident-id", why)
        return self.known_as([national_id])[0]

    def known_as(self, national_ids: Sequence[str]) -> list[bytes]:
        """The pseudonym each person (by valid resident ID) is known by here, whichever pepper version
        it was first recorded under; their pseudonyms under every version are recorded on the way."""
        ring = self.peppers.ring()
        return self.store.identify([[bytes(p) for p in ring.pseudonyms(n)] for n in national_ids])


def caller_of(principal: Principal) -> str:
    """Who sent a request, as its Idempotency-Key is scoped."""
    return f"{principal.role.value}:{principal.subject}"[:80]


def actor_of(principal: Principal) -> str:
    """Who did it, as the audit trail and the claim record it."""
    if principal.role is Role.CITIZEN:
        return f"citizen:{principal.subject[:16]}"
    return principal.actor[:80]


def person_arg(text: str, *, field: str = "for") -> bytes:
    """A person named by their pseudonym (64 hex digits, ``0x`` optional); :class:`InvalidInput`
    naming ``field`` for anything else."""
    raw = text.lower().removeprefix("0x")
    if len(raw) != 64 or not all(ch in "0123456789abcdef" for ch in raw):
        raise InvalidInput.single(field, "person", "a person is named by their 64-hex-digit pseudonym")
    return bytes.fromhex(raw)
