"""``POST /v1/verify``: is this invoice genuine, anchored, not voided, and how much was paid?

Public, like the QR code it checks: a citizen, a payer's clerk or a commercial insurer
holding the paper invoice needs no account here. The body is the QR payload as JSON
(``{"payload": "EBILL:…"}``) or a photo of the invoice (``image/png``, ``image/jpeg``).

- offline: the seal's signature against the hospitals registry read from the chain
  (a snapshot, refreshed in the background every few seconds, and whenever a signer is
  unknown to it);
- online: the inclusion proof (from this service's store) checked against the batch
  root on chain, and void and reimbursement state read from the contract, not from
  this service's database (a voided invoice's reason code from its event on chain).

The hot path (a JSON payload of an anchored invoice seen before) runs on the event loop
with no thread hop: the offline check is pure CPU (~70 µs), what is immutable comes from
:class:`VerifyCache`, and the one chain read, ``invoiceRecord``, is an awaited raw
eth_call (:mod:`verifier.async_rpc`). Store reads and uncached chain reads go to the
thread pool. The verdict document is :func:`verifier.verdict.full_verdict`'s.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Route

from api.problems import UnsupportedMediaType
from api.routers.invoices import _PROBLEMS, _read_body
from ledger.adapters import qr_image
from ledger.batch import BATCH_LEAF_ENCODING, Batch
from ledger.errors import ChainUnavailable, InvalidInput, NotFound
from ledger.hashing import Fingerprint, Hash32, MerkleRoot
from ledger.merkle import process_proof, standard_leaf_hash
from ledger.onchain import ChainVoid, Stamp
from ledger.ports import AnchoredBatch, InvoiceChainState
from ledger.proofdoc import InvoiceInclusion
from verifier.seal_check import SealVerdict, verify_offline
from verifier.verdict import full_verdict

router = APIRouter(tags=["verify"])

#: the registry snapshot is refreshed (in the background) when older than this
SNAPSHOT_TTL = 5.0
#: an unknown signer triggers a synchronous refresh when the snapshot is older than this
SNAPSHOT_MIN_AGE = 1.0
#: how long a stamp list read from the store is reused while the chain's amounts are unchanged
#: and the list adds up to them (only a payer swap of equal amounts could go unseen that long)
STAMPS_TTL = 30.0
MAX_CACHED = 65_536


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payload: str = Field(min_length=1, max_length=2000, description="the QR text, EBILL:…")


class VerifyCache:
    """What verification may remember: what does not change once it is on chain.

    - the registry snapshot, refreshed every ``SNAPSHOT_TTL`` s in a background thread
      (requests keep using the previous one meanwhile), and synchronously at most once a
      second on demand (an unknown signer may be a hospital registered a moment ago; a
      stream of forged payloads must not make every request re-read the registry);
    - batch roots seen anchored, and the Merkle trees of batches (a batch never changes
      once closed), so a proof is checked locally against a root known to be on chain;
    - each anchored invoice's inclusion document (its batch and path never change);
    - the invoice's stamp list from the store, for ``STAMPS_TTL`` s at most, while the
      chain reports the same reserved / paid / voided state and the list adds up to it;
    - a voided invoice's void event (its reason code): a void is final on chain;
    - never the invoice's void and reimbursement state: that is read from the contract
      on every request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot_lock = threading.Lock()
        self._snapshot: Any = None
        self._taken = 0.0
        self._refreshing = False
        self._roots: dict[bytes, AnchoredBatch] = {}
        self._trees: OrderedDict[bytes, Batch] = OrderedDict()
        self._inclusions: OrderedDict[bytes, InvoiceInclusion] = OrderedDict()
        self._stamps: dict[bytes, tuple[float, InvoiceChainState, list[Stamp]]] = {}
        self._voids: dict[bytes, ChainVoid] = {}
        self._reader: Any = None
        self._reader_for: Any = None

    # --- registry snapshot ------------------------------------------------------------

    def snapshot(self, ledger: Any, *, fresh: bool = False) -> Any:
        """The snapshot, read from the chain now if there is none, it is older than
        ``SNAPSHOT_TTL`` (or ``SNAPSHOT_MIN_AGE`` with ``fresh``). Blocking: thread pool only."""
        with self._snapshot_lock:
            age = time.monotonic() - self._taken
            if self._snapshot is None or age > SNAPSHOT_TTL or (fresh and age > SNAPSHOT_MIN_AGE):
                snapshot, continuous = _advance_snapshot(ledger, self._snapshot)
                if not continuous:
                    self.forget_chain_facts()
                self._snapshot, self._taken = snapshot, time.monotonic()
            return self._snapshot

    def forget_chain_facts(self) -> None:
        """Drop what was remembered from the chain: the block the last snapshot was taken at
        is no longer the chain's (a reorganisation, or a dev node that lost its state)."""
        with self._lock:
            self._roots.clear()
            self._inclusions.clear()
            self._stamps.clear()
            self._voids.clear()

    def current_snapshot(self, ledger: Any) -> Any:
        """The snapshot without waiting, starting a background refresh when it is stale; None
        when the caller must read it (none yet, or a stale one of an in-process chain, which
        must not be read from a thread of its own while the test or worker uses it)."""
        if time.monotonic() - self._taken > SNAPSHOT_TTL and self._snapshot is not None:
            if self.invoice_reader(ledger) is None:
                return None
            if not self._refreshing:
                self._refreshing = True
                threading.Thread(target=self._refresh, args=(ledger,), name="registry-snapshot", daemon=True).start()
        return self._snapshot

    def _refresh(self, ledger: Any) -> None:
        try:
            self.snapshot(ledger)
        except Exception:  # the next refresh retries; the old snapshot stays in use meanwhile
            pass
        finally:
            self._refreshing = False

    def snapshot_is_recent(self) -> bool:
        return time.monotonic() - self._taken <= SNAPSHOT_MIN_AGE

    # --- immutable facts ----------------------------------------------------------------

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

    def cached_inclusion(self, fingerprint: bytes) -> InvoiceInclusion | None:
        return self._inclusions.get(fingerprint)

    def load_invoice(self, service: Any, fingerprint: Fingerprint) -> tuple[InvoiceInclusion | None, list[Stamp]]:
        """The inclusion document and stamps from the store (blocking: thread pool only)."""
        try:
            detail = service.store.invoice(fingerprint)
        except NotFound:
            return None, []
        doc = service.inclusion_document(detail, batch_of=lambda root: self.batch_tree(service, root))
        stamps = [Stamp(s.payer_id, "0x" + s.claim_id.hex(), s.amount_fen, s.status, s.block_number, s.tx_hash)
                  for s in detail.stamps]
        if doc is not None:
            with self._lock:
                self._inclusions[bytes(fingerprint)] = doc
                while len(self._inclusions) > MAX_CACHED:
                    self._inclusions.popitem(last=False)
        return doc, stamps

    def anchored_batch(self, root: bytes) -> AnchoredBatch | None:
        return self._roots.get(root)

    def chain_batch(self, chain: Any, root: MerkleRoot) -> AnchoredBatch | None:
        """The batch as the chain records it (blocking: thread pool only); remembered once anchored."""
        found: AnchoredBatch | None = chain.batch(root)
        if found is not None:
            with self._lock:
                self._roots[bytes(root)] = found
        return found

    def stamps_if_current(self, fingerprint: bytes, state: InvoiceChainState) -> list[Stamp] | None:
        entry = self._stamps.get(fingerprint)
        if entry is None or entry[1] != state or time.monotonic() - entry[0] > STAMPS_TTL:
            return None
        return entry[2]

    def remember_stamps(self, fingerprint: bytes, state: InvoiceChainState, stamps: list[Stamp]) -> None:
        """Keep ``stamps`` for this ``state`` if they add up to it (the store's index of the
        chain's events may lag the contract by a moment: then it is read again next time)."""
        reserved = sum(s.amount_fen for s in stamps if s.status == "reserved")
        paid = sum(s.amount_fen for s in stamps if s.status == "finalized")
        if (reserved, paid) != (state.reserved_fen, state.paid_fen):
            return
        with self._lock:
            if len(self._stamps) >= MAX_CACHED:
                self._stamps.clear()
            self._stamps[fingerprint] = (time.monotonic(), state, stamps)

    def chain_void(self, chain: Any, issuer: str, fingerprint: Fingerprint) -> ChainVoid | None:
        """The void event of a voided invoice, read from the chain once (blocking: thread pool only)."""
        found = self._voids.get(bytes(fingerprint))
        if found is None:
            from ledger.adapters.events import EventReader

            found = EventReader(chain).void_of(issuer, fingerprint)
            if found is not None:
                with self._lock:
                    if len(self._voids) >= MAX_CACHED:
                        self._voids.clear()
                    self._voids[bytes(fingerprint)] = found
        return found

    # --- the chain's live read ------------------------------------------------------------

    def invoice_reader(self, chain: Any) -> Any:
        """An :class:`~verifier.async_rpc.AsyncInvoiceReader` for ``chain``, or None when it
        has no plain HTTP endpoint (the embedded EVM: the thread pool path is used)."""
        if self._reader_for is not chain:
            self._reader, self._reader_for = chain.invoice_reader(), chain
        return self._reader

    # --- verification ---------------------------------------------------------------------

    async def verify(self, payload: str, *, service: Any, chain: Any) -> dict[str, Any]:
        """The verdict document of ``payload`` (see :mod:`verifier.verdict`)."""
        snapshot = self.current_snapshot(chain)
        if snapshot is None:
            snapshot = await run_in_threadpool(self.snapshot, chain)
        offline = verify_offline(payload, snapshot)
        if offline.status in ("unknown-issuer", "tampered-or-forged") and not self.snapshot_is_recent():
            # a hospital registered (or a key added) in the last seconds: look again, at most once a second
            offline = verify_offline(payload, await run_in_threadpool(self.snapshot, chain, fresh=True))
        if not offline.valid or offline.seal is None:
            return full_verdict(offline, chain=chain, proofs=_NoProofs())
        return await self._online(offline, service=service, chain=chain)

    async def _online(self, offline: SealVerdict, *, service: Any, chain: Any) -> dict[str, Any]:
        seal = offline.seal
        assert seal is not None
        fp = bytes(seal.fingerprint)
        inclusion = self.cached_inclusion(fp)
        stamps: list[Stamp] | None = None
        if inclusion is None:
            inclusion, stamps = await run_in_threadpool(self.load_invoice, service, seal.fingerprint)
        batch: AnchoredBatch | None = None
        state: InvoiceChainState | None = None
        void: ChainVoid | None = None
        if inclusion is not None:
            root = bytes(inclusion.batch_root)
            batch = self.anchored_batch(root)
            if batch is None:
                batch = await run_in_threadpool(self.chain_batch, chain, inclusion.batch_root)
        if batch is not None:  # the contract's record is only asked about anchored invoices
            assert inclusion is not None
            reader = self.invoice_reader(chain)
            if reader is not None:
                live: InvoiceChainState = await reader.invoice_state(inclusion.issuer, inclusion.fingerprint)
            else:
                live = await run_in_threadpool(chain.invoice_state, inclusion.issuer, inclusion.fingerprint)
            state = live
            if stamps is None:
                stamps = self.stamps_if_current(fp, live)
            if stamps is None:
                stamps = (await run_in_threadpool(self.load_invoice, service, seal.fingerprint))[1]
            self.remember_stamps(fp, live, stamps)
            if live.voided:  # rare: the reason code comes from the void's event on chain
                void = self._voids.get(fp) or await run_in_threadpool(self.chain_void, chain, inclusion.issuer,
                                                                      inclusion.fingerprint)
        view = _Prefetched(chain, inclusion, batch, state, stamps or [], void)
        return full_verdict(offline, chain=view, proofs=view, stamps=view, voids=view)


