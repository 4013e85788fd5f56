"""Batches of sealed invoices: one Merkle root anchors many fingerprints.

A batch belongs to one issuing hospital (only the issuer may void its invoices, and
the contract records the issuer per batch). Its leaves are ``(bytes32 fingerprint,
uint256 totalFen)`` so the contract can cap reimbursement at the invoice total.

:class:`BatchPolicy` is the one batching rule: a hospital's waiting invoices close into
batches of at most ``max_leaves``, full batches at once, and all of them once the oldest
has waited ``max_age`` seconds. The store applies it to the invoices it holds
(``SqlStore.close_batches``, the anchoring outbox); :class:`Batcher` applies it in memory
(the demo, benchmarks).

:func:`batch_leaf`, :func:`root_from_proof` and :func:`leaf_reaches_root` are the one
place a leaf is walked up to its root, as the contract's ``isAnchored`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from time import monotonic
from typing import Any

from ledger.errors import NotFound
from ledger.hashing import Fingerprint, Hash32, MerkleRoot, to_hex
from ledger.merkle import InclusionProof, StandardMerkleTree, process_proof, standard_leaf_hash

BATCH_LEAF_ENCODING = ("bytes32", "uint256")
DEFAULT_MAX_LEAVES = 1024
#: the contract stores leafCount as uint32; far larger batches would also make proofs long
MAX_LEAVES = 2**16


def batch_leaf(fingerprint: bytes, total_fen: int) -> Hash32:
    """An invoice's leaf in its batch: the StandardMerkleTree leaf of ``(bytes32 fingerprint, uint256 totalFen)``.

    Requires a 32-byte fingerprint and ``0 <= total_fen < 2**256`` (``ValueError`` otherwise).
    """
    return standard_leaf_hash(BATCH_LEAF_ENCODING, (bytes(fingerprint), total_fen))


def root_from_proof(*, fingerprint: bytes, total_fen: int, proof: Iterable[bytes]) -> Hash32:
    """The root that ``proof`` leads to from the invoice's batch leaf (computing; nothing is checked)."""
    return process_proof(batch_leaf(fingerprint, total_fen), proof)


def leaf_reaches_root(*, fingerprint: bytes, total_fen: int, root: bytes, proof: Iterable[bytes]) -> bool:
    """Whether the invoice's batch leaf walks up ``proof`` to ``root``.

    This is the contract's ``isAnchored`` (OpenZeppelin ``MerkleProof.verify`` over the
    same leaf) for a root the chain records; whether it does record it is the caller's
    question. A leaf that cannot be encoded (a total out of range) reaches no root.
    """
    try:
        return root_from_proof(fingerprint=fingerprint, total_fen=total_fen, proof=proof) == bytes(root)
    except ValueError:
        return False


@dataclass(frozen=True)
class Batch:
    """The leaves of one hospital's batch and their StandardMerkleTree."""

    issuer: str
    leaves: tuple[tuple[Fingerprint, int], ...]

    def __post_init__(self) -> None:
        if not self.leaves:
            raise ValueError("a batch needs at least one invoice")
        if len(self.leaves) > MAX_LEAVES:
            raise ValueError(f"a batch holds at most {MAX_LEAVES} invoices, got {len(self.leaves)}")

    @cached_property
    def tree(self) -> StandardMerkleTree:
        return StandardMerkleTree.of(self.leaves, BATCH_LEAF_ENCODING)

    @cached_property
    def _index(self) -> dict[bytes, int]:
        return {fp: i for i, (fp, _) in enumerate(self.leaves)}

    @property
    def root(self) -> MerkleRoot:
        return self.tree.root

    @property
    def leaf_count(self) -> int:
        return len(self.leaves)

    def proof(self, fingerprint: bytes) -> InclusionProof:
        """Inclusion proof of ``fingerprint``; raises :class:`NotFound` if not in the batch."""
        try:
            return self.tree.proof(self._index[fingerprint])
        except KeyError:
            raise NotFound(f"fingerprint {to_hex(fingerprint)} is not in batch {to_hex(self.root)}") from None

    def to_json(self) -> dict[str, Any]:
        """The batch as its issuer and the OpenZeppelin ``standard-v1`` tree dump."""
        return {"issuer": self.issuer, "root": to_hex(self.root), "tree": self.tree.dump()}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Batch:
        leaves = tuple(
            (Fingerprint(bytes.fromhex(v["value"][0][2:])), int(v["value"][1]))
            for v in doc["tree"]["values"]
        )
        batch = cls(doc["issuer"], leaves)
        if to_hex(batch.root) != doc["root"]:
            raise ValueError(f"batch file root {doc['root']} does not match its leaves ({to_hex(batch.root)})")
        return batch


