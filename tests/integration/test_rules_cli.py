"""``ebill rules``: what a payer's admin does from the README, against a real SQLite store:
validate, import, a refused self-approval, a second admin's approval, list, show, diff,
retire; bad files get a message naming the file, the JSON path and the rule, never a
traceback, and store nothing."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from typer.testing import CliRunner

from ledger.cli import app
from ledger.rules.book import shipped_documents

runner = CliRunner()
V2 = dict(shipped_documents())["pharmacy-pooling-v2.json"]


def _write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def test_an_admin_imports_a_new_year_and_a_second_admin_activates_it(tmp_path: Path) -> None:
    env = {"EBILL_HOME": str(tmp_path / "home"), "COLUMNS": "250"}
    listed = runner.invoke(app, ["rules", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "sx-pharmacy-pooling@2" in listed.stdout and "system:seed" in listed.stdout   # seeded at first start
    alice = runner.invoke(app, ["credential", "create", "--role", "admin", "--subject", "alice"], env=env)
    bob = runner.invoke(app, ["credential", "create", "--role", "admin", "--subject", "bob"], env=env)
    a, b = alice.stdout.strip().splitlines()[-1], bob.stdout.strip().splitlines()[-1]
    v3 = copy.deepcopy(V2)
    v3.update(version=3, effectiveFrom="2027-01-01", description="2027")
    v3["persons"]["employee"]["ratioBp"] = 7200
    f = _write(tmp_path / "pharmacy-pooling-v3.json", v3)

    ok = runner.invoke(app, ["rules", "validate", str(f)], env=env)
    assert ok.exit_code == 0 and "ok" in ok.stdout, ok.output
    no_token = runner.invoke(app, ["rules", "import", str(f)], env=env)
    assert no_token.exit_code == 2 and "admin credential" in no_token.output
    imported = runner.invoke(app, ["rules", "import", str(f), "--token", a], env=env)
    assert imported.exit_code == 0 and "proposed" in imported.stdout, imported.output
    own = runner.invoke(app, ["rules", "approve", "sx-pharmacy-pooling@3", "--token", a], env=env)
    assert own.exit_code == 1 and "second admin" in own.output and "Traceback" not in own.output
    approved = runner.invoke(app, ["rules", "approve", "sx-pharmacy-pooling@3", "--token", b], env=env)
    assert approved.exit_code == 0 and "active" in approved.stdout, approved.output

    listed = runner.invoke(app, ["rules", "list", "--state", "active"], env=env).stdout
    line = next(x for x in listed.splitlines() if x.startswith("sx-pharmacy-pooling@2 "))
    assert "2027-01-01 (a later version starts)" in line
    shown = runner.invoke(app, ["rules", "show", "sx-pharmacy-pooling@3"], env=env)
    assert shown.exit_code == 0 and json.loads(shown.stdout) == v3
    diff = runner.invoke(app, ["rules", "diff", "sx-pharmacy-pooling@2", "sx-pharmacy-pooling@3"], env=env)
    assert "persons.employee.ratioBp: 7000 → 7200" in diff.stdout, diff.output
    retired = runner.invoke(app, ["rules", "retire", "sx-pharmacy-pooling@3", "--token", a], env=env)
    assert retired.exit_code == 0 and "retired" in retired.stdout, retired.output


def test_bad_files_are_named_with_path_and_rule_and_store_nothing(tmp_path: Path) -> None:
    env = {"EBILL_HOME": str(tmp_path / "home"), "COLUMNS": "250"}
    token = runner.invoke(app, ["credential", "create", "--role", "admin", "--subject", "alice"], env=env)
    a = token.stdout.strip().splitlines()[-1]
    bad = copy.deepcopy(V2)
    bad.update(version=3, effectiveFrom="2027-01-01")
    bad["persons"]["employee"]["ratioBp"] = 17000
    f = _write(tmp_path / "bad.json", bad)
    r = runner.invoke(app, ["rules", "import", str(f), "--token", a], env=env)
    assert r.exit_code == 2, r.output
    assert "persons.employee.ratioBp" in r.output and "bad.json" in r.output and "17000 is above 10000" in r.output
    twice = tmp_path / "twice.json"
    twice.write_text('{"id": "a", "id": "b"}')
    r = runner.invoke(app, ["rules", "validate", str(twice)], env=env)
    assert r.exit_code == 2 and "twice.json" in r.output and "given twice" in r.output
    missing = runner.invoke(app, ["rules", "validate", str(tmp_path / "nope.json")], env=env)
    assert missing.exit_code == 2 and "cannot read" in missing.output
    overlap = {**copy.deepcopy(V2), "id": "sx-other", "version": 1}
    r = runner.invoke(app, ["rules", "import", str(_write(tmp_path / "o.json", overlap)), "--token", a], env=env)
    assert r.exit_code == 2 and "no-overlap" in r.output and "o.json: " in r.output   # the file that overlaps
    for out in (r.output,):
        assert "Traceback" not in out
    listed = runner.invoke(app, ["rules", "list"], env=env).stdout
    assert "@3" not in listed and "sx-other" not in listed
    assert runner.invoke(app, ["rules", "show", "nope"], env=env).exit_code == 2