#: the events that change the hospitals registry (ledger/adapters/registry_export.py reads them)
_REGISTRY_EVENTS = ("MemberRegistered", "KeyAdded", "KeyRevoked")


def _advance_snapshot(ledger: Any, old: Any) -> tuple[Any, bool]:
    """The registry snapshot at the chain's head, and whether ``old``'s block is still on the chain.

    A full export reads every event of the contract from block 0 and decodes them: tens
    to hundreds of ms of CPU on a busy chain, every ``SNAPSHOT_TTL``. Registry changes
    are rare, so when ``old`` is still on the chain (its block hash unchanged) and no
    registry event was logged after it, the same keys are re-dated to the head instead
    (one filtered ``eth_getLogs`` and two block reads). When ``old``'s block is gone, the
    caller must also forget what it cached from the chain.
    """
    from eth_utils.abi import event_abi_to_log_topic

    from ledger.adapters.events import EventReader
    from ledger.adapters.registry_export import export_snapshot
    from verifier.registry import RegistrySnapshot

    if old is None:
        return export_snapshot(ledger), True
    reader = EventReader(ledger)
    head = reader.head()
    if reader.block_hash(old.block_number) != old.block_hash:
        return export_snapshot(ledger), False
    if head == old.block_number:
        return old, True
    topics = ["0x" + event_abi_to_log_topic(abi).hex() for abi in ledger.contract.abi
              if abi.get("type") == "event" and abi.get("name") in _REGISTRY_EVENTS]
    try:
        changed = ledger.w3.eth.get_logs({"address": ledger.contract.address, "fromBlock": old.block_number + 1,
                                          "toBlock": head, "topics": [topics]})
    except Exception as exc:  # provider-specific connection errors
        raise ChainUnavailable(f"cannot read registry events: {exc}") from exc
    block_hash = reader.block_hash(head)
    if changed or block_hash is None:
        return export_snapshot(ledger), True
    return RegistrySnapshot(chain_id=old.chain_id, contract=old.contract, block_number=head, block_hash=block_hash,
                            hospitals=old.hospitals), True


