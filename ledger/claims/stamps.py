"""A claim's stamp on chain: the operations, what the chain answers, and the repair of lost stamps.

The contract keeps one status per chain claim id: ``reserve`` makes it ``reserved`` (the
amount is held against the invoice), ``finalize`` makes it ``finalized`` (the payment is
recorded), ``release`` makes it ``released`` (the amount is given back); a claim the
chain does not know is ``none``. The stamper sends a round's operations together and
reads one refusal (a custom error name) or none per claim; :func:`judge_stamp` turns that
into a :data:`ChainOutcome`, reading the chain's status of the claim and the invoice's
figures only when the refusal asks for them (:func:`asks_status`, :func:`asks_figures`):

================================  ==================  ====================================
refusal                           operation           outcome
================================  ==================  ====================================
none                              any                 :class:`Done`
ClaimAlreadyExists,               any                 :class:`Done` if the chain holds what
ClaimNotReserved, UnknownClaim                        the operation makes (sent before a
                                                      crash); else :class:`Lost`, a refused
                                                      finalisation, :class:`OnChain` ...
InvoiceIsVoided                   finalize            :class:`VoidedFirst`
ReimbursementExceedsTotal         reserve             :class:`Smaller` (a first reservation,
                                                      and something left) or :class:`Refused`
BatchNotAnchored                  any                 :class:`Retry`
anything else                     any                 :class:`Refused`
================================  ==================  ====================================

:func:`stamp_repair` says what a claim needs when the chain holds less than its recorded
stamp (a node restarted from an older state lost the blocks): it is stamped again under
the same chain claim id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, Protocol

from ledger.claims.states import BEHIND_CHAIN, DEAD_STATES, FIRST_RESERVATION, ClaimState
from ledger.hashing import keccak256


class StampStatus(StrEnum):
    """A chain claim id's status on chain (``none``: the chain does not know it)."""

    NONE = "none"
    RESERVED = "reserved"
    FINALIZED = "finalized"
    RELEASED = "released"


class StampOp(StrEnum):
    """What the stamper asks the chain to do to a claim."""

    RESERVE = "reserve"
    FINALIZE = "finalize"
    RELEASE = "release"

    @property
    def stamped(self) -> StampStatus:
        """The status the chain records once this operation took effect."""
        return _STAMPED[self]

    @property
    def done_when(self) -> frozenset[StampStatus]:
        """Statuses that mean this operation took effect (a reservation may be finalised already)."""
        return _DONE_WHEN[self]


_STAMPED = {StampOp.RESERVE: StampStatus.RESERVED, StampOp.FINALIZE: StampStatus.FINALIZED,
            StampOp.RELEASE: StampStatus.RELEASED}
_DONE_WHEN = {StampOp.RESERVE: frozenset((StampStatus.RESERVED, StampStatus.FINALIZED)),
              StampOp.FINALIZE: frozenset((StampStatus.FINALIZED,)),
              StampOp.RELEASE: frozenset((StampStatus.RELEASED,))}

#: the contract's events for a claim's stamp, and the status each leaves
STAMP_EVENTS: dict[str, StampStatus] = {"ReimbursementReserved": StampStatus.RESERVED,
                                         "ReimbursementReleased": StampStatus.RELEASED,
                                         "ReimbursementFinalized": StampStatus.FINALIZED}

VOIDED_REFUSAL = "the hospital voided the invoice"
#: refusals of an operation the chain may have taken already (sent before a crash, or lost
#: with the node's blocks): believe the chain's status of the claim
_RESENT = frozenset(("ClaimAlreadyExists", "ClaimNotReserved", "UnknownClaim"))


# ---------------------------------------------------------------------- what the chain answered


@dataclass(frozen=True)
class Done:
    """The stamp took effect (or had, before a crash)."""


@dataclass(frozen=True)
class Refused:
    """Refused for good; ``reason`` says why, for the citizen."""

    reason: str


@dataclass(frozen=True)
class Retry:
    """Not yet: leave it for a later round (the invoice's batch is not anchored yet)."""

    reason: str


@dataclass(frozen=True)
class Smaller:
    """Only ``amount_fen`` is left on the invoice: reserve that, under a new chain claim id."""

    amount_fen: int
    reason: str


@dataclass(frozen=True)
class VoidedFirst:
    """The finalisation was refused: the void reached the chain first."""

    reason: str


@dataclass(frozen=True)
class Lost:
    """The chain does not know the claim at all (it lost the blocks it was in)."""

    reason: str


@dataclass(frozen=True)
class OnChain:
    """The chain holds another final status than the one asked for."""

    status: StampStatus
    reason: str


ChainOutcome = Done | Refused | Retry | Smaller | VoidedFirst | Lost | OnChain


@dataclass(frozen=True)
class StampTask:
    """A claim whose chain stamp must change, with what a reservation needs."""

    claim_id: str
    op: StampOp
    chain_claim_id: bytes
    fingerprint: bytes
    issuer: str
    total_fen: int
    amount_fen: int
    batch_root: bytes | None
    anchored: bool
    state: ClaimState = ClaimState.SUBMITTED
    #: the request that filed the claim (its ``X-Request-Id``), for the stamper's log line
    request_id: str | None = None


@dataclass(frozen=True)
class StampResult:
    """What the chain did with one task: its outcome, and the transaction that carried it."""

    task: StampTask
    outcome: ChainOutcome
    tx: str | None = None
    block: int | None = None


class InvoiceFigures(Protocol):
    """What the chain holds of an invoice (``ledger.ports.InvoiceChainState`` has these)."""

    @property
    def reserved_fen(self) -> int: ...
    @property
    def paid_fen(self) -> int: ...
    @property
    def voided(self) -> bool: ...
    @property
    def total_fen(self) -> int:
        """The total the invoice's first reservation pinned (0 until then)."""
        ...


