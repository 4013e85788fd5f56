"""A person's later payout keeps back what they owe (issue 13 §5 "offset against a later payment"),
exactly once, whatever crashes around the bank.

The person (an employee: deductible ¥600, then 70 %) is paid ¥140 for ¥800 of Class A care; a
post-payment audit finds repeat prescriptions, so they owe the ¥140 back. Their next claim,
¥1,000 of care, pays ¥280 (the claw-back gave the deductible back: (1,000 − 600) × 70 %): the
payout keeps back ¥140 and the bank transfers ¥140. The stamper is ticked by hand; a "crash" is
a failpoint that raises out of the round, after which a new stamper (nothing in memory) takes
over, as after a restart.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, NoReturn

import pytest
from claims_stack import ClaimsStack, claims_fixture
from clawback_support import class_a_invoice, employee, get_as, paid_claim, upload

from ledger.app import failpoint
from ledger.app.claim_worker import ClaimStamper
from ledger.errors import BankUnavailable

DEBT, PAYOUT = 14_000, 28_000


class Crash(BaseException):
    """The process dies here (nothing after it in the round runs)."""


def _crash(name: str) -> NoReturn:
    raise Crash(name)


cs = claims_fixture(run_stamper=False, instant_max_fen=10**9)


cs_any = claims_fixture(every_database=True, run_stamper=False, instant_max_fen=10**9)


def owes(cs: ClaimsStack, *, later_fen: int = 100_000) -> tuple[str, dict[str, Any], str]:
    """(national id, the claw-back the person owes, the fingerprint of their later invoice)."""
    nid = employee(cs)
    fp1, fp2 = upload(cs, [class_a_invoice(cs, nid, 1, 80_000), class_a_invoice(cs, nid, 2, later_fen)])
    first = paid_claim(cs, nid, fp1, "tap-offset-first", drawn=True)
    assert first["amountFen"] == DEBT
    r = cs.client.post(f"/v1/claims/{first['id']}/post-audit", json={
        "outcome": "finding", "code": "repeat-prescriptions", "reason": "the same drugs at three hospitals"},
        headers=cs.auth("payer2"))
    assert r.status_code == 200, r.text
    cb = get_as(cs, f"/v1/claims/{first['id']}/clawback", cs.auth("payer")).json()
    assert (cb["debtor"]["kind"], cb["outstandingFen"]) == ("person", DEBT)
    return nid, cb, fp2


def file(cs: ClaimsStack, nid: str, fp: str, key: str = "tap-offset-later") -> str:
    r = cs.claim(nid, [fp], key)
    assert r.status_code in (201, 202), r.text
    return str(r.json()["claims"][0]["id"])


def payments(cs: ClaimsStack) -> Counter[str]:
    return Counter(p.request_id for p in cs.bank.payments())


def settle(cs: ClaimsStack, claim_id: str, cb_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new stamper (as after a restart) pays what is due: (the claim, the claw-back)."""
    ClaimStamper(cs.claims, cs.session, cs.bank).drain()
    return (get_as(cs, f"/v1/claims/{claim_id}", cs.auth("payer")).json(),
            get_as(cs, f"/v1/clawbacks/{cb_id}", cs.auth("payer")).json())


def assert_kept_back_once(cs: ClaimsStack, claim: dict[str, Any], cb: dict[str, Any], *, kept: int) -> None:
    assert claim["state"] == "paid" and claim["amountFen"] == PAYOUT
    assert (claim["payment"]["keptBackFen"], claim["payment"]["transferredFen"]) == (kept, PAYOUT - kept)
    transfers = [p for p in cs.bank.payments() if p.request_id == claim["id"]]
    assert [p.amount_fen for p in transfers] == ([PAYOUT - kept] if kept < PAYOUT else [])
    assert cb["offsetFen"] == kept and cb["pendingOffsetFen"] == 0
    assert cb["outstandingFen"] == DEBT - kept
    steps = [(a["action"], a["amountFen"], a["payout"]) for a in cb["actions"] if a["payout"]]
    assert steps == [("offset-planned", kept, claim["id"]), ("offset", kept, claim["id"])]


