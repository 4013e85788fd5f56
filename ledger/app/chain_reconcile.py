"""The stamper's side of a restore from an older backup: claims the chain paid after the backup.

Such a claim came back unpaid (submitted, in review, approved but not finalised, rejected...)
while the chain finalised its payment after the backup. The stamper finds them in the chain
index (:meth:`~ledger.ports.ClaimsRepository.claims_behind_chain`), confirms each with the
contract, asks the bank by the claim's id (the request id of its payout: the bank is
idempotent by it) and records the claim as :mod:`ledger.claims.reconcile` decides: paid with
the bank's record, or approved and finalised so the payout is made once. Nothing is paid
here; a payout that follows asks the bank with the same request id.
"""

from __future__ import annotations

import logging

from ledger.app.claims import ClaimsService
from ledger.claims.reconcile import BankPayment, ChainAhead
from ledger.claims.stamps import StampStatus
from ledger.errors import LedgerError
from ledger.ports import LedgerChain, PayoutPort

log = logging.getLogger("ebill.claims")


class BehindChain:
    """One payer's claims the chain is ahead of, reconciled with its bank."""

    def __init__(self, claims: ClaimsService, ledger: LedgerChain, bank: PayoutPort) -> None:
        self.claims = claims
        self.ledger = ledger
        self.bank = bank
        self._reported: set[str] = set()     # refusals logged once, not every round

    def reconcile(self, errors: list[str]) -> int:
        """Reconcile the claims the chain index shows ahead; how many were recorded. A claim the
        contract does not confirm, or the bank cannot answer for, waits for a later round."""
        found = self.claims.store.claims_behind_chain()
        if not found:
            return 0
        items: list[tuple[ChainAhead, BankPayment | None]] = []
        for ahead in found:
            try:
                if self.ledger.claim_of(self.claims.payer_id, ahead.chain_claim_id).status != StampStatus.FINALIZED:
                    continue    # the index is ahead of the chain (lost blocks): the lost-stamp repair sees to it
                payment = self.bank.payment(ahead.claim_id)
            except LedgerError as exc:
                errors.append(f"claim {ahead.claim_id} (paid on chain after the backup) waits: {exc}")
                continue
            items.append((ahead, None if payment is None else
                          BankPayment(payment.reference, payment.paid_at, payment.amount_fen)))
        done, refused = self.claims.store.reconcile_behind(items)
        for why in refused:
            if why not in self._reported:
                self._reported.add(why)
                log.warning("claims: %s", why)
        if done:
            log.warning("claims: %d claims the chain paid after the backup this database was restored from were "
                        "recorded from the bank: %s", len(done), ", ".join(done[:20]))
        return len(done)
