"""The monthly report: for the regulator (auditors), this payer's office and the bureau
(admin), every hospital; for a hospital, its own (its accountability: the manual claims that
count in its annual clearance, its refusals and flags by rule and by item).

A report covers a month that has begun in China; the current month's report says it is
not complete (:attr:`~ledger.claims.reports.MonthlyReport.complete`). The claims are read
page by page from one snapshot and counted as they come (:class:`~ledger.claims.reports.MonthlyTally`),
so a month of claims is never held in memory at once.
"""

from __future__ import annotations

from ledger.app.access import Principal, Reach, authorize
from ledger.app.claims.context import ClaimsContext
from ledger.claims.reports import MonthlyReport, MonthlyTally
from ledger.errors import InvalidInput, NotFound
from ledger.months import Month


class MonthlyReports(ClaimsContext):
    """A month's report of this payer's claims."""

    def monthly_report(self, principal: Principal, month: Month | str, *,
                       hospital: str | None = None) -> MonthlyReport:
        """The report of the claims filed in ``month`` (``YYYY-MM``, China time), of every
        hospital or of ``hospital`` only; a hospital's credential gets its own hospital's.

        Raises :class:`InvalidInput` naming ``month`` for a malformed month or one that has not
        begun, and :class:`NotFound` for a hospital not registered here or not the caller's own.
        """
        reach = authorize(principal, "claim.report", payer_id=self.payer_id)
        m = month if isinstance(month, Month) else Month.parse(month)
        now = self.clock.now()
        if m.start > now:
            raise InvalidInput.single("month", "future-month",
                                      f"{m} has not begun in China (it is {Month.containing(now)} there now): a "
                                      "report covers a month that has begun")
        if reach is Reach.OWN:
            if hospital is not None and hospital != principal.subject:
                raise NotFound(f"no report of hospital {hospital} for this credential: a hospital reads its own")
            hospital = principal.subject
        elif hospital is not None:
            self.service.store.hospital(hospital)   # NotFound names it
        try:
            payer_name = self.store.payer(self.payer_id).name
        except NotFound:   # not registered yet (no stamper has run): no claims either
            payer_name = self.payer_id
        tally = MonthlyTally(m, hospital=hospital)
        for c in self.store.claims_filed(start=m.start_utc, end=m.end_utc, issuer=hospital):
            tally.add(c)
        names = self.store.fee_item_names(tally.lines_to_name())
        return tally.report(payer_id=self.payer_id, payer_name=payer_name, generated_at=now, names=names)