def test_a_later_payout_keeps_back_what_the_person_owes(cs_any: ClaimsStack) -> None:
    """SQLite and PostgreSQL: ¥280 due, ¥140 owed: ¥140 kept back, ¥140 transferred; the claw-back is offset."""
    cs = cs_any
    nid, cb, fp = owes(cs)
    later = file(cs, nid, fp)
    claim, after = settle(cs, later, cb["id"])
    assert_kept_back_once(cs, claim, after, kept=DEBT)
    assert (after["state"], after["closedAt"] is not None) == ("offset", True)
    # the person sees both sides; every step is in both claims' audit trails
    mine = get_as(cs, f"/v1/clawbacks/{cb['id']}", cs.citizen(nid)).json()
    assert mine["state"] == "offset"
    trail = [e["action"] for e in get_as(cs, f"/v1/claims/{cb['claim']}/audit", cs.auth("auditor")).json()["entries"]]
    assert trail[-3:] == ["clawback.requested", "clawback.offset-planned", "clawback.offset"]
    assert payments(cs)[later] == 1


def test_a_debt_larger_than_the_payout_keeps_all_of_it_back_and_asks_the_bank_for_nothing(cs: ClaimsStack) -> None:
    nid, cb, fp = owes(cs, later_fen=70_000)     # ¥700: (700 − 600) × 70 % = ¥70 due, ¥140 owed
    later = file(cs, nid, fp)
    claim, after = settle(cs, later, cb["id"])
    assert claim["amountFen"] == 7_000 and claim["payment"]["keptBackFen"] == 7_000
    assert claim["payment"]["transferredFen"] == 0 and payments(cs)[later] == 0
    assert (after["state"], after["offsetFen"], after["outstandingFen"]) == ("requested", 7_000, 7_000)


@pytest.mark.parametrize("point", ["claims.before-payout", "claims.after-offset", "claims.after-payout"])
def test_a_crash_around_the_offset_never_pays_twice_nor_keeps_back_twice(cs: ClaimsStack,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          point: str) -> None:
    nid, cb, fp = owes(cs)
    later = file(cs, nid, fp)
    stamper = ClaimStamper(cs.claims, cs.session, cs.bank)
    with monkeypatch.context() as m:
        m.setitem(failpoint._armed, point, _crash)
        with pytest.raises(Crash):
            for _ in range(20):
                stamper.tick(force_voids=True)
    stored = cs.claims.store.claim(later)
    assert (stored.state, stored.payment_ref) == ("approved", None)
    planned = {"claims.before-payout": None, "claims.after-offset": DEBT, "claims.after-payout": DEBT}[point]
    assert stored.offset_fen == planned
    assert payments(cs)[later] == (1 if point == "claims.after-payout" else 0)
    # the debt is held for that payout (or not yet planned): nobody can settle it twice meanwhile
    held = get_as(cs, f"/v1/clawbacks/{cb['id']}", cs.auth("payer")).json()
    assert held["pendingOffsetFen"] == (planned or 0)
    r = cs.client.post(f"/v1/clawbacks/{cb['id']}/recover", json={"amountFen": DEBT, "reference": "BANK-X"},
                       headers=cs.auth("payer"))
    assert r.status_code == (409 if planned else 200), r.text
    if not planned:   # recovered before the payout planned anything: the payout is made in full
        claim, after = settle(cs, later, cb["id"])
        assert claim["payment"]["keptBackFen"] == 0 and [p.amount_fen for p in cs.bank.payments()
                                                          if p.request_id == later] == [PAYOUT]
        assert (after["state"], after["recoveredFen"], after["offsetFen"]) == ("recovered", DEBT, 0)
        return
    claim, after = settle(cs, later, cb["id"])
    assert_kept_back_once(cs, claim, after, kept=DEBT)
    ClaimStamper(cs.claims, cs.session, cs.bank).drain()     # and once more: nothing changes
    assert payments(cs)[later] == 1
    assert get_as(cs, f"/v1/clawbacks/{cb['id']}", cs.auth("payer")).json()["actions"] == after["actions"]