@dataclass(frozen=True)
class BatchPolicy:
    """When waiting invoices close into batches (see the module docstring)."""

    max_leaves: int = DEFAULT_MAX_LEAVES
    #: seconds the oldest waiting invoice of a hospital may wait
    max_age: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_leaves <= MAX_LEAVES:
            raise ValueError(f"max_leaves must be 1..{MAX_LEAVES}, got {self.max_leaves}")
        if self.max_age < 0:
            raise ValueError(f"max_age must be >= 0 seconds, got {self.max_age}")

    def closing(self, *, waiting: int, oldest_age: float) -> int:
        """How many of a hospital's ``waiting`` invoices (oldest first) close now, when the
        oldest has waited ``oldest_age`` seconds: all once it is due, else the full batches."""
        if waiting <= 0:
            return 0
        if oldest_age >= self.max_age:
            return waiting
        return waiting - waiting % self.max_leaves

    def cut(self, issuer: str, leaves: Sequence[tuple[Fingerprint, int]]) -> list[Batch]:
        """``leaves`` (oldest first) as the issuer's batches of at most ``max_leaves``."""
        n = self.max_leaves
        return [Batch(issuer, tuple(leaves[i:i + n])) for i in range(0, len(leaves), n)]


@dataclass
class _Open:
    leaves: list[tuple[Fingerprint, int]]
    opened_at: float


@dataclass
class Batcher:
    """Groups sealed invoices into per-hospital batches, closed by size or age."""

    max_leaves: int = DEFAULT_MAX_LEAVES
    max_age: float = 2.0
    clock: Callable[[], float] = monotonic
    _open: dict[str, _Open] = field(default_factory=dict)
    _seen: set[bytes] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.policy = BatchPolicy(self.max_leaves, self.max_age)

    def add(self, *, issuer: str, fingerprint: Fingerprint, total_fen: int) -> list[Batch]:
        """Queue one invoice; returns the batches this closed (at most one). Duplicates are ignored."""
        if fingerprint in self._seen:
            return []
        self._seen.add(fingerprint)
        pending = self._open.get(issuer)
        if pending is None:
            pending = self._open[issuer] = _Open([], self.clock())
        pending.leaves.append((fingerprint, total_fen))
        if self.policy.closing(waiting=len(pending.leaves), oldest_age=0.0):   # a full batch
            return [self._close(issuer)]
        return []

    def add_all(self, items: Iterable[tuple[str, Fingerprint, int]]) -> list[Batch]:
        closed: list[Batch] = []
        for issuer, fp, total in items:
            closed += self.add(issuer=issuer, fingerprint=fp, total_fen=total)
        return closed

    def due(self) -> list[Batch]:
        """Close and return every batch whose oldest invoice has waited ``max_age``."""
        now = self.clock()
        return [self._close(i) for i, o in list(self._open.items())
                if self.policy.closing(waiting=len(o.leaves), oldest_age=now - o.opened_at)]

    def flush(self) -> list[Batch]:
        """Close every open batch."""
        return [self._close(issuer) for issuer in list(self._open)]

    def _close(self, issuer: str) -> Batch:
        pending = self._open.pop(issuer)
        return Batch(issuer, tuple(pending.leaves))


def batches_of(items: Sequence[tuple[str, Fingerprint, int]], *, max_leaves: int = DEFAULT_MAX_LEAVES) -> list[Batch]:
    """Batch a finished set of invoices at once (closing by size, then flushing)."""
    batcher = Batcher(max_leaves=max_leaves)
    return batcher.add_all(items) + batcher.flush()
