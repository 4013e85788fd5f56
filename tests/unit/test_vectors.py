"""Every QR vector file through the verifier, each vector to its expected verdict.

- verdicts.json: one vector per verdict, judged against the registry snapshot, chain facts
  and proofs recorded in the file (verifier.chain_facts), offline and online;
- valid.json: each seal is ``valid-offline`` against a snapshot of its own deployment;
- invalid.json: ``decode`` vectors are ``malformed`` with their rule, ``verify`` vectors
  ``tampered-or-forged`` against a snapshot that binds the expected signer.

No network, no chain.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import InvalidInput
from verifier.chain_facts import RecordedChain, RecordedProofs
from verifier.registry import HospitalKeys, RegistryKey, RegistrySnapshot
from verifier.seal_check import verify_offline
from verifier.verdict import full_verdict

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "qr"
VERDICTS = json.loads((VECTORS / "verdicts.json").read_text(encoding="utf-8"))
VALID = json.loads((VECTORS / "valid.json").read_text(encoding="utf-8"))
INVALID = json.loads((VECTORS / "invalid.json").read_text(encoding="utf-8"))
#: the failure modes issue 4 asks one vector each for, by vector name
ISSUE_FAILURE_MODES = {"bad-prefix", "truncated", "wrong-encoding", "altered-amount", "altered-fingerprint",
                       "signed-by-other-hospital-key", "signed-by-revoked-key", "unanchored", "voided"}


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("qr_verdict_generator", VECTORS / "generate_verdicts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_vector_file_has_a_runner_here() -> None:
    assert {p.name for p in VECTORS.glob("*.json")} == {"valid.json", "invalid.json", "verdicts.json"}


def test_verdict_vectors_are_not_stale() -> None:
    committed, fresh = (VECTORS / "verdicts.json").read_text(encoding="utf-8"), _generator().render()
    assert committed == fresh, (
        "tests/vectors/qr/verdicts.json is stale: run .venv/bin/python tests/vectors/qr/generate_verdicts.py")


def test_every_failure_mode_of_the_issue_and_every_status_has_a_vector() -> None:
    names = {v["name"] for v in VERDICTS["vectors"]}
    assert names >= ISSUE_FAILURE_MODES
    statuses = {v["expected"]["status"] for v in VERDICTS["vectors"]}
    assert statuses == {"anchored", "malformed", "tampered-or-forged", "unknown-issuer", "revoked-issuer",
                        "not-anchored", "voided", "fully-reimbursed"}


@pytest.mark.parametrize("vector", VERDICTS["vectors"], ids=lambda v: v["name"])
def test_verdict_vector(vector: dict[str, Any]) -> None:
    snapshot = RegistrySnapshot.from_json(VERDICTS["registry"])
    chain = RecordedChain.from_json(VERDICTS["chain"])
    offline = verify_offline(vector["qr"], snapshot)
    verdict = json.loads(json.dumps(full_verdict(offline, chain=chain, proofs=RecordedProofs(VERDICTS["proofs"]),
                                                 stamps=chain, voids=chain)))
    expected = vector["expected"]
    found = {"valid": verdict["valid"], "status": verdict["status"],
             "offline": {"status": verdict["offline"]["status"], "rule": verdict["offline"]["rule"]},
             "online": None if verdict["online"] is None else {"status": verdict["online"]["status"]}}
    assert found == expected, verdict["reason"]
    assert verdict["reason"]


def test_the_fully_reimbursed_vector_names_its_payer() -> None:
    chain = RecordedChain.from_json(VERDICTS["chain"])
    vector = next(v for v in VERDICTS["vectors"] if v["name"] == "fully-reimbursed")
    verdict = full_verdict(verify_offline(vector["qr"], RegistrySnapshot.from_json(VERDICTS["registry"])),
                           chain=chain, proofs=RecordedProofs(VERDICTS["proofs"]), stamps=chain)
    assert [(s["payerId"], s["status"]) for s in verdict["online"]["stamps"]] == [("P330100", "finalized")]


def test_the_voided_vector_names_its_reason_code() -> None:
    chain = RecordedChain.from_json(VERDICTS["chain"])
    vector = next(v for v in VERDICTS["vectors"] if v["name"] == "voided")
    verdict = full_verdict(verify_offline(vector["qr"], RegistrySnapshot.from_json(VERDICTS["registry"])),
                           chain=chain, proofs=RecordedProofs(VERDICTS["proofs"]), stamps=chain, voids=chain)
    assert verdict["online"]["void"]["reasonCode"] == "duplicate" and "duplicate" in verdict["reason"]
    # facts recorded without the void events: the same verdict, without the code
    bare = RecordedChain.from_json({k: v for k, v in VERDICTS["chain"].items() if k != "voids"})
    verdict = full_verdict(verify_offline(vector["qr"], RegistrySnapshot.from_json(VERDICTS["registry"])),
                           chain=bare, proofs=RecordedProofs(VERDICTS["proofs"]), stamps=bare, voids=bare)
    assert verdict["status"] == "voided" and "void" not in verdict["online"]


@pytest.mark.parametrize("doc", [{}, {"format": "ebill-chain-facts/v2"}, {**VERDICTS["chain"], "batches": [{}]},
                                 {**VERDICTS["chain"], "chainId": -1}, {**VERDICTS["chain"], "voids": [{}]},
                                 {**VERDICTS["chain"], "voids": [{**VERDICTS["chain"]["voids"][0], "reason": "0x12"}]}])
def test_chain_facts_are_read_strictly(doc: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        RecordedChain.from_json(doc)


def _own_snapshot(domain: dict[str, Any], issuer: str, signer: str) -> RegistrySnapshot:
    return RegistrySnapshot(chain_id=domain["chainId"], contract=domain["verifyingContract"], block_number=1,
                            block_hash="0x" + "00" * 32,
                            hospitals=(HospitalKeys(issuer, (RegistryKey(signer, 1, 0),)),))


@pytest.mark.parametrize("vector", VALID["vectors"], ids=lambda v: v["name"])
def test_valid_vector(vector: dict[str, Any]) -> None:
    snap = _own_snapshot(vector["domain"], vector["seal"]["issuer"], vector["signer"])
    verdict = verify_offline(vector["qr"], snap)
    assert (verdict.status, verdict.signer) == ("valid-offline", vector["signer"]), verdict.reason


@pytest.mark.parametrize("vector", INVALID["decode"], ids=lambda v: v["name"])
def test_invalid_decode_vector(vector: dict[str, Any]) -> None:
    snap = _own_snapshot(VALID["vectors"][0]["domain"], "H33010200001", VALID["vectors"][0]["signer"])
    verdict = verify_offline(vector["qr"], snap)
    assert (verdict.status, verdict.rule) == ("malformed", vector["rule"])


@pytest.mark.parametrize("vector", INVALID["verify"], ids=lambda v: v["name"])
def test_invalid_verify_vector(vector: dict[str, Any]) -> None:
    snap = _own_snapshot(vector["domain"], vector["seal"]["issuer"], vector["expectedSigner"])
    verdict = verify_offline(vector["qr"], snap)
    assert (verdict.status, verdict.signer) == ("tampered-or-forged", vector["recoveredSigner"])
