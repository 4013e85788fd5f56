"""The API contract, property-tested with schemathesis, once per role.

schemathesis generates requests from our OpenAPI document for every operation, as each
role (no credential, a hospital, a citizen, a hospital's claims window, a payer, an
auditor, the admin), and checks every answer: no server error, a status the document
lists for the operation, the documented content type, and a body and headers that match
the documented schema. The run is bounded (a few examples per operation and role, well
under two minutes in all).
"""

from __future__ import annotations

import json
import re
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import schemathesis
from claims_stack import make_claims_stack
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ledger.identity import check_character, national_id_problem
from ledger.months import MONTH_PATTERN, Month

_TMP = Path(tempfile.mkdtemp(prefix="ebill-schemathesis-"))
# the budgets of callers without credential are lifted: every generated request comes from one client
_STACK = make_claims_stack(f"sqlite:///{_TMP}/ebill.sqlite", _TMP, public_rate_limit="1000000/minute",
                           auth_failure_rate_limit="1000000/minute")
# some real data, so that generated fingerprints sometimes meet stored invoices
for _doc in _STACK.docs["a"][:3]:
    _STACK.post_invoice("a", _doc)
_STACK.worker.drain()
_CITIZEN = _STACK.docs["a"][0]["patientId"]

ROLES = {
    "none": {},
    "hospital": _STACK.auth("a"),
    "citizen": _STACK.citizen(_CITIZEN),
    "clerk": _STACK.auth("clerk"),
    "payer": _STACK.auth("payer"),
    "auditor": _STACK.auth("auditor"),
    "admin": _STACK.auth("admin"),
}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, positive_data_acceptance]

schema = schemathesis.openapi.from_asgi("/openapi.json", _STACK.client.app)


@st.composite
def _resident_ids(draw: st.DrawFn) -> str:
    """GB 11643 resident IDs, check character included (``format: resident-id`` in the document)."""
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)))
    first17 = f"{draw(st.integers(110000, 659999))}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return first17 + check_character(first17)


schemathesis.openapi.format("resident-id", _resident_ids())


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: schemathesis.SerializationContext, value: object) -> bytes:
    # the schema declares the NDJSON body as a string: send it as UTF-8 text
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else json.dumps(value).encode()


@pytest.mark.slow
@pytest.mark.parametrize("who", list(ROLES))
@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_contract(case: schemathesis.Case, who: str) -> None:
    case.headers = {**(case.headers or {}), **ROLES[who]}
    if case.path == "/readyz":   # ready while the chain worker reports (here it runs only when ticked)
        _STACK.worker.drain()
    checks = CHECKS if _schema_says_it_all(case, who) else [c for c in CHECKS if c is not positive_data_acceptance]
    case.call_and_validate(checks=checks)


def _schema_says_it_all(case: schemathesis.Case, who: str) -> bool:
    """False where a schema-valid request may still be refused (422) by a rule JSON Schema cannot
    state; everywhere else a request the document calls valid must not get 422:

    - an invoice's arithmetic, dates and check codes (the upload validation names each rule);
    - a photo's content (a readable QR code) for the verifier;
    - rules that depend on the caller: a citizen claims by token, a clerk names the
      citizen's resident ID;
    - two fields that must differ (a delegation from oneself);
    - a rule set's consistency: effectiveTo after effectiveFrom, Class B tiers ascending from
      0, and the versions together with the active ones (nothing in force twice, no gap);
    - a calendar year's dates: inside its year, ``from`` before ``to``, make-up days on
      weekends, no overlaps, and agreeing with the years loaded (or 409 for a loaded year);
    - a resident ID's check character (ISO 7064 MOD 11-2): the document names it as
      ``format: resident-id``, but schemathesis's boundary examples only follow the pattern;
    - a monthly report's month must have begun (in China): the pattern allows 2099-12;
    - an invoice search's issue days are real days (``format: date``; the boundary examples follow only
      the pattern) with ``issuedFrom`` not after ``issuedTo``, and a newest-first page continues after
      an invoice the caller may list.
    """
    op = (case.method.upper(), case.path)
    body = case.body if isinstance(case.body, dict) else {}
    items = case.body if isinstance(case.body, list) else [body]
    ids = [v for item in items if isinstance(item, dict) for k, v in item.items() if k.endswith(("nationalId",
                                                                                                  "NationalId"))]
    if any(isinstance(v, str) and national_id_problem(v) for v in ids):
        return False
    if op in (("POST", "/v1/invoices"), ("POST", "/v1/rules"), ("POST", "/v1/rules/validate"),
              ("POST", "/v1/calendar")):
        return False
    if op == ("POST", "/v1/verify"):
        return not (case.media_type or "").startswith("image/")
    if op == ("POST", "/v1/claims"):
        return (body.get("nationalId") is not None) == (who == "clerk")
    if op == ("GET", "/v1/reports/monthly"):
        month = (case.query or {}).get("month")
        return not (isinstance(month, str) and re.fullmatch(MONTH_PATTERN, month)
                    and Month.parse(month).start > datetime.now(UTC))
    if op == ("POST", "/v1/delegations"):
        return body.get("holderNationalId") != body.get("personNationalId")
    if op == ("GET", "/v1/invoices"):
        query = case.query or {}
        days = [query.get("issuedFrom"), query.get("issuedTo")]
        try:
            parsed = [date.fromisoformat(d) if isinstance(d, str) else None for d in days]
        except ValueError:
            return False
        if parsed[0] and parsed[1] and parsed[0] > parsed[1]:
            return False
        return not (query.get("order") == "newest" and query.get("after"))
    return True
