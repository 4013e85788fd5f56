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
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
                         "claims this database does not hold: their invoices cannot be claimed again here")
        if self.claims_behind:
            lines.append(f"{len(self.claims_behind)} claims went further on chain than recorded here (decided after "
                         "the backup): check each with the bank before deciding it again")
        return lines


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"