def test_a_payout_the_bank_made_in_full_before_a_crash_stays_in_full(cs: ClaimsStack,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The bank paid the later claim, the service died before recording it, and only then was the debt
    found: the payout is recorded as the bank made it (in full); the debt waits for another payout."""
    nid = employee(cs)
    fp1, fp2 = upload(cs, [class_a_invoice(cs, nid, 1, 80_000), class_a_invoice(cs, nid, 2, 100_000)])
    first = paid_claim(cs, nid, fp1, "tap-full-first", drawn=True)
    later = file(cs, nid, fp2, "tap-full-later")
    with monkeypatch.context() as m:
        m.setitem(failpoint._armed, "claims.after-payout", _crash)
        with pytest.raises(Crash):
            for _ in range(20):
                ClaimStamper(cs.claims, cs.session, cs.bank).tick(force_voids=True)
    assert payments(cs)[later] == 1
    r = cs.client.post(f"/v1/claims/{first['id']}/post-audit", json={
        "outcome": "finding", "code": "not-entitled", "reason": "not insured that month"}, headers=cs.auth("payer2"))
    assert r.status_code == 200, r.text
    cb = get_as(cs, f"/v1/claims/{first['id']}/clawback", cs.auth("payer")).json()
    claim, after = settle(cs, later, cb["id"])
    # (the later claim was judged while the first still counted: the deductible was met, ¥1,000 × 70 %)
    assert claim["state"] == "paid" and claim["payment"]["keptBackFen"] == 0
    assert [p.amount_fen for p in cs.bank.payments() if p.request_id == later] == [claim["amountFen"]]
    assert (after["state"], after["pendingOffsetFen"], after["outstandingFen"]) == ("requested", 0, DEBT)


def test_a_recovery_racing_the_payouts_offset_takes_the_money_once(cs_any: ClaimsStack) -> None:
    """SQLite and PostgreSQL: the office records the whole debt recovered while the stamper pays the later
    claim. Whichever comes first settles it; the other finds nothing left (the payout is then made in
    full, or the recovery refused), and never is more than the debt settled."""
    cs = cs_any
    nid, cb, fp = owes(cs)
    later = file(cs, nid, fp)
    stamper = ClaimStamper(cs.claims, cs.session, cs.bank)
    start = threading.Barrier(2)
    answer: list[Any] = []

    def office() -> None:
        start.wait()
        answer.append(cs.client.post(f"/v1/clawbacks/{cb['id']}/recover", json={
            "amountFen": DEBT, "reference": "BANK-RACE"}, headers=cs.auth("payer")))

    def payout() -> None:
        start.wait()
        stamper.drain()

    threads = [threading.Thread(target=office), threading.Thread(target=payout)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    claim, after = settle(cs, later, cb["id"])
    recovered = answer[0].status_code == 200
    assert answer[0].status_code in (200, 409), answer[0].text
    kept = 0 if recovered else DEBT
    assert claim["payment"]["keptBackFen"] == kept
    assert [p.amount_fen for p in cs.bank.payments() if p.request_id == later] == [PAYOUT - kept]
    assert after["recoveredFen"] + after["offsetFen"] == DEBT and after["outstandingFen"] == 0
    assert after["state"] == ("recovered" if recovered else "offset")


def test_a_payout_never_made_gives_the_debt_back(cs: ClaimsStack) -> None:
    """The offset is planned, then the hospital voids the later invoice before the payout: nothing is paid,
    and what was to be kept back is owed again."""
    nid, cb, fp = owes(cs)
    later = file(cs, nid, fp)
    stamper = ClaimStamper(cs.claims, cs.session, cs.bank)
    with pytest.MonkeyPatch.context() as m:   # stop right after the plan: the bank is not asked yet
        m.setitem(failpoint._armed, "claims.after-offset", _crash)
        with pytest.raises(Crash):
            for _ in range(20):
                stamper.tick(force_voids=True)
    assert get_as(cs, f"/v1/clawbacks/{cb['id']}", cs.auth("payer")).json()["pendingOffsetFen"] == DEBT
    r = cs.client.post(f"/v1/invoices/{fp}/void", json={"reasonCode": "refund"}, headers=cs.auth("a"))
    assert r.status_code in (200, 201, 202), r.text
    cs.worker.drain()
    claim, after = settle(cs, later, cb["id"])
    assert claim["state"] == "refused" and payments(cs)[later] == 0
    assert (after["state"], after["pendingOffsetFen"], after["offsetFen"], after["outstandingFen"]) == (
        "requested", 0, 0, DEBT)
    assert [a["action"] for a in after["actions"]][-2:] == ["offset-planned", "offset-cancelled"]
    # and it can be settled again, by the office
    r = cs.client.post(f"/v1/clawbacks/{cb['id']}/recover", json={"amountFen": DEBT, "reference": "BANK-9"},
                       headers=cs.auth("payer"))
    assert r.status_code == 200 and r.json()["state"] == "recovered"


def _paid_at_the_bank_then_voided(cs: ClaimsStack, monkeypatch: pytest.MonkeyPatch, key: str) -> str:
    """A claim of ¥140 the bank paid once while the service died before recording it (the crash right
    after the payout), then its invoice voided by the hospital and the void on chain; its id."""
    nid = employee(cs)
    fp, = upload(cs, [class_a_invoice(cs, nid, 1, 80_000)])
    claim_id = file(cs, nid, fp, key)
    with monkeypatch.context() as m:
        m.setitem(failpoint._armed, "claims.after-payout", _crash)
        with pytest.raises(Crash):
            for _ in range(20):
                ClaimStamper(cs.claims, cs.session, cs.bank).tick(force_voids=True)
    assert payments(cs)[claim_id] == 1
    r = cs.client.post(f"/v1/invoices/{fp}/void", json={"reasonCode": "refund"}, headers=cs.auth("a"))
    assert r.status_code in (200, 201, 202), r.text
    cs.worker.drain()                                   # the void goes on chain
    return claim_id


def test_a_payout_the_bank_made_before_a_crash_and_a_void_becomes_a_clawback_not_a_refusal(
        cs_any: ClaimsStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bank paid, the service died before recording it, and the hospital voided the invoice
    meanwhile: the money moved, so the claim is paid and owed back by the hospital, not refused as
    though nothing was paid (a refusal would lose track of ¥140 the person holds)."""
    cs = cs_any
    claim_id = _paid_at_the_bank_then_voided(cs, monkeypatch, "tap-paid-then-void")
    ClaimStamper(cs.claims, cs.session, cs.bank).drain()   # a new stamper, as after the restart
    claim = get_as(cs, f"/v1/claims/{claim_id}", cs.auth("payer")).json()
    assert claim["state"] == "clawback", claim
    assert claim["payment"]["reference"] == next(p.reference for p in cs.bank.payments() if p.request_id == claim_id)
    cb = get_as(cs, f"/v1/claims/{claim_id}/clawback", cs.auth("payer")).json()
    assert (cb["debtor"]["kind"], cb["reason"]["code"], cb["amountDueFen"]) == ("hospital", "invoice-voided", 14_000)
    assert payments(cs)[claim_id] == 1


def test_a_void_waits_while_the_bank_cannot_say_whether_it_paid(cs: ClaimsStack,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The same, but the bank cannot be reached when the void is applied: the claim is neither refused
    nor clawed back until the bank says what it did."""
    claim_id = _paid_at_the_bank_then_voided(cs, monkeypatch, "tap-bank-down-void")

    def down(request_id: str) -> NoReturn:
        raise BankUnavailable("the bank is down")
    with monkeypatch.context() as m:
        m.setattr(cs.bank, "payment", down)
        report = ClaimStamper(cs.claims, cs.session, cs.bank).tick(force_voids=True)
        assert any(claim_id in e for e in report.errors), report.errors
        assert get_as(cs, f"/v1/claims/{claim_id}", cs.auth("payer")).json()["state"] == "approved"
    ClaimStamper(cs.claims, cs.session, cs.bank).drain()
    assert get_as(cs, f"/v1/claims/{claim_id}", cs.auth("payer")).json()["state"] == "clawback"
