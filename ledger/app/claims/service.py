"""The claims use cases of one payer: one-touch claims, review, appeals, payout.

One service instance acts for one payer (``payer_id``). A claim is judged by the rule
set of that payer in force on the invoice date, for the scheme of the invoice's visit
type and the person's category, with the person's year-to-date figures; what it pays
is at most what the patient paid and what the invoice has left on chain (other payers'
stamps): :mod:`ledger.claims`. The claim is stored with its reservation in the stamper's
outbox; the stamper (:mod:`ledger.app.claim_worker`) reserves it on chain, in batches,
and the API answers once the reservation is confirmed (or refused).

Who may do what:
- a **citizen** (e-voucher token) sees and claims their own invoices, and those of a
  person who delegated to them (family member, ward), and has a set of them estimated
  as a tap would decide it (:mod:`.estimates`); they appeal their rejections;
- a **clerk** (a hospital's claims window) files for a citizen who is present, naming
  their resident ID; the claim records the clerk as the actor;
- a **payer** reviewer of *this* payer approves or rejects (another payer's credential
  is refused: a payer cannot stamp on behalf of another), two different reviewers
  above the maker-checker threshold;
- an **auditor** reads claims and their audit trail;
- the monthly report (:mod:`.reports`): auditors, this payer and the admin read every
  hospital's, a **hospital** its own.
- what a paid claim owes back (a claw-back) is read by the hospital that owes it, the
  citizen whose claim it is, this payer and auditors; this payer's office settles it
  (:mod:`ledger.app.claims.clawbacks`);
- the citizens' messages (:mod:`.notifications`): the admin reads the outbox, a citizen
  chooses the language of their messages; this payer's reviewers see whom a claim is for
  (the payer's enrolment), nobody else does.

Each concern is a module of this package; :class:`ClaimsService` is all of them over the
ports it is given (the claims repository, the upload service's store and key vault, a
read of the chain, the e-voucher verifier).
"""

from __future__ import annotations

from collections.abc import Callable

from ledger.app.claims.citizens import CitizenAccess
from ledger.app.claims.clawbacks import ClawbackOffice
from ledger.app.claims.enrolment import Enrolment
from ledger.app.claims.estimates import Estimates
from ledger.app.claims.notifications import Notifications
from ledger.app.claims.reading import ClaimReading
from ledger.app.claims.reports import MonthlyReports
from ledger.app.claims.review import Reviews
from ledger.app.claims.waiter import ClaimWaiter
from ledger.app.live_calendar import CalendarSource
from ledger.app.service import LedgerService
from ledger.claims.policy import ClaimsPolicy
from ledger.evoucher import VoucherVerifier
from ledger.peppers import PepperSource
from ledger.ports import ClaimsRepository, InvoiceChainState


class ClaimsService(CitizenAccess, Estimates, Reviews, ClaimReading, ClawbackOffice, Enrolment, MonthlyReports,
                    Notifications):
    """One payer's claims: see the module docstring for who may do what."""

    def __init__(self, service: LedgerService, policy: ClaimsPolicy, *, store: ClaimsRepository,
                 pepper: bytes | PepperSource,
                 chain_state: Callable[[str, bytes], InvoiceChainState] | None = None,
                 voucher: VoucherVerifier | None = None, calendar: CalendarSource | None = None) -> None:
        super().__init__(service, policy, store=store, pepper=pepper, chain_state=chain_state, voucher=voucher,
                         calendar=calendar)
        self._waiter = ClaimWaiter(store)
