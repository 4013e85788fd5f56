"""The QR seal vectors against npm ethers v6, an EIP-712 implementation no one here wrote.

For every valid vector ethers must compute our digest, recover our signer from both the
65-byte signature and the EIP-2098 compact form carried in the QR payload, and produce
the very same signature from the test key (both sides sign deterministically, RFC 6979).
For every tampered / wrong-domain vector ethers must recover the same *other* account
we do, never the expected one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ledger.qr import InvoiceSeal, QrDomain, decode_qr, seal_digest

pytestmark = pytest.mark.node

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("qr_ethers.js")
VECTORS = REPO / "tests" / "vectors" / "qr"
ETHERS_PACKAGE = REPO / "node_modules" / "ethers" / "package.json"


@pytest.fixture(scope="module")
def ethers_out() -> dict[str, Any]:
    """One node process for the whole module."""
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH")
    if not ETHERS_PACKAGE.is_file():
        pytest.skip(f"npm ethers not installed ({ETHERS_PACKAGE} missing): run npm ci")
    done = subprocess.run(
        ["node", str(SCRIPT), str(VECTORS / "valid.json"), str(VECTORS / "invalid.json")],
        cwd=REPO,  # so require() resolves node_modules
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, f"node failed:\n{done.stderr}"
    out: dict[str, Any] = json.loads(done.stdout)
    assert out["ethers"].startswith("6."), out["ethers"]
    return out


def _load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return doc


VALID = _load("valid.json")
INVALID = _load("invalid.json")


def _domain(doc: dict[str, Any]) -> QrDomain:
    return QrDomain(chain_id=doc["chainId"], verifying_contract=doc["verifyingContract"])


def test_type_string_is_the_same(ethers_out: dict[str, Any]) -> None:
    assert ethers_out["encodeType"] == (
        "InvoiceSeal(string issuer,string invoiceCode,string invoiceNumber,uint32 issueDate,"
        "uint256 totalFen,bytes32 fingerprint)"
    )


def test_every_vector_was_checked(ethers_out: dict[str, Any]) -> None:
    assert [v["name"] for v in ethers_out["valid"]] == [v["name"] for v in VALID["vectors"]]
    assert [v["name"] for v in ethers_out["verify"]] == [v["name"] for v in INVALID["verify"]]


@pytest.mark.parametrize("index", range(len(VALID["vectors"])), ids=[v["name"] for v in VALID["vectors"]])
def test_ethers_agrees_on_valid_vector(ethers_out: dict[str, Any], index: int) -> None:
    vector, theirs = VALID["vectors"][index], ethers_out["valid"][index]
    signed = decode_qr(vector["qr"])
    ours: InvoiceSeal = signed.seal
    domain = _domain(vector["domain"])
    assert theirs["digest"] == vector["digest"] == "0x" + seal_digest(ours, domain).hex()
    assert theirs["recovered"] == theirs["recoveredFromCompact"] == vector["signer"] == signed.signer(domain)
    assert theirs["compactSerialized"] == theirs["signed"] == vector["signature"] == "0x" + signed.signature.hex()


@pytest.mark.parametrize("index", range(len(INVALID["verify"])), ids=[v["name"] for v in INVALID["verify"]])
def test_ethers_recovers_another_signer_for_tampered_vector(ethers_out: dict[str, Any], index: int) -> None:
    vector, theirs = INVALID["verify"][index], ethers_out["verify"][index]
    signed = decode_qr(vector["qr"])
    assert theirs["recovered"] == vector["recoveredSigner"] == signed.signer(_domain(vector["domain"]))
    assert theirs["recovered"] != vector["expectedSigner"]
