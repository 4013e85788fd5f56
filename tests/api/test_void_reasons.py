"""Void reasons through HTTP: a code goes on chain, the hospital's note never does.

The chain is read directly (the InvoiceVoided event, the void transaction's input) to
show what a public observer of the ledger sees. Embedded EVM; SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from api_stack import Stack

from ledger.adapters.events import EventReader
from ledger.hashing import parse_hash32
from ledger.voids import VoidReason, reason_from_bytes32, reason_to_bytes32

NOTE = "退费：患者张三取消CT检查 (patient Zhang San cancelled the CT scan)"


def _anchored(s: Stack, n: int) -> str:
    fp: str = s.post_invoice("a", s.docs["a"][n]).json()["items"][0]["invoice"]["fingerprint"]
    s.worker.drain()
    return fp


def _void(s: Stack, fp: str, body: dict[str, Any], who: str = "a") -> Any:
    return s.client.post(f"/v1/invoices/{fp}/void", json=body, headers=s.auth(who))


def _voided_events(s: Stack, fp: str) -> list[dict[str, Any]]:
    reader = EventReader(s.session.ledger)
    return [e for e in reader.read(0, reader.head())
            if e["name"] == "InvoiceVoided" and e["fingerprint"] == bytes(parse_hash32(fp))]


def test_the_chain_carries_the_code_and_never_the_note(any_db_stack: Stack) -> None:
    s = any_db_stack
    fp = _anchored(s, 10)
    r = _void(s, fp, {"reasonCode": "resettled", "reason": NOTE})
    assert r.status_code == 202, r.text
    s.worker.drain()
    [event] = _voided_events(s, fp)
    assert event["args"]["reason"] == "0x" + reason_to_bytes32(VoidReason.RESETTLED).hex()
    assert reason_from_bytes32(bytes.fromhex(event["args"]["reason"][2:])).code is VoidReason.RESETTLED
    # nothing of the note in the void transaction, its input or its logs
    w3 = s.session.ledger.w3
    tx = w3.eth.get_transaction(event["tx"])
    receipt = w3.eth.get_transaction_receipt(event["tx"])
    on_chain = bytes(tx["input"]) + b"".join(bytes(log["data"]) + b"".join(bytes(t) for t in log["topics"])
                                             for log in receipt["logs"])
    for fragment in ("Zhang San", "张三", "退费", "CT"):
        assert fragment.encode() not in on_chain
    # the issuing hospital sees the code and its note; the store keeps the note
    got = s.client.get(f"/v1/invoices/{fp}", headers=s.auth("a")).json()
    assert (got["void"]["reasonCode"], got["void"]["reason"], got["void"]["state"]) == ("resettled", NOTE, "voided")


def test_an_unknown_code_is_refused_naming_the_allowed_codes(stack: Stack) -> None:
    fp = stack.post_invoice("a", stack.docs["a"][11]).json()["items"][0]["invoice"]["fingerprint"]
    r = _void(stack, fp, {"reasonCode": "refunded", "reason": "x"})
    assert r.status_code == 422
    problem = r.json()
    assert problem["errors"][0]["field"] == "reasonCode"
    assert all(code.value in problem["errors"][0]["message"] for code in VoidReason)
    too_long = _void(stack, fp, {"reasonCode": "refund", "reason": "x" * 501})
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "reason"
    for nothing in ({}, {"reason": "  "}, {"reasonCode": None}):
        r = _void(stack, fp, nothing)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reasonCode", (nothing, r.text)
    assert stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth("a")).json()["void"] is None


def test_a_repeat_is_idempotent_and_another_code_or_note_conflicts(stack: Stack) -> None:
    fp = stack.post_invoice("a", stack.docs["a"][12]).json()["items"][0]["invoice"]["fingerprint"]
    first = _void(stack, fp, {"reasonCode": "duplicate", "reason": "issued twice at window 3"})
    assert first.status_code == 202 and first.json()["state"] == "pending"
    again = _void(stack, fp, {"reasonCode": "duplicate", "reason": "issued twice at window 3"})
    assert again.status_code == 200 and again.json() == first.json()
    assert _void(stack, fp, {"reasonCode": "duplicate"}).json() == first.json()   # no note: the same void
    other_code = _void(stack, fp, {"reasonCode": "refund", "reason": "issued twice at window 3"})
    assert other_code.status_code == 409 and "'duplicate'" in other_code.json()["detail"]
    other_note = _void(stack, fp, {"reasonCode": "duplicate", "reason": "something else"})
    assert other_note.status_code == 409 and "another note" in other_note.json()["detail"]
    # the void was not changed by the refused requests
    stack.worker.drain()
    got = stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth("a")).json()["void"]
    assert (got["reasonCode"], got["reason"], got["state"]) == ("duplicate", "issued twice at window 3", "voided")
    assert [reason_from_bytes32(bytes.fromhex(e["args"]["reason"][2:])).code
            for e in _voided_events(stack, fp)] == [VoidReason.DUPLICATE]


def test_the_old_body_is_read_as_a_code_or_a_note_under_other(stack: Stack) -> None:
    exact = stack.post_invoice("a", stack.docs["a"][13]).json()["items"][0]["invoice"]["fingerprint"]
    free = stack.post_invoice("a", stack.docs["a"][14]).json()["items"][0]["invoice"]["fingerprint"]
    r = _void(stack, exact, {"reason": "amount-error"})
    assert r.status_code == 202 and (r.json()["reasonCode"], r.json()["reason"]) == ("amount-error", None)
    r = _void(stack, free, {"reason": "patient refunded at the counter"})
    assert r.status_code == 202
    assert (r.json()["reasonCode"], r.json()["reason"]) == ("other", "patient refunded at the counter")
    assert _void(stack, free, {"reason": "patient refunded at the counter"}).status_code == 200
    stack.worker.drain()
    codes = {fp: reason_from_bytes32(bytes.fromhex(_voided_events(stack, fp)[0]["args"]["reason"][2:])).code
             for fp in (exact, free)}
    assert codes == {exact: VoidReason.AMOUNT_ERROR, free: VoidReason.OTHER}


def test_a_void_stamped_before_reason_codes_still_indexes_and_displays(stack: Stack) -> None:
    """Before reason codes the hospital's text itself was the bytes32 reason; migration 0004
    gave such voids the code ``other`` in the store. Both views keep working."""
    from ledger.voids import VoidRequest

    doc = stack.docs["a"][9]
    fp = _anchored(stack, 9)
    old_text = "refund 退费 (window 2)"
    # the store's row as migration 0004 leaves it ...
    stack.service.store.request_void(parse_hash32(fp), issuer=doc["issuer"],
                                     request=VoidRequest(VoidReason.OTHER, old_text), actor="test")
    # ... and the chain's stamp as the old chain worker wrote it: the text, UTF-8, zero-padded
    proof = stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth("a")).json()["inclusionProof"]
    ledger = stack.session.ledger
    fn = ledger.contract.functions.voidInvoice(
        parse_hash32(fp), doc["totalFen"], parse_hash32(proof["batchRoot"]),
        [parse_hash32(p) for p in proof["proof"]], old_text.encode().ljust(32, b"\0"))
    ledger.send_pipelined([(stack.service.store.hospital(doc["issuer"]).account, fn, 300_000)])
    report = stack.worker.drain()          # the worker finds it voided already; the indexer records it
    assert not report.errors
    for _ in range(2):
        got = stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth("a")).json()
        assert got["state"] == "voided"
        assert (got["void"]["reasonCode"], got["void"]["reason"], got["void"]["state"]) == ("other", old_text,
                                                                                           "voided")
        verdict = stack.client.post("/v1/verify", json={"payload": got["qr"]}).json()
        assert verdict["status"] == "voided"
        assert verdict["online"]["void"]["reasonCode"] is None
        assert verdict["online"]["void"]["reasonOnChain"] == old_text
        assert old_text in verdict["reason"]
        stack.worker.reindex(reason="test: the index rebuilt from events")


def test_the_verdict_shows_the_code_read_from_chain(stack: Stack) -> None:
    fp = _anchored(stack, 8)
    _void(stack, fp, {"reasonCode": "patient-details-error", "reason": NOTE})
    stack.worker.drain()
    qr = stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth("a")).json()["qr"]
    verdict = stack.client.post("/v1/verify", json={"payload": qr}).json()
    assert verdict["status"] == "voided" and verdict["online"]["voided"] is True
    void = verdict["online"]["void"]
    assert (void["reasonCode"], void["reasonOnChain"]) == ("patient-details-error", "patient-details-error")
    assert void["tx"] == _voided_events(stack, fp)[0]["tx"]
    assert "patient-details-error" in verdict["reason"] and "Zhang" not in str(verdict)
    # a second verification answers the same from the cache
    assert stack.client.post("/v1/verify", json={"payload": qr}).json() == verdict
