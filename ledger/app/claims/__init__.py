"""The claims use cases of one payer: see :mod:`ledger.app.claims.service`."""

from ledger.app.claims.enrolment import Enrolee
from ledger.app.claims.review import SLA_WORKING_DAYS
from ledger.app.claims.service import ClaimsService
from ledger.app.claims.waiter import ClaimWaiter
from ledger.claims.policy import ClaimsPolicy

__all__ = ["SLA_WORKING_DAYS", "ClaimWaiter", "ClaimsPolicy", "ClaimsService", "Enrolee"]
