"""The claims stamper: reserves, finalises and releases claims on chain, in batches; pays out.

It runs in ``ebill serve``'s main process next to the chain worker, under its own
lease, ``claims-stamper:<payer>`` (one sender per payer account, so nonces never collide):
with several worker processes on one database only the leader stamps and pays
(:mod:`ledger.app.leader`). Its rounds' writes are fenced by the lease's token and it checks
the token before it sends a round's stamps; what a leader that lost the lease in between
sends is refused by the contract (``ClaimAlreadyExists``, ``ClaimNotReserved``: read back
from the chain as after a crash), and a payout is asked of the bank under the claim's
request id, which the bank pays once. A worker taking the lease over forgets the payer
account's nonce and checks every recorded stamp against the chain. Each round:

1. claims on voided invoices — a void this service accepted, or one the chain recorded —
   are refused (not paid) or owe a claw-back (paid); every few seconds, and at once when
   the chain index was rebuilt (lost blocks), the recorded stamps are checked against the
   chain and those it no longer holds go back to the outbox (see *Lost blocks*);
2. every claim whose ``chain_todo`` is set is stamped: the round's reservations,
   finalisations and releases go out together (``reserveMany``, ``finalizeMany``,
   ``releaseMany``, one block), and each claim's outcome is read from the receipt's events;
3. claims waiting for earlier payers (payers in order) are decided once the chain shows the
   earlier payers decided, or their window passed (every second, and when forced): they
   join the outbox of step 2 like any new claim;
4. claims approved *and finalised on chain* are paid through the payout port,
   idempotently by claim id, while the chain mines step 2's transactions, and recorded
   paid in one transaction. A payout to a person who owes a claw-back keeps back what they
   owe (:func:`ledger.claims.clawbacks.plan_offsets`): planned and recorded once, before the
   bank is asked, so every request for that payout asks for the same amount; applied to the
   claw-back in the transaction that records the payout.

**A void that came first wins.** An approved claim is finalised on chain before the bank
is asked, and the contract refuses to finalise a claim on a voided invoice: whichever of
the void and the finalisation the chain took first decides. A refused finalisation is
released and the claim refused; nothing is paid. A void accepted by this service blocks
the finalisation and the payout at once, before it is on chain. A void accepted after the
finalisation was sent and before the payout: the payout is held until the void is on
chain, and then never made (the chain keeps a finalisation it cannot undo; its claw-back
notice then names an amount this payer never paid out).

**Crash safety** comes from the order of writes, not from the process staying up:
- killed after the chain reserved but before the database recorded it: the claim
  still says ``reserve``; sending it again is refused with ``ClaimAlreadyExists`` and
  the stamper then reads the claim from the chain and records what is there (the same
  for a finalisation: ``ClaimNotReserved``, and the chain says ``finalized``);
- killed between the finalisation and the payout (``claims.before-payout``): the claim is
  approved and finalised, and the next round pays it;
- killed after payment but before ``paid`` was recorded (``claims.after-payout``): the
  payout is requested again with the same request id, and the bank answers with the
  original payment (it never pays twice); if the invoice is voided before that round, the
  bank is asked whether it paid before the void is applied: money that moved makes the claim
  ``paid`` and then a claw-back the hospital owes, never a refusal saying nothing was paid;
- killed after a payout's offsets were planned, before the bank was asked
  (``claims.after-offset``): the plan is in the claim's row; the next round asks the bank
  for the amount less it, and plans nothing again (a payout's offsets are planned once,
  and never for a request id the bank has paid already: a payout made in full before a
  crash stays in full).

**Lost blocks.** A dev node restarted from an older state dump takes back the newest
blocks, with the stamps in them. The chain worker notices (the block its index stopped at
is gone), rebuilds the index and counts the rebuild (``index.generation`` in ``meta``: this
works whether the stamper runs in the worker's process or not). The stamper then compares
every recorded stamp with the chain (the rebuilt ``stamps`` table, or ``claimOf`` for
blocks the index has not reached) and puts each claim the chain lost back in the outbox
under the same chain claim id: reserved again, then finalised again if it had been. A
paid claim stays ``paid`` and the bank is never asked again; a reservation whose batch's
anchor was lost too waits until the chain worker has anchored the batch again; a lost
payer registration is made again. The same check runs every few seconds for the stamps
recorded since the last one, for losses the index cannot see (blocks it had not reached).

**A restore from an older backup** is the other way round: the chain holds stamps the
database never recorded. A claim whose payment the chain finalised while the database has it
unpaid (decided after the backup) is reconciled with the bank at start, after each rebuild of
the chain index and every half minute (:mod:`ledger.app.chain_reconcile`): recorded paid with
the bank's payment, or approved and finalised so that it is paid once; a reviewer can no longer
decide it. Stamps of claims the database does not hold at all are left alone (their invoices
cannot be claimed again); ``ebill claims release-forgotten`` gives back the reservations among
them (:mod:`ledger.app.forgotten`).
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
from datetime import timedelta

from ledger.app.chain_reconcile import BehindChain
from ledger.app.claims import ClaimsService
from ledger.app.failpoint import failpoint
from ledger.app.leader import Leader
from ledger.app.payouts import Payouts
from ledger.app.stamp_report import StampReport, log_stamps
from ledger.app.survival import Survival
from ledger.batch import Batch
from ledger.claims.model import StampCheck
from ledger.claims.stamps import (
    Refused,
    Repair,
    StampOp,
    StampResult,
    StampStatus,
    StampTask,
    VoidedFirst,
    asks_figures,
    asks_status,
    judge_stamp,
    stamp_repair,
)
from ledger.errors import ChainError, ContractReverted, FencedOut, LedgerError
from ledger.hashing import Fingerprint
from ledger.leadership import stamper_lease
from ledger.onchain import Reservation, StampOutcome
from ledger.ports import ChainConnection, PayoutPort, Telemetry

log = logging.getLogger("ebill.claims")

_LEASE_TTL = timedelta(seconds=30)
#: seconds between two checks of the recorded stamps against the chain (when the index was
#: not rebuilt); and how many claims a check asks the contract about (the rest: next check)
_RECONCILE_EVERY = 2.0
_ASK_AT_MOST = 200
#: seconds between two looks at the claims waiting for earlier payers (one indexed query when
#: there are none: a payer outside an order of payers pays nothing more per claim)
_WAITING_EVERY = 1.0
#: seconds between two looks for claims the chain paid while the store has them unpaid (a restore
#: from an older backup; also at start, after each rebuild of the chain index, and when forced)
_BEHIND_EVERY = 30.0
#: seconds between two counts of the claims by state, for the metrics (an index-only scan)
_STATES_EVERY = 15.0


class ClaimStamper:
    """One payer's chain stamps and payouts for one store."""

    def __init__(self, claims: ClaimsService, session: ChainConnection, bank: PayoutPort, *,
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
        self.leader = Leader(claims.service.store.leadership(stamper_lease(claims.payer_id), self.holder,
                                                             ttl=_LEASE_TTL), what="claims stamper", log=log)
        self._led_epoch: int | None = None
        self._under_lease = False              # this round runs under the lease (run_forever), not a test's drain
        self._voids_at = 0.0
        self._waiting_at = 0.0
        self._generation: str | None = None    # the chain index rebuild last seen (None: not yet)
        self._checked_block = -1               # stamps up to this block are known to be on chain
        self._reconciled_at = 0.0
        self._tick_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self.payouts = Payouts(claims, bank)
        self.behind = BehindChain(claims, session.ledger, bank)
        self._behind_at = 0.0
        self._behind_generation: str | None = None   # the chain index rebuild the last look saw
        self._states_at = 0.0

    @property
    def telemetry(self) -> Telemetry:
        return self.claims.service.telemetry

    # ------------------------------------------------------------------ loop

    def run_forever(self, *, idle: float = 0.005, max_idle: float = 0.02) -> None:
        """Stamp until :meth:`stop`; when there is nothing to do, polls the outbox after ``idle``
        seconds, backing off to ``max_idle`` (each idle poll is two queries: at a steady 5 ms
        they cost a fifth of a CPU core while nothing happens)."""
        wait = idle
        survival = Survival("claims stamper", log=log, stop=self._stop, telemetry=self.telemetry, component="stamper")
        while not self._stop.is_set():
            with survival.round():
                try:
                    if not self.leader.leading():
                        self._stop.wait(1.0)
                        continue
                    report = self._led_tick()
                    for e in report.errors:
                        log.warning("claims: %s", e)
                    if report.busy:
                        wait = idle
                    else:
                        self._stop.wait(wait)
                        wait = min(wait * 2, max_idle)
                except FencedOut as exc:
                    self.leader.fenced_out(exc)
                except LedgerError as exc:
                    log.warning("claims stamper: %s", exc)
                    self.telemetry.chain_error(component="stamper", step="round")
                    self._stop.wait(0.5)
        self.leader.release()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def stop(self) -> None:
        self._stop.set()

    def _led_tick(self) -> StampReport:
        """A round under the lease: its writes fenced by the token; at the first round under a new
        token, forget the payer account's nonce and check every recorded stamp against the chain
        (the previous leader may have sent stamps it never recorded)."""
        with self._tick_lock, self.leader.fenced():
            if self.leader.epoch != self._led_epoch:
                self.ledger.forget_session_state()
                self._registered = False
                self._generation = None
                self._checked_block = -1
                self._led_epoch = self.leader.epoch
            self._under_lease = True
            try:
                return self._tick(False)
            finally:
                self._under_lease = False

    def tick(self, *, force_voids: bool = False) -> StampReport:
        """One round; ``force_voids`` applies voids and checks the recorded stamps against the
        chain now rather than on their own schedule (tests, shutdown)."""
        with self._tick_lock:   # a test's drain() and the thread's loop take turns
            return self._tick(force_voids)

    def _tick(self, force_voids: bool) -> StampReport:
        started = now = time.monotonic()
        report = self._round(force_voids, now)
        self.telemetry.stamper_round(seconds=time.monotonic() - started, done=report.done())
        if now - self._states_at > _STATES_EVERY:
            self._states_at = now
            self.telemetry.claims_by_state(self.claims.store.claims_by_state())
        return report

    def _round(self, force_voids: bool, now: float) -> StampReport:
        report = StampReport()
        self._ensure_registered()
        if force_voids or now - self._voids_at > 0.5:
            self._voids_at = now
            # before the voids: a claim the chain paid after a restored backup is recorded paid
            # first, so a void then asks its money back instead of refusing it as never paid
            generation = str(self.claims.service.store.index_generation())
            if force_voids or generation != self._behind_generation or now - self._behind_at > _BEHIND_EVERY:
                self._behind_at, self._behind_generation = now, generation
                report.reconciled = self.behind.reconcile(report.errors)
            report.voided = self.payouts.apply_voids(report.errors)
            self._reconcile(report, now=now, force=force_voids)
        if force_voids or now - self._waiting_at > _WAITING_EVERY:
            self._waiting_at = now
            report.decided = len(self.claims.decide_waiting())
        tasks = self.claims.store.stamp_tasks(limit=1000)
        if tasks and self._under_lease:
            self.leader.check()   # a stale leader sends nothing (then the contract refuses a second stamp)
        sent = self._send_stamps(tasks) if tasks else []
        # the bank is paid while the chain mines this round's stamps (a block can take a
        # second): payouts do not hold the next round's reservations back
        report.paid += self.payouts.pay(report.errors, while_pending=[f for _, _, f in sent])
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

    def _reconcile(self, report: StampReport, *, now: float, force: bool = False) -> None:
        """Put back in the outbox the claims whose recorded stamp the chain no longer holds.

        All of them once at start and after each rebuild of the chain index; in between,
        every :data:`_RECONCILE_EVERY` seconds (or when forced), those stamped above the
        last block the index had confirmed.
        """
        generation = str(self.claims.service.store.index_generation())
        rebuilt = generation != self._generation
        if not (rebuilt or force) and now - self._reconciled_at < _RECONCILE_EVERY:
            return
        if rebuilt and self._generation is not None:
            # the node lost blocks: nonces counted in memory and the payer's registration
            # may be gone with them (the chain worker does the same for its own senders)
            self.ledger.forget_session_state()
            self._registered = False
            self._ensure_registered()
        indexed, checks = self.claims.store.stamps_to_verify(above_block=-1 if rebuilt else self._checked_block)
        repairs: list[tuple[StampCheck, StampStatus, Repair]] = []
        checked, asked = indexed, 0
        for check in checks:
            on_chain = check.on_chain
            if on_chain is None:   # stamped above the indexed block: ask the contract
                if asked >= _ASK_AT_MOST:
                    checked = min(checked, check.stamp_block - 1)
                    break
                asked += 1
                on_chain = self._status_on_chain(check.chain_claim_id)
            repair = stamp_repair(state=check.state, recorded=check.stamp, on_chain=on_chain)
            if repair is not None:
                repairs.append((check, on_chain, repair))
        if repairs:
            report.lost += self.claims.store.requeue_lost(repairs)
            log.warning("claims: %d recorded stamps are not on chain (lost blocks?): sent again", report.lost)
            # blocks were lost that the index never read: our nonce may be ahead of the chain's
            self.ledger.forget_session_state()
            self._registered = False
        self._generation, self._checked_block, self._reconciled_at = generation, checked, now

    def _status_on_chain(self, chain_claim_id: bytes) -> StampStatus:
        """The chain's status of one of this payer's claims (``none`` if it does not know it)."""
        try:
            status = self.ledger.claim_of(self.claims.payer_id, chain_claim_id).status
        except ContractReverted as exc:
            if exc.error != "UnknownMember":
                raise
            # the chain lost the payer's registration with its blocks, and every claim with it:
            # register again next round
            self._registered = False
            return StampStatus.NONE
        return StampStatus(status)

    def account(self) -> str:
        """The payer's chain account this stamper sends from (registered on chain first, if it is not)."""
        self._ensure_registered()
        assert self._account is not None
        return self._account

    def _ensure_registered(self) -> None:
        if self._registered:
            return
        payer_id = self.claims.payer_id
        signer = self.claims.payer_signer(payer_id)
        account = signer.address
        if account not in self.session.keyring:
            self.session.keyring.hold(signer)
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

    def _send_stamps(self, tasks: Sequence[StampTask]) -> list[tuple[StampOp, list[StampTask],
                                                                      Future[list[StampOutcome]]]]:
        """Send the round's reservations, finalisations and releases at once (they land in one
        block); each operation's outcomes arrive in its future."""
        assert self._account is not None
        account = self._account
        sent: list[tuple[StampOp, list[StampTask], Future[list[StampOutcome]]]] = []
        for op in StampOp:
            todo = [t for t in tasks if t.op is op]
            if op is StampOp.RESERVE:
                todo = [t for t in todo if t.anchored and t.batch_root is not None]
            if todo:
                items: list[Reservation | bytes] = (
                    [self._reservation(t) for t in todo] if op is StampOp.RESERVE
                    else [t.chain_claim_id for t in todo])
                sent.append((op, todo, self._senders().submit(self.ledger.stamp_many, account, op.value, items)))
        return sent

    def _record_stamps(self, sent: Sequence[tuple[StampOp, list[StampTask], Future[list[StampOutcome]]]],
                       report: StampReport) -> None:
        """Wait for the chain's outcomes and record them in one transaction."""
        results: list[StampResult] = []
        judged: list[tuple[list[StampTask], list[StampOutcome]]] = []
        for op, todo, future in sent:
            try:
                outcomes = future.result()
            except ContractReverted as exc:
                # a whole batch reverts only when the sender lacks the payer role (a dev
                # node that lost the registration): check it again next round
                self._registered = False
                report.errors.append(f"{op} of {len(todo)} claims failed: {exc}")
                self.telemetry.chain_error(component="stamper", step=op.value)
                continue
            except ChainError as exc:
                # the node went away or was replaced (maybe by an older state): count nonces
                # from what it holds next time, as the chain worker does after a chain error
                self.ledger.forget_session_state()
                report.errors.append(f"{op} of {len(todo)} claims failed: {exc}")
                self.telemetry.chain_error(component="stamper", step=op.value)
                continue
            if op is StampOp.RESERVE:
                failpoint("claims.after-reserve")
            judged.append((todo, outcomes))
        for todo, outcomes in judged:
            for task, outcome in zip(todo, outcomes, strict=True):
                results.append(self._judge(task, outcome, report))
            log_stamps(todo, outcomes)
        if results:
            self.claims.store.apply_stamps(results)

    def _judge(self, task: StampTask, out: StampOutcome, report: StampReport) -> StampResult:
        """What one item's outcome on chain means for its claim (:func:`~ledger.claims.stamps.judge_stamp`),
        reading the claim's status on chain, or the invoice's figures, when the refusal asks for them."""
        on_chain = self._status_on_chain(task.chain_claim_id) if asks_status(out.refused) else None
        figures = (self.ledger.invoice_state(task.issuer, Fingerprint(task.fingerprint))
                   if asks_figures(task.op, out.refused) else None)
        outcome = judge_stamp(task, out.refused, on_chain=on_chain, figures=figures)
        if out.refused is None:
            counter = task.op.stamped.value
            setattr(report, counter, getattr(report, counter) + 1)
        elif isinstance(outcome, Refused | VoidedFirst):
            report.refused += 1
        return StampResult(task, outcome, out.tx, out.block)

    def _reservation(self, t: StampTask) -> Reservation:
        assert t.batch_root is not None
        tree = self._trees.get(t.batch_root)
        if tree is None:
            tree, _ = self.claims.service.store.batch(t.batch_root)
            self._trees[t.batch_root] = tree
            if len(self._trees) > 256:
                self._trees.popitem(last=False)
        else:
            self._trees.move_to_end(t.batch_root)
        proof = tree.proof(t.fingerprint)
        return Reservation(t.chain_claim_id, t.issuer, t.fingerprint, t.total_fen, t.amount_fen, t.batch_root,
                           tuple(bytes(p) for p in proof.proof))

    def _senders(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="claims-send")
        return self._pool

