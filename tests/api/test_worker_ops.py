"""A worker's own probes and metrics (``ebill serve --role worker --ops-port``, api.app.create_ops_app): the same
edge as the API (policy, body limits), /livez, /readyz and /metrics for a monitor credential only, nothing else."""

from __future__ import annotations

from api_stack import Stack
from fastapi.testclient import TestClient

from api.app import create_ops_app
from ledger.composition.settings import Settings
from ledger.records import Role


def test_the_workers_port_serves_probes_and_metrics_and_nothing_else(stack: Stack) -> None:
    ops = TestClient(create_ops_app(Settings(), service=stack.service))
    monitor = {"Authorization": "Bearer " + stack.service.create_credential(role=Role.MONITOR, subject="prom")}
    assert (ops.get("/livez").status_code, ops.get("/livez").json()) == (200, {"status": "alive"})
    assert ops.get("/readyz").status_code == 503            # no chain worker has reported yet
    stack.worker.tick()
    r = ops.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready", r.text
    # metrics: a monitor credential only, no body
    assert ops.get("/metrics").status_code == 401
    assert ops.get("/metrics", headers=stack.auth("a")).status_code == 403
    clerk = stack.service.create_credential(role=Role.CLERK, subject=stack.service.store.hospitals()[0].institution_id)
    for who in ("payer", "auditor", "admin"):          # every other stored role (a citizen's e-voucher: no claims here)
        assert ops.get("/metrics", headers=stack.auth(who)).status_code == 403, who
    assert ops.get("/metrics", headers={"Authorization": f"Bearer {clerk}"}).status_code == 403
    assert ops.get("/metrics", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    r = ops.get("/metrics", headers=monitor)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain"), r.text
    r = ops.request("GET", "/metrics", headers={**monitor, "Content-Length": "5"}, content=b"hello")
    assert r.status_code == 413
    # the API's routes are not here, whoever asks; no documentation either
    for path in ("/v1/invoices", "/v1/claims", "/docs", "/openapi.json", "/console/"):
        assert ops.get(path, headers=stack.auth("a")).status_code == 404, path
    r = ops.post("/v1/invoices", json=[], headers=stack.auth("a"))
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert ops.post("/livez").status_code == 405
