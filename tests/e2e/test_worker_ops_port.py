"""End to end: an API instance and a worker instance of one service started together on one home
(``ebill serve --role api`` and ``--role worker --ops-port``): one contract is deployed, the worker
anchors what the API acknowledged, and each is scraped on its own port with its own counts (neither
empties the other's metrics files)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serve_support import EBILL, Serve, until

from ledger.adapters import anvil
from ledger.devtools import synth
from ledger.errors import ToolchainError

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

try:
    anvil.anvil_binary()
except ToolchainError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"no anvil binary: {exc}", allow_module_level=True)

PEPPER = b"e2e-ops-port-pepper-0123456789ab"


def _total(text: str, name: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


def test_an_api_and_a_worker_instance_each_scraped_on_their_own_port(tmp_path: Path) -> None:
    ds = synth.generate(seed=21, hospitals=1, invoices=6, fee_lines=6 * 5, pepper=PEPPER)
    docs = list(synth.iter_documents(ds))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EBILL_") or k == anvil.BINARY_ENV}
    env.update(EBILL_PEPPER=PEPPER.hex(), EBILL_KEYSTORE_PASSPHRASE="ops port e2e keystore passphrase",
               EBILL_PAYER_ID="none")
    with anvil.AnvilNode(anvil.AnvilConfig(data_dir=tmp_path / "node", port=anvil.free_port())) as node:
        api = Serve(tmp_path / "svc", env, node.url)
        ops_port = anvil.free_port()
        api.home.mkdir(parents=True)
        worker_log = (api.home / "worker.log").open("wb")
        worker = subprocess.Popen(
            [str(EBILL), "serve", "--home", str(api.home), "--role", "worker", "--ops-port", str(ops_port),
             "--chain", "anvil", "--rpc-url", node.url, "--batch-max-age", "0.2"],
            env=api.env, stdin=subprocess.DEVNULL, stdout=worker_log, stderr=subprocess.STDOUT,
            start_new_session=True)
        worker_log.close()
        ops = httpx.Client(base_url=f"http://127.0.0.1:{ops_port}", timeout=30)
        try:
            api.start("--role", "api")      # at the same moment as the worker: one of them deploys
            h = ds.hospitals[0]
            api.ebill("hospital", "register", "--id", h.code, "--name", h.name, "--region", h.code[1:7])
            token = api.ebill("credential", "create", "--role", "hospital", "--subject", h.code).split()[-1]
            monitor = api.ebill("credential", "create", "--role", "monitor", "--subject", "prometheus").split()[-1]
            r = api.http.post("/v1/invoices", json=docs, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code in (200, 201), r.text
            fps = [i["invoice"]["fingerprint"] for i in r.json()["items"]]
            auditor = api.ebill("credential", "create", "--role", "auditor", "--subject", "audit").split()[-1]
            until(lambda: all(api.http.get(f"/v1/invoices/{fp}", headers={"Authorization": f"Bearer {auditor}"})
                              .json()["state"] == "anchored" for fp in fps), 60,
                  f"the worker to anchor:\n{(api.home / 'worker.log').read_text()[-3000:]}")

            # the worker's port: probes and its own metrics, for the monitor only
            assert ops.get("/livez").json() == {"status": "alive"}
            assert ops.get("/readyz").status_code == 200, ops.get("/readyz").text
            assert ops.get("/metrics").status_code == 401
            scraped = ops.get("/metrics", headers={"Authorization": f"Bearer {monitor}"})
            assert scraped.status_code == 200, scraped.text
            assert _total(scraped.text, "ebill_batches_anchored_total") >= 1
            assert _total(scraped.text, "ebill_invoices_anchored_total") == len(fps)
            assert ops.get("/v1/invoices", headers={"Authorization": f"Bearer {auditor}"}).status_code == 404
            # the API's port: the uploads it counted (its files were not emptied by the worker's start)
            text = api.http.get("/metrics", headers={"Authorization": f"Bearer {monitor}"}).text
            assert _total(text, "ebill_upload_invoices_total") == len(fps)
            assert _total(text, "ebill_invoices_anchored_total") == 0      # anchoring is the worker's
            assert (api.home / "metrics-api").is_dir() and (api.home / "metrics-worker").is_dir()
            # one deployment for the two first starts
            contracts = {line for line in (api.log(tail=None) + (api.home / "worker.log").read_text()).splitlines()
                         if '"contract"' in line}
            assert len(contracts) >= 2 and len({line.split('"contract": "')[1][:42] for line in contracts}) == 1, \
                contracts
        finally:
            ops.close()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGTERM)
            assert worker.wait(timeout=30) == 0, (api.home / "worker.log").read_text()[-3000:]
            api.stop()
