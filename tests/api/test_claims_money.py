"""Money stays right (issue 11): a void that came first wins, a claw-back gives the year back,
and stamps lost with the chain's blocks are stamped again (embedded EVM, stamper ticked by hand).

The stamper runs no thread here: each test ticks it, so the order of the void, the chain's
stamps and the payout is the test's. The same races on anvil with 1 s blocks, with the
stamper and the chain worker running on their own, are in test_claims_void_race_anvil.py.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from claims_stack import PAYER, ClaimsStack, category_of, claims_fixture, make_claims_stack

from ledger.adapters.chains import open_embedded
from ledger.adapters.clock import SystemClock
from ledger.adapters.feed_client import HttpBatchFeed
from ledger.adapters.sql.store import INDEX_GENERATION
from ledger.app.mirror import InvoiceMirror
from ledger.records import Role

cs = claims_fixture(run_stamper=False, instant_max_fen=10**9)


cs_any = claims_fixture(every_database=True, run_stamper=False, instant_max_fen=10**9)


def _claimable(cs: ClaimsStack, n: int = 1, *, listing_of: ClaimsStack | None = None) -> list[tuple[str, str, int]]:
    """``n`` anchored invoices with something to pay back, of different persons: (fingerprint, national id,
    estimate), as each citizen's listing shows them (at ``listing_of``, default ``cs``)."""
    at = listing_of or cs
    found: list[tuple[str, str, int]] = []
    for fp, nid in cs.patients.items():
        if any(nid == f[1] for f in found):
            continue
        listing = at.client.get("/v1/me/invoices", headers=at.citizen(nid)).json()["invoices"]
        entry = next((i for i in listing if i["fingerprint"] == fp), None)
        if entry and entry["claimable"] and entry["estimateFen"]:
            found.append((fp, nid, entry["estimateFen"]))
            if len(found) == n:
                return found
    raise AssertionError(f"only {len(found)} claimable invoices of distinct persons in the test data")


def _submit(cs: ClaimsStack, nid: str, fp: str, key: str) -> str:
    """Store a claim as the API would, without waiting for its reservation: its id."""
    principal = cs.claims.authenticate(cs.citizen(nid)["Authorization"].removeprefix("Bearer "))
    _, claims, _ = cs.claims.submit(principal, fingerprints=[fp], idempotency_key=key)
    return claims[0].id


def _void(cs: ClaimsStack, fp: str, who: str = "a") -> None:
    r = cs.client.post(f"/v1/invoices/{fp}/void", json={"reason": "refund"}, headers=cs.auth(who))
    assert r.status_code in (200, 201, 202), r.text


def _chain(cs: ClaimsStack, fp: str) -> tuple[int, int]:
    """(reserved, paid) of the invoice on chain."""
    c = cs.claims.store.latest_claims([bytes.fromhex(fp[2:])])[bytes.fromhex(fp[2:])]
    st = cs.session.ledger.invoice_state(c.issuer, bytes.fromhex(fp[2:]))
    return st.reserved_fen, st.paid_fen


def _payments(cs: ClaimsStack) -> Counter[str]:
    return Counter(p.request_id for p in cs.bank.payments())


# ---------------------------------------------------------------------------------- void first wins


def test_a_void_the_service_accepted_blocks_new_claims_at_once(cs: ClaimsStack) -> None:
    """The void is only requested (not on chain yet: the chain worker has not run): the invoice is
    no longer claimable, a claim is refused and counted, and nothing is stored."""
    cs.upload_all()
    (fp, nid, _), = _claimable(cs)
    _void(cs, fp)
    entry = next(i for i in cs.client.get("/v1/me/invoices", headers=cs.citizen(nid)).json()["invoices"]
                 if i["fingerprint"] == fp)
    assert (entry["claimable"], entry["reason"]) == (False, "voided by the hospital")
    r = cs.claim(nid, [fp], "tap-after-void-1")
    assert r.status_code == 409 and "voided" in r.json()["detail"], r.text
    assert cs.client.get("/v1/claims", headers=cs.auth("auditor")).json()["claims"] == []
    blocked = cs.client.get("/v1/stats/claims", headers=cs.auth("auditor")).json()["blocked"]
    assert blocked["claimsOnVoidedInvoices"] == 1