class _NoProofs:
    def inclusion(self, fingerprint: Fingerprint) -> InvoiceInclusion | None:
        return None


class _Prefetched:
    """The chain view, proof source, stamp source and void source of one request, answering
    from what was fetched for it: the batch root as the chain records it, the contract's
    invoice record, a voided invoice's void event, and the proof checked locally as the
    contract's ``isAnchored`` does (OpenZeppelin MerkleProof, which ``ledger.merkle``
    reproduces and the tests cross-check)."""

    def __init__(self, chain: Any, inclusion: InvoiceInclusion | None, batch: AnchoredBatch | None,
                 state: InvoiceChainState | None, stamps: list[Stamp], void: ChainVoid | None = None) -> None:
        self._chain, self._inclusion, self._batch, self._state, self._stamps = chain, inclusion, batch, state, stamps
        self._void = void

    @property
    def chain_id(self) -> int:
        return int(self._chain.chain_id)

    @property
    def contract_address(self) -> str:
        return str(self._chain.contract_address)

    def inclusion(self, fingerprint: Fingerprint) -> InvoiceInclusion | None:
        return self._inclusion

    def batch(self, root: MerkleRoot) -> AnchoredBatch | None:
        return self._batch if self._batch is not None and bytes(self._batch.root) == bytes(root) else None

    def invoice_state(self, issuer: str, fingerprint: Fingerprint) -> InvoiceChainState:
        assert self._state is not None and self._inclusion is not None
        assert (issuer, bytes(fingerprint)) == (self._inclusion.issuer, bytes(self._inclusion.fingerprint))
        return self._state

    def is_anchored(self, *, fingerprint: Fingerprint, total_fen: int, root: MerkleRoot,
                    proof: list[Hash32] | tuple[Hash32, ...]) -> bool:
        if self.batch(root) is None:
            return False
        doc = self._inclusion
        if doc is not None and (bytes(doc.fingerprint), doc.total_fen, bytes(doc.batch_root), tuple(doc.proof)) == (
                bytes(fingerprint), total_fen, bytes(root), tuple(proof)):
            # verify_inclusion_document has just walked this very path to this root (merkle_proof.verify)
            return True
        leaf = standard_leaf_hash(BATCH_LEAF_ENCODING, (bytes(fingerprint), total_fen))
        return process_proof(leaf, proof) == bytes(root)

    def stamps(self, fingerprint: Fingerprint) -> list[Stamp]:
        return self._stamps

    def void_of(self, issuer: str, fingerprint: Fingerprint) -> ChainVoid | None:
        return self._void


