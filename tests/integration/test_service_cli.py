"""The service's admin commands: db upgrade, hospital register/list, credential create."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ledger.cli import app

runner = CliRunner()


def test_register_a_hospital_and_a_payer_credential(tmp_path: Path) -> None:
    env = {"EBILL_HOME": str(tmp_path)}
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    r = runner.invoke(app, ["hospital", "register", "--id", "H33010200001", "--name", "City No.1 Hospital",
                            "--region", "330100", "--json"], env=env)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["apiToken"].startswith("ebill_") and doc["account"].startswith("0x")
    # the key is sealed at rest: neither it nor the token's secret is in the database file
    raw = (tmp_path / "ebill.sqlite").read_bytes()
    assert doc["apiToken"].split("_", 2)[2].encode() not in raw
    again = runner.invoke(app, ["hospital", "register", "--id", "H33010200001", "--name", "x", "--region", "1"],
                          env=env)
    assert again.exit_code == 1 and "already registered" in again.output
    bad = runner.invoke(app, ["hospital", "register", "--id", "H1", "--name", "", "--region", "1"], env=env)
    assert bad.exit_code == 2 and "institutionId" in bad.output and "name" in bad.output
    listed = runner.invoke(app, ["hospital", "list"], env=env)
    assert "H33010200001" in listed.stdout and "not yet on chain" in listed.stdout
    token = runner.invoke(app, ["credential", "create", "--role", "payer", "--subject", "P330100"], env=env)
    assert token.exit_code == 0 and token.stdout.strip().startswith("ebill_")
    wrong = runner.invoke(app, ["credential", "create", "--role", "king", "--subject", "x"], env=env)
    assert wrong.exit_code == 2
    key_id = token.stdout.strip().split("_")[1]
    assert runner.invoke(app, ["credential", "revoke", key_id], env=env).exit_code == 0
    again = runner.invoke(app, ["credential", "revoke", key_id], env=env)
    assert again.exit_code == 1 and "no active credential" in again.output
