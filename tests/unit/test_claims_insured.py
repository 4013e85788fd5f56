"""A person's insured status for one invoice, as the payer's office decides it."""

from __future__ import annotations

import pytest

from ledger.claims.insured import insured_status, within
from ledger.invoice import VisitType
from ledger.rules.scope import InsuredStatus

LOCAL, REG, UNREG, EMERG = (InsuredStatus.LOCAL, InsuredStatus.OFFSITE_REGISTERED,
                            InsuredStatus.OFFSITE_UNREGISTERED, InsuredStatus.EMERGENCY)


@pytest.mark.parametrize(("insured", "registered", "hospital", "visit", "expected"), [
    ("330600", False, "330600", VisitType.INPATIENT, LOCAL),
    ("330600", False, "330602", VisitType.INPATIENT, LOCAL),          # a district of the insured city
    ("330600", True, "330602", VisitType.INPATIENT, LOCAL),           # registration does not matter at home
    ("330600", False, "330602", VisitType.EMERGENCY, LOCAL),          # nor does an emergency
    ("330600", False, "330100", VisitType.INPATIENT, UNREG),          # another city of the province
    ("330600", True, "330100", VisitType.INPATIENT, REG),
    ("330600", False, "310101", VisitType.EMERGENCY, EMERG),          # an emergency needs no registration
    ("330600", True, "310101", VisitType.EMERGENCY, EMERG),
    ("330600", False, "310101", VisitType.PHARMACY, UNREG),
    ("330000", False, "330602", VisitType.INPATIENT, LOCAL),          # insured at the province
    ("330602", False, "330603", VisitType.INPATIENT, UNREG),          # insured in a county: only the county
    (None, False, "330600", VisitType.INPATIENT, UNREG),              # no region recorded: as before
    (None, True, "330600", VisitType.INPATIENT, REG),
    (None, False, "330600", VisitType.EMERGENCY, EMERG),
    ("Shaoxing", False, "Shaoxing", VisitType.INPATIENT, LOCAL),      # free-text regions: equal or not
    ("Shaoxing", False, "330600", VisitType.INPATIENT, UNREG),
])
def test_insured_status(insured: str | None, registered: bool, hospital: str, visit: VisitType,
                        expected: InsuredStatus) -> None:
    assert insured_status(insured_region=insured, offsite_registered=registered, hospital_region=hospital,
                          visit_type=visit) is expected


@pytest.mark.parametrize(("hospital", "insured", "inside"), [
    ("330602", "330600", True), ("330600", "330602", False), (" 330600 ", "330600", True),
    ("3306", "330600", False), ("330602", "330000", True), ("310101", "330000", False),
])
def test_within(hospital: str, insured: str, inside: bool) -> None:
    assert within(hospital, insured) is inside