def left_on_invoice(total_fen: int, figures: InvoiceFigures) -> int:
    """What the invoice has left to reimburse after every payer's reservations and payments."""
    return 0 if figures.voided else max(0, total_fen - figures.reserved_fen - figures.paid_fen)


def asks_status(refusal: str | None) -> bool:
    """True if judging ``refusal`` needs the chain's status of the claim."""
    return refusal in _RESENT


def asks_figures(op: StampOp, refusal: str | None) -> bool:
    """True if judging ``refusal`` of ``op`` needs the invoice's figures on chain."""
    return op is StampOp.RESERVE and refusal == "ReimbursementExceedsTotal"


def judge_stamp(task: StampTask, refusal: str | None, *, on_chain: StampStatus | None = None,
                figures: InvoiceFigures | None = None) -> ChainOutcome:
    """The outcome of ``task`` given the chain's ``refusal`` (None: it took effect).

    Requires ``on_chain`` when :func:`asks_status` and ``figures`` when :func:`asks_figures`.
    """
    if refusal is None:
        return Done()
    op = task.op
    if refusal in _RESENT:
        if on_chain is None:
            raise ValueError(f"judging {refusal} needs the chain's status of the claim")
        if on_chain in op.done_when:
            return Done()
        if on_chain is StampStatus.NONE and op is not StampOp.RESERVE:
            return Lost("the chain does not know this claim (it lost the blocks it was in)")
        if op is StampOp.FINALIZE and on_chain is StampStatus.RELEASED:
            return Refused("the reservation was released before payment was stamped")
        if op is StampOp.RELEASE and on_chain is StampStatus.FINALIZED:
            return OnChain(StampStatus.FINALIZED, "the claim was finalised on chain already")
    if op is StampOp.FINALIZE and refusal == "InvoiceIsVoided":
        return VoidedFirst(f"{VOIDED_REFUSAL} before the payment was stamped")
    if asks_figures(op, refusal):
        if figures is None:
            raise ValueError(f"judging {refusal} needs the invoice's figures on chain")
        left = left_on_invoice(task.total_fen, figures)
        if 0 < left < task.amount_fen and task.state in FIRST_RESERVATION:
            return Smaller(left, f"only ¥{left / 100:.2f} of the invoice is left after other payers")
        return Refused("the invoice is reimbursed in full already (by other payers)")
    if refusal == "TotalMismatch":
        return Refused("the chain holds another total for this invoice (anchored twice by the hospital with "
                       "different totals): a reviewer must look")
    if refusal == "BatchNotAnchored":
        return Retry("the invoice's batch is not on chain (yet)")
    if refusal == "InvoiceIsVoided":
        return Refused(VOIDED_REFUSAL)
    return Refused(f"the chain refused the stamp: {refusal}")


def next_chain_claim_id(previous: bytes, attempt: int) -> bytes:
    """The chain claim id of a claim's ``attempt``-th reservation (an appeal, a smaller amount)."""
    return bytes(keccak256(previous + attempt.to_bytes(4, "big")))


# ---------------------------------------------------------------------- lost stamps


class Repair(NamedTuple):
    """What a claim whose stamp the chain lost writes: the operation to send, and its stamp."""

    resend: StampOp | None
    stamp: StampStatus | None


#: how far a stamp got: a chain that lost blocks holds an earlier one (or none)
_STAMP_RANK = {StampStatus.NONE: 0, StampStatus.RESERVED: 1, StampStatus.FINALIZED: 2, StampStatus.RELEASED: 2}


def stamp_repair(*, state: ClaimState, recorded: StampStatus, on_chain: StampStatus) -> Repair | None:
    """What a claim needs when the chain holds less than its recorded stamp (the node lost the
    blocks it was in), or None if nothing is missing.

    A claim that holds money (live, or paid and clawed back) is stamped again under the same
    chain claim id: reserved again if the chain has nothing, then finalised again if it had
    been; a decided claim that holds none must hold none on chain either (released again if
    its reservation came back, else it records that the chain has nothing).
    """
    if state == ClaimState.APPROVED and recorded == on_chain == StampStatus.RESERVED:
        # approved before payouts waited for the finalisation: finalise it, so it can be paid
        return Repair(StampOp.FINALIZE, StampStatus.RESERVED)
    if _STAMP_RANK.get(on_chain, 0) >= _STAMP_RANK.get(recorded, 0):
        return None
    if state in DEAD_STATES:
        return Repair(StampOp.RELEASE, StampStatus.RESERVED) if on_chain == StampStatus.RESERVED \
            else Repair(None, None)
    if on_chain == StampStatus.NONE:
        return Repair(StampOp.RESERVE, None)
    return Repair(StampOp.FINALIZE if recorded == StampStatus.FINALIZED else StampOp.RELEASE, StampStatus.RESERVED)


def behind_chain(state: ClaimState, recorded: StampStatus | None, on_chain: StampStatus | None) -> bool:
    """True if the chain finalised a claim's payment that the store does not know of: a claim
    left unpaid (:data:`~ledger.claims.states.BEHIND_CHAIN`) by a restore from a backup older
    than its decision. An approved claim is behind only while its finalisation is not recorded
    (recorded, it is simply waiting for its payout)."""
    if on_chain is not StampStatus.FINALIZED or state not in BEHIND_CHAIN:
        return False
    return state is not ClaimState.APPROVED or recorded is not StampStatus.FINALIZED


def first_chain_claim_id(payer_id: str, claim_id: str) -> bytes:
    """The chain claim id of a claim's first reservation: the payer's name for it on chain."""
    return bytes(keccak256(f"{payer_id}/{claim_id}".encode()))
