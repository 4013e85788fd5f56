"""Period limits across hospitals over the real store (SQLite and PostgreSQL): the person's
fee lines at another hospital, read by the claims repository, limit what a second supply
of the same drug is estimated to pay; a voided invoice no longer counts."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from claims_stack import ClaimsStack, category_of, make_claims_stack

from ledger.rules import RuleBook, load_ruleset
from ledger.rules.adjudicate import half_up
from ledger.rules.periods import HistoryQuery

DRUG = "XC09CAA001T001000000009"   # at most 60 in 30 days
RATIO = {"employee": 7000, "retired": 7500, "resident": 5000}


def _book() -> RuleBook:
    """The shipped rule sets; pharmacy pooling 2024 without a deductible or a binding cap and
    with a period limit on DRUG."""
    folder = resources.files("ledger.rules") / "data"
    sets = []
    for p in sorted(folder.iterdir(), key=lambda p: p.name):
        if not p.name.endswith(".json"):
            continue
        doc: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
        if p.name == "pharmacy-pooling-v1.json":
            for rules in doc["persons"].values():
                rules.update(deductibleFen=0, annualCapFen=10**9)
            doc["periodLimits"] = {DRUG: {"days": 30, "maxQuantity": "60"}}
        sets.append(load_ruleset(doc, source=p.name))
    return RuleBook(sets)


@pytest.fixture
def cs_any(database_url: str, tmp_path: Path) -> Iterator[ClaimsStack]:
    s = make_claims_stack(database_url, tmp_path, rulebook=_book())
    yield s
    s.stop()


def _supply(template: dict[str, Any], *, number: str, day: str, quantity: int, patient: str) -> dict[str, Any]:
    """A pharmacy invoice of ``quantity`` tablets of DRUG at ¥100.00 each, Class A."""
    doc = copy.deepcopy(template)
    amount = 10000 * quantity
    doc.update(invoiceNumber=number, issuedAt=f"{day}T10:00:00+08:00", visitType="pharmacy", patientId=patient,
               totalFen=amount, fundPaidFen=0, accountPaidFen=0, cashPaidFen=amount,
               feeLines=[{"seq": 1, "itemCode": DRUG, "itemName": "药品", "category": "A", "quantity": str(quantity),
                          "unit": "片", "unitPriceFen": 10000, "amountFen": amount, "serviceDate": day}])
    return doc


def test_a_supply_at_another_hospital_limits_the_estimate(cs_any: ClaimsStack) -> None:
    cs = cs_any
    patient = cs.docs["a"][0]["patientId"]
    ratio = RATIO[category_of(patient)]
    first = _supply(cs.docs["a"][0], number="9000000001", day="2024-05-10", quantity=30, patient=patient)
    second = _supply(cs.docs["b"][0], number="9000000002", day="2024-05-20", quantity=60, patient=patient)
    for who, doc in (("a", first), ("b", second)):
        r = cs.post_invoice(who, doc)
        assert r.status_code in (200, 201), r.text
    cs.worker.drain()

    # the repository finds the supply at hospital a, and not the invoice being decided
    person = bytes.fromhex(cs.client.get("/v1/me", headers=cs.citizen(patient)).json()["person"])
    listing = cs.client.get("/v1/me/invoices", headers=cs.citizen(patient)).json()["invoices"]
    by_number = {i["invoiceNumber"]: i for i in listing}
    second_fp = bytes.fromhex(by_number["9000000002"]["fingerprint"][2:])
    found = cs.claims.store.earlier_lines(person, HistoryQuery((DRUG,), "2024-04-21", "2024-05-20"),
                                          exclude=second_fp)
    assert [(e.issuer, e.service_date, e.quantity) for e in found] == [(first["issuer"], "2024-05-10", "30")]

    # the first supply is paid in full; the second only for the 30 tablets left of 60 in 30 days
    assert by_number["9000000001"]["estimateFen"] == half_up_ratio(300000, ratio)
    assert by_number["9000000002"]["estimateFen"] == half_up_ratio(300000, ratio)

    # once the first invoice is voided, it no longer counts
    first_fp = by_number["9000000001"]["fingerprint"]
    r = cs.client.post(f"/v1/invoices/{first_fp}/void", json={"reason": "refund"}, headers=cs.auth("a"))
    assert r.status_code in (200, 201, 202), r.text
    assert cs.claims.store.earlier_lines(person, HistoryQuery((DRUG,), "2024-04-21", "2024-05-20"),
                                         exclude=second_fp) == []
    listing = cs.client.get("/v1/me/invoices", headers=cs.citizen(patient)).json()["invoices"]
    assert {i["invoiceNumber"]: i for i in listing}["9000000002"]["estimateFen"] == half_up_ratio(600000, ratio)


def half_up_ratio(fen: int, ratio_bp: int) -> int:
    from fractions import Fraction

    return half_up(Fraction(fen * ratio_bp, 10000))


def test_a_claim_pays_only_what_the_period_leaves(cs_any: ClaimsStack) -> None:
    cs = cs_any
    patient = cs.docs["a"][0]["patientId"]
    ratio = RATIO[category_of(patient)]
    for who, number, day, quantity in (("a", "9000000011", "2024-05-10", 45), ("b", "9000000012", "2024-05-20", 30)):
        doc = _supply(cs.docs[who][0], number=number, day=day, quantity=quantity, patient=patient)
        assert cs.post_invoice(who, doc).status_code in (200, 201)
    cs.worker.drain()
    listing = cs.client.get("/v1/me/invoices", headers=cs.citizen(patient)).json()["invoices"]
    fp = {i["invoiceNumber"]: i for i in listing}["9000000012"]["fingerprint"]
    r = cs.claim(patient, [fp], "tap-period-0001")
    assert r.status_code in (201, 202), r.text
    claim = r.json()["claims"][0]
    # 45 supplied at hospital a: 15 of these 30 tablets are reimbursable
    line = claim["decision"]["lines"][0]
    assert line["eligibleFen"] == 150000 and line["reasons"][0]["rule"] == "period-limit"
    assert "2024-05-10 at" in line["reasons"][0]["detail"]
    assert claim["decidedFen"] == half_up_ratio(150000, ratio)
