"""The claim: a pure domain module (no SQL, no chain, no HTTP, no clock).

``states`` is the state machine as a table (which event moves a claim from which state to
which, and who may cause it); ``transitions`` what each event writes (figures, year-to-date
effect, audit entry); ``policy`` the payer's decision of a claim (rules, caps, instant
payout, maker-checker); ``stamps`` the on-chain stamp operations, the chain's answers and
the repair of lost stamps; ``model`` the records; ``explain`` the decision in sentences.
"""

from ledger.claims.explain import explain
from ledger.claims.model import Claim, ClaimDraft, PayerRecord, PersonRecord, Standing
from ledger.claims.policy import ClaimsPolicy, Filing, decide
from ledger.claims.stamps import StampOp, StampStatus, StampTask, stamp_repair
from ledger.claims.states import DEAD_STATES, LIVE_STATES, ClaimState, Event, Party

__all__ = [
    "DEAD_STATES", "LIVE_STATES", "Claim", "ClaimDraft", "ClaimState", "ClaimsPolicy", "Event", "Filing", "Party",
    "PayerRecord", "PersonRecord", "StampOp", "StampStatus", "StampTask", "Standing", "decide",
    "explain", "stamp_repair",
]
