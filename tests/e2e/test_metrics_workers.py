"""End to end: ``ebill serve --workers 2``: /metrics adds up what every process counted, and one
request is followed in the JSON log from an API worker's access line to the main process's anchoring.

Traffic reaches both API workers (uploads, claims, verifications, probes, in parallel); a scrape
(of either worker) counts every request once; a worker killed with SIGKILL takes its live
gauges with it but not what it counted.
"""

from __future__ import annotations

import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
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

PEPPER = b"e2e-metrics-pepper-0123456789abc"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return sum(v for (n, lab), v in samples.items() if n == name and set(labels.items()) <= set(lab))


def _api_workers(pid: int) -> set[int]:
    """The API worker processes of ``ebill serve`` (spawned children; not multiprocessing's resource tracker)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    children = {int(p) for p in path.read_text().split()} if path.exists() else set()
    return {c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()}


def _pids_with(metrics_dir: Path, kind: str) -> set[int]:
    """The processes that wrote values of ``kind`` (counter, histogram, gauge_livesum, ...)."""
    return {int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob(f"{kind}_*.db")}


def test_two_api_workers_one_scrape_and_a_request_followed_to_its_anchor(tmp_path: Path) -> None:
    ds = synth.generate(seed=15, hospitals=1, invoices=12, fee_lines=12 * 8, pepper=PEPPER)
    docs = list(synth.iter_documents(ds))
    voucher = VoucherIssuer.generate("e2e-evoucher")
    pem = tmp_path / "evoucher.pem"
    pem.write_bytes(voucher.public_pem())
    env = {k: v for k, v in os.environ.items() if not k.startswith("EBILL_") or k == anvil.BINARY_ENV}
    env.update(EBILL_PEPPER=PEPPER.hex(), EBILL_VOUCHER_PUBLIC_KEY=str(pem), EBILL_VOUCHER_ISSUER="e2e-evoucher",
               EBILL_INSTANT_MAX_FEN="100000000", EBILL_CLAIM_WAIT="20", EBILL_API_NICE="0",
               EBILL_KEYSTORE_PASSPHRASE="metrics e2e keystore passphrase")
    people = sorted({d["patientId"] for d in docs})
    enrol = tmp_path / "persons.csv"
    enrol.write_text("nationalId,name,category\n" + "".join(f"{n},p{n[-4:]},employee\n" for n in people))

    with anvil.AnvilNode(anvil.AnvilConfig(data_dir=tmp_path / "node", port=anvil.free_port())) as node:
        s = Serve(tmp_path / "svc", env, node.url, workers=2)
        try:
            h = ds.hospitals[0]
            hospital = json.loads(s.ebill("hospital", "register", "--id", h.code, "--name", h.name,
                                          "--region", h.code[1:7], "--json"))
            monitor = s.ebill("credential", "create", "--role", "monitor", "--subject", "prometheus").split()[-1]
            s.ebill("person", "enrol", "--csv", str(enrol))
            s.start()
            metrics_dir = s.home / "metrics"
            assert s.proc is not None
            main = s.proc.pid
            workers = until(lambda: len(_api_workers(main)) == 2 and _api_workers(main), 30, "two API workers")
            hosp = {"Authorization": f"Bearer {hospital['apiToken']}"}

            def upload(n: int) -> dict[str, Any]:
                with httpx.Client(base_url=s.url, timeout=60) as c:   # a connection each: both workers serve
                    r = c.post("/v1/invoices", json=docs[n], headers={**hosp, "X-Request-Id": f"e2e-upload-{n:04d}"})
                assert r.status_code == 201, r.text
                return {"request": r.headers["x-request-id"], **r.json()["items"][0]["invoice"]}

            with ThreadPoolExecutor(6) as pool:
                stored = list(pool.map(upload, range(len(docs))))
            until(lambda: all(s.http.get(f"/v1/invoices/{i['fingerprint']}", headers=hosp).json()["state"]
                              == "anchored" for i in stored), 60, "every upload anchored")

            def claim(i: dict[str, Any]) -> int:
                owner = next(d["patientId"] for d in docs if d["invoiceNumber"] == i["invoiceNumber"])
                with httpx.Client(base_url=s.url, timeout=60) as c:
                    return c.post("/v1/claims", json={"fingerprints": [i["fingerprint"]]},
                                  headers={"Authorization": f"Bearer {voucher.mint(owner)}",
                                           "Idempotency-Key": f"e2e-metrics-{i['invoiceNumber']}"}).status_code

            def verify(i: dict[str, Any]) -> str:
                with httpx.Client(base_url=s.url, timeout=60) as c:
                    return str(c.post("/v1/verify", json={"payload": i["qr"]}).json()["status"])

            with ThreadPoolExecutor(4) as pool:
                claimed = list(pool.map(claim, stored[:4]))
                verdicts = list(pool.map(verify, stored))
            assert all(c in (201, 202) for c in claimed), claimed
            assert set(verdicts) <= {"anchored", "fully-reimbursed"}, verdicts

            def both_served() -> bool:
                with ThreadPoolExecutor(4) as pool:
                    list(pool.map(lambda _: httpx.get(s.url + "/livez", timeout=10), range(8)))
                return len(_pids_with(metrics_dir, "histogram") & workers) == 2

            until(both_served, 30, "both API workers to have answered requests")

            def scrape() -> dict[Any, float]:
                r = httpx.get(s.url + "/metrics", headers={"Authorization": f"Bearer {monitor}"}, timeout=30)
                assert r.status_code == 200, r.text
                return _samples(r.text)

            got = scrape()
            n = len(docs)
            assert _value(got, "ebill_http_request_duration_seconds_count", method="POST", route="/v1/invoices",
                          status="201") == n
            assert _value(got, "ebill_upload_invoices_total", status="created") == n
            assert _value(got, "ebill_upload_fee_lines_total") == sum(len(d["feeLines"]) for d in docs)
            assert _value(got, "ebill_invoices_anchored_total") == n       # counted by the main process
            assert _value(got, "ebill_chain_gas_used_total", function="anchorSignedBatches") > 0
            assert _value(got, "ebill_claims_filed_total") == 4
            assert _value(got, "ebill_verifications_total") == n
            assert _value(got, "ebill_http_requests_in_flight") >= 1       # (this scrape)
            # the counts of each worker add up to the whole, whichever worker answers the scrape
            assert _value(scrape(), "ebill_upload_invoices_total") == _value(got, "ebill_upload_invoices_total")
            until(lambda: _value(scrape(), "ebill_chain_head_block") > 0, 15, "the chain head in the metrics")

            # one request followed from an API worker's access line to the main process's anchoring line
            lines = [json.loads(ln) for ln in (s.home / "serve.log").read_text().splitlines() if ln.startswith("{")]
            rid = stored[0]["request"]
            access = [ln for ln in lines if ln["event"] == "request" and ln.get("request_id") == rid]
            anchored = [ln for ln in lines if ln["event"] == "batch anchored" and rid in ln["request_ids"]]
            assert len(access) == 1 and access[0]["pid"] in workers and access[0]["route"] == "/v1/invoices"
            assert len(anchored) == 1 and anchored[0]["pid"] == main and anchored[0]["tx"]
            print("\naccess line:  ", json.dumps(access[0], ensure_ascii=False))
            print("anchoring line:", json.dumps(anchored[0], ensure_ascii=False))

            # a worker killed: replaced; its live gauge gone from the directory, what it counted kept
            victim = sorted(workers)[0]
            os.kill(victim, signal.SIGKILL)
            until(lambda: f"API worker {victim} was killed by SIGKILL" in s.log(tail=None), 30, "the death reported")
            assert victim not in _pids_with(metrics_dir, "gauge_livesum")
            until(lambda: httpx.get(s.url + "/livez", timeout=5).status_code == 200, 30, "a worker answering")
            assert _value(scrape(), "ebill_upload_invoices_total", status="created") == n
        finally:
            s.stop()