def test_a_void_accepted_before_the_payout_refuses_the_claim_and_releases_it(cs: ClaimsStack) -> None:
    """Reserved and approved for instant payout; the hospital voids before the payout: the claim
    is refused, its reservation released, and the bank is never asked."""
    cs.upload_all()
    (fp, nid, _), = _claimable(cs)
    claim_id = _submit(cs, nid, fp, "tap-race-void-1")
    cs.stamper.tick(force_voids=True)                        # reserved
    c = cs.claims.store.claim(claim_id)
    assert (c.state, c.stamp) == ("approved", "reserved"), c
    _void(cs, fp)                                            # accepted; not on chain yet
    for _ in range(3):
        cs.stamper.tick(force_voids=True)
    c = cs.claims.store.claim(claim_id)
    assert (c.state, c.stamp, c.chain_todo) == ("refused", "released", None), c
    assert c.refusal == "the hospital voided the invoice"
    assert _payments(cs)[claim_id] == 0
    assert _chain(cs, fp) == (0, 0)
    cs.worker.drain()                                        # the void reaches the chain: nothing changes
    cs.stamper.drain()
    assert cs.claims.store.claim(claim_id).state == "refused" and cs.bank.total_paid() == 0
    assert cs.claims.store.year_to_date(c.person, c.scheme, c.year) == (0, 0)


def test_a_void_after_the_finalisation_was_sent_holds_the_payout_and_pays_nothing(cs: ClaimsStack) -> None:
    """The void arrives when the chain has finalised the claim but the bank has not paid: the payout
    waits for the void to reach the chain, then the claim is refused and nothing is paid. The chain
    keeps the finalisation (it cannot be undone): the database records that stamp as it is."""
    cs.upload_all()
    (fp, nid, _), = _claimable(cs)
    claim_id = _submit(cs, nid, fp, "tap-late-void-1")
    cs.stamper.tick(force_voids=True)                        # reserved, approved
    cs.stamper.tick(force_voids=True)                        # finalised; the payout comes next round
    c = cs.claims.store.claim(claim_id)
    assert (c.state, c.stamp, c.payment_ref) == ("approved", "finalized", None), c
    _void(cs, fp)
    cs.stamper.tick(force_voids=True)
    assert cs.claims.store.claim(claim_id).state == "approved" and _payments(cs)[claim_id] == 0   # held
    cs.worker.drain()                                        # the void is on chain, after the finalisation
    cs.stamper.drain()
    c = cs.claims.store.claim(claim_id)
    assert (c.state, c.stamp) == ("refused", "finalized"), c
    assert "nothing was paid" in c.refusal                   # type: ignore[operator]
    assert _payments(cs)[claim_id] == 0
    assert _chain(cs, fp) == (0, c.amount_fen)               # as the database records it: stamp finalized
    assert cs.claims.store.year_to_date(c.person, c.scheme, c.year) == (0, 0)


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[ClaimsStack, ClaimsStack, InvoiceMirror]]:
    """Payer A's service (the hospitals upload there) and payer B's, which mirrors A's invoices and
    knows of voids only what its own chain index tells it."""
    session = open_embedded()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = make_claims_stack(f"sqlite:///{tmp_path}/a.sqlite", tmp_path / "a", session=session, run_stamper=False,
                          instant_max_fen=10**9)
    b = make_claims_stack(f"sqlite:///{tmp_path}/b.sqlite", tmp_path / "b", session=session, payer="sx-huiminbao",
                          run_stamper=False, instant_max_fen=10**9)
    token = a.service.create_credential(role=Role.PAYER, subject="sx-huiminbao", label="B's mirror")
    mirror = InvoiceMirror(b.service.store, session.ledger,
                           HttpBatchFeed("http://testserver", token=token, client=a.client),
                           source="http://testserver", clock=SystemClock())
    yield a, b, mirror
    a.stop()
    b.stop()


