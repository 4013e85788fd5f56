"""Small inputs that used to answer 500, or far more than they cost to send."""

from __future__ import annotations

import orjson
from api_stack import Stack

from api.routers.invoices import MAX_PROBLEMS_PER_ITEM, MAX_PROBLEMS_PER_REPORT


def test_a_feed_cursor_beyond_a_block_number_is_refused_by_name(stack: Stack) -> None:
    root = "0x" + "00" * 32
    for block in ("9223372036854775808", "1" + "0" * 40, "-1"):
        r = stack.client.get(f"/v1/feed/batches?after={block}:{root}", headers=stack.auth("payer"))
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", (block, r.text)
        assert r.json()["errors"][0]["field"] == "after"
    r = stack.client.get(f"/v1/feed/batches?after=9223372036854775807:{root}", headers=stack.auth("payer"))
    assert r.status_code == 200 and r.json()["batches"] == []


def test_a_bulk_report_lists_a_bounded_number_of_problems_with_the_full_count(stack: Stack) -> None:
    # 5,000 empty invoices (the most one request may hold here): 15 KB sent, 13 problems each
    body = b"{}\n" * 5_000
    r = stack.client.post("/v1/invoices", content=body, headers={**stack.auth("a"),
                                                                 "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200
    assert len(r.content) < 2_500_000, len(r.content)
    doc = r.json()
    assert doc["counts"]["rejected"] == 5_000 and doc["problemCount"] == 65_000 and doc["problemsTruncated"]
    assert sum(len(i["problems"]) for i in doc["items"]) == MAX_PROBLEMS_PER_REPORT
    assert all(i["problemCount"] == 13 for i in doc["items"])
    assert doc["items"][0]["problemsTruncated"] is False and doc["items"][-1]["problemsTruncated"] is True


def test_one_invoice_lists_at_most_a_hundred_problems(stack: Stack) -> None:
    doc = dict(stack.docs["a"][0])
    doc["feeLines"] = [{}] * 2_000  # 9 problems a line: the validation stops after a hundred
    r = stack.client.post("/v1/invoices", content=orjson.dumps(doc), headers={
        **stack.auth("a"), "Content-Type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert len(problem["errors"]) <= MAX_PROBLEMS_PER_ITEM and problem["problemsTruncated"] is False
    assert problem["errors"][-1]["rule"] == "not-checked" and "were not checked" in problem["errors"][-1]["message"]
    assert f"breaks {problem['problemCount']} rule(s)" in problem["detail"]
    bulk = stack.client.post("/v1/invoices", content=orjson.dumps([doc]), headers={
        **stack.auth("a"), "Content-Type": "application/json"}).json()
    item = bulk["items"][0]
    assert [(p["field"], p["rule"]) for p in item["problems"]] == [(p["field"], p["rule"]) for p in problem["errors"]]
    assert item["problemCount"] == problem["problemCount"]
