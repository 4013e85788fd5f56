"""One touch: a citizen (or a claims-window clerk for them) claims one or more invoices at once.

Each invoice is checked (the person's, anchored, not voided, a rule set in force) and
becomes a :class:`~ledger.claims.policy.Filing`; the repository decides and stores all of
them in one transaction (all or none), with the person's year-to-date figures read under
lock. A claim is stored ``submitted`` with its reservation in the stamper's outbox
(:mod:`ledger.app.claim_worker`); the API answers once the chain confirmed it (or refused),
waiting in :class:`~ledger.app.claims.waiter.ClaimWaiter` without holding a thread.

A payer in an order of payers (its rule set's ``coordination``) reads the earlier payers'
stamps on the invoice from the chain: while one of them has not decided, the claim is
stored ``waiting-for-earlier-payers`` (nothing reserved, nothing counted, the API answers at
once), and :meth:`OneTouch.decide_waiting` (run by the stamper every second) decides it
once they have, or once the window passed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from collections.abc import Sequence

from ledger.app.access import Principal, authorize
from ledger.app.claims.context import ClaimsContext, actor_of, caller_of
from ledger.app.claims.waiter import ClaimWaiter
from ledger.app.service import parse_hash_arg
from ledger.claims.model import Claim
from ledger.claims.policy import Filing, available_fen
from ledger.claims.states import WAITING_FOR_CHAIN, ClaimState
from ledger.errors import ClaimBlocked, Conflict, InvalidInput, LedgerError, NotFound
from ledger.records import Role
from ledger.rules.coordination import may_decide

log = logging.getLogger("ebill.claims")

MAX_FINGERPRINTS = 20
_IDEM_RE = re.compile(r"[\x21-\x7e]{8,128}\Z")


def invoice_set(fingerprints: Sequence[str]) -> list[bytes]:
    """The invoices of one tap, in the order given (the order they are decided in): 1 to
    :data:`MAX_FINGERPRINTS` fingerprints, each once; :class:`InvalidInput` naming ``fingerprints``."""
    if not fingerprints or len(fingerprints) > MAX_FINGERPRINTS:
        raise InvalidInput.single("fingerprints", "count", f"claim 1-{MAX_FINGERPRINTS} invoices at a time")
    fps = [bytes(parse_hash_arg(f)) for f in fingerprints]
    if len(set(fps)) != len(fps):
        raise InvalidInput.single("fingerprints", "unique", "an invoice is listed twice")
    return fps


class OneTouch(ClaimsContext):
    """Filing claims, and waiting for the chain to confirm them."""

    _waiter: ClaimWaiter

    def submit(self, principal: Principal, *, fingerprints: Sequence[str], idempotency_key: str | None,
               for_person: str | None = None, national_id: str | None = None,
               request_id: str | None = None) -> tuple[str, list[Claim], bool]:
        """Decide and store one claim per invoice (all or none); (submission id, claims, replayed).

        A claims-window clerk files only on its own hospital's invoices (any other is "not found").
        ``request_id`` (the HTTP request's) is kept with the submission: the stamper's log line of
        the reservation names it."""
        authorize(principal, "claim.submit", payer_id=self.payer_id)
        if not idempotency_key or not _IDEM_RE.match(idempotency_key):
            raise InvalidInput.single("Idempotency-Key", "required",
                                      "send an Idempotency-Key header of 8-128 visible ASCII characters, "
                                      "the same on every retry of this claim")
        fps = invoice_set(fingerprints)
        person, relation = self._acting_for(principal, for_person, national_id)
        caller = caller_of(principal)
        request_sha = hashlib.sha256(json.dumps(
            {"fingerprints": [f.hex() for f in fps], "person": person.hex(), "relation": relation},
            sort_keys=True).encode()).digest()
        earlier = self.store.submission(caller, idempotency_key)
        if earlier is not None:
            if earlier.request_sha256 != request_sha:
                raise Conflict(f"Idempotency-Key {idempotency_key!r} was used for another request; use a new key "
                               "for a new claim")
            return earlier.id, earlier.claims, True
        enrolled = self.store.person(person)
        if enrolled is None:
            raise Conflict(f"this person is not insured with payer {self.payer_id}: nothing to claim here")
        window = principal.subject if principal.role is Role.CLERK else None
        try:
            filings = [self._filing(fp, enrolled, actor=actor_of(principal), relation=relation, window=window)
                       for fp in fps]
            submitted = self.store.submit(submission_id="sub_" + secrets.token_hex(10), caller=caller,
                                          key=idempotency_key, request_sha256=request_sha, filings=filings,
                                          request_id=request_id)
        except ClaimBlocked as exc:
            # a refused attempt stores no claim (a second claim of one invoice, a voided invoice):
            # it is counted, so the dashboard shows what the system stopped
            self.store.record_blocked(actor=actor_of(principal), reason=exc.reason, message=str(exc),
                                      fingerprints=fps)
            self.service.telemetry.claim_blocked(reason=exc.reason)
            raise
        if not submitted[2]:
            self.service.telemetry.claims_filed(states=[c.state.value for c in submitted[1]])
        return submitted

    # ------------------------------------------------------------------ payers in order

    def decide_waiting(self, *, limit: int = 1000) -> list[str]:
        """Decide the claims waiting for earlier payers whose earlier payers have decided on chain
        (or whose window passed), each in its own transaction; the ids decided. Up to ``limit``,
        oldest first (their windows end first). The earlier payers' stamps come from the store's
        index of the chain, one query for all; a claim that cannot be decided now (no rule set in
        force any more, the chain's total in dispute) keeps waiting and is logged."""
        decided: list[str] = []
        waiting = self.store.claims(states=[ClaimState.WAITING], limit=limit, oldest_first=True)
        if not waiting:
            return decided
        stamps = self.store.stamps_on([(c.issuer, c.fingerprint) for c in waiting])
        now = self.clock.now()
        for c in waiting:
            if not may_decide(c.decision.get("earlierPayers") or {}, stamps.get((c.issuer, c.fingerprint), ()),
                              now=now):
                continue
            try:
                invoice = self.service.store.sealed_invoice(c.fingerprint).invoice
                # the rule set it was filed under (it holds the scheme the year's figures count in)
                ruleset = self.policy.rulebook().version(rule_set_id=c.decision["ruleset"]["id"],
                                                         on=invoice.issue_date)
                earlier = self.earlier_payers(ruleset, invoice, c.fingerprint)
                if earlier is not None and earlier.must_wait:
                    continue
                person = self.store.person(c.person)
                if person is None:
                    raise NotFound(f"person of claim {c.id} is no longer insured here")
                on_chain = self._chain_state(invoice.issuer, c.fingerprint) if self._chain_state is not None else None
                filing = Filing(claim_id=c.id, chain_claim_id=c.chain_claim_id, fingerprint=c.fingerprint,
                                invoice=invoice, person=person, actor=c.actor, relation=c.relation,
                                ruleset=ruleset, available_fen=available_fen(
                                    fingerprint=c.fingerprint, total_fen=invoice.total_fen, on_chain=on_chain),
                                policy=self.policy,
                                earlier=tuple(self.earlier_lines(person.pseudonym, c.fingerprint, invoice, ruleset)),
                                earlier_payers=earlier)
                if self.store.decide_waiting(filing):
                    decided.append(c.id)
            except LedgerError as exc:
                log.warning("claims: claim %s waiting for earlier payers cannot be decided now: %s", c.id, exc)
        return decided

    async def wait_async(self, claims: Sequence[Claim], *, timeout: float) -> list[Claim]:
        """Wait until no claim is waiting for its reservation (or ``timeout``): the request holds
        no thread while the chain confirms, and all requests waiting in this process share one
        database query per poll."""
        pending = [c.id for c in claims if c.state in WAITING_FOR_CHAIN]
        if not pending:
            return list(claims)
        moved = await self._waiter.wait(pending, timeout=timeout)
        return [moved.get(c.id, c) for c in claims]
