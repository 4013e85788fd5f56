"""``/v1/batches/{root}``: a batch's leaves and anchor; ``/v1/health``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import PrincipalDep, ServiceDep
from api.routers.invoices import _PROBLEMS
from api.schemas import FingerprintPath, RootPath
from ledger.app.readiness import Readiness
from ledger.app.service import parse_hash_arg
from ledger.errors import LedgerError, NotFound

router = APIRouter(tags=["chain"])


@router.get("/v1/batches/{root}", responses=_PROBLEMS, summary="A Merkle batch: issuer, leaves and anchor")
def get_batch(root: RootPath, service: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    batch, info = service.batch(principal, root)
    return {
        "root": "0x" + bytes(batch.root).hex(), "issuer": batch.issuer, "leafCount": batch.leaf_count,
        "state": info["state"], "sealedAt": info["sealed_at"].isoformat(),
        "transaction": info["anchored_tx"], "block": info["anchored_block"],
        "anchoredAt": info["anchored_at"].isoformat() if info["anchored_at"] else None,
        "leafEncoding": ["bytes32", "uint256"],
        "leaves": [{"fingerprint": "0x" + bytes(fp).hex(), "totalFen": t} for fp, t in batch.leaves],
    }


@router.get("/v1/health", summary="Liveness, outbox depth, and warnings (no credential needed)")
def health(request: Request) -> JSONResponse:
    """``status`` is ``ok`` while the store answers (503 otherwise); ``store`` holds the figures the
    chain worker last reported (``figuresAt``: when; every few seconds: this route counts nothing
    itself), ``warnings`` what an operator must fix though the service runs: no chain worker
    reporting or the chain not answering it, a year of the working-day calendar without data
    (``calendar.missing``: counted Monday to Friday until it is loaded)."""
    readiness: Readiness = request.app.state.readiness
    try:
        health = readiness.health()
        calendar = request.app.state.calendar.coverage()
    except LedgerError as exc:
        return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
    status = health.status
    doc: dict[str, Any] = {"status": "ok"}
    if status is not None and status.figures is not None:
        doc["store"] = status.figures.to_json()
        doc["figuresAt"] = status.at.isoformat()
    doc["indexedBlock"] = health.indexed_block
    doc["chain"] = {"chainId": health.chain_id, "contract": health.contract}
    doc["calendar"] = calendar.to_json()
    doc["warnings"] = [w for w in (*health.warnings, calendar.warning()) if w]
    return JSONResponse(doc)


@router.get("/v1/proofs/{fingerprint}", responses=_PROBLEMS,
            summary="The inclusion proof of an anchored invoice (public: anyone holding the invoice may verify)")
def get_proof(fingerprint: FingerprintPath, service: ServiceDep) -> dict[str, Any]:
    """``ebill-inclusion-proof/v1`` (the document `ebill verify-proof` checks against the chain).

    Public on purpose: it holds only the fingerprint, total, issuer, batch root and
    sibling hashes (salted fingerprints reveal nothing about other invoices), and lets
    a holder of the paper invoice check it against the chain without an account here.
    """
    doc = service.inclusion_document(service.store.invoice(parse_hash_arg(fingerprint)))
    if doc is None:
        raise NotFound(f"invoice {fingerprint} is not anchored yet")
    return doc.to_json()
