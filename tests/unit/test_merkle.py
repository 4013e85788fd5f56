"""ledger.merkle against a recursive reference, plus negative vectors.

The reference (``merkle_reference``) shares no code with the production module. The
byte-exact comparison with the npm library itself lives in tests/crosscheck/.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

# tests/unit has no __init__.py, so pytest puts it on sys.path (rootdir-relative import)
from merkle_reference import ReferenceTree, fold

from ledger.errors import InclusionProofInvalid, LedgerError, VerificationError
from ledger.hashing import Hash32, MerkleRoot
from ledger.merkle import (
    InclusionProof,
    StandardMerkleTree,
    abi_encode_static,
    build_tree,
    process_proof,
    proof_from_tree,
    root_of,
    standard_leaf_hash,
    verify_inclusion,
)

PAIR = ("bytes32", "uint256")
SINGLE = ("bytes32",)
MAX_UINT = 2**256 - 1
F = TypeVar("F", bound=Callable[..., None])

PROPERTY = settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def b32(n: int) -> bytes:
    return n.to_bytes(32, "big")


# --- strategies ---------------------------------------------------------------------

bytes32s = st.binary(min_size=32, max_size=32)
uint256s = st.one_of(st.sampled_from([0, 1, 2**53 - 1, 2**128, MAX_UINT]), st.integers(0, MAX_UINT))


def values_of(encoding: Sequence[str]) -> st.SearchStrategy[tuple[Any, ...]]:
    parts = [bytes32s if t == "bytes32" else uint256s for t in encoding]
    return st.tuples(*parts)


def _random_value(rng: random.Random, encoding: Sequence[str]) -> tuple[Any, ...]:
    out: list[Any] = []
    for typ in encoding:
        if typ == "bytes32":
            out.append(rng.randbytes(32))
        else:
            out.append(rng.choice([0, 1, MAX_UINT, rng.getrandbits(rng.randint(1, 256))]))
    return tuple(out)


@st.composite
def value_sets(draw: st.DrawFn, encoding: Sequence[str]) -> list[tuple[Any, ...]]:
    """1..300 leaf values, sometimes with duplicates.

    Small sets are drawn value by value (so they shrink well); large ones come from a
    drawn seed, because 300 drawn uint256s would overrun hypothesis' data buffer.
    """
    kind = draw(st.sampled_from(["drawn", "drawn-dups", "seeded", "seeded-dups"]))
    if kind == "drawn":
        return draw(st.lists(values_of(encoding), min_size=1, max_size=16))
    if kind == "drawn-dups":
        pool = draw(st.lists(values_of(encoding), min_size=1, max_size=4))
        return draw(st.lists(st.sampled_from(pool), min_size=1, max_size=16))
    n = draw(st.integers(1, 300))
    rng = random.Random(draw(st.integers(0, 2**64)))
    if kind == "seeded":
        return [_random_value(rng, encoding) for _ in range(n)]
    pool = [_random_value(rng, encoding) for _ in range(rng.randint(1, n))]
    return [rng.choice(pool) for _ in range(n)]


A, B, C = (b32(1), 1), (b32(2), 2), (b32(3), 3)
PAIR_EXAMPLES = [
    [A],  # one leaf: the leaf is the root, the proof is empty
    [A, B],
    [A, B, C],
    [A, A],  # duplicate values: equal leaves, both provable
    [A, B, A],
    [C, C, C, C],
    [(b32(0), 0), (b"\xff" * 32, MAX_UINT)],
]
SINGLE_EXAMPLES = [[(v[0],)] for v in (A, B)] + [
    [(b32(1),), (b32(2),)],
    [(b32(1),), (b32(2),), (b32(3),)],
    [(b32(7),), (b32(7),)],
]


def with_examples(examples: list[list[tuple[Any, ...]]], **extra: Any) -> Callable[[F], F]:
    """Add ``@example(values=v, **extra)`` for each ``v`` in ``examples``."""

    def apply(fn: F) -> F:
        for values in examples:
            fn = example(values=values, **extra)(fn)
        return fn

    return apply


# --- positive properties ------------------------------------------------------------


def check_against_reference(encoding: tuple[str, ...], values: list[tuple[Any, ...]]) -> None:
    tree = StandardMerkleTree.of(values, encoding)
    ref = ReferenceTree(encoding, values)

    assert tree.root == ref.root
    assert tree.tree == ref.array()
    assert root_of([standard_leaf_hash(encoding, v) for v in values]) == ref.root
    for i, value in enumerate(values):
        assert standard_leaf_hash(encoding, value) == ref.leaves[i]
        assert tree.tree_indices[i] == ref.tree_index(i)
        proof = tree.proof(i)
        assert proof.root == ref.root
        assert proof.values == tuple(value)
        assert proof.leaf == ref.leaves[i]
        assert list(proof.proof) == ref.proof(i)
        # a leaf at array position t sits floor(log2(t + 1)) levels below the root
        assert len(proof.proof) == (tree.tree_indices[i] + 1).bit_length() - 1
        assert process_proof(proof.leaf, proof.proof) == ref.root
        assert fold(ref.leaves[i], list(proof.proof)) == ref.root
        verify_inclusion(root=tree.root, leaf=proof.leaf, proof=proof.proof)
        proof.verify()


@PROPERTY
@with_examples(PAIR_EXAMPLES)
@given(values=value_sets(PAIR))
def test_pair_tree_equals_reference_and_every_proof_verifies(
    values: list[tuple[Any, ...]],
) -> None:
    check_against_reference(PAIR, values)


@PROPERTY
@with_examples(SINGLE_EXAMPLES)
@given(values=value_sets(SINGLE))
def test_bytes32_tree_equals_reference_and_every_proof_verifies(
    values: list[tuple[Any, ...]],
) -> None:
    check_against_reference(SINGLE, values)


# --- negative vectors ---------------------------------------------------------------


def flip(data: bytes, bit: int) -> bytes:
    """``data`` with bit ``bit`` (mod its length in bits) inverted."""
    bit %= 8 * len(data)
    out = bytearray(data)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


def assert_rejected(*, root: bytes, leaf: bytes, proof: Sequence[bytes]) -> None:
    with pytest.raises(InclusionProofInvalid):
        verify_inclusion(root=root, leaf=leaf, proof=proof)


def assert_variant_rejected(
    good: InclusionProof,
    *,
    root: bytes | None = None,
    proof: Sequence[bytes] | None = None,
    values: tuple[Any, ...] | None = None,
) -> None:
    """``good`` with the given fields replaced must fail :meth:`InclusionProof.verify`."""
    variant = InclusionProof(
        root=good.root if root is None else MerkleRoot(root),
        leaf_encoding=good.leaf_encoding,
        values=good.values if values is None else values,
        proof=good.proof if proof is None else tuple(Hash32(p) for p in proof),
    )
    with pytest.raises(InclusionProofInvalid):
        variant.verify()


def check_tampering_fails(
    encoding: tuple[str, ...],
    values: list[tuple[Any, ...]],
    pick: int,
    bit: int,
    garbage: bytes,
    stranger: tuple[Any, ...],
) -> None:
    tree = StandardMerkleTree.of(values, encoding)
    good = tree.proof(pick % len(values))
    root, leaf, path = good.root, good.leaf, list(good.proof)
    verify_inclusion(root=root, leaf=leaf, proof=path)  # the untampered proof holds

    # one flipped bit anywhere: each proof element, the leaf, the root
    for k in range(len(path)):
        tampered = [*path[:k], flip(path[k], bit), *path[k + 1 :]]
        assert_rejected(root=root, leaf=leaf, proof=tampered)
        assert_variant_rejected(good, proof=tuple(tampered))
    assert_rejected(root=root, leaf=flip(leaf, bit), proof=path)
    assert_rejected(root=flip(root, bit), leaf=leaf, proof=path)
    assert_variant_rejected(good, root=flip(root, bit))

    # wrong leaf: other values, whether from the same tree or not
    others = [v for v in [*values, stranger] if standard_leaf_hash(encoding, v) != leaf]
    for other in others[:3] + others[-1:]:
        assert_rejected(root=root, leaf=standard_leaf_hash(encoding, other), proof=path)
        assert_variant_rejected(good, values=tuple(other))
    # ... and a value with a single bit flipped in one of its fields
    first = good.values[0]
    assert_variant_rejected(good, values=(flip(first, bit), *good.values[1:]))

    # truncated proof
    if path:
        assert_rejected(root=root, leaf=leaf, proof=path[:-1])
        assert_rejected(root=root, leaf=leaf, proof=path[1:])
        assert_variant_rejected(good, proof=tuple(path[:-1]))
    # trailing garbage, including the root itself and a repeat of the last sibling
    for extra in (garbage, root, *path[-1:]):
        assert_rejected(root=root, leaf=leaf, proof=[*path, extra])
        assert_variant_rejected(good, proof=(*path, extra))

    # wrong-length elements are refused with the domain error, never a crash
    for bad in (b"", b"\x00", flip(leaf, bit)[:31], leaf + b"\x00", leaf * 2):
        assert_rejected(root=root, leaf=bad, proof=path)
        assert_rejected(root=bad, leaf=leaf, proof=path)
        for k in range(len(path)):
            assert_rejected(root=root, leaf=leaf, proof=[*path[:k], bad, *path[k + 1 :]])
        assert_rejected(root=root, leaf=leaf, proof=[*path, bad])
        assert_variant_rejected(good, proof=(*path, bad))
        assert_variant_rejected(good, root=bad)
    # the sibling concatenated with its neighbour: same bytes, wrong shape
    if len(path) >= 2:
        assert_rejected(root=root, leaf=leaf, proof=[path[0] + path[1], *path[2:]])


TAMPER_EXTRA = {"pick": 0, "bit": 0, "garbage": b32(0)}


@PROPERTY
@with_examples(PAIR_EXAMPLES, stranger=(b32(9), 9), **TAMPER_EXTRA)
@with_examples(PAIR_EXAMPLES[1:4], stranger=(b32(9), 9), pick=1, bit=255, garbage=b"\xff" * 32)
@given(
    values=value_sets(PAIR),
    pick=st.integers(0, 2**16),
    bit=st.integers(0, 255),
    garbage=bytes32s,
    stranger=values_of(PAIR),
)
def test_pair_tampered_proofs_fail(
    values: list[tuple[Any, ...]],
    pick: int,
    bit: int,
    garbage: bytes,
    stranger: tuple[Any, ...],
) -> None:
    check_tampering_fails(PAIR, values, pick, bit, garbage, stranger)


@PROPERTY
@with_examples(SINGLE_EXAMPLES, stranger=(b32(9),), **TAMPER_EXTRA)
@given(
    values=value_sets(SINGLE),
    pick=st.integers(0, 2**16),
    bit=st.integers(0, 255),
    garbage=bytes32s,
    stranger=values_of(SINGLE),
)
def test_bytes32_tampered_proofs_fail(
    values: list[tuple[Any, ...]],
    pick: int,
    bit: int,
    garbage: bytes,
    stranger: tuple[Any, ...],
) -> None:
    check_tampering_fails(SINGLE, values, pick, bit, garbage, stranger)


def test_flipped_uint_value_fails() -> None:
    tree = StandardMerkleTree.of([A, B, C], PAIR)
    good = tree.proof(1)
    for wrong in (1, 3, 2 + 2**255, 0):
        assert_variant_rejected(good, values=(B[0], wrong))


def test_inclusion_proof_invalid_is_a_verification_error() -> None:
    assert issubclass(InclusionProofInvalid, VerificationError)
    assert issubclass(InclusionProofInvalid, LedgerError)


def test_rejection_names_expected_and_found_root() -> None:
    tree = StandardMerkleTree.of([A, B, C], PAIR)
    good = tree.proof(0)
    wrong_root = flip(tree.root, 0)
    with pytest.raises(InclusionProofInvalid) as info:
        verify_inclusion(root=wrong_root, leaf=good.leaf, proof=good.proof)
    assert "0x" + wrong_root.hex() in str(info.value)
    assert "0x" + tree.root.hex() in str(info.value)


# --- known answers (generated by @openzeppelin/merkle-tree 1.0.8, StandardMerkleTree.of) --

KNOWN_3 = {
    "format": "standard-v1",
    "leafEncoding": ["bytes32", "uint256"],
    "tree": [
        "0xf69baaa2944c954e4d6569dd2592a64e62631517366e7bb8494667cfcd8abb56",
        "0x187f03e04350d550bdb6dc4f254c9c39010e13105af2211afe76d9b718c132c3",
        "0xfa8d260207fe657f2346775cc7df9e07ba0a08e64ccd28972b30bb03ba9b295b",
        "0xd70731c4fc4bf9cd8fc2be4d898bd67fd357eb0135035bf4500364b4c42c4fa5",
        "0x66b32740ad8041bcc3b909c72d7e1afe60094ec55e3cde329b4b3a28501d826c",
    ],
    "values": [
        {"value": ["0x" + b32(1).hex(), "1"], "treeIndex": 4},
        {"value": ["0x" + b32(2).hex(), "2"], "treeIndex": 3},
        {"value": ["0x" + b32(3).hex(), "3"], "treeIndex": 2},
    ],
}
KNOWN_3_PROOFS = [
    [
        "0xd70731c4fc4bf9cd8fc2be4d898bd67fd357eb0135035bf4500364b4c42c4fa5",
        "0xfa8d260207fe657f2346775cc7df9e07ba0a08e64ccd28972b30bb03ba9b295b",
    ],
    [
        "0x66b32740ad8041bcc3b909c72d7e1afe60094ec55e3cde329b4b3a28501d826c",
        "0xfa8d260207fe657f2346775cc7df9e07ba0a08e64ccd28972b30bb03ba9b295b",
    ],
    ["0x187f03e04350d550bdb6dc4f254c9c39010e13105af2211afe76d9b718c132c3"],
]
KNOWN_1_BYTES32_ROOT = "0xb5d9d894133a730aa651ef62d26b0ffa846233c74177a591a4a896adfda97d22"


def test_known_answer_three_pairs() -> None:
    tree = StandardMerkleTree.of([A, B, C], PAIR)
    assert tree.dump() == KNOWN_3
    for i, expected in enumerate(KNOWN_3_PROOFS):
        assert ["0x" + h.hex() for h in tree.proof(i).proof] == expected


def test_known_answer_single_bytes32_leaf() -> None:
    tree = StandardMerkleTree.of([(b32(1),)], SINGLE)
    assert "0x" + tree.root.hex() == KNOWN_1_BYTES32_ROOT
    assert tree.proof(0).proof == ()
    assert bytes(tree.root) == standard_leaf_hash(SINGLE, (b32(1),))


# --- dump() -------------------------------------------------------------------------


def test_dump_format() -> None:
    values = [(b32(5), 0), ("0x" + "ab" * 32, MAX_UINT), (b32(5), 0)]
    tree = StandardMerkleTree.of(values, PAIR)
    dump = tree.dump()

    assert list(dump) == ["format", "leafEncoding", "tree", "values"]
    assert dump["format"] == "standard-v1"
    assert dump["leafEncoding"] == ["bytes32", "uint256"]
    assert len(dump["tree"]) == 2 * len(values) - 1
    for node in dump["tree"]:
        assert isinstance(node, str) and len(node) == 66
        assert node.startswith("0x") and node == node.lower()
    assert dump["tree"][0] == "0x" + tree.root.hex()
    # values keep the caller's order; bytes become 0x-hex, uint256 decimal strings
    assert [v["value"] for v in dump["values"]] == [
        ["0x" + b32(5).hex(), "0"],
        ["0x" + "ab" * 32, str(MAX_UINT)],
        ["0x" + b32(5).hex(), "0"],
    ]
    tree_indices = [v["treeIndex"] for v in dump["values"]]
    assert sorted(tree_indices) == [2, 3, 4]  # duplicates get distinct leaves
    for value, entry in zip(values, dump["values"], strict=True):
        assert list(entry) == ["value", "treeIndex"]
        leaf = standard_leaf_hash(PAIR, value)
        assert dump["tree"][entry["treeIndex"]] == "0x" + leaf.hex()
    assert json.loads(json.dumps(dump)) == dump  # plain JSON, nothing Python-specific


def test_dump_of_single_leaf() -> None:
    dump = StandardMerkleTree.of([(b32(1),)], SINGLE).dump()
    assert dump["tree"] == [KNOWN_1_BYTES32_ROOT]
    assert dump["values"] == [{"value": ["0x" + b32(1).hex()], "treeIndex": 0}]


# --- abi_encode_static --------------------------------------------------------------


def test_abi_encode_static_words() -> None:
    assert abi_encode_static(PAIR, (b32(7), 258)) == b32(7) + b32(258)
    assert abi_encode_static(PAIR, ("0x" + b32(7).hex(), "258")) == b32(7) + b32(258)
    assert abi_encode_static(["uint256"], [MAX_UINT]) == b"\xff" * 32
    assert abi_encode_static(["uint8"], [255]) == b32(255)
    assert abi_encode_static(["address"], [b"\x11" * 20]) == b"\0" * 12 + b"\x11" * 20
    assert abi_encode_static(["bool", "bool"], [True, False]) == b32(1) + b32(0)
    assert abi_encode_static([], []) == b""


@pytest.mark.parametrize(
    ("typ", "value"),
    [
        ("uint256", -1),
        ("uint256", 2**256),
        ("uint256", "-1"),
        ("uint256", str(2**256)),
        ("uint8", 256),
        ("uint64", 2**64),
        ("uint256", True),  # bool is not an integer in the ABI
        ("uint256", 1.0),
        ("uint256", "one"),
        ("bytes32", b"\x00" * 31),
        ("bytes32", b"\x00" * 33),
        ("bytes32", b""),
        ("bytes32", "0x" + "00" * 31),
        ("bytes32", "0x" + "00" * 33),
        ("bytes32", "0x" + "zz" * 32),
        ("bytes32", 32),  # an int is not bytes (bytes(32) would be 32 zero bytes)
        ("bytes32", 0),
        ("bytes32", None),
        ("address", b"\x00" * 32),
        ("address", 20),
        ("bool", 1),
        ("string", "hello"),
        ("bytes", b""),
        ("uint256[]", [1]),
    ],
)
def test_abi_encode_static_refuses(typ: str, value: Any) -> None:
    with pytest.raises(ValueError):
        abi_encode_static([typ], [value])


def test_abi_encode_static_refuses_count_mismatch() -> None:
    with pytest.raises(ValueError):
        abi_encode_static(PAIR, (b32(1),))
    with pytest.raises(ValueError):
        abi_encode_static(["bytes32"], (b32(1), 1))


# --- tree helpers -------------------------------------------------------------------


def test_build_tree_needs_a_leaf() -> None:
    with pytest.raises(ValueError):
        build_tree([])


def test_proof_from_tree_refuses_inner_nodes_and_outside_indices() -> None:
    tree = build_tree([b32(i) for i in range(4)])  # 7 nodes, leaves at 3..6
    for index in (-1, 0, 1, 2, 7):
        with pytest.raises(ValueError):
            proof_from_tree(tree, index)
    assert len(proof_from_tree(tree, 3)) == 2
