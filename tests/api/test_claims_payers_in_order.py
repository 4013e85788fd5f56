"""Payers in order (issue 13 §3), over HTTP: two payers, two services, two databases, one chain.

Payer A is basic insurance (rank 1: deductible ¥100, 70 %). Payer B is a commercial
supplement after it: 50 % of what A left of the eligible amount, no deductible, Class B
first self-pay as A's, Class C never (its rule set below). Whichever files first, B pays
at most ``half_up((eligible − what A holds) × 50 %)`` and the two together never more than
B's eligible amount (so no Class C fen), which the test computes from the fee lines itself.
B's clock is pinned to the days the invoices were issued (the test data is of 2024) and
moved past the window to see B stop waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from claims_stack import PAYER, ClaimsStack, make_claims_stack

from ledger.adapters.chains import open_embedded
from ledger.adapters.clock import SystemClock
from ledger.adapters.feed_client import HttpBatchFeed
from ledger.app.mirror import InvoiceMirror
from ledger.claims.states import ClaimState
from ledger.records import Role
from ledger.rules import RuleBook, load_ruleset
from ledger.rules.adjudicate import half_up

PAYER_B = "sx-huiminbao"
WAITING = "waiting-for-earlier-payers"
TIERS = [{"fromUnitPriceFen": 0, "selfPayBp": 1000}, {"fromUnitPriceFen": 10000, "selfPayBp": 2000}]
BASIC_PERSON = {"deductibleFen": 10_000, "ratioBp": 7000, "annualCapFen": 10**9}
BASIC = {
    "id": "zj-basic-in-order", "version": 1, "payer": PAYER, "scheme": "basic", "effectiveFrom": "2024-01-01",
    "effectiveTo": None, "persons": {"employee": BASIC_PERSON, "retired": BASIC_PERSON, "resident": BASIC_PERSON},
    "classBFirstSelfPay": TIERS, "coordination": {"rank": 1, "base": "own-eligible"},
}
PERSON = {"deductibleFen": 0, "ratioBp": 5000, "annualCapFen": 10**9}
SUPPLEMENT = {
    "id": "sx-supplement-in-order", "version": 1, "payer": PAYER_B, "scheme": "supplement",
    "effectiveFrom": "2024-01-01", "effectiveTo": None,
    "persons": {"employee": PERSON, "retired": PERSON, "resident": PERSON}, "classBFirstSelfPay": TIERS,
    "coordination": {"rank": 4, "base": "left-by-earlier", "after": [PAYER], "waitDays": 10},
}


class PinnedClock:
    """B's clock, set by the test (the Clock port: use cases read the time only through it)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


BEFORE_ALL = datetime(2024, 1, 1, tzinfo=UTC)      # before any invoice of the test data: every window open
AFTER_ALL = datetime(2025, 2, 1, tzinfo=UTC)       # every window of 10 days passed


@pytest.fixture
def two(database_url: str, tmp_path: Path) -> Iterator[tuple[ClaimsStack, ClaimsStack, PinnedClock]]:
    """A on SQLite, B (whose claims wait and are decided under the person's lock) on SQLite and PostgreSQL."""
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    session = open_embedded()
    a = make_claims_stack(f"sqlite:///{tmp_path}/a.sqlite", tmp_path / "a", session=session, run_stamper=False,
                          instant_max_fen=10**9, rulebook=RuleBook([load_ruleset(BASIC)]))
    b = make_claims_stack(database_url, tmp_path / "b", session=session, payer=PAYER_B,
                          run_stamper=False, instant_max_fen=10**9,
                          rulebook=RuleBook([load_ruleset(SUPPLEMENT)]))
    clock = PinnedClock(BEFORE_ALL)
    b.claims.clock = clock
    feed_token = a.service.create_credential(role=Role.PAYER, subject=PAYER_B, label="B's mirror")
    mirror = InvoiceMirror(b.service.store, session.ledger,
                           HttpBatchFeed("http://testserver", token=feed_token, client=a.client),
                           source="http://testserver", clock=SystemClock())
    a.upload_all("a")
    a.upload_all("b")
    while mirror.pull().batches:
        pass
    b.worker.drain()
    # both stampers, and B's chain worker (its index of the chain holds A's stamps), run all
    # along, as in ``ebill serve`` (a claim request waits for its reservation)
    stop = threading.Event()

    def stamp() -> None:
        while not stop.is_set():
            a.stamper.tick()
            b.worker.tick()
            b.stamper.tick(force_voids=True)
            stop.wait(0.005)

    stamper = threading.Thread(target=stamp, name="stampers", daemon=True)
    stamper.start()
    yield a, b, clock
    stop.set()
    stamper.join(timeout=10)
    a.stop()
    b.stop()


def supplement_eligible(doc: dict[str, Any]) -> int:
    """B's eligible amount, from the fee lines (a reference apart from the rules engine): Class A in
    full, Class B less 10 % (unit price under ¥100) or 20 % first self-pay, Class C nothing."""
    total = 0
    for line in doc["feeLines"]:
        if line["category"] == "A":
            total += line["amountFen"]
        elif line["category"] == "B":
            bp = 2000 if line["unitPriceFen"] >= 10000 else 1000
            total += line["amountFen"] - half_up(Fraction(line["amountFen"] * bp, 10000))
    return total


