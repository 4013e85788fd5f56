"""``POST /v1/verify``: is this invoice genuine, anchored, not voided, and how much was paid?

Public, like the QR code it checks: a citizen, a payer's clerk or a commercial insurer
holding the paper invoice needs no account here. The body is the QR payload as JSON
(``{"payload": "EBILL:…"}``) or a photo of the invoice (``image/png``, ``image/jpeg``).

- offline: the seal's signature against the hospitals registry read from the chain
  (a snapshot, refreshed every few seconds and whenever a signer is unknown to it);
- online: the inclusion proof (from this service's store) checked against the batch
  root on chain, and void and reimbursement state read from the contract, not from
  this service's database.
"""

from __future__ import annotations

import io
import threading
import time
from collections import OrderedDict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ServiceDep
from api.problems import UnsupportedMediaType
from api.routers.invoices import _PROBLEMS, _read_body
from ledger.batch import BATCH_LEAF_ENCODING, Batch
from ledger.errors import ChainUnavailable, InvalidInput, NotFound
from ledger.hashing import Fingerprint, Hash32, MerkleRoot
from ledger.merkle import process_proof, standard_leaf_hash
from ledger.ports import AnchoredBatch, InvoiceChainState
from ledger.proofdoc import InvoiceInclusion
from verifier.online import Stamp

router = APIRouter(tags=["verify"])

MAX_IMAGE_BYTES = 8 * 2**20
SNAPSHOT_TTL = 5.0


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payload: str = Field(min_length=1, max_length=2000, description="the QR text, EBILL:…")


class _StoreProofs:
    """Inclusion proofs and stamps from this service's store (proofs are checked against the
    chain, so not trusted; stamps are the store's index of the chain's events)."""

    def __init__(self, service: Any, cache: VerifyCache) -> None:
        self.service = service
        self.cache = cache
        self._details: dict[bytes, Any] = {}  # one store read per invoice and request

    def _detail(self, fingerprint: Fingerprint) -> Any:
        key = bytes(fingerprint)
        if key not in self._details:
            try:
                self._details[key] = self.service.store.invoice(fingerprint)
            except NotFound:
                self._details[key] = None
        return self._details[key]

    def inclusion(self, fingerprint: Fingerprint) -> InvoiceInclusion | None:
        detail = self._detail(fingerprint)
        if detail is None:
            return None
        return self.service.inclusion_document(  # type: ignore[no-any-return]
            detail, batch_of=lambda root: self.cache.batch_tree(self.service, root))

    def stamps(self, fingerprint: Fingerprint) -> list[Stamp]:
        detail = self._detail(fingerprint)
        if detail is None:
            return []
        return [Stamp(s.payer_id, "0x" + s.claim_id.hex(), s.amount_fen, s.status, s.block_number, s.tx_hash)
                for s in detail.stamps]


