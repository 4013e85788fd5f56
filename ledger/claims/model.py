"""The claims side's records: payers, insured persons, claims and what the stamper works on.

Frozen values; the claims repository (``ledger.ports.ClaimsRepository``) reads and
writes them, the use cases and the state machine pass them around. Money is integer fen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.claims.languages import Language
from ledger.claims.sampling import PostAudit
from ledger.claims.stamps import StampOp, StampStatus
from ledger.claims.states import ClaimState


@dataclass(frozen=True)
class PayerRecord:
    """A payer (an insurance fund) and the chain account it stamps claims with."""

    payer_id: str
    name: str
    account: str
    sealed_key: str
    created_at: datetime
    registered_block: int | None


@dataclass(frozen=True)
class PersonRecord:
    """A person insured with this payer, known by the pseudonym of their resident ID.

    ``insured_region`` is the region they are insured in (a division code such as
    ``330600``; None: not recorded, enrolled before it was), ``offsite_registered`` whether
    they registered for off-site care (备案): with the invoice's hospital they decide which
    rules judge a claim (:func:`ledger.claims.insured.insured_status`). ``language`` is the
    language they prefer their messages in (None: never said; :mod:`ledger.claims.languages`)."""

    pseudonym: bytes
    name: str
    category: str
    insured_region: str | None = None
    offsite_registered: bool = False
    language: Language | None = None


@dataclass(frozen=True)
class PersonInvoice:
    """One of a person's invoices as the citizen's listing needs it: its header figures,
    whether it is anchored and whether a void was accepted or stamped."""

    fingerprint: bytes
    issuer: str
    hospital_name: str
    invoice_code: str
    invoice_number: str
    issued_at: str
    visit_type: str
    total_fen: int
    cash_paid_fen: int
    fund_paid_fen: int
    fee_line_count: int
    anchored_block: int | None
    voided: bool


@dataclass(frozen=True)
class ClaimTarget:
    """What filing a claim needs to know of an invoice before deciding it."""

    patient: bytes
    voided: bool          # a void accepted here, or stamped on chain
    anchored_block: int | None


@dataclass(frozen=True)
class ClaimDraft:
    """A claim as the rules decided it, before it is stored (:func:`ledger.claims.policy.decide`)."""

    id: str
    payer_id: str
    fingerprint: bytes
    issuer: str
    person: bytes
    actor: str
    relation: str
    scheme: str
    year: int
    requested_fen: int
    decided_fen: int
    amount_fen: int
    deductible_used_fen: int
    decision: dict[str, Any]
    flags: tuple[str, ...]
    instant: bool
    reviews_needed: int
    chain_claim_id: bytes
    state: ClaimState = ClaimState.SUBMITTED
    refusal: str | None = None
    post_audit: PostAudit | None = None    # DUE: drawn for a post-payment audit


@dataclass(frozen=True)
class Review:
    """One reviewer's verdict on a claim (round 2 after an appeal)."""

    reviewer: str
    verdict: str      # approve | reject
    reason: str
    round: int
    at: datetime


@dataclass(frozen=True)
class Standing:
    """What the state machine reads of a claim: its state, its money and its stamp."""

    id: str
    state: ClaimState
    instant: bool
    amount_fen: int
    deductible_used_fen: int
    reviews_needed: int
    appealed: bool
    attempt: int
    chain_claim_id: bytes
    chain_todo: StampOp | None
    stamp: StampStatus | None
    post_audit: PostAudit | None = None


@dataclass(frozen=True)
class Claim:
    """A stored claim (what the API shows, with the invoice's header figures)."""

    id: str
    submission_id: str
    payer_id: str
    fingerprint: bytes
    issuer: str
    invoice_code: str
    invoice_number: str
    person: bytes
    actor: str
    relation: str
    state: ClaimState
    scheme: str
    year: int
    requested_fen: int
    decided_fen: int
    amount_fen: int
    deductible_used_fen: int
    decision: dict[str, Any]
    flags: tuple[str, ...]
    instant: bool
    reviews_needed: int
    attempt: int
    chain_claim_id: bytes
    chain_todo: StampOp | None
    stamp: StampStatus | None
    stamp_tx: str | None
    stamp_block: int | None
    refusal: str | None
    rejection: str | None
    appeal: str | None
    payment_ref: str | None
    paid_at: datetime | None
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None
    reviews: tuple[Review, ...] = ()
    hospital_name: str = ""
    post_audit: PostAudit | None = None
    #: what its payout keeps back for claw-backs its person owes (None: nothing planned); the bank pays the rest
    offset_fen: int | None = None

    @property
    def review_round(self) -> int:
        """The round of reviews the claim is in: 2 after an appeal, else 1."""
        return 2 if self.appeal is not None else 1

    @property
    def approvals(self) -> int:
        """The approvals of the current round (what maker-checker counts: a rejection before an
        appeal, or an approval of an earlier round, does not count)."""
        return sum(1 for r in self.reviews if r.round == self.review_round and r.verdict == "approve")

    @property
    def standing(self) -> Standing:
        """The part of the claim the state machine reads."""
        return Standing(self.id, self.state, self.instant, self.amount_fen, self.deductible_used_fen,
                        self.reviews_needed, self.appeal is not None, self.attempt, self.chain_claim_id,
                        self.chain_todo, self.stamp, self.post_audit)


@dataclass(frozen=True)
class Submission:
    """One tap stored earlier under an Idempotency-Key: its id, request hash and claims."""

    id: str
    request_sha256: bytes
    claims: list[Claim]


@dataclass(frozen=True)
class StampCheck:
    """A claim's recorded stamp and what the chain index says of it (``None``: the index
    has not reached the stamp's block yet; ask the contract)."""

    claim_id: str
    state: ClaimState
    stamp: StampStatus
    stamp_block: int
    chain_claim_id: bytes
    on_chain: StampStatus | None


@dataclass(frozen=True)
class PayoutDue:
    """An approved claim, finalised on chain, waiting for its payout: the bank pays ``amount_fen``
    less ``offset_fen`` (what it keeps back for claw-backs the person owes, planned before the
    bank is asked); ``owes``: the person owes a claw-back and nothing is planned yet."""

    id: str
    person: bytes
    amount_fen: int
    invoice_code: str
    invoice_number: str
    offset_fen: int = 0
    owes: bool = False

    @property
    def transfer_fen(self) -> int:
        """What the bank transfers."""
        return self.amount_fen - self.offset_fen
