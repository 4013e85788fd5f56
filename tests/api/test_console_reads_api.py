"""What the console reads to show names instead of codes (issue 14, "The console in one language, with names"):
the registry's hospitals, the labels of the staff who acted, whom a claw-back's claim paid (the payer's office
only), and the language the CLI enrols; each tried with the wrong callers.
"""

from __future__ import annotations

from pathlib import Path

from claims_stack import ClaimsStack, claims_fixture
from clawback_support import get_as, voided_after_payout

cs = claims_fixture(run_stamper=False, instant_max_fen=10**9)


def test_staff_read_the_registrys_hospitals_by_name(cs: ClaimsStack) -> None:
    codes = sorted({d["issuer"] for docs in cs.docs.values() for d in docs})
    for who in ("a", "clerk", "payer", "other-payer", "auditor", "admin"):
        r = cs.client.get("/v1/hospitals", headers=cs.auth(who))
        assert r.status_code == 200, (who, r.text)
        hospitals = r.json()["hospitals"]
        assert sorted(h["institutionId"] for h in hospitals) == codes
        assert all(h["name"] and set(h) == {"institutionId", "name", "region", "registeredBlock"} for h in hospitals)
    nid = cs.docs["a"][0]["patientId"]
    assert cs.client.get("/v1/hospitals", headers=cs.citizen(nid)).status_code == 403
    assert cs.client.get("/v1/hospitals").status_code == 401
    r = cs.client.request("GET", "/v1/hospitals", content=b"x" * 10, headers=cs.auth("payer"))
    assert r.status_code == 413                            # a read takes no body


def test_whom_a_claw_back_is_owed_for_is_the_payer_offices_to_know(cs: ClaimsStack) -> None:
    claim, nid = voided_after_payout(cs)
    payer = get_as(cs, f"/v1/claims/{claim['id']}/clawback", cs.auth("payer")).json()
    assert payer["insured"]["enrolled"] is True and payer["insured"]["name"] == f"person {nid[-4:]}"
    assert payer["requestedByLabel"] is None and payer["actions"][0]["actorLabel"] is None    # the stamper has none
    for who in (cs.auth("auditor"), cs.auth("a"), cs.citizen(nid)):
        seen = get_as(cs, f"/v1/clawbacks/{payer['id']}", who).json()
        assert seen["insured"] is None and f"person {nid[-4:]}" not in str(seen)
    listed = get_as(cs, "/v1/clawbacks", cs.auth("auditor")).json()["clawbacks"]
    assert [c["insured"] for c in listed] == [None]
    # the office's acts carry the label of whoever acted
    r = cs.client.post(f"/v1/clawbacks/{payer['id']}/recover", json={"amountFen": 100, "reference": "BANK-1"},
                       headers=cs.auth("payer"))
    assert r.status_code == 200, r.text
    assert r.json()["actions"][-1]["actorLabel"] == "reviewer one"
    r = cs.client.post(f"/v1/clawbacks/{payer['id']}/write-off", json={"reason": "closed"}, headers=cs.auth("payer2"))
    assert r.status_code == 200 and r.json()["writeOff"]["proposedByLabel"] == "reviewer two"


def test_rule_set_versions_name_their_admins_by_label(cs: ClaimsStack) -> None:
    from ledger.composition import open_rule_office
    from ledger.records import Role

    open_rule_office(cs.service, "330600-ybj")
    labelled = cs.service.create_credential(role=Role.ADMIN, subject="bureau-2", label="second admin")
    rules = cs.client.get("/v1/rules", headers={"Authorization": f"Bearer {labelled}"}).json()["ruleSets"]
    assert rules and all(e["importedByLabel"] is None for e in rules)       # the seed data: no credential
    one = cs.client.get(f"/v1/rules/{rules[0]['id']}/{rules[0]['version']}", headers=cs.auth("payer")).json()
    assert {"importedByLabel", "approvedByLabel", "retiredByLabel"} <= set(one)


def test_the_cli_enrols_a_language(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, select
    from typer.testing import CliRunner

    from ledger.adapters.sql.claims.rows import PE
    from ledger.cli import app

    home = ["--home", str(tmp_path), "--payer", "330600-ybj"]
    good, other = "110101199003074477", "330681202006049052"
    r = CliRunner().invoke(app, ["person", "enrol", "--national-id", good, "--name", "A", "--language", "fr", *home])
    assert r.exit_code == 2 and "--language" in r.output and "zh, en" in r.output, r.output
    r = CliRunner().invoke(app, ["person", "enrol", "--national-id", good, "--name", "A", "--language", "en", *home])
    assert r.exit_code == 0, r.output
    csv = tmp_path / "people.csv"
    csv.write_text(f"nationalId,name,category,language\n{other},B,retired,de\n")
    r = CliRunner().invoke(app, ["person", "enrol", "--csv", str(csv), *home])
    assert r.exit_code == 2 and "people.csv row 2 column language" in r.output, r.output
    # a row without a language keeps the one recorded (A: en); B's is left unsaid (zh)
    csv.write_text(f"nationalId,name,category,language\n{other},B,retired,\n{good},A,employee,\n")
    r = CliRunner().invoke(app, ["person", "enrol", "--csv", str(csv), *home])
    assert r.exit_code == 0, r.output
    with create_engine(f"sqlite:///{tmp_path}/ebill.sqlite").connect() as conn:
        rows = conn.execute(select(PE.c.name, PE.c.language).order_by(PE.c.name))
        assert [tuple(row) for row in rows] == [("A", "en"), ("B", None)]
