"""The claims repository on SQL (``ledger.ports.ClaimsRepository``), one part per concern.

- :mod:`.members`: payers, enrolment, delegations;
- :mod:`.pseudonyms`: who is who across pepper versions;
- :mod:`.repository`: filing, reading, reviews and appeals;
- :mod:`.outbox`: the stamper's outbox, the chain's answers, payouts and voids;
- :mod:`.reconcile`: after a restore, claims the chain paid that this database has unpaid, and
  this payer's stamps of claims it does not hold;
- :mod:`.clawbacks` (and :mod:`.clawback_rows`): what paid claims owe back, the office's acts
  on it, and the offsets a payout plans;
- :mod:`.notices` (and :mod:`.notification_outbox`): the message each step of a claim sends
  its person, written in the step's transaction, and the outbox the dispatcher sends from;
- :mod:`.figures`: the dashboard's figures;
- :mod:`.reports`: what a monthly report reads (a month's claims, item names);
- :mod:`.years` and :mod:`.rows`: the person-year figures and what the parts share.

The tables live in the same database as the invoices and take the same writer path as
:class:`~ledger.adapters.sql.store.SqlStore`: each change of a claim is one transaction
holding its new figures, its year-to-date effect and its audit entry, as the state
machine (:mod:`ledger.claims`) decided them.
"""

from __future__ import annotations

from ledger.adapters.sql.claims.clawbacks import ClawbackRecords
from ledger.adapters.sql.claims.figures import ClaimFigures
from ledger.adapters.sql.claims.members import Members
from ledger.adapters.sql.claims.notification_outbox import NotificationRecords
from ledger.adapters.sql.claims.outbox import StampOutbox
from ledger.adapters.sql.claims.pseudonyms import Pseudonyms
from ledger.adapters.sql.claims.reconcile import ChainReconciliation
from ledger.adapters.sql.claims.reports import ReportReads
from ledger.adapters.sql.claims.repository import ClaimRecords


class ClaimStore(ClaimRecords, StampOutbox, ChainReconciliation, ClawbackRecords, Members, Pseudonyms, ClaimFigures,
                 ReportReads, NotificationRecords):
    """Claims-side tables on the same database (and writer path) as :class:`SqlStore`."""