def _docs(a: ClaimsStack) -> dict[str, dict[str, Any]]:
    by_key = {(d["issuer"], d["invoiceCode"], d["invoiceNumber"]): d for ds in a.docs.values() for d in ds}
    out = {}
    for fp in a.patients:
        detail = a.client.get(f"/v1/invoices/{fp}", headers=a.auth("payer")).json()
        out[fp] = by_key[(detail["issuer"], detail["invoiceCode"], detail["invoiceNumber"])]
    return out


def _paid_by_a(a: ClaimsStack, n: int) -> list[tuple[str, str]]:
    """``n`` invoices (fingerprint, national id) of distinct persons that A pays something for
    at once (no review flag): A's estimate is above 0 and the invoice raises no flag."""
    found: list[tuple[str, str]] = []
    for fp, nid in a.patients.items():
        if any(nid == f[1] for f in found):
            continue
        listing = a.client.get("/v1/me/invoices", headers=a.citizen(nid)).json()["invoices"]
        entry = next((i for i in listing if i["fingerprint"] == fp), None)
        if entry and entry["claimable"] and entry["estimateFen"]:
            found.append((fp, nid))
            if len(found) == n:
                return found
    raise AssertionError(f"only {len(found)} invoices A pays for, of distinct persons")


def _claim(stack: ClaimsStack, fp: str, nid: str, key: str) -> dict[str, Any]:
    r = stack.claim(nid, [fp], key)
    assert r.status_code in (200, 201, 202), r.text
    body: dict[str, Any] = r.json()["claims"][0]
    return body


def _latest(stack: ClaimsStack, fp: str) -> dict[str, Any] | None:
    c = stack.claims.store.latest_claims([bytes.fromhex(fp[2:])]).get(bytes.fromhex(fp[2:]))
    if c is None:
        return None
    got: dict[str, Any] = stack.client.get(f"/v1/claims/{c.id}", headers=stack.auth("auditor")).json()
    return got


