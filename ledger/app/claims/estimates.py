"""What a tap would pay, before it is tapped: the citizen's selected invoices decided as the claim will decide them.

The same filings as :meth:`~ledger.app.claims.filing.OneTouch.submit` builds (the same
checks, rule set, chain figures, earlier payers and period-limit history), decided by the
same code in the same order (:func:`ledger.claims.estimate.estimate_set`), on the person's
year-to-date figures as stored now. Nothing is stored, reserved or counted, and no
attempt is recorded: an estimate is a read. What the tap then decides differs only if
something changed in between (another claim of the person, a void, another payer's stamp).
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.app.access import Principal, authorize
from ledger.app.claims.context import actor_of
from ledger.app.claims.filing import OneTouch, invoice_set
from ledger.claims.estimate import Estimate, estimate_set
from ledger.claims.states import CLAIMABLE_AGAIN
from ledger.errors import ClaimBlocked, Conflict
from ledger.rules import YearToDate


class Estimates(OneTouch):
    """Estimating a tap of several invoices (citizens)."""

    def estimate(self, principal: Principal, *, fingerprints: Sequence[str],
                 for_person: str | None = None) -> tuple[bytes, list[Estimate]]:
        """(person, each invoice as the tap would decide it and alone), in the order given.

        Refused as the tap would be: an invoice not the person's is "not found", a voided or
        unanchored one, one claimed already at this payer or with no rules in force is a
        conflict naming it."""
        authorize(principal, "claim.estimate", payer_id=self.payer_id)
        fps = invoice_set(fingerprints)
        person, relation = self._acting_for(principal, for_person, None)
        enrolled = self.store.person(person)
        if enrolled is None:
            raise Conflict(f"this person is not insured with payer {self.payer_id}: nothing to claim here")
        filings = [self._filing(fp, enrolled, actor=actor_of(principal), relation=relation) for fp in fps]
        # after the filings, as the tap checks it (in its transaction): an invoice that is not
        # the person's is "not found" before anything is said about its claims
        latest = self.store.latest_claims(fps)
        for fp in fps:
            live = latest.get(fp)
            if live is not None and live.state != CLAIMABLE_AGAIN:
                raise ClaimBlocked("duplicate", f"invoice 0x{fp.hex()} is claimed already at this payer "
                                                f"(claim {live.id}, {live.state})")
        forgotten = self.store.unknown_stamped(self.payer_id, fps)
        if forgotten:
            raise ClaimBlocked("unknown-stamp", f"invoice 0x{min(forgotten).hex()} was claimed at this payer by a "
                                                "claim this database does not hold (restored from an older backup); "
                                                "its stamp on chain holds the invoice: it cannot be claimed again")
        def stored(scheme: str, year: int) -> YearToDate:
            return YearToDate(*self.store.year_to_date(person, scheme, year))

        return person, estimate_set(filings, stored, now=self.clock.now())
