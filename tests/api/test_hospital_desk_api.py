"""What the hospital's desk in the staff console calls, tried as the desk uses it and as someone
trying to break it would: a hospital finds its invoices by number and issue day, newest first,
a page at a time, and sees state, anchoring lag and void; it never reads, finds, pages through,
prints or voids another hospital's invoice; roles that may not list or void are refused before
a body is read; a void's body is held to the control limit; bad searches are named field by
field. (Every route × every role is walked in ``test_route_policy.py``.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from api_stack import Stack

from ledger.records import Role

HEX = "0x" + "ab" * 32


def _upload(stack: Stack, who: str, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = stack.client.post("/v1/invoices", json=docs, headers=stack.auth(who))
    assert r.status_code == 200, r.text
    return [i["invoice"] for i in r.json()["items"]]


def _list(stack: Stack, who: str, **params: Any) -> Any:
    return stack.client.get("/v1/invoices", params=params, headers=stack.auth(who))


def test_a_hospital_finds_its_invoices_by_number_and_day_newest_first(any_db_stack: Stack) -> None:
    stack = any_db_stack
    docs = stack.docs["a"]
    first = _upload(stack, "a", docs[:6])
    later = _upload(stack, "a", docs[6:9])
    _upload(stack, "b", stack.docs["b"][:3])
    stack.worker.drain()

    # newest first: the later upload on top, a page at a time, pages continued after the last fingerprint
    page1 = _list(stack, "a", order="newest", limit=4).json()
    page2 = _list(stack, "a", order="newest", limit=4, after=page1["next"]).json()
    page3 = _list(stack, "a", order="newest", limit=4, after=page2["next"]).json()
    seen = [i["fingerprint"] for i in page1["items"] + page2["items"] + page3["items"]]
    uploaded = [i["fingerprint"] for i in first + later]
    assert sorted(seen) == sorted(uploaded) and len(seen) == len(set(seen)) == 9
    assert set(seen[:3]) == {i["fingerprint"] for i in later}          # the latest upload first
    assert page3["next"] is None and len(page3["items"]) == 1
    # each with its issue time, state and anchoring (lag = anchoredAt - receivedAt)
    row = page1["items"][0]
    assert row["state"] == "anchored" and row["issuedAt"] == next(d["issuedAt"] for d in docs
                                                                   if d["invoiceNumber"] == row["invoiceNumber"])
    lag = datetime.fromisoformat(row["anchoredAt"]) - datetime.fromisoformat(row["receivedAt"])
    assert lag.total_seconds() >= 0 and row["voidState"] is None
    assert "patient" not in str(row).lower()                          # no patient data in the listing

    # by number: as printed, or without its leading zeros; another hospital's number finds nothing
    target = docs[4]
    for number in (target["invoiceNumber"], target["invoiceNumber"].lstrip("0")):
        found = _list(stack, "a", number=number).json()["items"]
        assert [i["invoiceNumber"] for i in found] == [target["invoiceNumber"]], number
    assert _list(stack, "b", number=target["invoiceNumber"]).json()["items"] == []
    assert _list(stack, "a", number=stack.docs["b"][0]["invoiceNumber"]).json()["items"] == []

    # by issue day, inclusive at both ends
    days = sorted(d["issuedAt"][:10] for d in docs[:9])
    lo, hi = days[2], days[6]
    found = _list(stack, "a", issuedFrom=lo, issuedTo=hi, order="newest", limit=1000).json()["items"]
    assert sorted(i["issuedAt"][:10] for i in found) == [d for d in days if lo <= d <= hi]
    assert _list(stack, "a", issuedFrom=days[-1], issuedTo=days[-1]).json()["items"][0]["issuedAt"][:10] == days[-1]

    # a void shows in the listing at once (pending), then as the state once stamped
    fp = later[0]["fingerprint"]
    assert stack.client.post(f"/v1/invoices/{fp}/void", json={"reasonCode": "duplicate"},
                             headers=stack.auth("a")).status_code == 202
    row = next(i for i in _list(stack, "a", order="newest").json()["items"] if i["fingerprint"] == fp)
    assert (row["state"], row["voidState"]) == ("anchored", "pending")
    stack.worker.drain()
    voided = _list(stack, "a", state="voided", order="newest").json()["items"]
    assert [(i["fingerprint"], i["state"], i["voidState"]) for i in voided] == [(fp, "voided", "voided")]


def test_another_hospital_s_invoice_is_out_of_reach_everywhere_the_desk_looks(any_db_stack: Stack) -> None:
    stack = any_db_stack
    [mine] = _upload(stack, "a", stack.docs["a"][:1])
    [theirs] = _upload(stack, "b", stack.docs["b"][:1])
    stack.worker.drain()
    fp = theirs["fingerprint"]
    for path in ("", "/fee-lines", "/print", "/print.pdf", "/qr.svg", "/qr.png", "/fee-lines/1/disclosure"):
        r = stack.client.get(f"/v1/invoices/{fp}{path}", headers=stack.auth("a"))
        assert r.status_code == 404, (path, r.status_code)
        assert r.json()["type"].endswith("/not-found")
        # the same answer as for an invoice that does not exist at all: no oracle
        assert stack.client.get(f"/v1/invoices/{HEX}{path}", headers=stack.auth("a")).json()["detail"] \
            == r.json()["detail"].replace(fp, HEX), path
    r = stack.client.post(f"/v1/invoices/{fp}/void", json={"reasonCode": "refund"}, headers=stack.auth("a"))
    assert r.status_code == 404
    assert stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth("b")).json()["void"] is None
    # its fingerprint is no cursor for hospital A's newest-first pages (nor is an unknown one): same 422
    for cursor in (fp, HEX):
        r = _list(stack, "a", order="newest", after=cursor)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "after", r.text
        assert cursor not in r.text
    # nothing of B's in A's listings, whatever the filters
    for params in ({}, {"order": "newest"}, {"state": "anchored"}, {"number": theirs["invoiceNumber"]},
                   {"issuedFrom": "2000-01-01", "issuedTo": "2099-12-31", "order": "newest"}):
        listed = _list(stack, "a", **params).json()["items"]
        assert fp not in str(listed) and all(i["issuer"] == mine["issuer"] for i in listed), params


@pytest.mark.parametrize("who", ["payer", "auditor", "admin", "clerk"])
def test_roles_that_may_not_void_are_refused_before_the_body_is_read(stack: Stack, who: str) -> None:
    [inv] = _upload(stack, "a", stack.docs["a"][:1])
    if who == "clerk":
        stack.tokens["clerk"] = stack.service.create_credential(role=Role.CLERK, subject=inv["issuer"])
    fp = inv["fingerprint"]
    r = stack.client.post(f"/v1/invoices/{fp}/void", json={"reasonCode": "refund"}, headers=stack.auth(who))
    assert r.status_code == 403 and r.json()["type"].endswith("/forbidden")
    # the edge applies the route's body limit first, before any credential is looked at: 413 unread
    r = stack.client.post(f"/v1/invoices/{fp}/void", content=b"{" + b" " * 20_000 + b"}",
                          headers={**stack.auth(who), "content-type": "application/json"})
    assert r.status_code == 413
    assert stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth("a")).json()["void"] is None


def test_listing_is_for_hospitals_payers_and_auditors_only(stack: Stack) -> None:
    [inv] = _upload(stack, "a", stack.docs["a"][:1])
    stack.tokens["clerk"] = stack.service.create_credential(role=Role.CLERK, subject=inv["issuer"])
    for who in ("clerk", "admin"):
        r = _list(stack, who, order="newest")
        assert r.status_code == 403, who
    assert stack.client.get("/v1/invoices").status_code == 401


def test_a_void_body_is_held_to_the_control_limit(stack: Stack) -> None:
    [inv] = _upload(stack, "a", stack.docs["a"][:1])
    fp = inv["fingerprint"]
    big = {"reasonCode": "other", "reason": "x" * 500, "pad": "y" * 20_000}
    r = stack.client.post(f"/v1/invoices/{fp}/void", json=big, headers=stack.auth("a"))
    assert r.status_code == 413 and r.json()["type"].endswith("/payload-too-large"), r.text
    # streamed without a declared length: stopped at the limit as it arrives
    r = stack.client.post(f"/v1/invoices/{fp}/void", content=iter([b'{"reasonCode": "refund", "reason": "',
                                                                   b"z" * 40_000, b'"}']),
                          headers={**stack.auth("a"), "content-type": "application/json"})
    assert r.status_code == 413
    # a note over 500 characters (within the body limit) is named; nothing is recorded by any of these
    r = stack.client.post(f"/v1/invoices/{fp}/void", json={"reasonCode": "other", "reason": "x" * 501},
                          headers=stack.auth("a"))
    assert r.status_code == 422 and "reason" in r.text
    assert stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth("a")).json()["void"] is None


@pytest.mark.parametrize(("params", "field"), [
    ({"number": "12a"}, "number"),
    ({"number": "12345678901"}, "number"),
    ({"issuedFrom": "2024-02-30"}, "issuedFrom"),
    ({"issuedTo": "24-01-01"}, "issuedTo"),
    ({"issuedFrom": "2024-03-02", "issuedTo": "2024-03-01"}, "issuedTo"),
    ({"order": "oldest"}, "order"),
    ({"state": "pending"}, "state"),
    ({"after": "0x12"}, "after"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
])
def test_bad_searches_are_named(stack: Stack, params: dict[str, str], field: str) -> None:
    r = _list(stack, "a", **params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in r.text


def test_an_upload_from_the_desk_names_rows_in_the_file(stack: Stack) -> None:
    """The desk sends the chosen file as a multipart part with its own name, so each refusal names the
    line of that file (the same as ``ebill upload``)."""
    import json

    good, bad = stack.docs["a"][0], {**stack.docs["a"][1], "totalFen": -5}
    body = (json.dumps(good, ensure_ascii=False) + "\n" + json.dumps(bad, ensure_ascii=False) + "\n").encode()
    r = stack.client.post("/v1/invoices", files={"invoices": ("march.ndjson", body, "application/x-ndjson")},
                          headers=stack.auth("a"))
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["status"] for i in items] == ["created", "rejected"]
    assert items[1]["ref"] == "march.ndjson line 2"
    assert items[1]["problems"][0]["source"].startswith("march.ndjson line 2")
