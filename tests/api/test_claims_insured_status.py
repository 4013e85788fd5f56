"""Which rules judge an inpatient claim over HTTP: the person's enrolment (insured region,
off-site registration) and the hospital's region decide it (embedded EVM).

The data set's hospitals are in region 330100. ¥2,000 of Class A inpatient care, employees:
local rules (sx-inpatient: deductible ¥800, 80 %) pay (2,000 − 800) × 80 % = ¥960; the
off-site unregistered rules (zj-offsite-inpatient: deductible ¥1,000, 72 %) pay
(2,000 − 1,000) × 72 % = ¥720; registered off-site care is paid as locally.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from claims_stack import ClaimsStack, category_of, claims_fixture

cs = claims_fixture(instant_max_fen=10**9)


def _inpatient_invoice(cs: ClaimsStack, nid: str, number: int, fen: int) -> dict[str, Any]:
    """An inpatient invoice of hospital "a" (region 330100) with one Class A line of ``fen``."""
    doc = copy.deepcopy(cs.docs["a"][0])
    line = {**doc["feeLines"][0], "seq": 1, "category": "A", "quantity": "1", "unitPriceFen": fen, "amountFen": fen,
            "itemCode": "001102000010000-110200001", "itemName": "住院诊查费", "serviceDate": "2024-03-05"}
    doc.update(invoiceNumber=f"88000{number:05d}", issuedAt="2024-03-05T10:00:00+08:00", visitType="inpatient",
               totalFen=fen, fundPaidFen=0, accountPaidFen=0, cashPaidFen=fen, feeLines=[line], patientId=nid)
    return doc


def test_a_local_inpatient_is_judged_by_local_rules_an_unregistered_one_by_offsite_rules(cs: ClaimsStack) -> None:
    employees = [n for n in sorted({d["patientId"] for d in cs.docs["a"]}) if category_of(n) == "employee"][:3]
    local, unregistered, registered = employees
    r = cs.client.post("/v1/persons", headers=cs.auth("admin"), json=[
        {"nationalId": local, "name": "local", "category": "employee", "insuredRegion": "330100"},
        {"nationalId": unregistered, "name": "off-site", "category": "employee", "insuredRegion": "330600"},
        {"nationalId": registered, "name": "registered", "category": "employee", "insuredRegion": "330600",
         "offsiteRegistered": True},
    ])
    assert r.status_code == 201, r.text
    r = cs.client.post("/v1/invoices", headers=cs.auth("a"),
                       json=[_inpatient_invoice(cs, nid, n, 200_000) for n, nid in enumerate(employees, 1)])
    assert r.status_code == 200, r.text
    fps = [item["invoice"]["fingerprint"] for item in r.json()["items"]]
    cs.worker.drain()

    expected = {local: ("sx-inpatient", "inpatient", 96_000),
                unregistered: ("zj-offsite-inpatient", "offsite-inpatient-unregistered", 72_000),
                registered: ("sx-inpatient", "inpatient", 96_000)}
    for nid, fp in zip(employees, fps, strict=True):
        rule_set, scheme, amount = expected[nid]
        listing = cs.client.get("/v1/me/invoices", headers=cs.citizen(nid)).json()["invoices"]
        assert next(i for i in listing if i["fingerprint"] == fp)["estimateFen"] == amount
        r = cs.claim(nid, [fp], f"inpatient-{nid[-6:]}")
        assert r.status_code == 201, r.text
        claim = r.json()["claims"][0]
        assert (claim["decision"]["ruleset"]["id"], claim["scheme"], claim["amountFen"]) == (rule_set, scheme, amount)


def test_an_insured_region_must_not_be_blank(cs: ClaimsStack) -> None:
    nid = sorted({d["patientId"] for d in cs.docs["a"]})[0]
    r = cs.client.post("/v1/persons", headers=cs.auth("admin"),
                       json=[{"nationalId": nid, "category": "employee", "insuredRegion": "  "}])
    assert r.status_code == 422, r.text
    assert "[0].insuredRegion" in r.text


def test_the_cli_enrols_the_insured_region_and_registration(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, select
    from typer.testing import CliRunner

    from ledger.adapters.sql.claims.rows import PE
    from ledger.cli import app

    home = ["--home", str(tmp_path), "--payer", "330600-ybj"]
    good, other = "110101199003074477", "330681202006049052"
    r = CliRunner().invoke(app, ["person", "enrol", "--national-id", good, "--name", "A", "--insured-region", "330600",
                                 "--offsite-registered", *home])
    assert r.exit_code == 0, r.output
    csv = tmp_path / "people.csv"
    csv.write_text(f"nationalId,name,category,insuredRegion,offsiteRegistered\n{other},B,retired,330100,perhaps\n")
    r = CliRunner().invoke(app, ["person", "enrol", "--csv", str(csv), *home])
    assert r.exit_code == 2 and "people.csv row 2 column offsiteRegistered: expected true or false" in r.output
    csv.write_text(f"nationalId,name,category,insuredRegion,offsiteRegistered\n{other},B,retired,330100,no\n"
                   f"{good},A,employee,,\n")     # enrolling again replaces the record: no region, not registered
    r = CliRunner().invoke(app, ["person", "enrol", "--csv", str(csv), *home])
    assert r.exit_code == 0, r.output
    with create_engine(f"sqlite:///{tmp_path}/ebill.sqlite").connect() as conn:
        rows = conn.execute(select(PE.c.name, PE.c.insured_region, PE.c.offsite_registered).order_by(PE.c.name))
        assert [tuple(row) for row in rows] == [("A", None, False), ("B", "330100", False)]


def test_a_claim_no_rule_set_covers_says_which_care_person_and_day(cs: ClaimsStack) -> None:
    nid = next(n for n in sorted({d["patientId"] for d in cs.docs["a"]}) if category_of(n) == "retired")
    doc = _inpatient_invoice(cs, nid, 9, 50_000)
    doc.update(issuedAt="2023-12-30T10:00:00+08:00")       # before the first shipped rule set
    doc["feeLines"][0]["serviceDate"] = "2023-12-30"
    r = cs.client.post("/v1/invoices", headers=cs.auth("a"), json=[doc])
    assert r.status_code == 200, r.text
    fp = r.json()["items"][0]["invoice"]["fingerprint"]
    cs.worker.drain()
    r = cs.claim(nid, [fp], "inpatient-2023-rules")
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["type"].endswith("/no-rules-in-force")
    assert problem["detail"] == (f"invoice {fp}: payer 330600-ybj has no rules in force on 2023-12-30 for inpatient "
                                 "care treated off-site without registration of a retired person: the claim cannot be "
                                 "decided until the payer's office publishes rules for it")
    assert cs.claims.store.latest_claims([bytes.fromhex(fp[2:])]) == {}     # nothing stored
    missing = {"visitType": "inpatient", "insuredStatus": "offsite-unregistered", "category": "retired",
               "day": "2023-12-30"}
    assert problem["rulesMissing"] == missing            # the facts the app words for the citizen
    # the citizen's list says "cannot be decided yet" with the same facts, never the office's sentence
    r = cs.client.get("/v1/me/invoices", headers=cs.citizen(nid))
    assert r.status_code == 200, r.text
    card = next(i for i in r.json()["invoices"] if i["fingerprint"] == fp)
    assert (card["claimable"], card["reason"], card["rulesMissing"], card["estimateFen"]) == (
        False, "no rules yet", missing, None)
    assert all("rules in force" not in (i["reason"] or "") for i in r.json()["invoices"])
