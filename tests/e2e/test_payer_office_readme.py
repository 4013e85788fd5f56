"""End to end, as a payer's admin follows the README's "Administering rule sets" while
``ebill serve --workers 2`` runs on anvil: take the active version with ``ebill rules
show``, write next month's version with a cap per invoice and the general duplicate rule,
see a version that would leave a gap refused (naming it), import it as one admin, activate
it as a second, and see both API workers decide claims by it without a restart.

(Payers in order, two services on one chain, are tested over HTTP in
``tests/api/test_claims_payers_in_order.py``.)
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from serve_support import Serve, until

from ledger.adapters import anvil
from ledger.devtools import synth
from ledger.errors import ToolchainError
from ledger.evoucher import VoucherIssuer

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

try:
    anvil.anvil_binary()
except ToolchainError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"no anvil binary: {exc}", allow_module_level=True)

PEPPER = b"e2e-payer-office-pepper-01234567"
CAP_FEN = 20_000                       # the new version's cap per invoice for employees: ¥200
DAY = "2026-12-02"                     # the invoices' day, in the new version's first month
CODE, NAME = "001102000010000-110200001", "普通门诊诊查费"


def _invoice(template: dict[str, Any], number: int, patient: str, amounts: list[int]) -> dict[str, Any]:
    """An outpatient invoice of ``DAY`` with one Class A line per amount, all of one item."""
    lines = [{**template["feeLines"][0], "seq": n, "itemCode": CODE, "itemName": NAME, "category": "A",
              "quantity": "1", "unitPriceFen": fen, "amountFen": fen, "serviceDate": DAY}
             for n, fen in enumerate(amounts, 1)]
    total = sum(amounts)
    return {**copy.deepcopy(template), "invoiceNumber": f"66{number:08d}", "issuedAt": f"{DAY}T10:00:00+08:00",
            "visitType": "outpatient", "patientId": patient, "totalFen": total, "fundPaidFen": 0,
            "accountPaidFen": 0, "cashPaidFen": total, "feeLines": lines}


def test_an_admin_publishes_a_new_version_and_every_worker_decides_by_it(tmp_path: Path) -> None:
    ds = synth.generate(seed=77, hospitals=1, invoices=12, fee_lines=12 * 4, pepper=PEPPER)
    template = next(iter(synth.iter_documents(ds)))
    people = sorted({p.national_id for p in synth.make_patients(6, seed=77)})
    capped, duplicated = people[:5], people[5]
    docs = [_invoice(template, n, nid, [200_000]) for n, nid in enumerate(capped, 1)]   # ¥2,000 each
    docs.append(_invoice(template, 99, duplicated, [60_000, 60_000]))                   # the same item twice
    issuer_key = VoucherIssuer.generate("e2e-evoucher")
    pem = tmp_path / "evoucher.pem"
    pem.write_bytes(issuer_key.public_pem())
    env = {k: v for k, v in os.environ.items() if not k.startswith("EBILL_") or k == anvil.BINARY_ENV}
    env.update(EBILL_PEPPER=PEPPER.hex(), EBILL_VOUCHER_PUBLIC_KEY=str(pem), EBILL_VOUCHER_ISSUER="e2e-evoucher",
               EBILL_CLAIM_WAIT="20", NO_COLOR="1", COLUMNS="250", EBILL_API_NICE="0")
    enrol = tmp_path / "persons.csv"
    enrol.write_text("nationalId,name,category\n" + "".join(f"{n},p{n[-4:]},employee\n" for n in people))

    with anvil.AnvilNode(anvil.AnvilConfig(data_dir=tmp_path / "node", port=anvil.free_port())) as node:
        serve = Serve(tmp_path / "payer", env, node.url, workers=2)
        try:
            h = ds.hospitals[0]
            hospital = json.loads(serve.ebill("hospital", "register", "--id", h.code, "--name", h.name,
                                              "--region", h.code[1:7], "--json"))
            alice = serve.ebill("credential", "create", "--role", "admin", "--subject", "alice").split()[-1]
            bob = serve.ebill("credential", "create", "--role", "admin", "--subject", "bob").split()[-1]
            auditor = serve.ebill("credential", "create", "--role", "auditor", "--subject", "audit").split()[-1]
            serve.ebill("person", "enrol", "--csv", str(enrol))
            serve.start()
            r = serve.http.post("/v1/invoices", json=docs, headers={"Authorization": f"Bearer {hospital['apiToken']}"})
            assert r.status_code == 200 and r.json()["counts"]["created"] == len(docs), r.text
            fps = [i["invoice"]["fingerprint"] for i in r.json()["items"]]

            # the README's commands, in its order
            listed = serve.ebill("rules", "list")
            assert "sx-pharmacy-pooling@2" in listed and "system:seed" in listed     # the shipped seed data
            current = json.loads(serve.ebill("rules", "show", "sx-pharmacy-pooling@2"))
            nxt = copy.deepcopy(current)
            nxt.update(version=3, effectiveFrom="2026-12-01", duplicateItems="flag",
                       description="From December 2026: ¥200 at most per invoice; a repeated item is reviewed")
            nxt["persons"]["employee"]["invoiceCapFen"] = CAP_FEN
            gapped = {**copy.deepcopy(nxt), "effectiveTo": "2027-12-31"}      # and then nothing in force
            (tmp_path / "gapped.json").write_text(json.dumps(gapped, ensure_ascii=False))
            (tmp_path / "pharmacy-pooling-v3.json").write_text(json.dumps(nxt, ensure_ascii=False, indent=1))

            refused = serve.run("rules", "import", str(tmp_path / "gapped.json"), "--token", alice)
            assert refused.returncode == 2, refused.stdout + refused.stderr
            said = refused.stdout + refused.stderr
            assert "gapped.json" in said and "no-gap" in said and "2027-12-31" in said, said
            assert "Traceback" not in said
            assert "@3" not in serve.ebill("rules", "list")                     # nothing stored

            checked = serve.ebill("rules", "validate", str(tmp_path / "pharmacy-pooling-v3.json"))
            assert "ok" in checked
            imported = serve.ebill("rules", "import", str(tmp_path / "pharmacy-pooling-v3.json"), "--token", alice)
            assert "proposed" in imported
            own = serve.run("rules", "approve", "sx-pharmacy-pooling@3", "--token", alice)
            assert own.returncode == 1 and "second admin" in own.stdout + own.stderr
            assert "active" in serve.ebill("rules", "approve", "sx-pharmacy-pooling@3", "--token", bob)
            diff = serve.ebill("rules", "diff", "sx-pharmacy-pooling@2", "sx-pharmacy-pooling@3")
            assert f"persons.employee.invoiceCapFen: added {CAP_FEN}" in diff and "duplicateItems: added" in diff, diff

            auditor_h = {"Authorization": f"Bearer {auditor}"}
            until(lambda: all(serve.http.get(f"/v1/invoices/{fp}", headers=auditor_h).json()["state"] == "anchored"
                              for fp in fps), 60, "the invoices to be anchored")
            time.sleep(1.2)            # the README's promise: every worker judges by it within a second
            claims = []
            for n, (fp, doc) in enumerate(zip(fps, docs, strict=True)):
                token = issuer_key.mint(doc["patientId"])
                r = serve.http.post("/v1/claims", json={"fingerprints": [fp]},
                                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"office-{n:04d}"})
                assert r.status_code in (201, 202), r.text
                claims.append(r.json()["claims"][0])

            for c in claims:
                assert c["decision"]["ruleset"] == {"id": "sx-pharmacy-pooling", "version": 3}, c["decision"]
            for c in claims[:-1]:
                # ¥2,000 eligible − the ¥600 deductible, 70 % = ¥980, limited to the ¥200 cap: paid at once
                done = until(lambda c=c: (x := serve.http.get(f"/v1/claims/{c['id']}", headers=auditor_h).json())
                             ["state"] == "paid" and x, 60, "a capped claim to be paid")
                assert done["amountFen"] == CAP_FEN and done["decision"]["reimbursableFen"] == CAP_FEN
                assert any(s["rule"] == "invoice-cap" for s in done["decision"]["steps"]), done["decision"]["steps"]
            repeated = claims[-1]
            assert repeated["state"] == "in-review", repeated
            assert [f["rule"] for f in repeated["decision"]["flags"]] == ["duplicate-item"]
            assert "lines 1 and 2" in repeated["decision"]["flags"][0]["detail"], repeated["decision"]["flags"]
        finally:
            serve.stop()
