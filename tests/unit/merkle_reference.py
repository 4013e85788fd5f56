"""A deliberately naive reference StandardMerkleTree, used only by tests.

It shares no code with :mod:`ledger.merkle`: its own Keccak (pycryptodome), its own
ABI encoding (only ``bytes32`` and ``uint256``), and a recursive top-down definition
of the node array instead of the production's bottom-up loop. Speed is not a goal;
being obviously right is.

The array layout of @openzeppelin/merkle-tree, stated as definitions:

- the tree over ``n`` leaves (sorted by hash) has ``size = 2n - 1`` nodes;
- node ``i`` is a leaf when it has no left child (``2i + 1 >= size``), and then it is
  ``sorted_leaves[size - 1 - i]`` (leaves fill the array's tail in reverse order);
- otherwise node ``i`` is ``keccak256(sort(node(2i + 1), node(2i + 2)))``;
- the root is node 0; the proof of node ``i`` is its sibling followed by the proof of
  its parent, and the root's proof is empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from Crypto.Hash import keccak as _keccak


def keccak(data: bytes) -> bytes:
    """Keccak-256 (Ethereum's, not SHA3-256)."""
    return _keccak.new(data=data, digest_bits=256).digest()


def encode(types: Sequence[str], values: Sequence[object]) -> bytes:
    """``abi.encode`` restricted to ``bytes32`` (bytes) and ``uint256`` (int)."""
    words = []
    for typ, value in zip(types, values, strict=True):
        if typ == "bytes32":
            assert isinstance(value, bytes) and len(value) == 32
            words.append(value)
        elif typ == "uint256":
            assert isinstance(value, int) and 0 <= value < 2**256
            words.append(value.to_bytes(32, "big"))
        else:
            raise AssertionError(f"reference knows only bytes32 and uint256, not {typ}")
    return b"".join(words)


def leaf_hash(types: Sequence[str], values: Sequence[object]) -> bytes:
    """The StandardMerkleTree leaf: keccak256(keccak256(abi.encode(values)))."""
    return keccak(keccak(encode(types, values)))


def node_hash(a: bytes, b: bytes) -> bytes:
    """Sorted-pair inner node."""
    return keccak(min(a, b) + max(a, b))


class ReferenceTree:
    """The tree over ``values`` (in the caller's order), defined recursively."""

    def __init__(self, types: Sequence[str], values: Sequence[Sequence[object]]) -> None:
        assert values, "at least one leaf"
        self.leaves = [leaf_hash(types, v) for v in values]
        # sorted() is stable, so equal leaves keep the order in which they were given,
        # as Array.prototype.sort does in the JS library.
        self.order = sorted(range(len(values)), key=lambda k: self.leaves[k])
        self.size = 2 * len(values) - 1
        self.node = cache(self._node)

    def _node(self, i: int) -> bytes:
        if 2 * i + 1 >= self.size:
            return self.leaves[self.order[self.size - 1 - i]]
        return node_hash(self.node(2 * i + 1), self.node(2 * i + 2))

    @property
    def root(self) -> bytes:
        return self.node(0)

    def array(self) -> list[bytes]:
        """All nodes in array order (what ``dump()["tree"]`` holds)."""
        return [self.node(i) for i in range(self.size)]

    def tree_index(self, value_index: int) -> int:
        """Array position of the ``value_index``-th value's leaf."""
        return self.size - 1 - self.order.index(value_index)

    def proof(self, value_index: int) -> list[bytes]:
        return self._path(self.tree_index(value_index))

    def _path(self, i: int) -> list[bytes]:
        if i == 0:
            return []
        sibling = i + 1 if i % 2 == 1 else i - 1
        return [self.node(sibling), *self._path((i - 1) // 2)]


def fold(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """Root reached from ``leaf`` through ``proof``, recursively."""
    if not proof:
        return leaf
    return fold(node_hash(leaf, proof[0]), proof[1:])
