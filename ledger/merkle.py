"""Merkle trees exactly as OpenZeppelin's ``StandardMerkleTree`` builds them.

Format (``@openzeppelin/merkle-tree`` 1.x, ``standard-v1``), binding for the whole
project because proofs are checked on chain by OZ ``MerkleProof``:

- leaf = keccak256(keccak256(abi.encode(values))) — the double hash keeps a leaf from
  ever being mistaken for an inner node (second-preimage safety);
- inner node = keccak256(sort(a, b)) — "sorted pairs", so proofs carry no directions;
- leaves are sorted by hash, then laid out as a complete binary tree in an array of
  ``2n - 1`` nodes, leaves at the end in reverse order; node ``i`` has children
  ``2i + 1`` and ``2i + 2``; the root is node 0;
- a proof is the list of siblings from the leaf up to (excluding) the root.

Computing (:func:`process_proof`) is kept apart from checking (:func:`verify_inclusion`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from ledger.errors import InclusionProofInvalid
from ledger.hashing import Hash32, MerkleRoot, keccak256, to_hex

FORMAT = "standard-v1"


# --- ABI encoding of static leaf values --------------------------------------------


def abi_encode_static(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """``abi.encode`` of static values: ``bytes32``, ``uint<N>``, ``address``, ``bool``.

    Requires ``len(types) == len(values)``. Raises ``ValueError`` on a value that does
    not fit its type (that is what the OZ library and the EVM would refuse too).
    """
    if len(types) != len(values):
        raise ValueError(f"{len(types)} types but {len(values)} values")
    out = bytearray()
    for typ, value in zip(types, values, strict=True):
        out += _encode_word(typ, value)
    return bytes(out)


def _encode_word(typ: str, value: Any) -> bytes:
    if typ == "bytes32":
        raw = _raw_bytes(typ, value)
        if len(raw) != 32:
            raise ValueError(f"bytes32 value has {len(raw)} bytes")
        return raw
    if typ.startswith("uint"):
        bits = int(typ[4:] or 256)
        number = int(value, 0) if isinstance(value, str) else value
        if type(number) is not int or not 0 <= number < 2**bits:
            raise ValueError(f"{typ} out of range: {value!r}")
        return number.to_bytes(32, "big")
    if typ == "address":
        raw = _raw_bytes(typ, value)
        if len(raw) != 20:
            raise ValueError(f"address has {len(raw)} bytes")
        return raw.rjust(32, b"\0")
    if typ == "bool":
        if type(value) is not bool:
            raise ValueError(f"bool expected, got {value!r}")
        return (1 if value else 0).to_bytes(32, "big")
    raise ValueError(f"unsupported leaf type {typ!r} (static types only)")


def _raw_bytes(typ: str, value: Any) -> bytes:
    # Only bytes or 0x-hex: bytes(32) would silently be 32 zero bytes, bytes(None) a TypeError.
    if isinstance(value, str):
        return bytes.fromhex(value[2:])
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise ValueError(f"{typ} needs bytes or a 0x-hex string, got {type(value).__name__}")


def standard_leaf_hash(types: Sequence[str], values: Sequence[Any]) -> Hash32:
    """keccak256(keccak256(abi.encode(values))) — the StandardMerkleTree leaf."""
    return Hash32(keccak256(keccak256(abi_encode_static(types, values))))


def hash_pair(a: bytes, b: bytes) -> Hash32:
    """Inner node: keccak256 of the two children in ascending byte order."""
    return Hash32(keccak256(a + b if a <= b else b + a))


# --- proofs -------------------------------------------------------------------------


def process_proof(leaf: bytes, proof: Iterable[bytes]) -> Hash32:
    """Root reached from ``leaf`` by folding ``proof`` with sorted-pair hashing."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return Hash32(node)


def verify_inclusion(*, root: bytes, leaf: bytes, proof: Sequence[bytes]) -> None:
    """Check that ``proof`` leads from ``leaf`` to ``root``; raise otherwise.

    Raises :class:`InclusionProofInvalid` naming the root expected and the one found.
    """
    for i, sibling in enumerate(proof):
        if len(sibling) != 32:
            raise InclusionProofInvalid(f"proof element {i} has {len(sibling)} bytes, not 32")
    if len(leaf) != 32:
        raise InclusionProofInvalid(f"leaf has {len(leaf)} bytes, not 32")
    reached = process_proof(leaf, proof)
    if reached != root:
        raise InclusionProofInvalid(
            f"proof leads to root {to_hex(reached)}, expected {to_hex(root)}"
        )


