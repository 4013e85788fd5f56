"""``ebill calendar``: what an operator does when the State Council publishes next year's
holidays, against a real SQLite store: see the missing year, load it, show it, correct it;
bad files get one message naming the file, the entry and the rule, never a traceback, and
store nothing."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ledger.cli import app

runner = CliRunner()
CN = timezone(timedelta(hours=8))
Y2027: dict[str, Any] = {
    "country": "CN", "year": 2027, "source": "国务院办公厅关于2027年部分节假日安排的通知 (test)",
    "published": "2026-11-05",
    "holidays": [{"name": "元旦", "nameEn": "New Year's Day", "from": "2027-01-01", "to": "2027-01-03"},
                 {"name": "春节", "nameEn": "Spring Festival", "from": "2027-02-06", "to": "2027-02-12"}],
    "makeUpWorkdays": [{"date": "2027-02-13", "for": "春节"}],
}


def _write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def _env(tmp_path: Path) -> dict[str, str]:
    return {"EBILL_HOME": str(tmp_path / "home"), "COLUMNS": "250"}


def test_an_operator_sees_the_missing_year_loads_it_and_corrects_it(tmp_path: Path) -> None:
    env = _env(tmp_path)
    years = runner.invoke(app, ["calendar", "years"], env=env)
    assert years.exit_code == 0, years.output
    assert "2004  published" in years.stdout and "loaded from cn-2026.json by system:seed" in years.stdout
    today = datetime.now(CN).date()
    if today.year == 2026 and today.month == 12:   # this project's clock: 2027 is within the next 60 days
        assert "2027  MISSING: counted Monday to Friday until loaded" in years.stdout
        assert "warning: no working-day calendar for 2027" in years.output
        assert runner.invoke(app, ["calendar", "years", "--check"], env=env).exit_code == 1

    f = _write(tmp_path / "cn-2027.json", Y2027)
    loaded = runner.invoke(app, ["calendar", "load", str(f)], env=env)
    assert loaded.exit_code == 0, loaded.output
    assert "2027: loaded (10 holiday dates, 1 make-up working days" in loaded.stdout
    assert "warning" not in loaded.output
    assert runner.invoke(app, ["calendar", "years", "--check"], env=env).exit_code == 0
    again = runner.invoke(app, ["calendar", "load", str(f)], env=env)
    assert again.exit_code == 0 and "nothing changed" in again.stdout

    shown = runner.invoke(app, ["calendar", "show", "2027"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "2027-02-06 (Sat) – 2027-02-12 (Fri)  7 days  春节 (Spring Festival)" in shown.stdout
    assert "2027-02-13 (Sat)  for 春节" in shown.stdout and "loaded from cn-2027.json by admin:system:local" \
        in shown.stdout

    corrected = copy.deepcopy(Y2027)
    corrected["holidays"][1]["to"] = "2027-02-11"
    f2 = _write(tmp_path / "cn-2027-corrected.json", corrected)
    refused = runner.invoke(app, ["calendar", "load", str(f2)], env=env)
    assert refused.exit_code == 1 and "already loaded, with other content" in refused.output
    assert "--replace" in refused.output and "Traceback" not in refused.output
    replaced = runner.invoke(app, ["calendar", "load", str(f2), "--replace"], env=env)
    assert replaced.exit_code == 0 and "2027: replaced" in replaced.stdout, replaced.output
    assert "2027-02-11 (Thu)" in runner.invoke(app, ["calendar", "show", "2027"], env=env).stdout


def test_a_loading_admin_is_named_in_the_record(tmp_path: Path) -> None:
    env = _env(tmp_path)
    made = runner.invoke(app, ["credential", "create", "--role", "admin", "--subject", "alice"], env=env)
    token = made.stdout.strip().splitlines()[-1]
    f = _write(tmp_path / "cn-2027.json", Y2027)
    assert runner.invoke(app, ["calendar", "load", str(f), "--token", token], env=env).exit_code == 0
    assert "by admin:alice:" in runner.invoke(app, ["calendar", "show", "2027"], env=env).stdout
    payer = runner.invoke(app, ["credential", "create", "--role", "payer", "--subject", "330600-ybj"], env=env)
    f2 = _write(tmp_path / "cn-2028.json", json.loads(json.dumps(Y2027).replace("2027", "2028")))
    refused = runner.invoke(app, ["calendar", "load", str(f2), "--token", payer.stdout.strip().splitlines()[-1]],
                            env=env)
    assert refused.exit_code == 1 and "may not load a year of the working-day calendar" in refused.output


def test_bad_files_are_named_with_entry_and_rule_and_store_nothing(tmp_path: Path) -> None:
    env = _env(tmp_path)
    weekday = copy.deepcopy(Y2027)
    weekday["makeUpWorkdays"].append({"date": "2027-02-15", "for": "春节"})   # a Monday
    wrong_year = tmp_path / "cn-2028.json"
    cases = [
        (_write(tmp_path / "cn-2027.json", weekday),
         "invalid makeUpWorkdays[1].date: cn-2027.json: 2027-02-15 is a Monday: a make-up working day is a "
         "Saturday or Sunday"),
        (_write(wrong_year, Y2027), "invalid year: cn-2028.json: the document is for 2027, but it was given as the "
                                    "calendar of 2028"),
        (_write(tmp_path / "no-name.json", {**Y2027, "holidays": [{"from": "2027-01-01", "to": "2027-01-01"}]}),
         "invalid holidays[0].name: no-name.json: name is required"),
    ]
    for path, message in cases:
        r = runner.invoke(app, ["calendar", "load", str(path)], env=env)
        assert r.exit_code == 2, r.output
        assert message in " ".join(r.output.split()), r.output
        assert "Traceback" not in r.output
    (tmp_path / "broken.json").write_bytes(b'{"year": 2027, "year": 2028}')
    r = runner.invoke(app, ["calendar", "load", str(tmp_path / "broken.json")], env=env)
    assert r.exit_code == 2 and "broken.json: the key 'year' is given twice" in r.output
    (tmp_path / "big.json").write_bytes(b" " * (70 * 1024))
    r = runner.invoke(app, ["calendar", "load", str(tmp_path / "big.json")], env=env)
    assert r.exit_code == 2 and "above the limit" in r.output
    r = runner.invoke(app, ["calendar", "load", str(tmp_path / "absent.json")], env=env)
    assert r.exit_code == 2 and "cannot read" in r.output and "Traceback" not in r.output
    shown = runner.invoke(app, ["calendar", "show", "2027"], env=env)
    assert shown.exit_code == 1 and "no working-day calendar is loaded for 2027 (loaded: 2004–2026)" \
        in " ".join(shown.output.split())
