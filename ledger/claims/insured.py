"""The person's insured status for one invoice, decided as their payer's office decides it.

Which rules judge a claim depends on where the person was treated as their payer sees it
(:class:`~ledger.rules.scope.InsuredStatus`): in the region they are insured in (local),
elsewhere after registering for off-site care (异地就医备案), elsewhere without it, or
elsewhere as an emergency, which needs no registration. The payer's own record of the
person (their enrolment: insured region, registered for off-site care or not) says the
first half; the invoice says the rest (its hospital's region, its visit type).

A person enrolled before the insured region was recorded has no region: their care can
then never be shown to be local, and is judged as off-site (registered if the enrolment
says so, else unregistered), which is how every inpatient bill was judged before the
region was recorded.
"""

from __future__ import annotations

import re

from ledger.invoice import VisitType
from ledger.rules.scope import InsuredStatus

#: a GB/T 2260 administrative division: 2 digits province, 2 city, 2 county
_DIVISION_RE = re.compile(r"[0-9]{6}\Z")


def within(hospital_region: str, insured_region: str) -> bool:
    """True if a hospital in ``hospital_region`` lies in ``insured_region``.

    Regions are compared as written, except division codes: a city's code (``330600``,
    ending in 00) takes in its districts and counties (``330602``), a province's
    (``330000``) its cities, since insurance is pooled at the city (or province) level.
    """
    hospital, insured = hospital_region.strip(), insured_region.strip()
    if hospital == insured:
        return True
    if not (_DIVISION_RE.match(hospital) and _DIVISION_RE.match(insured)):
        return False
    if insured.endswith("0000"):
        return hospital[:2] == insured[:2]
    if insured.endswith("00"):
        return hospital[:4] == insured[:4]
    return False


def insured_status(*, insured_region: str | None, offsite_registered: bool, hospital_region: str,
                   visit_type: VisitType) -> InsuredStatus:
    """The status a claim on an invoice of ``visit_type`` from a hospital in ``hospital_region``
    is judged under, for a person insured in ``insured_region`` (None: not recorded) who has or
    has not registered for off-site care."""
    if insured_region is not None and within(hospital_region, insured_region):
        return InsuredStatus.LOCAL
    if visit_type is VisitType.EMERGENCY:
        return InsuredStatus.EMERGENCY
    return InsuredStatus.OFFSITE_REGISTERED if offsite_registered else InsuredStatus.OFFSITE_UNREGISTERED