# --- the tree -----------------------------------------------------------------------


def build_tree(leaves: Sequence[bytes]) -> list[Hash32]:
    """Array layout of the tree over already-hashed, already-ordered ``leaves``.

    Requires at least one leaf. Mirrors ``makeMerkleTree`` of @openzeppelin/merkle-tree.
    """
    n = len(leaves)
    if n == 0:
        raise ValueError("a Merkle tree needs at least one leaf")
    # n - 1 inner nodes, then the leaves in reverse order; one keccak per inner node is
    # the whole cost (sealing builds a tree per invoice), so the loop does nothing else
    tree: list[bytes] = [b""] * (n - 1)
    tree += reversed(leaves)
    kec = keccak256
    for i in range(n - 2, -1, -1):
        left, right = tree[2 * i + 1], tree[2 * i + 2]
        tree[i] = kec(left + right if left <= right else right + left)
    return cast(list[Hash32], tree)


def root_of(leaves: Sequence[bytes]) -> MerkleRoot:
    """Root over hashed leaves, sorted as StandardMerkleTree sorts them."""
    return MerkleRoot(build_tree(sorted(leaves))[0])


def proof_from_tree(tree: Sequence[bytes], tree_index: int) -> list[Hash32]:
    """Siblings from node ``tree_index`` up to the root. Requires a leaf index."""
    if not (0 <= tree_index < len(tree)) or 2 * tree_index + 1 < len(tree):
        raise ValueError(f"tree index {tree_index} is not a leaf of a {len(tree)}-node tree")
    proof: list[Hash32] = []
    i = tree_index
    while i > 0:
        sibling = i - 1 if i % 2 == 0 else i + 1
        proof.append(Hash32(tree[sibling]))
        i = (i - 1) // 2
    return proof


@dataclass(frozen=True)
class InclusionProof:
    """A leaf's values, the sibling path and the root it leads to."""

    root: MerkleRoot
    leaf_encoding: tuple[str, ...]
    values: tuple[Any, ...]
    proof: tuple[Hash32, ...]

    @property
    def leaf(self) -> Hash32:
        return standard_leaf_hash(self.leaf_encoding, self.values)

    def verify(self) -> None:
        """Raise :class:`InclusionProofInvalid` unless the proof reaches ``root``."""
        verify_inclusion(root=self.root, leaf=self.leaf, proof=self.proof)


@dataclass
class StandardMerkleTree:
    """A StandardMerkleTree over typed values; equal in every byte to the OZ library's."""

    leaf_encoding: tuple[str, ...]
    values: list[tuple[Any, ...]]
    tree: list[Hash32]
    #: value index -> tree index
    tree_indices: list[int] = field(repr=False)

    @classmethod
    def of(cls, values: Sequence[Sequence[Any]], leaf_encoding: Sequence[str]) -> StandardMerkleTree:
        """Build the tree; leaves are sorted by hash, as ``StandardMerkleTree.of`` does."""
        encoding = tuple(leaf_encoding)
        hashed = sorted(
            (standard_leaf_hash(encoding, v), i) for i, v in enumerate(values)
        )
        tree = build_tree([h for h, _ in hashed])
        tree_indices = [0] * len(values)
        for leaf_pos, (_, value_index) in enumerate(hashed):
            tree_indices[value_index] = len(tree) - 1 - leaf_pos
        return cls(encoding, [tuple(v) for v in values], tree, tree_indices)

    @property
    def root(self) -> MerkleRoot:
        return MerkleRoot(self.tree[0])

    def proof(self, value_index: int) -> InclusionProof:
        """Inclusion proof of the ``value_index``-th value as given to :meth:`of`."""
        path = proof_from_tree(self.tree, self.tree_indices[value_index])
        return InclusionProof(self.root, self.leaf_encoding, self.values[value_index], tuple(path))

    def dump(self) -> dict[str, Any]:
        """The ``standard-v1`` JSON dump, loadable by ``StandardMerkleTree.load`` in JS."""
        return {
            "format": FORMAT,
            "leafEncoding": list(self.leaf_encoding),
            "tree": [to_hex(n) for n in self.tree],
            "values": [
                {"value": [_json_value(t, x) for t, x in zip(self.leaf_encoding, v, strict=True)],
                 "treeIndex": ti}
                for v, ti in zip(self.values, self.tree_indices, strict=True)
            ],
        }


def _json_value(typ: str, value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return to_hex(bytes(value))
    if typ.startswith("uint") and isinstance(value, int):
        return str(value)  # the JS library dumps big integers as decimal strings
    return value