class VerifyCache:
    """What verification may remember: what does not change once it is on chain.

    - the registry snapshot, refreshed every ``SNAPSHOT_TTL`` s, and at most once a second
      on demand (an unknown signer may be a hospital registered a moment ago; a stream of
      forged payloads must not make every request re-read the registry);
    - batch roots seen anchored, and the Merkle trees of batches (a batch never changes
      once closed), so a proof is checked locally against a root known to be on chain;
    - never the invoice's void and reimbursement state: that is read from the contract
      on every request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: Any = None
        self._taken = 0.0
        self._roots: dict[bytes, AnchoredBatch] = {}
        self._trees: OrderedDict[bytes, Batch] = OrderedDict()

    def snapshot(self, ledger: Any, *, fresh: bool = False) -> Any:
        from ledger.adapters.registry_export import export_snapshot

        with self._lock:
            age = time.monotonic() - self._taken
            if self._snapshot is None or age > SNAPSHOT_TTL or (fresh and age > 1.0):
                self._snapshot = export_snapshot(ledger)
                self._taken = time.monotonic()
            return self._snapshot

    def batch_tree(self, service: Any, root: bytes) -> Batch:
        with self._lock:
            tree = self._trees.get(bytes(root))
            if tree is not None:
                self._trees.move_to_end(bytes(root))
                return tree
        loaded: Batch = service.store.batch(root)[0]
        with self._lock:
            self._trees[bytes(root)] = loaded
            while len(self._trees) > 512:
                self._trees.popitem(last=False)
        return loaded

    def chain_view(self, chain: Any) -> _CachedChain:
        return _CachedChain(chain, self._roots, self._lock)


class _CachedChain:
    """A chain view whose anchored roots are remembered and whose proofs are checked locally
    (the contract's ``isAnchored`` runs OpenZeppelin's MerkleProof, which ``ledger.merkle``
    reproduces and the tests cross-check)."""

    def __init__(self, chain: Any, roots: dict[bytes, AnchoredBatch], lock: threading.Lock) -> None:
        self._chain, self._roots, self._lock = chain, roots, lock

    @property
    def chain_id(self) -> int:
        return int(self._chain.chain_id)

    @property
    def contract_address(self) -> str:
        return str(self._chain.contract_address)

    def batch(self, root: MerkleRoot) -> AnchoredBatch | None:
        found = self._roots.get(bytes(root))
        if found is None:
            found = self._chain.batch(root)
            if found is not None:
                with self._lock:
                    self._roots[bytes(root)] = found
        return found

    def invoice_state(self, issuer: str, fingerprint: Fingerprint) -> InvoiceChainState:
        return self._chain.invoice_state(issuer, fingerprint)  # type: ignore[no-any-return]

    def is_anchored(self, *, fingerprint: Fingerprint, total_fen: int, root: MerkleRoot,
                    proof: list[Hash32] | tuple[Hash32, ...]) -> bool:
        if bytes(root) not in self._roots:
            return bool(self._chain.is_anchored(fingerprint=fingerprint, total_fen=total_fen, root=root, proof=proof))
        leaf = standard_leaf_hash(BATCH_LEAF_ENCODING, (bytes(fingerprint), total_fen))
        return process_proof(leaf, proof) == bytes(root)


def _chain(request: Request) -> Any:
    chain = getattr(request.app.state, "chain", None)
    if chain is None:
        raise ChainUnavailable("this service has no chain connection for verification (start it with `ebill serve`)")
    return chain


@router.post("/v1/verify", responses={**_PROBLEMS, 200: {"description": "the verdict"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": VerifyIn.model_json_schema()},
                 "image/png": {"schema": {"type": "string", "format": "binary"}},
                 "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}},
             summary="Verify an invoice from its QR payload or a photo: signature, anchor, void, reimbursement")
async def verify(request: Request, service: ServiceDep) -> dict[str, Any]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in ("image/png", "image/jpeg"):
        body = await _read_body(request, MAX_IMAGE_BYTES)
        payload = await run_in_threadpool(_decode_image, body)
    elif media == "application/json":
        body = await _read_body(request, 64 * 1024)
        try:
            payload = VerifyIn.model_validate_json(body).payload
        except ValueError as exc:
            raise InvalidInput.single("(body)", "json", f"expected {{\"payload\": \"EBILL:…\"}}: {exc}") from None
    else:
        raise UnsupportedMediaType("send application/json {\"payload\": …} or an image/png or image/jpeg photo")
    chain = _chain(request)
    return await run_in_threadpool(_verify, payload, service, chain, request.app.state.verify_cache)


def _decode_image(data: bytes) -> str:
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInput.single("(body)", "image", f"not a readable PNG/JPEG image: {exc}") from None
    codes = [c for c in zxingcpp.read_barcodes(image) if c.format == zxingcpp.BarcodeFormat.QRCode]
    if not codes:
        raise InvalidInput.single("(body)", "qr-not-found", "no QR code found in the image")
    return str(codes[0].text)


def _verify(payload: str, service: Any, chain: Any, cache: VerifyCache) -> dict[str, Any]:
    from verifier.online import check_online
    from verifier.seal_check import verify_offline

    offline = verify_offline(payload, cache.snapshot(chain))
    if offline.status == "unknown-issuer" or offline.status == "tampered-or-forged":
        # a hospital registered (or a key added) in the last seconds: look again, at most once a second
        offline = verify_offline(payload, cache.snapshot(chain, fresh=True))
    doc: dict[str, Any] = {"offline": offline.to_json(), "online": None}
    if not offline.valid or offline.seal is None:
        return {"valid": False, "status": offline.status, "reason": offline.reason, **doc}
    seal = offline.seal
    store = _StoreProofs(service, cache)
    facts = check_online(fingerprint=seal.fingerprint, total_fen=seal.total_fen, issuer=seal.issuer,
                         chain=cache.chain_view(chain), proofs=store, stamps=store)
    doc["online"] = facts.to_json()
    return {"valid": facts.ok, "status": facts.status.value, "reason": facts.reason, **doc}
