"""ledger.batch: batch trees, their proofs and file form, and the size/age Batcher."""

from __future__ import annotations

import json

import pytest

# tests/unit has no __init__.py, so pytest puts it on sys.path (rootdir-relative import)
from merkle_reference import ReferenceTree, fold

from ledger.batch import (
    BATCH_LEAF_ENCODING,
    DEFAULT_MAX_LEAVES,
    MAX_LEAVES,
    Batch,
    Batcher,
    batch_leaf,
    batches_of,
    leaf_reaches_root,
    root_from_proof,
)
from ledger.errors import LedgerError, NotFound
from ledger.hashing import Fingerprint, keccak256
from ledger.merkle import StandardMerkleTree, verify_inclusion

H1, H2 = "H33010200001", "H44030400002"


def fp(n: int) -> Fingerprint:
    return Fingerprint(keccak256(b"invoice-%d" % n))


def leaves(n: int, start: int = 0) -> tuple[tuple[Fingerprint, int], ...]:
    return tuple((fp(i), 100 * i + 1) for i in range(start, start + n))


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- Batch ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 33])
def test_root_equals_standard_merkle_tree(n: int) -> None:
    batch = Batch(H1, leaves(n))
    assert BATCH_LEAF_ENCODING == ("bytes32", "uint256")
    assert batch.root == StandardMerkleTree.of(list(batch.leaves), ["bytes32", "uint256"]).root
    assert batch.root == ReferenceTree(["bytes32", "uint256"], batch.leaves).root
    assert batch.leaf_count == n


@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_proof_for_each_fingerprint_verifies(n: int) -> None:
    batch = Batch(H1, leaves(n))
    ref = ReferenceTree(["bytes32", "uint256"], batch.leaves)
    for i, (f, total) in enumerate(batch.leaves):
        proof = batch.proof(f)
        assert proof.root == batch.root
        assert proof.values == (f, total)
        assert proof.leaf == ref.leaves[i]
        assert list(proof.proof) == ref.proof(i)
        proof.verify()
        verify_inclusion(root=batch.root, leaf=ref.leaves[i], proof=proof.proof)
        assert fold(ref.leaves[i], list(proof.proof)) == batch.root


@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_the_one_leaf_check_walks_every_leaf_to_the_root(n: int) -> None:
    """batch_leaf / root_from_proof / leaf_reaches_root against the reference tree (every leaf)."""
    batch = Batch(H1, leaves(n))
    ref = ReferenceTree(["bytes32", "uint256"], batch.leaves)
    for i, (f, total) in enumerate(batch.leaves):
        path = ref.proof(i)
        assert batch_leaf(f, total) == ref.leaves[i]
        assert root_from_proof(fingerprint=f, total_fen=total, proof=path) == fold(ref.leaves[i], path) == batch.root
        assert leaf_reaches_root(fingerprint=f, total_fen=total, root=batch.root, proof=path)


def test_the_one_leaf_check_refuses_every_tampered_case() -> None:
    """Negative vectors: wrong total, one flipped bit, another leaf's path, a truncated path,
    trailing garbage, another root, a total no uint256 holds."""
    batch = Batch(H1, leaves(5))
    (f, total), (other_fp, _) = batch.leaves[0], batch.leaves[1]
    path = list(batch.proof(f).proof)
    flipped = bytes([f[0] ^ 1]) + f[1:]
    cases = {
        "wrong-total": (f, total + 1, batch.root, path),
        "flipped-fingerprint-bit": (flipped, total, batch.root, path),
        "flipped-proof-bit": (f, total, batch.root, [bytes([path[0][0] ^ 0x80]) + path[0][1:], *path[1:]]),
        "another-leafs-path": (f, total, batch.root, list(batch.proof(other_fp).proof)),
        "truncated-proof": (f, total, batch.root, path[:-1]),
        "trailing-garbage": (f, total, batch.root, [*path, b"\0" * 32]),
        "another-root": (f, total, Batch(H1, leaves(5, start=10)).root, path),
        "total-out-of-range": (f, 2**256, batch.root, path),
    }
    assert leaf_reaches_root(fingerprint=f, total_fen=total, root=batch.root, proof=path)
    for name, (fingerprint, amount, root, proof) in cases.items():
        assert not leaf_reaches_root(fingerprint=fingerprint, total_fen=amount, root=root, proof=proof), name


def test_total_is_part_of_the_leaf() -> None:
    a = Batch(H1, ((fp(1), 100), (fp(2), 200)))
    b = Batch(H1, ((fp(1), 101), (fp(2), 200)))
    assert a.root != b.root


def test_unknown_fingerprint_not_found() -> None:
    batch = Batch(H1, leaves(4))
    with pytest.raises(NotFound) as info:
        batch.proof(fp(99))
    assert isinstance(info.value, LedgerError)
    assert "0x" + fp(99).hex() in str(info.value)


