"""Payouts: paying approved claims finalised on chain through the payout port, once each.

Run by the claims stamper (:mod:`ledger.app.claim_worker`) each round, while the chain mines
that round's stamps. The bank is idempotent by claim id, so every crash window is closed by
asking again with the same request id:

- a payout to a person who owes a claw-back keeps back what they owe
  (:func:`ledger.claims.clawbacks.plan_offsets`): planned and recorded once, before the
  bank is asked, so every request for that payout asks for the same amount;
- a payout made by the bank but not recorded (a crash in between) is asked for again, and
  the bank answers with the original payment; if the invoice was voided meanwhile, the bank
  is asked before the void is applied (:meth:`Payouts.apply_voids`), so money that moved is
  owed back by the hospital instead of being forgotten by a refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime
from typing import Any

from ledger.app.claims import ClaimsService
from ledger.app.failpoint import failpoint
from ledger.claims.model import PayoutDue
from ledger.errors import Conflict, LedgerError
from ledger.ports import PayoutPort

#: payouts made each round even when the chain's stamps are back already; also how many are
#: paid between two checks that their invoice was not voided meanwhile
MIN_PAYOUTS = 20


class Payouts:
    """One payer's payouts and the voids that stop them, for one store and one bank."""

    def __init__(self, claims: ClaimsService, bank: PayoutPort) -> None:
        self.claims = claims
        self.bank = bank

    def apply_voids(self, errors: list[str]) -> int:
        """Apply voids to claims; a payout a void would stop is first checked with the bank.

        A crash after the bank paid and before ``paid`` was recorded leaves the claim approved; if
        its invoice is then voided, refusing it would say "nothing was paid" of money that moved.
        So the bank is asked: a payment it made is recorded (the void then makes the claim a
        claw-back the hospital owes), and a claim the bank cannot answer for waits a round."""
        made: list[tuple[str, str, datetime]] = []
        hold: list[str] = []
        for claim_id in self.claims.store.payouts_stopped_by_void():
            try:
                payment = self.bank.payment(claim_id)
            except LedgerError as exc:
                errors.append(f"void of {claim_id} waits: the bank cannot say whether it paid ({exc})")
                hold.append(claim_id)
                continue
            if payment is not None:
                made.append((claim_id, payment.reference, payment.paid_at))
        self.claims.store.mark_paid_many(made)
        return len(made) + len(self.claims.store.apply_voids(hold=hold))

    def pay(self, errors: list[str], *, while_pending: Sequence[Future[Any]] = ()) -> int:
        """Pay approved claims finalised on chain: up to 200, or while ``while_pending`` chain
        work runs (at least :data:`MIN_PAYOUTS`, so payouts keep up when stamps come back at
        once). Every :data:`MIN_PAYOUTS` payouts the rest are checked again, so a void accepted
        meanwhile stops the payouts of its invoice. Returns how many were recorded paid."""
        due = self.claims.store.payouts_due(limit=200)
        if due:
            failpoint("claims.before-payout")
            due = self._keep_back(due, errors)
        paid: list[tuple[str, str, datetime]] = []
        try:
            for start in range(0, len(due), MIN_PAYOUTS):
                if start and while_pending and all(f.done() for f in while_pending):
                    break   # the chain answered: record its stamps first, pay the rest next round
                chunk = due[start:start + MIN_PAYOUTS]
                if start:
                    still = {c.id for c in self.claims.store.payouts_due(limit=len(chunk), ids=[c.id for c in chunk])}
                    chunk = [c for c in chunk if c.id in still]
                if not self._pay_chunk(chunk, paid, errors):
                    break
        finally:
            # the round's payments in one transaction; a crash before it is the after-payout
            # window: the bank answers the next round's request with the same payment
            self.claims.store.mark_paid_many(paid)
        return len(paid)

    def _keep_back(self, due: list[PayoutDue], errors: list[str]) -> list[PayoutDue]:
        """``due`` with what each payout keeps back for claw-backs its person owes, planned now for
        those that owe and have nothing planned (unless the bank paid that request id already:
        such a payout was made in full before a crash and is recorded as it was made)."""
        owing = [c for c in due if c.owes]
        if not owing:
            return due
        fresh: list[str] = []
        try:
            for c in owing:
                if self.bank.payment(c.id) is None:
                    fresh.append(c.id)
        except LedgerError as exc:   # the bank cannot say: pay the others now, these next round
            errors.append(f"offsets of {len(owing)} payouts not planned (retried next round): {exc}")
            return [c for c in due if not c.owes]
        planned = self.claims.store.plan_offsets(fresh) if fresh else {}
        failpoint("claims.after-offset")
        # a claim planned for no more (its void was accepted meanwhile) is not paid
        return [replace(c, offset_fen=planned.get(c.id, c.offset_fen), owes=False) for c in due
                if c.id not in fresh or c.id in planned]

    def _pay_chunk(self, chunk: Sequence[PayoutDue], paid: list[tuple[str, str, datetime]],
                   errors: list[str]) -> bool:
        """Pay ``chunk``, adding to ``paid``; False if the bank is unavailable (try again next round).
        A payout kept back in full for claw-backs asks the bank for nothing."""
        for c in chunk:
            if c.transfer_fen <= 0:
                paid.append((c.id, f"OFFSET-{c.id}", self.claims.clock.now()))
                continue
            memo = f"reimbursement {c.invoice_code}/{c.invoice_number}"
            if c.offset_fen:
                memo += f" less {c.offset_fen} fen kept back for a claw-back"
            try:
                payment = self.bank.pay(request_id=c.id, payee=c.person.hex(), amount_fen=c.transfer_fen, memo=memo)
            except Conflict as exc:
                # permanent: this request id was paid with other figures (a bug, or the
                # bank's records were changed); one claim must not block every later payout
                errors.append(f"payout of {c.id} refused by the bank, needs a person: {exc}")
                self.claims.store.hold_payout(c.id, reason=str(exc))
                continue
            except LedgerError as exc:   # BankUnavailable and the like: try the round again later
                errors.append(f"payout of {c.id} failed (retried next round): {exc}")
                return False
            failpoint("claims.after-payout")
            paid.append((c.id, payment.reference, payment.paid_at))
        return True