def test_the_chain_decides_a_void_it_took_before_the_finalisation(two: Any) -> None:
    """Payer B's database has not heard of the void (its index lags): B's stamper sends the
    finalisation, the contract refuses it (the void is on chain first), and B releases and
    refuses the claim without paying."""
    a, b, mirror = two
    a.upload_all()
    b.patients.update(a.patients)
    while mirror.pull().batches:
        pass
    b.worker.drain()
    (fp, nid, _), = _claimable(b, listing_of=b)
    claim_id = _submit(b, nid, fp, "tap-b-race-1")
    b.stamper.tick(force_voids=True)                         # reserved at B, approved
    assert cs_state(b, claim_id) == ("approved", "reserved")
    _void(a, fp)
    a.worker.drain()                                         # voided on chain; B's index does not know
    b.stamper.tick(force_voids=True)                         # B finalises: refused by the contract
    c = b.claims.store.claim(claim_id)
    assert c.state == "refused" and "voided" in (c.refusal or ""), c
    b.stamper.drain()
    assert cs_state(b, claim_id) == ("refused", "released")
    assert _payments(b)[claim_id] == 0
    assert _chain(b, fp) == (0, 0)
    actions = [e["action"] for e in b.service.store.audit_trail(subject=claim_id)]
    assert "claim.refused" in actions and "claim.stamp.released" in actions


def cs_state(cs: ClaimsStack, claim_id: str) -> tuple[str, str | None]:
    c = cs.claims.store.claim(claim_id)
    return c.state, c.stamp


# ---------------------------------------------------------------------------------- a claw-back gives the year back


def _class_a_invoice(cs: ClaimsStack, nid: str, number: int, fen: int) -> dict[str, Any]:
    """An outpatient invoice of hospital "a" with one Class A line of ``fen``, paid in cash by ``nid``."""
    doc = copy.deepcopy(cs.docs["a"][0])
    line = {**doc["feeLines"][0], "seq": 1, "category": "A", "quantity": "1", "unitPriceFen": fen, "amountFen": fen,
            "itemCode": "001102000010000-110200001", "itemName": "门诊诊查费", "serviceDate": f"2024-03-0{number}"}
    doc.update(invoiceNumber=f"77000{number:05d}", issuedAt=f"2024-03-0{number}T10:00:00+08:00",
               visitType="outpatient", totalFen=fen, fundPaidFen=0, accountPaidFen=0, cashPaidFen=fen,
               feeLines=[line], patientId=nid)
    return doc


