"""ledger.merkle against the real npm ``@openzeppelin/merkle-tree``, byte for byte.

All value sets go to one ``node oz_tree.js`` process per leaf encoding, so the whole
module costs a couple of node start-ups.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ledger.merkle import StandardMerkleTree, verify_inclusion

pytestmark = pytest.mark.node

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("oz_tree.js")
OZ_PACKAGE = REPO / "node_modules" / "@openzeppelin" / "merkle-tree" / "package.json"

SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 64, 100, 257]
MAX_UINT = 2**256 - 1


def _random_uint(rng: random.Random) -> int:
    return rng.choice([0, 1, 2**53 - 1, 2**53, MAX_UINT, rng.getrandbits(rng.randint(1, 256))])


def _value_sets(encoding: tuple[str, ...], seed: int) -> list[list[tuple[Any, ...]]]:
    """Random sets of every size in SIZES, plus sets with duplicate values."""
    rng = random.Random(seed)

    def value() -> tuple[Any, ...]:
        return tuple(
            rng.randbytes(32) if typ == "bytes32" else _random_uint(rng) for typ in encoding
        )

    sets = [[value() for _ in range(n)] for n in SIZES]
    for n in (2, 3, 10, 65):
        pool = [value() for _ in range(max(1, n // 3))]
        sets.append([rng.choice(pool) for _ in range(n)])
    sets.append([value()] * 5)
    return sets


def _to_js(value: tuple[Any, ...]) -> list[str]:
    # JS refuses numbers as leaf values: uint256 goes as a decimal string
    return ["0x" + v.hex() if isinstance(v, bytes) else str(v) for v in value]


def _run_oz(encoding: tuple[str, ...], sets: list[list[tuple[Any, ...]]]) -> list[dict[str, Any]]:
    request = {
        "sets": [{"encoding": list(encoding), "values": [_to_js(v) for v in s]} for s in sets]
    }
    done = subprocess.run(
        ["node", str(SCRIPT)],
        cwd=REPO,  # so require() resolves node_modules
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"node failed:\n{done.stderr}"
    result: list[dict[str, Any]] = json.loads(done.stdout)
    assert len(result) == len(sets)
    return result


@pytest.fixture(scope="module", autouse=True)
def _need_node() -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH")
    if not OZ_PACKAGE.is_file():
        pytest.skip(f"@openzeppelin/merkle-tree not installed ({OZ_PACKAGE} missing)")


@pytest.mark.parametrize(
    ("encoding", "seed"),
    [(("bytes32", "uint256"), 20240601), (("bytes32",), 8785)],
    ids=["bytes32,uint256", "bytes32"],
)
def test_equals_openzeppelin_merkle_tree(encoding: tuple[str, ...], seed: int) -> None:
    sets = _value_sets(encoding, seed)
    oz_results = _run_oz(encoding, sets)

    for values, oz in zip(sets, oz_results, strict=True):
        ours = StandardMerkleTree.of(values, encoding)
        label = f"{len(values)} leaves"
        assert "0x" + ours.root.hex() == oz["root"], label
        # the whole dump: format, leafEncoding, tree array, values with treeIndex
        assert ours.dump() == oz["dump"], label
        for i, oz_proof in enumerate(oz["proofs"]):
            proof = ours.proof(i)
            assert ["0x" + h.hex() for h in proof.proof] == oz_proof, f"{label}, value {i}"
            proof.verify()
            verify_inclusion(
                root=bytes.fromhex(oz["root"][2:]),
                leaf=proof.leaf,
                proof=[bytes.fromhex(h[2:]) for h in oz_proof],
            )