def test_empty_batch_rejected() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Batch(H1, ())


def test_oversized_batch_rejected() -> None:
    one = (fp(0), 1)
    with pytest.raises(ValueError, match=str(MAX_LEAVES)):
        Batch(H1, (one,) * (MAX_LEAVES + 1))


def test_json_round_trip() -> None:
    batch = Batch(H1, leaves(5))
    doc = batch.to_json()
    assert doc["issuer"] == H1
    assert doc["root"] == "0x" + batch.root.hex()
    assert doc["tree"]["format"] == "standard-v1"
    assert doc["tree"]["leafEncoding"] == ["bytes32", "uint256"]
    again = Batch.from_json(json.loads(json.dumps(doc)))  # through real JSON text
    assert again == batch
    assert again.root == batch.root
    assert again.proof(fp(3)) == batch.proof(fp(3))


def test_json_values_are_strings_as_in_the_js_library() -> None:
    doc = Batch(H1, ((fp(1), 2**200),)).to_json()
    (value,) = doc["tree"]["values"]
    assert value["value"] == ["0x" + fp(1).hex(), str(2**200)]
    assert Batch.from_json(doc).leaves == ((fp(1), 2**200),)


def test_from_json_with_tampered_root_rejected() -> None:
    doc = Batch(H1, leaves(5)).to_json()
    doc["root"] = "0x" + bytes(32).hex()
    with pytest.raises(ValueError, match="does not match"):
        Batch.from_json(doc)


def test_from_json_with_tampered_leaf_rejected() -> None:
    doc = Batch(H1, leaves(5)).to_json()
    doc["tree"]["values"][2]["value"][1] = "999999"
    with pytest.raises(ValueError, match="does not match"):
        Batch.from_json(doc)


# --- Batcher --------------------------------------------------------------------------------


def test_batcher_closes_at_max_leaves() -> None:
    b = Batcher(max_leaves=3, clock=FakeClock())
    assert b.add(issuer=H1, fingerprint=fp(0), total_fen=1) == []
    assert b.add(issuer=H1, fingerprint=fp(1), total_fen=2) == []
    (closed,) = b.add(issuer=H1, fingerprint=fp(2), total_fen=3)
    assert closed.issuer == H1
    assert closed.leaves == ((fp(0), 1), (fp(1), 2), (fp(2), 3))
    assert b.flush() == []  # nothing left open
    assert b.add(issuer=H1, fingerprint=fp(3), total_fen=4) == []
    (rest,) = b.flush()
    assert rest.leaves == ((fp(3), 4),)


def test_batcher_max_leaves_one_closes_every_add() -> None:
    b = Batcher(max_leaves=1, clock=FakeClock())
    for i in range(3):
        (closed,) = b.add(issuer=H1, fingerprint=fp(i), total_fen=i + 1)
        assert closed.leaves == ((fp(i), i + 1),)


@pytest.mark.parametrize("max_leaves", [0, -1, MAX_LEAVES + 1])
def test_batcher_max_leaves_bounds(max_leaves: int) -> None:
    with pytest.raises(ValueError):
        Batcher(max_leaves=max_leaves)


def test_batcher_default_max_leaves() -> None:
    assert Batcher().max_leaves == DEFAULT_MAX_LEAVES


def test_batcher_keeps_issuers_apart() -> None:
    b = Batcher(max_leaves=2, clock=FakeClock())
    assert b.add(issuer=H1, fingerprint=fp(0), total_fen=1) == []
    assert b.add(issuer=H2, fingerprint=fp(1), total_fen=1) == []  # H1 still has one
    (closed,) = b.add(issuer=H1, fingerprint=fp(2), total_fen=1)
    assert closed.issuer == H1 and [f for f, _ in closed.leaves] == [fp(0), fp(2)]
    (other,) = b.flush()
    assert other.issuer == H2 and [f for f, _ in other.leaves] == [fp(1)]


def test_batcher_due_by_age() -> None:
    clock = FakeClock()
    b = Batcher(max_leaves=100, max_age=2.0, clock=clock)
    b.add(issuer=H1, fingerprint=fp(0), total_fen=1)
    clock.advance(1.0)
    b.add(issuer=H2, fingerprint=fp(1), total_fen=1)
    b.add(issuer=H1, fingerprint=fp(2), total_fen=1)  # does not reset H1's age
    clock.advance(0.999)
    assert b.due() == []
    clock.advance(0.001)  # H1's oldest has waited exactly max_age
    (h1,) = b.due()
    assert h1.issuer == H1 and h1.leaf_count == 2
    assert b.due() == []
    clock.advance(1.0)  # H2 opened 2.0 s ago
    (h2,) = b.due()
    assert h2.issuer == H2 and h2.leaf_count == 1
    assert b.due() == [] and b.flush() == []