def test_a_clawback_gives_back_the_deductible_and_the_amount(cs_any: ClaimsStack) -> None:
    """¥800 of Class A care twice (employee: deductible ¥600, then 70 %). The first is paid ¥140,
    then voided and clawed back; the second is estimated and paid ¥140 too, as if the first had
    never been claimed (it was ¥560 before: the deductible stayed consumed). SQLite and PostgreSQL."""
    cs = cs_any
    nid = next(n for n in sorted({d["patientId"] for d in cs.docs["a"]}) if category_of(n) == "employee")
    first, second = _class_a_invoice(cs, nid, 1, 80_000), _class_a_invoice(cs, nid, 2, 80_000)
    r = cs.client.post("/v1/invoices", json=[first, second], headers=cs.auth("a"))
    assert r.status_code == 200, r.text
    fp1, fp2 = (item["invoice"]["fingerprint"] for item in r.json()["items"])
    cs.worker.drain()

    def estimate(fp: str) -> int:
        listing = cs.client.get("/v1/me/invoices", headers=cs.citizen(nid)).json()["invoices"]
        return int(next(i for i in listing if i["fingerprint"] == fp)["estimateFen"])

    assert estimate(fp1) == estimate(fp2) == 14_000
    claim1 = _submit(cs, nid, fp1, "tap-800-first")
    cs.stamper.drain()
    c1 = cs.claims.store.claim(claim1)
    assert (c1.state, c1.amount_fen, c1.deductible_used_fen) == ("paid", 14_000, 60_000)
    assert cs.claims.store.year_to_date(c1.person, c1.scheme, 2024) == (60_000, 14_000)
    assert estimate(fp2) == 56_000                       # the deductible is met: what the claw-back must undo

    _void(cs, fp1)
    cs.worker.drain()
    cs.stamper.drain()
    c1 = cs.claims.store.claim(claim1)
    assert c1.state == "clawback"
    assert cs.claims.store.year_to_date(c1.person, c1.scheme, 2024) == (0, 0)
    assert c1.decision["reversed"] == {"deductibleUsedFen": 60_000, "reimbursedFen": 14_000}
    shown = cs.client.get(f"/v1/claims/{claim1}", headers=cs.citizen(nid)).json()
    said = " ".join(shown["explanation"])
    assert "¥600.00 of deductible and ¥140.00 of reimbursement were taken off" in said, said
    audit = [e for e in cs.service.store.audit_trail(subject=claim1) if e["action"] == "claim.clawback"]
    assert audit and audit[0]["detail"]["reversed"] == {"deductibleUsedFen": 60_000, "reimbursedFen": 14_000}

    assert estimate(fp2) == 14_000
    claim2 = _submit(cs, nid, fp2, "tap-800-second")
    cs.stamper.drain()
    c2 = cs.claims.store.claim(claim2)
    assert (c2.state, c2.amount_fen, c2.deductible_used_fen) == ("paid", 14_000, 60_000)
    assert cs.claims.store.year_to_date(c2.person, c2.scheme, 2024) == (60_000, 14_000)


# ---------------------------------------------------------------------------------- lost blocks


@pytest.mark.parametrize("lost", ["stamps", "stamps-the-index-never-saw", "anchors-and-registrations"])
def test_stamps_lost_with_the_chains_blocks_are_stamped_again_under_the_same_id(cs: ClaimsStack, lost: str) -> None:
    """The chain goes back to a snapshot taken before the claims were stamped, or before the invoices
    were anchored and the payer registered. The paid claims stay paid, the bank pays nobody twice,
    and each claim is reserved and finalised again under its own chain claim id: the chain's paid
    figures equal the database's again.

    ``stamps`` and ``anchors-and-registrations``: the index had read the lost blocks, notices they
    are gone and is rebuilt (a new index generation), and the stamper checks every stamp.
    ``stamps-the-index-never-saw``: the index stopped before the lost blocks, so nothing looks
    wrong to it; the stamper's periodic check of its recent stamps finds them missing.
    """
    w3 = cs.session.ledger.w3
    for who in ("a", "b"):
        r = cs.client.post("/v1/invoices", json=cs.docs[who], headers=cs.auth(who))
        assert r.status_code == 200, r.text
        for doc, item in zip(cs.docs[who], r.json()["items"], strict=True):
            cs.patients[item["invoice"]["fingerprint"]] = doc["patientId"]
    if lost == "anchors-and-registrations":
        snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    cs.stamper.tick()                                        # registers the payer
    cs.worker.drain()                                        # registers the hospitals, anchors, indexes
    if lost != "anchors-and-registrations":
        snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    picked = _claimable(cs, 3)
    ids = [_submit(cs, nid, fp, f"tap-lost-{n}") for n, (fp, nid, _) in enumerate(picked)]
    cs.stamper.drain()
    if lost != "stamps-the-index-never-saw":
        cs.worker.drain()
    before = {i: cs.claims.store.claim(i) for i in ids}
    assert {c.state for c in before.values()} == {"paid"}
    assert all(_chain(cs, fp) == (0, before[i].amount_fen) for i, (fp, _, _) in zip(ids, picked, strict=True))
    generation = cs.service.store.get_meta(INDEX_GENERATION)

    w3.provider.make_request("evm_revert", [snapshot])      # type: ignore[arg-type]
    if lost != "anchors-and-registrations":                  # (else the chain no longer knows the hospitals)
        assert all(_chain(cs, fp) == (0, 0) for fp, _, _ in picked)   # the stamps are gone
    cs.worker.drain()                                        # notices (or not), rebuilds the index, re-anchors
    rebuilt = cs.service.store.get_meta(INDEX_GENERATION) != generation
    assert rebuilt is (lost != "stamps-the-index-never-saw")
    cs.stamper.drain()

    for (fp, _, _), claim_id in zip(picked, ids, strict=True):
        c = cs.claims.store.claim(claim_id)
        was = before[claim_id]
        assert (c.state, c.stamp, c.chain_todo) == ("paid", "finalized", None), c
        assert (c.chain_claim_id, c.payment_ref, c.amount_fen) == (was.chain_claim_id, was.payment_ref, was.amount_fen)
        assert cs.session.ledger.claim_of(PAYER, c.chain_claim_id)[:2] == ("finalized", c.amount_fen)
        assert _chain(cs, fp) == (0, c.amount_fen)
        actions = [e["action"] for e in cs.service.store.audit_trail(subject=claim_id)]
        assert "claim.stamp.lost" in actions, actions
    assert _payments(cs) == Counter({i: 1 for i in ids})


