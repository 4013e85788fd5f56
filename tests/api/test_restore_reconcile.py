"""After the restore drill (test_restore_drill.py): what the chain did after the backup, set right.

Every claim here goes to review (no instant payouts). Before the backup two claims are in
review; after it one is approved and paid, the other approved and finalised on chain but not
paid yet; two more are filed after the backup (forgotten by the restore): one paid, one only
reserved. After restoring the older backup and starting again on the same chain:

- the two claims the chain is ahead of cannot be reviewed (409), and the stamper records them
  from the bank: the paid one with the bank's original payment, the other paid once now;
- nothing is paid twice, however often the stamper runs;
- the payer's listing says the forgotten claims' invoices are not claimable, in words;
- `release-forgotten` gives back the forgotten reservation (after the grace period, under the
  stamper's lease), never the paid stamp, even when the index wrongly says it is reserved;
  the released invoice can be claimed again.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from claims_stack import PAYER, make_claims_stack
from test_restore_drill import claimable, ebill, hospital_of, payments, reopen, submit

from ledger.app.forgotten import release_forgotten
from ledger.claims.reconcile import RECONCILED
from ledger.errors import Conflict
from ledger.leadership import stamper_lease

PAYER_ID = "330600-ybj"


def test_claims_the_chain_paid_after_the_backup_and_forgotten_reservations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ebill.sqlite"
    cs = make_claims_stack(url, tmp_path, run_stamper=False, instant_max_fen=0)
    cs.upload_all("a")
    cs.upload_all("b")
    (fp_a, nid_a), (fp_b, nid_b), (fp_c, nid_c), (fp_d, nid_d), (fp_e, nid_e) = claimable(cs, 5)
    a = submit(cs, nid_a, fp_a, "reconcile-key-0001")
    b = submit(cs, nid_b, fp_b, "reconcile-key-0002")
    e = submit(cs, nid_e, fp_e, "reconcile-key-0006")
    cs.stamper.drain()
    assert {cs.claims.store.claim(c).state for c in (a, b, e)} == {"in-review"}

    backup = tmp_path / "before.backup.tar"
    code, text = ebill(tmp_path, url, "backup", "--out", str(backup))
    assert code == 0, text

    # ---- after the backup: a approved and paid
    approve = lambda c: cs.client.post(f"/v1/claims/{c}/approve", json={"reason": "ok"},  # noqa: E731
                                       headers=cs.auth("payer"))
    assert approve(a).status_code == 200
    assert approve(e).status_code == 200
    cs.stamper.drain()
    assert cs.claims.store.claim(a).state == "paid"
    # ... e paid, then its invoice voided: the hospital owes its money back
    r = cs.client.post(f"/v1/invoices/{fp_e}/void", json={"reasonCode": "refund", "reason": "退费"},
                       headers=cs.auth(hospital_of(cs, fp_e)))
    assert r.status_code in (200, 201, 202), r.text
    cs.worker.drain()
    cs.stamper.drain()
    assert cs.claims.store.claim(e).state == "clawback"
    # ... two claims this database will forget: d paid, c only reserved (in review)
    c = submit(cs, nid_c, fp_c, "reconcile-key-0003")
    d = submit(cs, nid_d, fp_d, "reconcile-key-0004")
    cs.stamper.drain()
    assert approve(d).status_code == 200
    cs.stamper.drain()
    # ... and b approved last
    assert approve(b).status_code == 200
    cs.stamper.tick(force_voids=True)            # the finalisation; the payout would be the next round
    cb = cs.claims.store.claim(b)
    assert (cb.state, cb.stamp, cb.payment_ref) == ("approved", "finalized", None)
    chain_c, chain_d = (cs.claims.store.claim(x).chain_claim_id for x in (c, d))
    assert (cs.claims.store.claim(c).state, cs.claims.store.claim(d).state) == ("in-review", "paid")
    bank_before = payments(cs)
    assert bank_before[a] == 1 and b not in bank_before and bank_before[d] == 1 and bank_before[e] == 1
    a_payment = cs.bank.payment(a)
    assert a_payment is not None

    # ---- stop, restore the older backup, start again on the same chain
    cs.worker.release()
    cs.stop()
    code, text = ebill(tmp_path, url, "restore", str(backup))
    assert code == 0, text
    cs2 = reopen(cs, url, tmp_path)
    try:
        assert cs2.worker.drain().reindexed
        assert {cs2.claims.store.claim(x).state for x in (a, b)} == {"in-review"}   # as the backup had them

        # the chain paid them: no reviewer decides them again (before the stamper reconciled them)
        for x in (a, b):
            r = cs2.client.post(f"/v1/claims/{x}/reject", json={"reason": "too late"}, headers=cs2.auth("payer"))
            assert r.status_code == 409, r.text
            assert "finalised on chain after the backup" in r.json()["detail"]
            assert cs2.client.post(f"/v1/claims/{x}/approve", json={"reason": "ok"},
                                   headers=cs2.auth("payer")).status_code == 409

        # the stamper records them from the bank: a with its original payment, b paid once now; e was
        # paid before its void: recorded paid first, so the void asks the money back (never "nothing was paid")
        cs2.stamper.drain()
        ce = cs2.claims.store.claim(e)
        assert (ce.state, ce.payment_ref) == ("clawback", cs2.bank.payment(e).reference), ce
        ca, cb = cs2.claims.store.claim(a), cs2.claims.store.claim(b)
        assert (ca.state, ca.stamp, ca.payment_ref) == ("paid", "finalized", a_payment.reference)
        assert (cb.state, cb.stamp) == ("paid", "finalized")
        assert payments(cs2) == bank_before + Counter({b: 1})
        trail = {x: [e for e in cs2.service.store.audit_trail(subject=x) if e["action"] == RECONCILED]
                 for x in (a, b)}
        assert [e["detail"]["outcome"] for e in trail[a]] == ["paid"]
        assert trail[a][0]["detail"]["reference"] == a_payment.reference
        assert [e["detail"]["outcome"] for e in trail[b]] == ["approved"]

        # try to break it: a reconciled claim rejected, the stamper run again, a payout asked again
        r = cs2.client.post(f"/v1/claims/{a}/reject", json={"reason": "no"}, headers=cs2.auth("payer"))
        assert r.status_code == 409 and "paid" in r.json()["detail"], r.text
        for _ in range(3):
            cs2.stamper.tick(force_voids=True)
        cs2.stamper.drain()
        assert payments(cs2) == bank_before + Counter({b: 1})              # nobody paid twice
        assert cs2.claims.store.payouts_due() == [] and cs2.claims.store.claims_behind_chain() == []

        # the forgotten claims' invoices are not claimable, with the reason in words
        for fp, nid in ((fp_c, nid_c), (fp_d, nid_d)):
            listing = cs2.client.get("/v1/me/invoices", headers=cs2.citizen(nid)).json()["invoices"]
            entry = next(i for i in listing if i["fingerprint"] == fp)
            assert (entry["claimable"], entry["reason"], entry["estimateFen"]) == (
                False, "claimed before, being checked", None)
        r = cs2.client.post("/v1/me/estimate", json={"fingerprints": [fp_c]}, headers=cs2.citizen(nid_c))
        assert r.status_code == 409 and "does not hold" in r.json()["detail"], r.text

        # ---- release-forgotten: the paid stamp never; the reservation after its grace period
        ledger = cs2.session.ledger
        dry = release_forgotten(cs2.stamper, grace=timedelta(hours=24), apply=False, actor="system:test")
        assert [(f.stamp.chain_claim_id, f.kept is not None) for f in dry] == [(chain_c, True)]
        assert "grace period" in (dry[0].kept or "")
        # a stale index saying the paid stamp is only reserved: the contract is asked, and it stays
        with cs2.service.store.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE stamps SET status = 'reserved' WHERE claim_id = ?", (chain_d,))
        # the service's stamper holds its lease: nothing is sent from the payer's account meanwhile
        assert cs2.service.store.take_lease(stamper_lease(PAYER), "serve:elsewhere", ttl=timedelta(seconds=30))
        with pytest.raises(Conflict, match="stop `ebill serve` first"):
            release_forgotten(cs2.stamper, grace=timedelta(0), apply=True, actor="system:test")
        assert ledger.claim_of(PAYER_ID, chain_c).status == "reserved"
        cs2.service.store.release_lease(stamper_lease(PAYER), "serve:elsewhere")

        done = {f.stamp.chain_claim_id: f for f in release_forgotten(cs2.stamper, grace=timedelta(0), apply=True,
                                                                       actor="system:test")}
        assert done[chain_c].released_tx and done[chain_c].refused is None
        assert done[chain_d].released_tx is None and "never released" in (done[chain_d].kept or "")
        assert ledger.claim_of(PAYER_ID, chain_c).status == "released"
        assert ledger.claim_of(PAYER_ID, chain_d).status == "finalized"
        audited = cs2.service.store.audit_trail(subject="0x" + chain_c.hex())
        assert [e["action"] for e in audited] == ["claim.forgotten-released"]
        assert cs2.service.store.audit_trail(subject="0x" + chain_d.hex()) == []

        # once the chain worker has read the release, c's invoice can be claimed again; d's never
        cs2.worker.drain()
        again = release_forgotten(cs2.stamper, grace=timedelta(0), apply=True, actor="system:test")
        assert [f.released_tx for f in again] == [None]                   # d, kept: nothing released twice
        listing = cs2.client.get("/v1/me/invoices", headers=cs2.citizen(nid_c)).json()["invoices"]
        assert next(i for i in listing if i["fingerprint"] == fp_c)["claimable"] is True
        r = cs2.claim(nid_d, [fp_d], "reconcile-key-0005")
        assert r.status_code == 409 and "does not hold" in r.json()["detail"], r.text
    finally:
        cs2.stop()


def test_release_forgotten_asks_for_exactly_one_of_dry_run_and_yes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ebill.sqlite"
    for args in ((), ("--dry-run", "--yes")):
        code, text = ebill(tmp_path, url, "claims", "release-forgotten", *args)
        assert code == 2 and "exactly one of --dry-run" in text, text
    code, text = ebill(tmp_path, url, "claims", "release-forgotten", "--dry-run", "--grace-hours", "-1")
    assert code == 2, text