def install(app: FastAPI) -> None:
    """Mount ``POST /v1/verify`` on ``app``.

    The FastAPI route documents it (OpenAPI); requests are served by the same endpoint as a
    plain Starlette route placed in front of every other route. The endpoint takes only
    the request, so FastAPI's per-request routing through the included routers and its
    dependency machinery add nothing but cost: about 190 µs of the 600 µs of CPU a
    verification took in-process, the hot path's largest single item.
    """
    app.include_router(router)
    app.router.routes.insert(0, Route("/v1/verify", verify, methods=["POST"], include_in_schema=False))


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
async def verify(request: Request) -> Response:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in ("image/png", "image/jpeg"):
        body = await _read_body(request, qr_image.MAX_PHOTO_BYTES)
        payload = await run_in_threadpool(qr_image.read_photo, body)
    elif media == "application/json":
        body = await _read_body(request, 64 * 1024)
        try:
            payload = VerifyIn.model_validate_json(body).payload
        except ValueError as exc:
            raise InvalidInput.single("(body)", "json", f"expected {{\"payload\": \"EBILL:…\"}}: {exc}") from None
    else:
        raise UnsupportedMediaType("send application/json {\"payload\": …} or an image/png or image/jpeg photo")
    cache: VerifyCache = request.app.state.verify_cache
    doc = await cache.verify(payload, service=request.app.state.service, chain=_chain(request))
    if doc.get("status") in _FORGERY_VERDICTS:
        # counted, not audited: anyone can send these as fast as they like, and an audit row
        # each let them grow the audit trail at will; the dashboard shows the counts
        request.app.state.event_counts.add(f"verify.refused:{doc['status']}")
    return Response(orjson.dumps(doc), media_type="application/json")


#: verdicts that mean a fake or altered invoice was presented (not merely a bad photo)
_FORGERY_VERDICTS = frozenset({"tampered-or-forged", "unknown-issuer", "revoked-issuer"})
