"""The citizen's side: who an e-voucher stands for, and which of their invoices they can claim."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ledger.app.access import Principal, authorize, citizen_person
from ledger.app.claims.context import ClaimsContext
from ledger.claims.estimate import alone_fen
from ledger.claims.model import Claim, PersonInvoice, PersonRecord
from ledger.claims.policy import why_not_claimable
from ledger.errors import ChainUnavailable, LedgerError, NoRulesInForce, NotFound, Unauthenticated, Unavailable
from ledger.records import Role
from ledger.rules import YearToDate

#: why an invoice cannot be claimed *now*, besides :func:`ledger.claims.policy.why_not_claimable`'s
NO_RULES_YET = "no rules yet"              # the payer has published no rules for its care, person and day
CHAIN_UNREADABLE = "chain unreadable"      # what is left of it on chain cannot be read at the moment
NOT_DECIDABLE = "cannot be decided yet"    # the rules refuse to judge it for another reason (logged)
#: the chain holds this payer's stamp of a claim on it that this database does not hold (restored from
#: an older backup): a claim would be refused (``unknown-stamp``) until the office reconciles it
CLAIMED_FORGOTTEN = "claimed before, being checked"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Citizen:
    """Who a citizen's credential stands for: their enrolment here (None: not insured) and
    the persons who delegated to them."""

    person: bytes
    record: PersonRecord | None
    delegations: list[tuple[PersonRecord, str]]
    payer_name: str = ""      # the payer this service acts for, by its name (where to return money owed)


@dataclass(frozen=True)
class InvoiceToClaim:
    """One of a person's invoices, whether it can be claimed (and if not, why) and an estimate."""

    invoice: PersonInvoice
    claimable: bool
    reason: str | None
    estimate_fen: int | None
    claim: Claim | None      # this payer's newest claim of it
    rules_missing: NoRulesInForce | None = None   # set when the reason is NO_RULES_YET: which care, person, day


class CitizenAccess(ClaimsContext):
    """Citizens' credentials and listings."""

    def authenticate(self, token: str | None) -> Principal:
        """Staff tokens (``ebill_…``) via the upload service; anything else must be an e-voucher."""
        if token and not token.startswith("ebill_") and token.count(".") == 2:
            if self._voucher is None:
                raise Unauthenticated("this service accepts no citizen e-vouchers (no issuer key configured)")
            try:
                v = self._voucher.verify(token)
            except LedgerError as exc:   # InvalidVoucher: expired, wrong key or issuer, malformed
                raise Unauthenticated(str(exc)) from None
            person = self.known_as([v.national_id])[0]   # (under any pepper version it was first seen with)
            return Principal(Role.CITIZEN, person.hex(), (v.token_id or "voucher")[:24])
        return self.service.authenticate(token)

    def person_of(self, principal: Principal) -> bytes:
        """The pseudonym a citizen's credential stands for."""
        return citizen_person(principal)

    def me(self, principal: Principal) -> Citizen:
        """The citizen, their enrolment with this payer and their delegations."""
        person = self.person_of(principal)
        try:
            payer_name = self.store.payer(self.payer_id).name
        except NotFound:     # a service whose payer is not registered yet still says who the citizen is
            payer_name = self.payer_id
        return Citizen(person, self.store.person(person), self.store.delegations_of(person), payer_name)

    def my_invoices(self, principal: Principal, *, for_person: str | None = None) -> tuple[bytes, list[InvoiceToClaim]]:
        """(person, their invoices newest first) with what each could be claimed for now."""
        authorize(principal, "claim.invoices", payer_id=self.payer_id)
        person, relation = self._acting_for(principal, for_person, None)
        enrolled = self.store.person(person)
        invoices = self.store.invoices_of(person)
        latest = self.store.latest_claims([i.fingerprint for i in invoices])
        forgotten = self.store.unknown_stamped(self.payer_id, [i.fingerprint for i in invoices])
        out = []
        for inv in invoices:
            claim = latest.get(inv.fingerprint)
            reason = why_not_claimable(insured=enrolled is not None, voided=inv.voided,
                                       anchored=inv.anchored_block is not None,
                                       latest=claim.state if claim else None)
            if reason is None and inv.fingerprint in forgotten:
                reason = CLAIMED_FORGOTTEN
            estimate = None
            missing: NoRulesInForce | None = None
            if reason is None and enrolled is not None:
                try:
                    # the invoice as a tap of it alone would file it, decided by the same code
                    filing = self._filing(inv.fingerprint, enrolled, actor="estimate", relation=relation)
                    if filing.available_fen == 0:
                        reason = "fully reimbursed"
                    else:
                        stored = YearToDate(*self.store.year_to_date(person, filing.scheme, filing.year))
                        estimate = alone_fen(filing, stored)
                except NoRulesInForce as exc:
                    # the citizen is told in words that it cannot be decided *yet*, never the
                    # office's internal sentence; the app words it from the facts kept here
                    reason, missing = NO_RULES_YET, exc
                except (ChainUnavailable, Unavailable):
                    reason = CHAIN_UNREADABLE
                except LedgerError as exc:   # anything else the rules refuse: logged, not shown as is
                    log.warning("invoice 0x%s cannot be estimated for its person: %s", inv.fingerprint.hex(), exc)
                    reason = NOT_DECIDABLE
            out.append(InvoiceToClaim(inv, reason is None, reason, estimate, claim, missing))
        return person, out
