"""The claims stamper: reserves, finalises and releases claims on chain, in batches; pays out.

It runs in ``ebill serve``'s main process next to the chain worker, under its own
lease (one sender per payer account, so nonces never collide). Each round:

1. claims on invoices voided on chain are refused (unpaid) or owe a claw-back (paid);
2. every claim whose ``chain_todo`` is set is stamped: the round's reservations,
   finalisations and releases go out together (``reserveMany``, ``finalizeMany``,
   ``releaseMany``, one block), and each claim's outcome is read from the receipt's events;
3. approved claims are paid through the payout port, idempotently by claim id, while
   the chain mines step 2's transactions, and recorded paid in one transaction.

Crash safety comes from the order of writes, not from the process staying up:
- killed after the chain reserved but before the database recorded it: the claim
  still says ``reserve``; sending it again is refused with ``ClaimAlreadyExists`` and
  the stamper then reads the claim from the chain and records what is there;
- killed between approval and payout: the payout is requested again with the same
  request id, and the bank answers with the original payment (it never pays twice);
- killed after payment but before ``paid`` was recorded: the same.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ledger.adapters.bank import PayoutPort
from ledger.adapters.chains import ChainSession
from ledger.adapters.sql.claims_store import STAMPED, StampTask
from ledger.adapters.web3_chain import Reservation, StampOutcome
from ledger.app.claims import ClaimsService
from ledger.batch import Batch
from ledger.errors import ChainError, Conflict, ContractReverted, LedgerError
from ledger.failpoints import failpoint

log = logging.getLogger("ebill.claims")

_LEASE = "claims-stamper"
_LEASE_TTL = timedelta(seconds=30)
#: payouts made each round even when the chain's stamps are back already
_MIN_PAYOUTS = 20


@dataclass
class StampReport:
    reserved: int = 0
    finalized: int = 0
    released: int = 0
    refused: int = 0
    paid: int = 0
    voided: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return bool(self.reserved or self.finalized or self.released or self.refused or self.paid or self.voided)


class ClaimStamper:
    """One payer's chain stamps and payouts for one store."""

    def __init__(self, claims: ClaimsService, session: ChainSession, bank: PayoutPort, *,
                 holder: str | None = None) -> None:
        self.claims = claims
        self.session = session
        self.ledger = session.ledger
        self.bank = bank
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self._account: str | None = None
        self._registered = False
        self._trees: OrderedDict[bytes, Batch] = OrderedDict()
        self._stop = threading.Event()
        self._lease_at = 0.0
        self._voids_at = 0.0
        self._tick_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ loop

    def run_forever(self, *, idle: float = 0.005, max_idle: float = 0.02) -> None:
        """Stamp until :meth:`stop`; when there is nothing to do, polls the outbox after ``idle``
        seconds, backing off to ``max_idle`` (each idle poll is two queries: at a steady 5 ms
        they cost a fifth of a CPU core while nothing happens)."""
        wait = idle
        while not self._stop.is_set():
            try:
                if not self._hold_lease():
                    self._stop.wait(1.0)
                    continue
                report = self.tick()
                for e in report.errors:
                    log.warning("claims: %s", e)
                if report.busy:
                    wait = idle
                else:
                    self._stop.wait(wait)
                    wait = min(wait * 2, max_idle)
            except LedgerError as exc:
                log.warning("claims stamper: %s", exc)
                self._stop.wait(0.5)
        self.claims.service.store.release_lease(_LEASE, self.holder)  # type: ignore[attr-defined]
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def stop(self) -> None:
        self._stop.set()

    def _hold_lease(self) -> bool:
        now = time.monotonic()
        if now - self._lease_at < 10.0:
            return True
        ok = self.claims.service.store.take_lease(_LEASE, self.holder, ttl=_LEASE_TTL)  # type: ignore[attr-defined]
        self._lease_at = now if ok else 0.0
        return bool(ok)

    def tick(self, *, force_voids: bool = False) -> StampReport:
        with self._tick_lock:   # a test's drain() and the thread's loop take turns
            return self._tick(force_voids)

    def _tick(self, force_voids: bool) -> StampReport:
        report = StampReport()
        self._ensure_registered()
        now = time.monotonic()
        if force_voids or now - self._voids_at > 0.5:
            self._voids_at = now
            report.voided = len(self.claims.store.apply_voids())
        tasks = self.claims.store.stamp_tasks(limit=1000)
        sent = self._send_stamps(tasks) if tasks else []
        # the bank is paid while the chain mines this round's stamps (a block can take a
        # second): payouts do not hold the next round's reservations back
        self._pay(report, while_pending=[f for _, _, f in sent])
        if sent:
            self._record_stamps(sent, report)
        return report

    def drain(self, *, timeout: float = 30.0) -> None:
        """Tick until nothing is left to stamp or pay (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.tick(force_voids=True)
            if not self.claims.store.stamp_tasks(limit=1) and not self.claims.store.payouts_due(limit=1):
                return
            time.sleep(0.01)

    # ------------------------------------------------------------------ chain

    def _ensure_registered(self) -> None:
        if self._registered:
            return
        payer_id = self.claims.payer_id
        account, key = self.claims.payer_key(payer_id)
        if account not in self.session.keyring:
            self.session.keyring.add("0x" + key.hex())
        info = self.ledger.account_info(account)
        if not (info.member_id == payer_id and info.kind == "payer" and not info.revoked_at):
            try:
                receipt = self.ledger.register_payer(payer_id, account)
            except ContractReverted as exc:
                if exc.error != "MemberAlreadyRegistered":
                    raise
                receipt = self.ledger.add_key(payer_id, account)  # another instance of this payer registered it
            self.claims.store.set_payer_registered(payer_id, receipt.block_number)
        self._account = account
        self._registered = True

    def _send_stamps(self, tasks: Sequence[StampTask]) -> list[tuple[str, list[StampTask], Future[Any]]]:
        """Send the round's reservations, finalisations and releases at once (they land in one
        block); each operation's outcomes arrive in its future."""
        assert self._account is not None
        account = self._account
        sent: list[tuple[str, list[StampTask], Future[Any]]] = []
        for op in ("reserve", "finalize", "release"):
            todo = [t for t in tasks if t.op == op]
            if op == "reserve":
                todo = [t for t in todo if t.anchored and t.batch_root is not None]
            if todo:
                items: list[Reservation | bytes] = (
                    [self._reservation(t) for t in todo] if op == "reserve" else [t.chain_claim_id for t in todo])
                sent.append((op, todo, self._senders().submit(self.ledger.stamp_many, account, op, items)))
        return sent

    def _record_stamps(self, sent: Sequence[tuple[str, list[StampTask], Future[Any]]], report: StampReport) -> None:
        """Wait for the chain's outcomes and record them in one transaction."""
        results: list[tuple[StampTask, str, str | None, str | None, int | None]] = []
        judged: list[tuple[list[StampTask], list[StampOutcome]]] = []
        for op, todo, future in sent:
            try:
                outcomes = future.result()
            except ContractReverted as exc:
                # a whole batch reverts only when the sender lacks the payer role (a dev
                # node that lost the registration): check it again next round
                self._registered = False
                report.errors.append(f"{op} of {len(todo)} claims failed: {exc}")
                continue
            except ChainError as exc:
                report.errors.append(f"{op} of {len(todo)} claims failed: {exc}")
                continue
            if op == "reserve":
                failpoint("claims.after-reserve")
            judged.append((todo, outcomes))
        for todo, outcomes in judged:
            for task, outcome in zip(todo, outcomes, strict=True):
                results.append(self._judge(task, outcome, report))
        if results:
            self.claims.store.apply_stamps(results,
                                           on_reserved=lambda c: "approved" if c.instant else "in-review")

    def _judge(self, task: StampTask, out: StampOutcome,
               report: StampReport) -> tuple[StampTask, str, str | None, str | None, int | None]:
        """Map one item's on-chain outcome to what the claim records."""
        if out.refused is None:
            counter = STAMPED[task.op]
            setattr(report, counter, getattr(report, counter) + 1)
            return task, "done", None, out.tx, out.block
        reason = out.refused
        if reason in ("ClaimAlreadyExists", "ClaimNotReserved", "UnknownClaim"):
            # sent before, and the database did not record it (a crash): believe the chain
            status, _, _ = self.ledger.claim_of(self.claims.payer_id, task.chain_claim_id)
            wanted = {"reserve": ("reserved", "finalized"), "finalize": ("finalized",), "release": ("released",)}
            if status in wanted[task.op]:
                return task, "done", None, out.tx, out.block
            if task.op == "finalize" and status == "released":
                report.refused += 1
                return task, "refused", "the reservation was released before payment was stamped", out.tx, out.block
            if task.op == "release" and status == "finalized":
                return task, "refused", "the claim was finalised on chain already", out.tx, out.block
        if task.op == "reserve" and reason == "ReimbursementExceedsTotal":
            st = self.ledger.invoice_state(task.issuer, task.fingerprint)  # type: ignore[arg-type]
            left = 0 if st.voided else max(0, task.total_fen - st.reserved_fen - st.paid_fen)
            if 0 < left < task.amount_fen:
                return task, f"smaller:{left}", f"only ¥{left / 100:.2f} of the invoice is left after other payers", \
                    out.tx, out.block
            report.refused += 1
            return task, "refused", "the invoice is reimbursed in full already (by other payers)", out.tx, out.block
        if reason == "TotalMismatch":
            report.refused += 1
            return task, "refused", ("the chain holds another total for this invoice (anchored twice by the "
                                     "hospital with different totals): a reviewer must look"), out.tx, out.block
        if reason == "BatchNotAnchored":
            return task, "retry", "the invoice's batch is not on chain (yet)", out.tx, out.block
        if reason == "InvoiceIsVoided":
            report.refused += 1
            return task, "refused", "the hospital voided the invoice", out.tx, out.block
        report.refused += 1
        return task, "refused", f"the chain refused the stamp: {reason}", out.tx, out.block

    def _reservation(self, t: StampTask) -> Reservation:
        assert t.batch_root is not None
        tree = self._trees.get(t.batch_root)
        if tree is None:
            tree, _ = self.claims.service.store.batch(t.batch_root)  # type: ignore[attr-defined]
            self._trees[t.batch_root] = tree
            if len(self._trees) > 256:
                self._trees.popitem(last=False)
        else:
            self._trees.move_to_end(t.batch_root)
        proof = tree.proof(t.fingerprint)  # type: ignore[arg-type]
        return Reservation(t.chain_claim_id, t.issuer, t.fingerprint, t.total_fen, t.amount_fen, t.batch_root,
                           tuple(bytes(p) for p in proof.proof))

    # ------------------------------------------------------------------ payout

    def _pay(self, report: StampReport, *, while_pending: Sequence[Future[Any]] = ()) -> None:
        """Pay approved claims: up to 200, or while ``while_pending`` chain work runs (at least
        :data:`_MIN_PAYOUTS`, so payouts keep up when stamps come back at once)."""
        due = self.claims.store.payouts_due(limit=200)
        if due:
            failpoint("claims.before-payout")
        paid: list[tuple[str, str, datetime]] = []
        try:
            for n, c in enumerate(due):
                if while_pending and n >= _MIN_PAYOUTS and all(f.done() for f in while_pending):
                    break   # the chain answered: record its stamps first, pay the rest next round
                try:
                    payment = self.bank.pay(request_id=c.id, payee=c.person.hex(), amount_fen=c.amount_fen,
                                            memo=f"reimbursement {c.invoice_code}/{c.invoice_number}")
                except Conflict as exc:
                    # permanent: this request id was paid with other figures (a bug, or the
                    # bank's records were changed); one claim must not block every later payout
                    report.errors.append(f"payout of {c.id} refused by the bank, needs a person: {exc}")
                    self.claims.store.hold_payout(c.id, reason=str(exc))
                    continue
                except LedgerError as exc:   # BankUnavailable and the like: try the round again later
                    report.errors.append(f"payout of {c.id} failed (retried next round): {exc}")
                    break
                failpoint("claims.after-payout")
                paid.append((c.id, payment.reference, payment.paid_at))
        finally:
            # the round's payments in one transaction; a crash before it is the after-payout
            # window: the bank answers the next round's request with the same payment
            self.claims.store.mark_paid_many(paid)
        report.paid += len(paid)

    def _senders(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="claims-send")
        return self._pool
