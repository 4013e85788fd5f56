"""Selective disclosure of one fee line: the hospital hands it out, anyone checks it offline."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from api_stack import Stack
from typer.testing import CliRunner

from ledger.cli import app
from ledger.disclosure import verify_disclosure
from ledger.errors import InclusionProofInvalid, InvalidInput, VerificationError


def _disclosure(stack: Stack, seq: int = 3) -> tuple[str, dict]:
    doc = stack.docs["a"][4]
    fp = stack.post_invoice("a", doc).json()["items"][0]["invoice"]["fingerprint"]
    r = stack.client.get(f"/v1/invoices/{fp}/fee-lines/{seq}/disclosure", headers=stack.auth("a"))
    assert r.status_code == 200, r.text
    return fp, r.json()


def test_a_disclosed_line_proves_membership_and_hides_the_others(stack: Stack) -> None:
    fp, d = _disclosure(stack)
    disclosed = verify_disclosure(d)
    original = stack.docs["a"][4]["feeLines"][2]
    assert {k: v for k, v in disclosed.line.items() if k != "salt"} == original
    # nothing of the other lines is in the document but salted hashes
    text = json.dumps(d, ensure_ascii=False)
    for other in stack.docs["a"][4]["feeLines"]:
        if other["seq"] != 3 and other["itemName"] != original["itemName"]:
            assert other["itemName"] not in text
    assert d["fingerprint"] == fp and d["header"]["feeLineCount"] == len(stack.docs["a"][4]["feeLines"])


def test_altered_disclosures_are_refused_precisely(stack: Stack) -> None:
    _, d = _disclosure(stack)
    more = copy.deepcopy(d)
    more["line"]["amountFen"] += 1
    with pytest.raises(InclusionProofInvalid):
        verify_disclosure(more)
    header = copy.deepcopy(d)
    header["header"]["totalFen"] += 1
    with pytest.raises(VerificationError, match="does not hash"):
        verify_disclosure(header)
    with pytest.raises(InvalidInput):
        verify_disclosure({**d, "lineProof": ["0x12"]})
    with pytest.raises(InvalidInput):
        verify_disclosure({**d, "format": "other"})


def test_only_the_issuing_hospital_discloses(stack: Stack) -> None:
    fp, _ = _disclosure(stack)
    for who in ("b", "payer", "auditor"):
        r = stack.client.get(f"/v1/invoices/{fp}/fee-lines/1/disclosure", headers=stack.auth(who))
        assert r.status_code in (403, 404)
    assert stack.client.get(f"/v1/invoices/{fp}/fee-lines/9999/disclosure", headers=stack.auth("a")).status_code == 404


def test_verify_line_command(stack: Stack, tmp_path: Path) -> None:
    _, d = _disclosure(stack)
    good = tmp_path / "line.json"
    good.write_text(json.dumps(d, ensure_ascii=False))
    r = CliRunner().invoke(app, ["verify-line", str(good)])
    assert r.exit_code == 0 and "VALID" in r.stdout and "stay undisclosed" in " ".join(r.stdout.split())
    d["line"]["quantity"] = "99"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(d))
    r = CliRunner().invoke(app, ["verify-line", str(bad), "--json"])
    assert r.exit_code == 1 and json.loads(r.stdout)["reason"] == "inclusion-proof-invalid"
    r = CliRunner().invoke(app, ["verify-line", str(tmp_path / "missing.json")])
    assert r.exit_code == 2
