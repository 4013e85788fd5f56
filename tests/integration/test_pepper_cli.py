"""``ebill pepper``: a rotation made at one organisation and added at another, so both hold the same
versions (same ids) and make the same pseudonyms; the file shared is private and never overwritten;
bad input gets one clear line."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ledger.cli import app
from ledger.composition import open_service
from ledger.composition.settings import Settings

runner = CliRunner()
PEPPER = "5e" * 32      # the consortium's EBILL_PEPPER, the same at both organisations
NID = "11010519491231002X"


def _cli(home: Path, *args: str) -> Any:
    return runner.invoke(app, ["pepper", *args], env={"EBILL_HOME": str(home), "EBILL_PEPPER": PEPPER,
                                                      "COLUMNS": "300"})


def test_a_version_made_at_one_organisation_is_added_at_another(tmp_path: Path) -> None:
    payer, hospital = tmp_path / "payer", tmp_path / "hospital"
    shared = tmp_path / "pepper-v2.hex"
    status = _cli(payer, "status", "--json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["current"] == 1

    made = _cli(payer, "rotate", "--export", str(shared), "--json")
    assert made.exit_code == 0, made.output
    doc = json.loads(made.stdout)
    assert doc["version"] == 2 and stat.S_IMODE(shared.stat().st_mode) == 0o600
    added = _cli(hospital, "rotate", "--from-file", str(shared), "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["pepperId"] == doc["pepperId"]

    rings = [open_service(Settings(home=home, pepper=PEPPER)).peppers.ring() for home in (payer, hospital)]
    assert rings[0] == rings[1] and rings[0].current == 2
    assert rings[0].pseudonym(NID) == rings[1].pseudonym(NID)
    listed = _cli(hospital, "status")
    assert listed.exit_code == 0 and f"v2  {doc['pepperId']}" in listed.stdout and "(current" in listed.stdout

    cases = [
        (hospital, ["rotate", "--from-file", str(shared)], 2, "is version 2 already"),
        (payer, ["rotate", "--export", str(shared)], 2, "never overwrites"),
        (payer, ["rotate", "--from-file", str(tmp_path / "missing.hex")], 2, "cannot read"),
        (payer, ["rotate", "--from-file", str(shared), "--export", str(tmp_path / "x")], 2, "give one of them"),
    ]
    (tmp_path / "bad.hex").write_text("not hex at all")
    (tmp_path / "short.hex").write_text("00ff")
    cases += [(payer, ["rotate", "--from-file", str(tmp_path / "bad.hex")], 2, "in hex"),
              (payer, ["rotate", "--from-file", str(tmp_path / "short.hex")], 2, "at least 16 bytes")]
    for home, args, code, words in cases:
        r = _cli(home, *args)
        assert r.exit_code == code and words in r.output, (args, r.output)
        assert "Traceback" not in r.output
    assert open_service(Settings(home=payer, pepper=PEPPER)).peppers.ring().current == 2   # nothing added
    # a service started with another EBILL_PEPPER is told at once
    wrong = runner.invoke(app, ["pepper", "status"], env={"EBILL_HOME": str(payer), "EBILL_PEPPER": "77" * 32})
    assert wrong.exit_code == 2 and "EBILL_PEPPER" in wrong.output and "not the first pepper" in wrong.output
