"""What the chain knows and this store lacks: the gaps a restore from an older backup (or a
lost database) leaves, read from the store's chain index (``ebill backup gaps``).

The chain outlives every database: anchors, voids and stamps made after a backup come back
from the contract's events when the index is rebuilt. What only a database held does not:
an anchored batch's invoices (headers, fee lines, salts) exist nowhere else, so its
fingerprints on chain can prove nothing until the hospital uploads the invoices again from
its HIS (as new invoices: a new salt makes a new fingerprint); a claim filed after the
backup is gone, but its stamp on chain still holds the invoice's money, so nothing can be
paid twice (a new claim on such an invoice is refused, ``unknown-stamp``). Nothing here is
silent: each gap is listed with what to do.

A forgotten claim's *reservation* (reserved, never finalised) holds money nobody will pay:
:func:`keep_forgotten` says whether ``ebill claims release-forgotten`` may give it back. The
contract keys claims by (payer, chain claim id) and lets only that payer's keys release
them, so the command releases this payer's own stamps only; a finalised (paid) stamp is never
released, nor a recent one, nor one that may be a later reservation of a claim this
database holds (an appeal's, a smaller amount's: the chain claim ids a claim takes are
derived from its id, :func:`chain_claim_ids`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ledger.claims.stamps import StampStatus, first_chain_claim_id, next_chain_claim_id


@dataclass(frozen=True)
class MissingBatch:
    """A batch the chain anchored for a hospital of this store, that the store does not hold."""

    root: bytes
    issuer: str
    leaf_count: int
    block: int
    tx: str


@dataclass(frozen=True)
class UnknownStamp:
    """This payer's stamp on chain of a claim the store does not hold (filed after the backup)."""

    payer_id: str
    chain_claim_id: bytes
    fingerprint: bytes
    issuer: str
    amount_fen: int
    status: str             # reserved | finalized (released stamps hold nothing)
    block: int
    tx: str


@dataclass(frozen=True)
class ClaimBehind:
    """A claim whose stamp on chain went further than the store recorded (decided after the backup)."""

    claim_id: str
    state: str
    recorded: str | None
    on_chain: str
    amount_fen: int
    block: int


@dataclass(frozen=True)
class ChainGaps:
    """Everything the chain index holds that the store's own records lack."""

    indexed_block: int | None
    rebuild_pending: str | None = None
    restored_from: str | None = None
    missing_batches: list[MissingBatch] = field(default_factory=list)
    unknown_stamps: list[UnknownStamp] = field(default_factory=list)
    claims_behind: list[ClaimBehind] = field(default_factory=list)

    @property
    def invoices_missing(self) -> int:
        return sum(b.leaf_count for b in self.missing_batches)

    @property
    def empty(self) -> bool:
        return not (self.missing_batches or self.unknown_stamps or self.claims_behind)

    def summary(self) -> list[str]:
        """The gaps in words, one line each, with what to do."""
        lines: list[str] = []
        if self.rebuild_pending:
            lines.append(f"the chain index is not rebuilt yet ({self.rebuild_pending}): start the service "
                         "or run `ebill reindex`, then look again")
        if self.missing_batches:
            by_issuer: dict[str, tuple[int, int]] = {}
            for b in self.missing_batches:
                n, k = by_issuer.get(b.issuer, (0, 0))
                by_issuer[b.issuer] = (n + 1, k + b.leaf_count)
            for issuer, (n, k) in sorted(by_issuer.items()):
                lines.append(f"{issuer}: {n} batches of {k} invoices anchored on chain are missing here (their fee "
                             "lines and salts existed only in the lost database): upload them again from the "
                             "hospital's HIS; they get new fingerprints")
        paid = [s for s in self.unknown_stamps if s.status == "finalized"]
        held = [s for s in self.unknown_stamps if s.status == "reserved"]
        if paid:
            lines.append(f"{len(paid)} claims paid on chain (¥{_yuan(sum(s.amount_fen for s in paid))}) are not in "
                         "this database: match them with the bank's payments; their invoices cannot be claimed "
                         "again here")
        if held:
            lines.append(f"{len(held)} reservations on chain (¥{_yuan(sum(s.amount_fen for s in held))}) belong to "
                         "claims this database does not hold: their invoices cannot be claimed again here until "
                         "`ebill claims release-forgotten` releases them")
        paid_behind = [c for c in self.claims_behind if c.on_chain == "finalized"]
        other_behind = [c for c in self.claims_behind if c.on_chain != "finalized"]
        if paid_behind:
            lines.append(f"{len(paid_behind)} claims were paid on chain after the backup and are unpaid here: the "
                         "running service's stamper records them from the bank (paid, or paid once), and no "
                         "reviewer can decide them again")
        if other_behind:
            lines.append(f"{len(other_behind)} claims went further on chain than recorded here (decided after "
                         "the backup): check each with the bank before deciding it again")
        return lines


#: the audit action of a forgotten claim's reservation released on chain (named in the console's words)
FORGOTTEN_RELEASED = "claim.forgotten-released"
#: later reservations of one claim reckoned with beyond its recorded attempt (an appeal, then a
#: smaller amount, then...): their stamps are never taken for a forgotten claim's
LATER_ATTEMPTS = 3


def chain_claim_ids(payer_id: str, claim_id: str, attempt: int, *, later: int = LATER_ATTEMPTS) -> set[bytes]:
    """Every chain claim id claim ``claim_id`` of ``payer_id`` took in its ``attempt`` reservations so
    far, and the ``later`` ones it would take next (see :func:`~ledger.claims.stamps.next_chain_claim_id`)."""
    ids = [first_chain_claim_id(payer_id, claim_id)]
    for n in range(2, attempt + later + 1):
        ids.append(next_chain_claim_id(ids[-1], n))
    return set(ids)


def keep_forgotten(stamp: UnknownStamp, *, owned: Collection[bytes], on_chain: StampStatus, updated_at: datetime,
                   now: datetime, grace: timedelta) -> str | None:
    """Why ``stamp`` (this payer's, of a claim this database does not hold) must stay as it is on
    chain, or None if its reservation may be released: ``owned`` are the chain claim ids of the
    claims held here on its invoice (:func:`chain_claim_ids`), ``on_chain`` its status and
    ``updated_at`` when it last changed, as the contract says now."""
    if on_chain is StampStatus.FINALIZED:
        return "finalised on chain (paid): never released; match it with the bank's payments"
    if on_chain is not StampStatus.RESERVED:
        return f"{on_chain} on chain already: nothing to release"
    if stamp.chain_claim_id in owned:
        return "a reservation of a claim this database holds (an appeal's or a smaller amount's): the stamper owns it"
    if grace > timedelta(0) and now - updated_at < grace:   # (none: the chain's clock may run ahead of ours)
        return f"reserved at {updated_at:%Y-%m-%d %H:%M} UTC, within the grace period of {_hours(grace)}"
    return None


def _hours(d: timedelta) -> str:
    h = d.total_seconds() / 3600
    return f"{h:g} hours" if h != 1 else "1 hour"


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"
