"""End to end on the besu profile: nothing the service does depends on anvil.

anvil runs as the production chain would (``AnvilConfig.besu_profile``: free gas, a block
every 2 s, Cancun), behind a proxy that stands where the kit's RPC node stands: TLS with
the kit's certificate, the kit's JWT required (:mod:`rpc_recorder`). The service is set
up as the runbook says, ``--chain rpc`` with ``EBILL_RPC_TOKEN_FILE`` and
``EBILL_RPC_CA_FILE``, the ledger deployed by ``ebill chain deploy`` with its admin behind
the timelock, and runs the whole flow: upload → anchor → claim → pay → verify. Every
JSON-RPC method it called on the way is then held to three rules:

- no anvil-only method (``anvil_*``, ``evm_*``, ``hardhat_*``): a free-gas chain funds no
  one, so ``anvil_setBalance`` must not be called;
- only methods a Besu node serves (:data:`BESU_SERVES`, each in Besu's ``RpcMethod`` list);
- only methods the services' token allows: nothing was refused.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from rpc_recorder import RecordingProxy
from serve_support import EBILL, Serve, until
from web3 import Web3

from ledger.adapters import anvil
from ledger.adapters.besu import pki
from ledger.devtools import synth
from ledger.errors import ToolchainError
from ledger.evoucher import VoucherIssuer

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

try:
    anvil.anvil_binary()
except ToolchainError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"no anvil binary: {exc}", allow_module_level=True)

PEPPER = b"e2e-besu-profile-pepper-01234567"
ANVIL_ONLY = ("anvil_", "evm_", "hardhat_")
#: what the service may ask of the chain: each method is served by Hyperledger Besu (its
#: ``RpcMethod`` enumeration, ethereum/api/.../jsonrpc/RpcMethod.java); a new one here is a
#: decision, made by reading Besu's list, not a test to loosen
BESU_SERVES = frozenset({
    "eth_blockNumber", "eth_call", "eth_chainId", "eth_estimateGas", "eth_feeHistory", "eth_gasPrice",
    "eth_getBalance", "eth_getBlockByHash", "eth_getBlockByNumber", "eth_getCode", "eth_getLogs",
    "eth_getTransactionByHash", "eth_getTransactionCount", "eth_getTransactionReceipt", "eth_maxPriorityFeePerGas",
    "eth_sendRawTransaction", "eth_syncing", "net_version", "web3_clientVersion",
})


def _payable(doc: dict[str, Any], n: int) -> dict[str, Any]:
    """``doc`` as one ¥2,000 Class A line: past the ¥600 deductible, so the claim pays (¥980)."""
    line = {**doc["feeLines"][0], "seq": 1, "itemCode": "001102000010000-110200001", "itemName": "普通门诊诊查费",
            "category": "A", "quantity": "1", "unitPriceFen": 200_000, "amountFen": 200_000}
    return {**doc, "invoiceNumber": f"77{n:08d}", "totalFen": 200_000, "fundPaidFen": 0, "accountPaidFen": 0,
            "cashPaidFen": 200_000, "feeLines": [line]}


def test_upload_anchor_claim_verify_on_the_besu_profile(tmp_path: Path) -> None:
    ds = synth.generate(seed=55, hospitals=1, invoices=3, fee_lines=3, pepper=PEPPER)
    docs = [_payable(d, n) for n, d in enumerate(synth.iter_documents(ds))]
    issuer_key = VoucherIssuer.generate("e2e-evoucher")
    pem = tmp_path / "evoucher.pem"
    pem.write_bytes(issuer_key.public_pem())
    kit = tmp_path / "kit"
    made = subprocess.run([str(EBILL), "chain", "besu-kit", "--out", str(kit), "--validators", "4"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert made.returncode == 0, made.stdout + made.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("EBILL_") or k == anvil.BINARY_ENV}
    env.update(EBILL_PEPPER=PEPPER.hex(), EBILL_VOUCHER_PUBLIC_KEY=str(pem), EBILL_VOUCHER_ISSUER="e2e-evoucher",
               EBILL_INSTANT_MAX_FEN="100000000", EBILL_CLAIM_WAIT="30", NO_COLOR="1", COLUMNS="250",
               EBILL_API_NICE="0", EBILL_KEYSTORE_PASSPHRASE="besu profile e2e keystore passphrase",
               # the runbook's two files: the services' token and the kit's CA
               EBILL_RPC_TOKEN_FILE=str(kit / "secrets" / "ebill-rpc.jwt"),
               EBILL_RPC_CA_FILE=str(kit / "tls" / "ca.pem"))
    people = sorted({d["patientId"] for d in docs})
    enrol = tmp_path / "persons.csv"
    enrol.write_text("nationalId,name,category\n" + "".join(f"{n},p{n[-4:]},employee\n" for n in people))
    consortium = Account.create().address

    config = anvil.AnvilConfig.besu_profile(tmp_path / "node", port=anvil.free_port())
    assert config.free_gas and config.block_time == 2.0
    with anvil.AnvilNode(config) as node, RecordingProxy(node.url, kit=kit) as proxy:
        serve = Serve(tmp_path / "payer", env, proxy.url, workers=2, chain="rpc")
        try:
            deployed = json.loads(serve.ebill("chain", "deploy", "--rpc-url", proxy.url, "--relayer-key-file",
                                              str(kit / "secrets" / "relayer.key"), "--proposer", consortium,
                                              "--executor", consortium, "--min-delay", "172800", "--json"))
            h = ds.hospitals[0]
            hospital = json.loads(serve.ebill("hospital", "register", "--id", h.code, "--name", h.name,
                                              "--region", h.code[1:7], "--json"))
            auditor = serve.ebill("credential", "create", "--role", "auditor", "--subject", "audit").split()[-1]
            serve.ebill("person", "enrol", "--csv", str(enrol))
            serve.start()

            r = serve.http.post("/v1/invoices", json=docs, headers={"Authorization": f"Bearer {hospital['apiToken']}"})
            assert r.status_code == 200 and r.json()["counts"]["created"] == len(docs), r.text
            fps = [i["invoice"]["fingerprint"] for i in r.json()["items"]]
            auditor_h = {"Authorization": f"Bearer {auditor}"}
            until(lambda: all(serve.http.get(f"/v1/invoices/{fp}", headers=auditor_h).json()["state"] == "anchored"
                              for fp in fps), 90, "the invoices to be anchored")

            claims = []
            for n, (fp, doc) in enumerate(zip(fps, docs, strict=True)):
                r = serve.http.post("/v1/claims", json={"fingerprints": [fp]},
                                    headers={"Authorization": f"Bearer {issuer_key.mint(doc['patientId'])}",
                                             "Idempotency-Key": f"besu-profile-{n:04d}"})
                assert r.status_code in (201, 202), r.text
                claims.append(r.json()["claims"][0])
            settled = [until(lambda c=c: (x := serve.http.get(f"/v1/claims/{c['id']}", headers=auditor_h).json())
                             ["state"] in ("paid", "nothing-payable") and x["stamp"]["pending"] is None and x,
                             90, "the claims to be settled on chain") for c in claims]
            assert [c["state"] for c in settled] == ["paid"] * len(docs), [c["decision"]["steps"] for c in settled]

            qr = serve.http.get(f"/v1/invoices/{fps[0]}", headers=auditor_h).json()["qr"]
            verdict = serve.http.post("/v1/verify", json={"payload": qr}).json()
            assert verdict["valid"] and verdict["status"] == "anchored", verdict
            assert f"{settled[0]['amountFen']} of 200000 fen reimbursed" in verdict["reason"], verdict["reason"]
        finally:
            serve.stop()

        # nobody was given gas money: on a free-gas chain nobody needs any
        w3 = Web3(Web3.HTTPProvider(node.url))
        relayer = deployed["relayer"]
        assert w3.eth.get_balance(relayer) == 0 and w3.eth.get_transaction_count(relayer) > 2

    called = set(proxy.methods)
    assert not [m for m in called if m.startswith(ANVIL_ONLY)], f"anvil-only methods called: {sorted(called)}"
    assert called <= BESU_SERVES, f"methods Besu does not serve: {sorted(called - BESU_SERVES)}"
    assert proxy.refused == [], proxy.refused[:5]
    # each process asks the node's chain id once or twice (web3 caches it; 11 in this run, 57 before), not for
    # every transaction
    assert proxy.methods["eth_chainId"] <= 15, proxy.methods
    assert all(pki.permits(pki.SERVICE_PERMISSIONS, m) for m in called)
    # the flow did reach the chain through the proxy: transactions, reads, events
    assert {"eth_sendRawTransaction", "eth_call", "eth_getLogs", "eth_getTransactionReceipt"} <= called, called
