"""End to end: two payers' ``ebill serve`` processes, each with its own database, on one anvil.

Payer A (basic insurance) is the platform the hospital uploads to; payer B (a commercial
supplement insurer, ``--mirror-from`` A) mirrors the anchored invoices and verifies them.
Citizens claim the same invoices at both services at once, from many threads, with
retries under the same Idempotency-Key. The guarantee: on chain and in both payers'
books, no invoice is ever paid beyond its total, and a key is always one claim.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from serve_support import Serve, until
from web3 import Web3

from ledger.adapters import anvil
from ledger.adapters.keyring import Keyring
from ledger.adapters.web3_chain import Web3Ledger
from ledger.devtools import synth
from ledger.errors import ToolchainError
from ledger.evoucher import VoucherIssuer

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

EBILL = Path(sys.executable).with_name("ebill")
try:
    anvil.anvil_binary()
except ToolchainError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"no anvil binary: {exc}", allow_module_level=True)

PEPPER = b"e2e-two-payers-pepper-0123456789"
PAYER_A, PAYER_B = "330600-ybj", "sx-huiminbao"
FINAL = ("paid", "refused", "nothing-payable", "in-review", "rejected", "clawback")


def test_two_payers_two_databases_one_chain(tmp_path: Path) -> None:
    ds = synth.generate(seed=55, hospitals=1, invoices=10, fee_lines=10 * 15, pepper=PEPPER)
    docs = list(synth.iter_documents(ds))
    issuer_key = VoucherIssuer.generate("e2e-evoucher")
    pem = tmp_path / "evoucher.pem"
    pem.write_bytes(issuer_key.public_pem())
    env = {k: v for k, v in os.environ.items() if not k.startswith("EBILL_") or k == anvil.BINARY_ENV}
    env.update(EBILL_PEPPER=PEPPER.hex(), EBILL_VOUCHER_PUBLIC_KEY=str(pem), EBILL_VOUCHER_ISSUER="e2e-evoucher",
               EBILL_INSTANT_MAX_FEN="100000000", EBILL_CLAIM_WAIT="20", NO_COLOR="1", COLUMNS="200",
               EBILL_API_NICE="0",
               # B opens A's deployment record (the consortium's), whose keys are sealed with this passphrase
               EBILL_KEYSTORE_PASSPHRASE="two payers e2e keystore passphrase")
    people = sorted({d["patientId"] for d in docs})
    enrol = tmp_path / "persons.csv"
    enrol.write_text("nationalId,name,category\n" + "".join(f"{n},p{n[-4:]},employee\n" for n in people))

    with anvil.AnvilNode(anvil.AnvilConfig(data_dir=tmp_path / "node", port=anvil.free_port())) as node:
        a = Serve(tmp_path / "a", env, node.url)
        b = Serve(tmp_path / "b", env, node.url)
        try:
            h = ds.hospitals[0]
            hospital = json.loads(a.ebill("hospital", "register", "--id", h.code, "--name", h.name,
                                          "--region", h.code[1:7], "--json"))
            feed_token = a.ebill("credential", "create", "--role", "payer", "--subject", PAYER_B).strip().split()[-1]
            auditor_a = a.ebill("credential", "create", "--role", "auditor", "--subject", "audit").strip().split()[-1]
            auditor_b = b.ebill("credential", "create", "--role", "auditor", "--subject", "audit").strip().split()[-1]
            a.ebill("person", "enrol", "--csv", str(enrol), "--payer", PAYER_A)
            b.ebill("person", "enrol", "--csv", str(enrol), "--payer", PAYER_B)
            a.start()
            # B serves the same ledger contract: the consortium's deployment record
            (b.home / "chains" / "anvil").mkdir(parents=True)
            shutil.copy(a.home / "chains" / "anvil" / "deployment.json", b.home / "chains" / "anvil")
            b.start("--payer", PAYER_B, "--mirror-from", a.url, "--mirror-token", feed_token)

            r = a.http.post("/v1/invoices", json=docs, headers={"Authorization": f"Bearer {hospital['apiToken']}"})
            assert r.status_code in (200, 201, 207), r.text
            fps = [i["invoice"]["fingerprint"] for i in r.json()["items"]]
            owner = {fp: d["patientId"] for fp, d in zip(fps, docs, strict=True)}

            def mirrored() -> bool:
                return all(b.http.get(f"/v1/invoices/{fp}", headers={"Authorization": f"Bearer {auditor_b}"})
                           .json().get("state") == "anchored" for fp in fps)

            until(mirrored, 60, "B to mirror every anchored invoice from A")

            answers: dict[tuple[str, str], list[tuple[str, int, Any]]] = defaultdict(list)
            lock = threading.Lock()

            def tap(serve: Serve, name: str, fp: str, key: str) -> None:
                token = issuer_key.mint(owner[fp])
                r = serve.http.post("/v1/claims", json={"fingerprints": [fp]},
                                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})
                with lock:
                    answers[(name, fp)].append((key, r.status_code, r.json()))

            jobs = [(serve, name, fp, f"{name}-{fp[2:12]}-{k}")
                    for fp in fps for name, serve in (("A", a), ("B", b)) for k in range(3) for _ in range(2)]
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda j: tap(*j), jobs))

            w3 = Web3(Web3.HTTPProvider(node.url))
            contract = json.loads((a.home / "chains" / "anvil" / "deployment.json").read_text())["contract"]
            ledger = Web3Ledger(w3, address=contract, keyring=Keyring(), relayer="0x" + "00" * 20)
            limited = 0
            for fp in fps:
                totals = a.http.get(f"/v1/invoices/{fp}", headers={"Authorization": f"Bearer {auditor_a}"}).json()
                paid = 0
                for name, serve, auditor in (("A", a, auditor_a), ("B", b, auditor_b)):
                    by_key: dict[str, set[str]] = defaultdict(set)
                    for key, status, body in answers[(name, fp)]:
                        assert status in (200, 201, 202, 409), body
                        if status != 409:
                            by_key[key].add(body["claims"][0]["id"])
                    assert all(len(v) == 1 for v in by_key.values()), "one key, several claims"
                    ids = set().union(*by_key.values()) if by_key else set()
                    assert len(ids) <= 1, f"payer {name} holds {len(ids)} claims on one invoice"
                    for cid in ids:
                        claim = until(lambda cid=cid, serve=serve, auditor=auditor: (
                            c := serve.http.get(f"/v1/claims/{cid}", headers={"Authorization": f"Bearer {auditor}"})
                            .json())["state"] in FINAL and c["stamp"]["pending"] is None and c, 60, "claims to settle")
                        if claim["state"] == "paid":
                            paid += claim["amountFen"]
                state = ledger.invoice_state(totals["issuer"], bytes.fromhex(fp[2:]))
                assert state.reserved_fen == 0
                assert state.paid_fen == paid <= totals["totalFen"]
                limited += paid == totals["totalFen"]
            assert limited >= 1, "the supplement insurer should have hit an invoice's limit at least once"
        finally:
            b.stop()
            a.stop()