def _settle(a: ClaimsStack, b: ClaimsStack, *, timeout: float = 20.0) -> None:
    """A's stamps first, then B's index sees them (its chain worker runs in the background), B
    decides its waiting claims, then B's stamps."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        a.stamper.drain()
        b.stamper.drain()
        if not b.claims.store.claims(states=[ClaimState.WAITING], limit=1):
            b.stamper.drain()
            return
        time.sleep(0.05)


def _held(c: dict[str, Any] | None) -> int:
    """What a claim holds of the invoice (reserved or paid)."""
    if c is None or c["state"] in ("refused", "rejected", "nothing-payable", WAITING):
        return 0
    return int(c["amountFen"])


def _check_in_order(a: ClaimsStack, b: ClaimsStack, fp: str, doc: dict[str, Any]) -> tuple[int, int]:
    """B decided after A, with A's final figure: B pays half of what A left of B's eligible
    amount, and the two together never more than that eligible amount. (A's, B's amounts)."""
    ca, cb = _latest(a, fp), _latest(b, fp)
    assert cb is not None and cb["state"] != WAITING, cb
    eligible = supplement_eligible(doc)
    held_a = _held(ca)
    seen = cb["decision"]["earlierPayers"]["payers"][0]
    assert seen["payer"] == PAYER and seen["paidFen"] + seen["reservedFen"] == held_a
    assert cb["decision"]["eligibleFen"] == eligible
    expected = min(half_up(Fraction(max(0, eligible - held_a) * 5000, 10000)),
                   doc["totalFen"] - doc["fundPaidFen"] - held_a)
    assert cb["decidedFen"] == half_up(Fraction(max(0, eligible - held_a) * 5000, 10000))
    assert _held(cb) == (expected if cb["state"] != "refused" else 0), cb
    class_c = sum(line["amountFen"] for line in doc["feeLines"] if line["category"] == "C")
    assert held_a + _held(cb) <= eligible <= doc["totalFen"] - class_c
    chain = a.session.ledger.invoice_state(doc["issuer"], bytes.fromhex(fp[2:]))
    assert chain.reserved_fen + chain.paid_fen == held_a + _held(cb) <= doc["totalFen"]
    return held_a, _held(cb)


def test_the_supplement_filed_first_waits_then_pays_half_of_what_basic_left(two: Any) -> None:
    a, b, _ = two
    docs = _docs(a)
    chosen = _paid_by_a(a, 4)
    early, late = chosen[:2], chosen[2:]
    for fp, nid in early:
        c = _claim(b, fp, nid, f"b-early-{fp[2:14]}")
        assert c["state"] == WAITING and c["amountFen"] == 0 and c["stamp"]["pending"] is None
        assert c["explanation"][0].startswith(f"Not decided yet: waiting for {PAYER} to decide first")
    r = b.claim(early[0][1], [early[0][0]], "b-early-status")
    assert r.status_code == 409   # one live claim per invoice: the waiting one
    b.stamper.drain()
    assert all(_latest(b, fp)["state"] == WAITING for fp, _ in early)   # type: ignore[index]
    for fp, nid in chosen:
        assert _claim(a, fp, nid, f"a-{fp[2:14]}")["state"] in ("submitted", "approved", "paid")
    a.stamper.drain()
    assert all(_latest(a, fp)["state"] == "paid" for fp, _ in chosen)   # type: ignore[index]
    for fp, nid in late:   # A decided already: B decides at once
        c = _claim(b, fp, nid, f"b-late-{fp[2:14]}")
        assert c["state"] != WAITING
    _settle(a, b)
    for fp, _ in chosen:
        held_a, _ = _check_in_order(a, b, fp, docs[fp])
        assert held_a > 0
        cb = _latest(b, fp)
        assert cb is not None and cb["state"] in ("paid", "nothing-payable", "refused"), cb
        said = " ".join(cb["explanation"])
        assert f"Earlier payer {PAYER}: ¥" in said and "it has decided" in said
    assert b.bank.total_paid() == sum(_held(_latest(b, fp)) for fp, _ in chosen)


def test_whichever_files_first_two_payers_never_pay_more_than_the_supplement_allows(two: Any) -> None:
    a, b, _ = two
    docs = _docs(a)
    chosen = _paid_by_a(a, 6)
    lock = threading.Lock()
    statuses: list[int] = []

    def tap(stack: ClaimsStack, fp: str, nid: str, key: str) -> None:
        r = stack.claim(nid, [fp], key)
        with lock:
            statuses.append(r.status_code)

    jobs = []
    for i, (fp, nid) in enumerate(chosen):
        pair = [(a, fp, nid, f"A-{fp[2:14]}"), (b, fp, nid, f"B-{fp[2:14]}")]
        jobs += pair if i % 2 else pair[::-1]    # half the invoices claimed at B first
        jobs += [(b, fp, nid, f"B-{fp[2:14]}")]  # a retry under the same key
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda j: tap(*j), jobs))
    assert set(statuses) <= {200, 201, 202}, statuses
    _settle(a, b)
    waited = 0
    for fp, _ in chosen:
        _check_in_order(a, b, fp, docs[fp])
        trail = b.service.store.audit_trail(subject=_latest(b, fp)["id"])   # type: ignore[index]
        waited += any(e["action"] == "claim.decided-after-earlier" for e in trail)
    assert waited >= 1, "no claim at B had to wait for A: the order was not exercised"
    assert a.bank.total_paid() + b.bank.total_paid() == sum(
        a.session.ledger.invoice_state(docs[fp]["issuer"], bytes.fromhex(fp[2:])).paid_fen for fp, _ in chosen)


def test_once_the_window_passes_the_supplement_decides_with_what_is_known(two: Any) -> None:
    a, b, clock = two
    docs = _docs(a)
    [(fp, nid)] = _paid_by_a(a, 1)
    assert _claim(b, fp, nid, "b-window")["state"] == WAITING
    b.stamper.drain()
    assert _latest(b, fp)["state"] == WAITING   # type: ignore[index]
    clock.at = AFTER_ALL   # A never claimed: ten days after the issue time B stops waiting
    b.stamper.drain()
    cb = _latest(b, fp)
    assert cb is not None and cb["state"] == "paid", cb
    eligible = supplement_eligible(docs[fp])
    assert cb["amountFen"] == half_up(Fraction(eligible * 5000, 10000))   # nothing of A's on chain
    assert cb["decision"]["earlierPayers"]["windowPassed"] is True
    assert any("Decided without waiting longer for 330600-ybj: 10 days" in s for s in cb["explanation"])
    # A (the first payer) then pays by its own rules, limited only by the invoice total on chain
    _claim(a, fp, nid, "a-after-window")
    a.stamper.drain()
    chain = a.session.ledger.invoice_state(docs[fp]["issuer"], bytes.fromhex(fp[2:]))
    assert chain.paid_fen == _held(_latest(a, fp)) + cb["amountFen"] <= docs[fp]["totalFen"]


def test_a_void_refuses_a_waiting_claim(two: Any) -> None:
    a, b, _ = two
    [(fp, nid)] = _paid_by_a(a, 1)
    assert _claim(b, fp, nid, "b-void-01")["state"] == WAITING
    who = next(name for name, ds in a.docs.items()
               if any(d["patientId"] == nid for d in ds) and fp in a.patients)
    r = a.client.post(f"/v1/invoices/{fp}/void", json={"reason": "refund"}, headers=a.auth(who))
    assert r.status_code in (200, 201, 202), r.text
    for _ in range(50):
        a.worker.drain()
        b.stamper.drain()
        cb = _latest(b, fp)
        if cb is not None and cb["state"] == "refused":
            break
    assert cb is not None and cb["state"] == "refused" and cb["stamp"]["pending"] is None, cb
    assert b.bank.total_paid() == 0
