"""Resident IDs given to enrolment, delegation and the clerk's claim are validated like uploads' (GB 11643)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from claims_stack import ClaimsStack, make_claims_stack
from sqlalchemy import func, select
from typer.testing import CliRunner

from ledger.adapters.sql.claims.rows import PE
from ledger.cli import app

GOOD = "110101199003074477"          # a valid ID (check character 7)
BAD_CHECK = "110101199003074478"


@pytest.fixture(scope="module")
def cs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClaimsStack]:
    tmp = tmp_path_factory.mktemp("ids")
    s = make_claims_stack(f"sqlite:///{tmp}/ebill.sqlite", tmp, run_stamper=False)
    yield s
    s.stop()


def _persons(cs: ClaimsStack) -> int:
    with cs.service.store._read() as conn:
        return int(conn.execute(select(func.count()).select_from(PE)).scalar_one())


def _errors(r: object) -> list[tuple[str, str]]:
    assert r.status_code == 422, r.text  # type: ignore[attr-defined]
    return [(e["field"], e["rule"]) for e in r.json()["errors"]]  # type: ignore[attr-defined]


def test_enrolment_names_every_bad_id_by_index_and_enrols_nothing(cs: ClaimsStack) -> None:
    before = _persons(cs)
    body = [{"nationalId": GOOD, "category": "employee"}, {"nationalId": "123", "category": "employee"},
            {"nationalId": "", "category": "retired"}, {"nationalId": BAD_CHECK, "category": "nobody"}]
    r = cs.client.post("/v1/persons", json=body, headers=cs.auth("admin"))
    assert _errors(r) == [("[1].nationalId", "resident-id"), ("[2].nationalId", "resident-id"),
                          ("[3].nationalId", "resident-id"), ("[3].category", "enum")]
    assert "check character is 8, expected 7" in r.json()["errors"][2]["message"]
    assert _persons(cs) == before  # not even the valid first entry
    ok = cs.client.post("/v1/persons", json=body[:1], headers=cs.auth("admin"))
    assert ok.status_code == 201 and ok.json() == {"enrolled": 1}


def test_delegation_names_which_id_is_bad(cs: ClaimsStack) -> None:
    r = cs.client.post("/v1/delegations", headers=cs.auth("admin"),
                       json={"holderNationalId": "123", "personNationalId": "", "relation": "child"})
    assert _errors(r) == [("holderNationalId", "resident-id"), ("personNationalId", "resident-id")]


def test_the_clerk_names_a_valid_id(cs: ClaimsStack) -> None:
    for nid, rule in (("123", "resident-id"), (BAD_CHECK, "resident-id"), ("", "required")):
        r = cs.client.post("/v1/claims", json={"fingerprints": ["0x" + "ab" * 32], "nationalId": nid},
                           headers={**cs.auth("clerk"), "Idempotency-Key": "clerk-key-0001"})
        assert _errors(r) == [("nationalId", rule)], nid


def test_the_cli_says_which_option_or_row(tmp_path: Path) -> None:
    home = ["--home", str(tmp_path), "--payer", "330600-ybj"]
    r = CliRunner().invoke(app, ["person", "enrol", "--national-id", "123", *home])
    assert r.exit_code == 2 and "--national-id: must be 17 digits" in r.output, r.output
    (tmp_path / "people.csv").write_text(f"nationalId,name,category\n{GOOD},A,employee\n{BAD_CHECK},B,employee\n")
    r = CliRunner().invoke(app, ["person", "enrol", "--csv", str(tmp_path / "people.csv"), *home])
    assert r.exit_code == 2 and "people.csv row 3 column nationalId: check character" in r.output, r.output
    r = CliRunner().invoke(app, ["citizen", "delegate", "--holder", GOOD, "--for", "", "--relation", "child", *home])
    assert r.exit_code == 2 and "--for: must be 17 digits" in r.output, r.output
    assert "Traceback" not in r.output
