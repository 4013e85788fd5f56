"""The chain worker: drains the anchoring and void outboxes and keeps the chain index.

One worker per store sends transactions: every ``ebill serve --role worker`` (or ``all``)
process runs one, and only the one that leads the ``chain-worker`` lease acts
(:mod:`ledger.app.leader`); its writes are fenced by the lease's token, so a worker that lost
the lease while paused or cut off cannot record anything, and the contract — which refuses a
second anchor of a root and a second void — stays the last fence for what it sent meanwhile.
When a worker takes the lease it forgets what it knew of the chain (nonces of the shared
relayer, the index cursor) and, if the store was bound to another chain since, rebuilds the
index. Each :meth:`ChainWorker.tick` it leads:

1. **indexes** new contract events (anchors, voids, claw-backs, stamps) into the store.
   If the chain no longer holds the block the index stopped at — a dev node restarted
   from an older state dump after a SIGKILL, or a new chain — or the database was restored
   from a backup (``indexer.rebuild``), the index is rebuilt from the events the chain
   has; batches whose anchors vanished fall back into the outbox, and hospitals are
   re-checked in the registry;
2. **registers** hospitals the chain does not know (again), and signs from then on with each
   hospital's current key (a rotation made here or by another process);
3. **closes** due batches (size or age);
4. **anchors** waiting batches, relayed, up to 64 per transaction (idempotent: a root
   already on chain is only recorded, never sent twice);
5. **voids** invoices whose void was requested and whose batch is anchored, then settles
   hospitals' key changes: binds rotated keys (``addKey``), revokes keys marked for
   revocation (``revokeKey``; :class:`~ledger.app.key_registrar.KeyRegistrar`), a key the
   chain refuses holding up nothing else;
6. indexes again, so acknowledgements show up without waiting for the next tick.

Every few seconds (and when the chain stops or starts answering) it reports what it saw —
the chain's head, the block indexed, the store's figures and the anchoring lag — to the
store (:class:`~ledger.app.worker_status.WorkerStatus`, read by ``/v1/health`` and
``/readyz``) and to the telemetry port. Each anchored batch and each void is logged with
the requests (``X-Request-Id``) that uploaded its invoices or asked for the void.

Everything is safe to repeat after a crash at any point: the store is only updated
from what the chain says, and the contract refuses double anchors and double voids.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from ledger.anchoring import Anchorer
from ledger.app.key_registrar import KeyRegistrar
from ledger.app.leader import Leader
from ledger.app.service import REINDEX_META, LedgerService
from ledger.app.survival import Survival
from ledger.app.worker_status import META_KEY, WorkerStatus
from ledger.errors import ChainError, ChainStateMismatch, ContractReverted, FencedOut, LedgerError
from ledger.hashing import MerkleRoot, to_hex
from ledger.leadership import CHAIN_WORKER
from ledger.ports import ChainConnection, InvoiceStore, Telemetry

log = logging.getLogger("ebill.worker")

LEASE = CHAIN_WORKER
#: how long the lease lasts unrenewed where it is a row with an expiry (SQLite)
LEASE_TTL = timedelta(seconds=60)
#: seconds between two reports of the worker's status and the store's figures
STATUS_EVERY = 5.0
#: request ids named in one log line (a batch of many uploads names the first ones and counts the rest)
_IDS_LOGGED = 50


@dataclass
class TickReport:
    closed: int = 0
    anchored: int = 0
    voided: int = 0
    events: int = 0
    registered: int = 0
    keys: int = 0           # hospitals' keys bound or revoked on chain
    reindexed: bool = False
    errors: list[str] = field(default_factory=list)
    #: time spent per step (for the slow-tick warning)
    seconds: dict[str, float] = field(default_factory=dict)


class ChainWorker:
    """Anchors, voids and indexes for one store on one chain."""

    def __init__(
        self, service: LedgerService, session: ChainConnection, *, max_leaves: int = 1024,
        max_age: timedelta = timedelta(seconds=2), holder: str | None = None,
        status_every: float = STATUS_EVERY,
    ) -> None:
        self.service = service
        self.store: InvoiceStore = service.store
        self.session = session
        self.ledger = session.ledger
        self.reader = session.events
        self.max_leaves = max_leaves
        self.max_age = max_age
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._registered: set[str] = set()
        self._accounts: dict[str, str] = {}
        self._keyless: dict[str, bool] = {}
        self.leader = Leader(self.store.leadership(LEASE, self.holder, ttl=LEASE_TTL), what="chain worker", log=log)
        self._led_epoch: int | None = None     # the token of the leadership this worker last acted under
        self._indexed: tuple[int, str] | None = None
        self._stop = threading.Event()
        self.anchorer = Anchorer(session.ledger, signer_of=self._signer_of)
        self.registrar = KeyRegistrar(self.store, session.ledger)
        self._keys_generation = -1
        self._status_every = status_every
        self._status_at: float | None = None    # (monotonic) when the status was last reported
        self._chain_ok: bool | None = None      # what the last report said
        self._head: int | None = None

    @property
    def telemetry(self) -> Telemetry:
        """The service's (what this worker reports to)."""
        return self.service.telemetry

    # ------------------------------------------------------------------ running

    def run_forever(self, *, interval: float = 0.25) -> None:
        """Tick until :meth:`stop`; errors are logged and retried with backoff."""
        backoff = interval
        survival = Survival("chain worker", log=log, stop=self._stop, telemetry=self.telemetry,
                            component="chain-worker")
        while not self._stop.is_set():
            with survival.round():
                report = self.tick()
                if report.errors:
                    for e in report.errors:
                        log.warning("%s", e)
                    backoff = min(backoff * 2, 10.0)
                else:
                    backoff = interval
                self._stop.wait(backoff)

    def stop(self) -> None:
        self._stop.set()

    def release(self) -> None:
        """Give up the worker lease (on a clean shutdown) so a successor starts at once."""
        self.leader.release()

    def tick(self) -> TickReport:
        """One round, if this worker leads (a follower's round does nothing)."""
        report = TickReport()
        # (a time-limited lease is renewed every 10 s, not every tick: each renewal is a write
        # transaction, an fsync with SQLite, competing with uploads for the write lock)
        if not self.leader.leading():
            return report
        try:
            with self.leader.fenced():
                self._take_over()
                self._round(report)
        except FencedOut as exc:
            self.leader.fenced_out(exc)
            report.errors.append(f"fenced out: {exc}")
        return report

    def _take_over(self) -> None:
        """At the first round under a new token: forget what this process knew of the chain (another
        worker may have sent from the shared relayer and moved the index meanwhile), and rebuild the
        index if the store was bound to another chain or contract."""
        if self.leader.epoch == self._led_epoch:
            return
        self._indexed = None
        self._keyless.clear()
        self._keys_generation = -1
        self._forget_chain_state()
        reason = self.store.get_meta(REINDEX_META)
        if reason:
            self.reindex(reason=reason)
        self._led_epoch = self.leader.epoch

    def _round(self, report: TickReport) -> None:
        started = time.monotonic()
        chain_error: str | None = None
        for step in (self._index, self._register, self._signers, self._close, self._anchor, self._void, self._keys,
                     self._index):
            t0 = time.monotonic()
            name = step.__name__.strip("_")
            try:
                step(report)
                report.seconds[name] = report.seconds.get(name, 0.0) + time.monotonic() - t0
            except FencedOut:
                raise
            except LedgerError as exc:
                report.errors.append(f"{name}: {exc}")
                self.telemetry.chain_error(component="chain-worker", step=name)
                if isinstance(exc, ChainError):
                    chain_error = f"{name}: {exc}"
                    self._forget_chain_state()
                break
        elapsed = time.monotonic() - started
        self.telemetry.worker_tick(seconds=elapsed)
        if elapsed > 2:
            log.warning("slow tick (%.1f s): %s", elapsed,
                        ", ".join(f"{k} {v:.2f} s" for k, v in report.seconds.items()),
                        extra={"seconds": round(elapsed, 3)})
        self._report_status(report, chain_error)

    def _report_status(self, report: TickReport, chain_error: str | None) -> None:
        """After a round that changed something (closed, anchored, voided, indexed), when the chain
        stops or starts answering, and every ``status_every`` seconds: the store's figures to the
        telemetry, and the worker's status to the store (a few indexed reads and one write)."""
        chain_ok = chain_error is None
        now = time.monotonic()
        busy = report.closed or report.anchored or report.voided or report.events or report.registered \
            or report.reindexed
        if self._status_at is not None and chain_ok == self._chain_ok and not busy \
                and now - self._status_at < self._status_every:
            return
        try:
            figures = self.store.outbox_figures()
            at = self.service.clock.now()
            self.telemetry.outbox(invoices=figures.unbatched, batches=figures.batches_waiting,
                                  voids=figures.voids_pending, lag=figures.lag(at))
            indexed = self._indexed[0] if self._indexed is not None else None
            if self._head is not None:
                self.telemetry.chain_seen(head=self._head, indexed=indexed if indexed is not None else 0)
            status = WorkerStatus(at=at, chain_ok=chain_ok, head=self._head, indexed=indexed, figures=figures,
                                  chain_error=chain_error[:300] if chain_error else None)
            self.store.set_meta(META_KEY, status.to_json())
        except FencedOut:
            raise
        except LedgerError as exc:
            report.errors.append(f"status: {exc}")
            self.telemetry.chain_error(component="chain-worker", step="status")
            return
        self._status_at, self._chain_ok = now, chain_ok

    def drain(self, *, timeout: float = 60.0) -> TickReport:
        """Tick until nothing is waiting (every invoice anchored, every void stamped); for tests and tools."""
        deadline = time.monotonic() + timeout
        total = TickReport()
        while True:
            r = self.tick()
            for k in ("closed", "anchored", "voided", "events", "registered", "keys"):
                setattr(total, k, getattr(total, k) + getattr(r, k))
            total.errors += r.errors
            total.reindexed |= r.reindexed
            c = self.store.counts()
            if not (c["unbatched"] or c["batchesWaiting"] or c["voidsPending"]):
                self._status_at = None          # report what the drain left, now
                self._report_status(total, None)
                return total
            if time.monotonic() > deadline:
                raise ChainError(f"outbox not drained within {timeout} s: {c}; last errors: {r.errors[-3:]}")
            time.sleep(0.05)

    # ------------------------------------------------------------------ steps

    def _index(self, report: TickReport) -> None:
        head = self._head = self.reader.head()
        if self._indexed is None:
            rebuild = self.store.get_meta("indexer.rebuild")
            if rebuild:
                # the database was restored from a backup (``ebill restore``): the chain went on
                # without it, and a cursor that still matches a block would hide nothing but the
                # generation bump the claims stamper needs to check every claim against the chain
                self.reindex(reason=rebuild)
                report.reindexed = True
                return
            cursor, cursor_hash = self.store.get_meta("indexer.block"), self.store.get_meta("indexer.hash")
            if cursor is not None and cursor_hash:
                self._indexed = (int(cursor), cursor_hash)
        if self._indexed is not None:
            at, at_hash = self._indexed
            if at > head or self.reader.block_hash(at) != at_hash:
                self.reindex(reason=f"the chain no longer holds block {at} the index stopped at (head {head})")
                report.reindexed = True
                return
            if at == head:
                return  # nothing new: no write transaction
            start = at + 1
        else:
            start = int(self.store.get_meta("chain.deploy_block") or 0)
        events = self.reader.read(start, head)
        head_hash = self.reader.block_hash(head) or ""
        # the events and the cursor commit together: a crash cannot skip or half-apply a range
        self.store.save_events(events, cursor=(head, head_hash))
        self._indexed = (head, head_hash)
        report.events += len(events)

    def reindex(self, *, reason: str = "requested") -> int:
        """Rebuild every chain-derived record from the chain's events; return how many."""
        log.warning("rebuilding the chain index: %s", reason)
        head = self.reader.head()
        start = int(self.store.get_meta("chain.deploy_block") or 0)
        events = self.reader.read(start, head) if start <= head else []
        head_hash = self.reader.block_hash(head) or ""
        self.store.reset_chain_index(events, cursor=(head, head_hash))
        if self.store.get_meta(REINDEX_META):
            self.store.set_meta(REINDEX_META, "")
        self._indexed = (head, head_hash)
        self._forget_chain_state()
        return len(events)

    def _forget_chain_state(self) -> None:
        """Drop what this process remembers about the chain, to learn it again from the node.

        Called after the chain lost blocks (rebuild) and after any chain error. A dev node
        restarted from an older state dump (SIGKILL) takes back the relayer's latest
        transactions, hospital registrations and gas top-ups, but the ledger adapter counts
        nonces up in memory: its next transaction then carries a nonce the node cannot mine
        yet (a gap), waits in the node's queue forever, and nothing is anchored again (seen in
        tests/e2e/test_serve_restart.py). A lost registration whose block lay beyond the index
        cursor is not caught by the rebuild either: the anchoring transaction reverts
        (UnauthorizedBatchSigner), and forgetting ``_registered`` makes the next tick register
        the hospital again. Costs: one nonce query per sender and one registry read per
        hospital on the next tick.
        """
        self._registered.clear()
        self.ledger.forget_session_state()

    def _register(self, report: TickReport) -> None:
        """Register (or add the key of) every hospital the chain does not know, pipelined.

        A city's 132 hospitals one transaction after another took 12 s at start-up, during
        which nothing was anchored; sent together they take one or two blocks.
        """
        todo = []
        for h in self.store.hospitals():
            if h.institution_id in self._registered or not h.sealed_key:
                continue   # (no key: a hospital mirrored from another service, which anchors for it)
            self._load_key(h.institution_id, h.account)
            info = self.ledger.account_info(h.account)
            if info.member_id == h.institution_id and info.kind == "hospital" and not info.revoked_at:
                self._registered.add(h.institution_id)
                if h.registered_block is None:
                    self.store.set_registered(h.institution_id, self.reader.head())
                continue
            todo.append(h)
        if not todo:
            return
        self.leader.check()
        receipts = self.ledger.register_hospitals([(h.institution_id, h.account) for h in todo])
        for h, receipt in zip(todo, receipts, strict=True):
            self.store.set_registered(h.institution_id, receipt.block_number)
            self._registered.add(h.institution_id)
            report.registered += 1

    def _keys(self, report: TickReport) -> None:
        """Bind rotated keys and revoke revoked ones on chain; sign with each hospital's current key."""
        settled = self.registrar.settle()
        report.keys += len(settled.bound) + len(settled.revoked)
        report.errors += [f"keys: {why}" for why in settled.refused]   # (reported every tick until resolved)
        self._current_signers()

    def _current_signers(self) -> None:
        """Forget which key signs for whom when a hospital's current key changed (here, or in another
        process: ``ebill hospital rotate-key``), before anything is signed: a key revoked meanwhile
        must not go on authorising batches."""
        generation = self.store.keys_generation()
        if generation != self._keys_generation:
            self._keys_generation = generation
            self._accounts.clear()

    def _signers(self, report: TickReport) -> None:
        self._current_signers()

    def _close(self, report: TickReport) -> None:
        report.closed += len(self.store.close_batches(max_leaves=self.max_leaves, max_age=self.max_age))

    def _anchor(self, report: TickReport) -> None:
        waiting = [b for b in self.store.batches_waiting() if self._holds_key(b.issuer)]
        if not waiting:
            return
        roots = [b.root for b in waiting]
        origins = self.store.batch_origins(roots)
        # (a fenced write: a worker that lost the lease stops here, before it sends; one that loses it
        # while the transaction is under way sends a root the contract then refuses as anchored already)
        self.store.mark_submitted(roots)
        try:
            result = self.anchorer.anchor(waiting)
        except ChainStateMismatch as exc:
            self.store.mark_submitted(roots, error=str(exc))
            raise
        # The store learns "anchored" only from BatchAnchored events (the next step
        # indexes them): were a batch marked anchored here and the node then lost the
        # block before the index reached it, nothing would ever notice and re-send it.
        report.anchored += len(result.anchored)
        now = self.service.clock.now()
        txs = [r.tx_hash for r in result.receipts]   # (up to 64 batches a transaction: usually one)
        delays = []
        for batch, on_chain in zip(waiting, result.anchored, strict=True):
            origin = origins.get(bytes(batch.root))
            delay = (now - origin.oldest_received).total_seconds() if origin else None
            if delay is not None:
                delays.append(delay)
            ids = origin.request_ids if origin else ()
            log.info("batch anchored", extra={
                "root": to_hex(batch.root), "issuer": batch.issuer, "invoices": batch.leaf_count,
                "block": on_chain.block_number, "tx": txs[0] if len(txs) == 1 else None, "txs": txs,
                "delay_s": round(delay, 3) if delay is not None else None,
                "request_ids": list(ids[:_IDS_LOGGED]), "more_request_ids": max(0, len(ids) - _IDS_LOGGED)})
        self.telemetry.batches_anchored(invoices=[b.leaf_count for b in waiting], delays=delays)

    def _void(self, report: TickReport) -> None:
        checked = False
        for void, root, total in self.store.voids_pending():
            if root is None:
                continue  # its batch is not anchored yet: the contract needs the proof
            if not checked:   # (then the contract refuses a second void: InvoiceAlreadyVoided)
                self.leader.check()
                checked = True
            batch, _ = self.store.batch(root)
            proof = batch.proof(void.fingerprint)
            signer = self._signer_of(void.issuer)
            try:
                receipt = self.ledger.void_invoice(
                    hospital=signer, fingerprint=void.fingerprint, total_fen=total, batch_root=MerkleRoot(root),
                    proof=proof.proof, reason=void.reason_code)
            except ContractReverted as exc:
                if exc.error == "InvoiceAlreadyVoided":
                    continue  # voided before a crash: the indexer records it from the event
                self.store.mark_void(void.fingerprint, state="failed", error=str(exc))
                report.errors.append(f"void of 0x{bytes(void.fingerprint).hex()} refused: {exc}")
                continue
            self.store.mark_void(void.fingerprint, state="voided", tx=receipt.tx_hash, block=receipt.block_number)
            log.info("invoice voided", extra={"fingerprint": to_hex(void.fingerprint), "issuer": void.issuer,
                                              "tx": receipt.tx_hash, "block": receipt.block_number,
                                              "request_id": void.request_id})
            report.voided += 1

    # ------------------------------------------------------------------ keys

    def _holds_key(self, institution_id: str) -> bool:
        """False for hospitals mirrored from another service (their batches are anchored there)."""
        if institution_id not in self._keyless:
            self._keyless[institution_id] = not self.store.hospital(institution_id).sealed_key
        return not self._keyless[institution_id]

    def _load_key(self, institution_id: str, account: str) -> None:
        # the keyring signs through the key wherever it is (opened from the store's sealed keystore,
        # or on the PKCS#11 token); it is never added to the deployment record (ChainSession.hospitals)
        if account not in self.session.keyring:
            self.session.keyring.hold(self.service.hospital_signer(institution_id))
        self._accounts[institution_id] = account

    def _signer_of(self, institution_id: str) -> str:
        account = self._accounts.get(institution_id)
        if account is None or account not in self.session.keyring:
            h = self.store.hospital(institution_id)
            self._load_key(institution_id, h.account)
            account = h.account
        return account