def test_batcher_new_batch_after_close_has_its_own_age() -> None:
    clock = FakeClock()
    b = Batcher(max_leaves=2, max_age=5.0, clock=clock)
    b.add(issuer=H1, fingerprint=fp(0), total_fen=1)
    clock.advance(4.0)
    assert len(b.add(issuer=H1, fingerprint=fp(1), total_fen=1)) == 1  # closed by size
    b.add(issuer=H1, fingerprint=fp(2), total_fen=1)  # opens a new batch at t = 4
    clock.advance(4.0)
    assert b.due() == []
    clock.advance(1.0)
    (closed,) = b.due()
    assert closed.leaves == ((fp(2), 1),)


def test_batcher_flush_closes_everything() -> None:
    b = Batcher(max_leaves=10, clock=FakeClock())
    b.add(issuer=H1, fingerprint=fp(0), total_fen=1)
    b.add(issuer=H2, fingerprint=fp(1), total_fen=2)
    closed = b.flush()
    assert {c.issuer for c in closed} == {H1, H2}
    assert b.flush() == [] and b.due() == []


def test_batcher_ignores_duplicate_fingerprints() -> None:
    b = Batcher(max_leaves=2, clock=FakeClock())
    assert b.add(issuer=H1, fingerprint=fp(0), total_fen=1) == []
    assert b.add(issuer=H1, fingerprint=fp(0), total_fen=1) == []  # would otherwise close
    assert b.add(issuer=H2, fingerprint=fp(0), total_fen=1) == []
    (closed,) = b.add(issuer=H1, fingerprint=fp(1), total_fen=1)
    assert closed.leaves == ((fp(0), 1), (fp(1), 1))
    # still ignored after its batch was closed: it must not be anchored twice
    assert b.add(issuer=H1, fingerprint=fp(0), total_fen=1) == []
    assert b.flush() == []


def test_batcher_add_all() -> None:
    b = Batcher(max_leaves=2, clock=FakeClock())
    closed = b.add_all([(H1, fp(0), 1), (H2, fp(1), 1), (H1, fp(2), 1), (H1, fp(3), 1)])
    assert [c.issuer for c in closed] == [H1]
    assert len(b.flush()) == 2


# --- batches_of ----------------------------------------------------------------------------


def test_batches_of_groups_by_size_and_issuer() -> None:
    items = [(H1, f, t) for f, t in leaves(5)] + [(H2, f, t) for f, t in leaves(2, start=10)]
    batches = batches_of(items, max_leaves=2)
    by_issuer = {
        H1: [b for b in batches if b.issuer == H1],
        H2: [b for b in batches if b.issuer == H2],
    }
    assert [b.leaf_count for b in by_issuer[H1]] == [2, 2, 1]
    assert [b.leaf_count for b in by_issuer[H2]] == [2]
    all_leaves = [leaf for b in batches for leaf in b.leaves]
    assert sorted(all_leaves) == sorted((f, t) for _, f, t in items)  # every invoice exactly once
    assert all(b.leaf_count <= 2 for b in batches)


def test_batches_of_default_is_one_batch_per_issuer() -> None:
    items = [(H1, f, t) for f, t in leaves(3)] + [(H2, f, t) for f, t in leaves(3, start=3)]
    batches = batches_of(items)
    assert sorted((b.issuer, b.leaf_count) for b in batches) == [(H1, 3), (H2, 3)]


def test_batches_of_empty() -> None:
    assert batches_of([]) == []


def test_batches_of_drops_duplicates() -> None:
    items = [(H1, fp(0), 1), (H1, fp(0), 1), (H1, fp(1), 2)]
    (batch,) = batches_of(items)
    assert batch.leaves == ((fp(0), 1), (fp(1), 2))


@pytest.mark.parametrize(("waiting", "age", "closing"), [
    (0, 99.0, 0),        # nothing waits
    (3, 0.0, 0),         # neither full nor due
    (10, 0.0, 10),       # one full batch
    (25, 0.0, 20),       # the full batches; the rest waits
    (25, 2.0, 25),       # due: the rest closes too
    (1, 5.0, 1),
])
def test_the_one_batching_rule(waiting: int, age: float, closing: int) -> None:
    from ledger.batch import BatchPolicy

    policy = BatchPolicy(max_leaves=10, max_age=2.0)
    assert policy.closing(waiting=waiting, oldest_age=age) == closing
    leaves = [(Fingerprint(bytes([i % 256]) * 32), i) for i in range(closing)]
    assert [b.leaf_count for b in policy.cut("H33010200001", leaves)] == \
        [10] * (closing // 10) + ([closing % 10] if closing % 10 else [])
