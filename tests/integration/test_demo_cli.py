"""`ebill demo` and the CLI's error handling, on the embedded chain (no services)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ledger.cli import app

runner = CliRunner()


def test_demo_anchors_verifies_voids_and_refuses() -> None:
    result = runner.invoke(app, ["demo", "--json", "--hospitals", "4", "--invoices", "120"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["chain"] == "embedded"
    assert report["hospitals"] == 4 and report["invoices"] == 120
    assert report["fee_lines"] == 120 * 85
    assert report["batches"] == 4                      # one per hospital
    assert report["anchor_transactions"] == 1          # relayed: all hospitals in one transaction
    assert report["anchor_gas"] < 120 * 55_000 / 10    # far below per-invoice anchoring
    assert report["sample"]["verified"]["voided"] is False
    assert report["sample"]["verified"]["anchoredBy"] == report["sample"]["issuer"]
    assert report["void"]["voidedOnChain"] is True
    assert [(r["refused"], r.get("error")) for r in report["refusals"]] == [
        (True, "InvoiceIsVoided"), (True, "NotIssuingHospital"), (True, "InvoiceAlreadyVoided"),
    ]
    assert report["resend_new_anchors"] == 0           # idempotent re-send
    m = report["reimbursement"]                        # basic insurance, then a supplement insurer
    basic, greedy, rest = m["steps"]
    assert basic["paid"] and basic["amountFen"] == m["basicShareFen"] > 0
    assert greedy["refused"] == "ReimbursementExceedsTotal"
    assert greedy["availableFen"] == m["totalFen"] - m["basicShareFen"]
    assert rest["paid"] and m["paidOnChainFen"] == m["totalFen"]


def test_demo_human_output_names_the_outcomes() -> None:
    result = runner.invoke(app, ["demo", "--hospitals", "2", "--invoices", "20"])
    assert result.exit_code == 0, result.output
    for phrase in ("proof verified against the on-chain root", "refused", "InvoiceIsVoided", "idempotent"):
        assert phrase in result.output


def test_unknown_chain_is_a_usage_error() -> None:
    result = runner.invoke(app, ["demo", "--chain", "ganache"])
    assert result.exit_code == 2
    assert "--chain must be one of embedded, anvil, rpc" in result.output


def test_rpc_needs_a_url() -> None:
    result = runner.invoke(app, ["demo", "--chain", "rpc"])
    assert result.exit_code == 2 and "--rpc-url" in result.output


def test_proof_rejects_a_malformed_fingerprint(tmp_path) -> None:
    result = runner.invoke(app, ["proof", "0x1234", "--home", str(tmp_path)])
    assert result.exit_code == 2
    assert "FINGERPRINT" in result.output and "64 hex digits" in result.output


def test_verify_proof_rejects_garbage_files(tmp_path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text("{not json")
    result = runner.invoke(app, ["verify-proof", str(bad), "--home", str(tmp_path)])
    assert result.exit_code == 2 and "not JSON" in result.output
    bad.write_text(json.dumps({"format": "ebill-inclusion-proof/v1", "fingerprint": "0x12", "proof": "x"}))
    result = runner.invoke(app, ["verify-proof", str(bad), "--home", str(tmp_path)])
    assert result.exit_code == 2
    for field in ("fingerprint", "batchRoot", "totalFen", "proof", "chain"):
        assert field in result.output


def test_anvil_commands_without_a_node_say_how_to_start_one(tmp_path) -> None:
    result = runner.invoke(app, ["node", "status", "--home", str(tmp_path)])
    assert result.exit_code == 1 and "no anvil node is running" in result.output
    doc = tmp_path / "p.json"
    doc.write_text("{}")
    result = runner.invoke(app, ["proof", "0x" + "11" * 32, "--home", str(tmp_path)])
    assert result.exit_code == 1 and "ebill node start" in result.output
