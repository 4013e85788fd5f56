"""Migration 0012 on both databases: claims already ``clawback`` get their claw-back (a void after the
payout owed by the hospital, a finding as its code says, an uncoded one by the person), requested by
whoever moved the claim and said so in its audit trail; down and up again."""

from __future__ import annotations

from alembic import command
from claims_stack import ClaimsStack, claims_fixture
from clawback_support import class_a_invoice, employee, paid_claim, upload, voided_after_payout
from sqlalchemy import create_engine, inspect, text

from ledger.adapters.sql.engine import alembic_config, normalise_url, upgrade

cs_any = claims_fixture(every_database=True, run_stamper=False, instant_max_fen=10**9)


def test_claims_owed_back_before_0012_get_their_clawbacks(cs_any: ClaimsStack, database_url: str) -> None:
    cs = cs_any
    voided, _ = voided_after_payout(cs)
    nid = employee(cs, "b")
    fp1, fp2 = upload(cs, [class_a_invoice(cs, nid, 3, 90_000, "b"), class_a_invoice(cs, nid, 4, 90_000, "b")], "b")
    coded = paid_claim(cs, nid, fp1, "tap-mig-1", drawn=True)
    uncoded = paid_claim(cs, nid, fp2, "tap-mig-2", drawn=True)
    for c, code in ((coded, "repeat-prescriptions"), (uncoded, "unbundling")):
        r = cs.client.post(f"/v1/claims/{c['id']}/post-audit", json={"outcome": "finding", "code": code,
                                                                      "reason": f"found {code}"},
                           headers=cs.auth("payer2"))
        assert r.status_code == 200, r.text
    before = {cb.claim_id: cb for cb in cs.claims.store.clawbacks()}
    assert len(before) == 3
    url = cs.claims.store.store.engine.url.render_as_string(hide_password=False)
    cs.claims.store.store.engine.dispose()
    command.downgrade(alembic_config(url), "0011")
    engine = create_engine(normalise_url(database_url))
    try:
        assert "claim_clawbacks" not in inspect(engine).get_table_names()
        with engine.begin() as conn:   # a finding recorded before findings named a code
            conn.execute(text("UPDATE claims SET decision = REPLACE(decision, '\"code\": \"unbundling\"', '\"x\": 1') "
                              "WHERE id = :id"), {"id": uncoded["id"]})
            assert conn.execute(text("SELECT count(*) FROM claims WHERE state = 'clawback'")).scalar_one() == 3
    finally:
        engine.dispose()
    upgrade(url)
    after = {cb.claim_id: cb for cb in cs.claims.store.clawbacks()}
    assert set(after) == set(before)
    for claim_id, cb in after.items():
        old = before[claim_id]
        assert (cb.id, cb.amount_due_fen, cb.outstanding_fen, cb.state.value) == (old.id, old.amount_due_fen,
                                                                                   old.amount_due_fen, "requested")
        assert cb.requested_by == old.requested_by and cb.actions[0].event.value == "requested"
    assert (after[voided["id"]].reason.value, after[voided["id"]].debtor.value) == ("invoice-voided", "hospital")
    assert (after[coded["id"]].reason.value, after[coded["id"]].debtor.value) == ("repeat-prescriptions", "person")
    assert (after[uncoded["id"]].reason.value, after[uncoded["id"]].debtor.value) == ("audit-finding", "person")
    assert after[coded["id"]].note == "found repeat-prescriptions"
    trail = cs.service.store.audit_trail(subject=voided["id"])
    assert next(e["actor"] for e in trail if e["action"] == "clawback.requested") == "system:migration-0012"
    # and the office settles one as any other
    cb = cs.client.get(f"/v1/claims/{voided['id']}/clawback", headers=cs.auth("a")).json()
    r = cs.client.post(f"/v1/clawbacks/{cb['id']}/recover", json={"amountFen": cb["amountDueFen"],
                                                                   "reference": "MIG-1"}, headers=cs.auth("payer"))
    assert r.status_code == 200 and r.json()["state"] == "recovered", r.text
