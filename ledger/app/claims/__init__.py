"""The claims use cases of one payer: see :mod:`ledger.app.claims.service`."""

from ledger.app.claims.service import LIVE_STATES, SLA_WORKING_DAYS, ClaimsPolicy, ClaimsService, ClaimWaiter, explain

__all__ = ["LIVE_STATES", "SLA_WORKING_DAYS", "ClaimWaiter", "ClaimsPolicy", "ClaimsService", "explain"]
