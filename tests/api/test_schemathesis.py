"""Property-based API testing with schemathesis: whatever it sends, the service answers
with no 5xx. It generates requests from our OpenAPI document for every operation, as
each role, including malformed bodies and parameters (``mode="all"``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from api_stack import make_stack
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

_TMP = Path(__import__("tempfile").mkdtemp(prefix="ebill-schemathesis-"))
_STACK = make_stack(f"sqlite:///{_TMP}/ebill.sqlite", _TMP)
# some real data, so that generated fingerprints sometimes meet stored invoices
for doc in _STACK.docs["a"][:3]:
    _STACK.post_invoice("a", doc)
_STACK.worker.drain()

schema = schemathesis.openapi.from_asgi("/openapi.json", _STACK.client.app)


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: schemathesis.SerializationContext, value: object) -> bytes:
    # the schema declares the NDJSON body as a string: send it as UTF-8 text
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else json.dumps(value).encode()


@pytest.mark.slow
@pytest.mark.parametrize("who", ["a", "payer", "admin"])
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case, who: str) -> None:
    case.headers = {**(case.headers or {}), **_STACK.auth(who)}
    case.call_and_validate(checks=[not_a_server_error])
