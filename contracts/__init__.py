"""Solidity sources of the ledger and their committed build artefacts.

Running the system needs no compiler: :func:`load_artifact` reads the ABI and bytecode
committed under ``contracts/build`` (regenerate with ``ebill contracts compile``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = CONTRACTS_DIR.parent
ARTIFACT_DIR = CONTRACTS_DIR / "build"
#: our own sources, in compile order; OpenZeppelin comes from node_modules
SOURCES: tuple[str, ...] = ("IEbillLedger.sol", "EbillLedger.sol")
#: OpenZeppelin contracts compiled and deployed unchanged (source under node_modules -> contract names):
#: the consortium's timelock that holds the ledger's admin role (``ebill chain deploy``)
OPENZEPPELIN_CONTRACTS: dict[str, tuple[str, ...]] = {
    "@openzeppelin/contracts/governance/TimelockController.sol": ("TimelockController",),
}


@dataclass(frozen=True)
class Artifact:
    """ABI and bytecode of one compiled contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    compiler_version: str
    source_sha256: dict[str, str]


@cache
def load_artifact(name: str = "EbillLedger") -> Artifact:
    """The committed artefact of contract ``name``."""
    doc = json.loads((ARTIFACT_DIR / f"{name}.json").read_text())
    return Artifact(
        name=doc["contractName"],
        abi=doc["abi"],
        bytecode=doc["bytecode"],
        deployed_bytecode=doc["deployedBytecode"],
        compiler_version=doc["compiler"]["version"],
        source_sha256=doc["sourceSha256"],
    )