def test_a_void_of_another_hospitals_copy_of_a_fingerprint_voids_nothing_here(cs: ClaimsStack) -> None:
    """Fingerprints are public. Hospital B anchors a leaf with hospital A's fingerprint in a batch of
    its own and voids it on chain: the contract keeps invoices per issuer, so only B's copy is void.
    A's invoice stays claimable here, and a claim on it is neither refused nor clawed back."""
    from ledger.batch import Batch
    from ledger.hashing import Fingerprint
    from ledger.voids import VoidReason

    cs.upload_all()
    (fp, nid, _), = _claimable(cs)
    total = cs.client.get(f"/v1/invoices/{fp}", headers=cs.auth("a")).json()["totalFen"]
    b_code = cs.docs["b"][0]["issuer"]
    b_account = cs.service.store.hospital(b_code).account
    if b_account not in cs.session.keyring:
        cs.session.keyring.hold(cs.service.hospital_signer(b_code))
    copy = Batch(b_code, ((Fingerprint(bytes.fromhex(fp[2:])), total),))
    cs.session.ledger.anchor_batch(hospital=b_account, root=copy.root, leaf_count=copy.leaf_count)
    cs.session.ledger.void_invoice(hospital=b_account, fingerprint=Fingerprint(bytes.fromhex(fp[2:])), total_fen=total,
                                   batch_root=copy.root, proof=copy.proof(bytes.fromhex(fp[2:])).proof,
                                   reason=VoidReason.ISSUED_IN_ERROR)
    cs.worker.drain()   # the index now holds InvoiceVoided(fp, B)
    entry = next(i for i in cs.client.get("/v1/me/invoices", headers=cs.citizen(nid)).json()["invoices"]
                 if i["fingerprint"] == fp)
    assert entry["claimable"] and entry["state"] == "anchored", entry
    r = cs.claim(nid, [fp], "tap-copy-void-1")
    assert r.status_code in (200, 201, 202), r.text
    claim_id = r.json()["claims"][0]["id"]
    cs.stamper.drain()
    assert cs.claims.store.claim(claim_id).state in ("paid", "in-review", "approved"), cs.claims.store.claim(claim_id)
