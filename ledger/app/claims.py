"""The claims use cases of one payer: one-touch claims, review, appeals, payout.

One service instance acts for one payer (``payer_id``). A claim is judged by the rule
set of that payer in force on the invoice date, for the scheme of the invoice's visit
type and the person's category, with the person's year-to-date figures; what it pays
is at most what the patient paid and what the invoice has left on chain (other payers'
stamps). The claim is stored with ``chain_todo = reserve``; the stamper
(:mod:`ledger.app.claim_worker`) reserves it on chain, in batches, and the API answers
once the reservation is confirmed (or refused).

Who may do what:
- a **citizen** (e-voucher token) sees and claims their own invoices, and those of a
  person who delegated to them (family member, ward); they appeal their rejections;
- a **clerk** (a hospital's claims window) files for a citizen who is present, naming
  their resident ID; the claim records the clerk as the actor;
- a **payer** reviewer of *this* payer approves or rejects (another payer's credential
  is refused: a payer cannot stamp on behalf of another), two different reviewers
  above the maker-checker threshold;
- an **auditor** reads claims and their audit trail.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import re
import secrets
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from ledger.adapters.sql.claims_store import LIVE_STATES, Claim, ClaimDraft, ClaimStore, PayerRecord, PersonRecord
from ledger.app.access import Principal, Reach, authorize, citizen_person
from ledger.app.service import LedgerService, parse_hash_arg
from ledger.errors import (
    ClaimBlocked,
    Conflict,
    FieldProblem,
    Forbidden,
    InvalidInput,
    LedgerError,
    NotFound,
    Unauthenticated,
)
from ledger.hashing import keccak256
from ledger.identity import national_id_problem, pseudonymise
from ledger.ports import InvoiceChainState
from ledger.records import Role
from ledger.rules import PersonCategory, RuleBook, YearToDate, adjudicate
from ledger.workdays import DEFAULT_CALENDAR, WorkCalendar

#: the review target: a decision within 5 working days (DOMAIN.md)
SLA_WORKING_DAYS = 5
MAX_FINGERPRINTS = 20
_IDEM_RE = re.compile(r"[\x21-\x7e]{8,128}\Z")
_PAYER_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,31}\Z")
RELATIONS = ("spouse", "parent", "child", "guardian", "other")
#: problems listed when an enrolment is refused (the count is given)
_PROBLEMS_LISTED = 100
#: states the API waits through before it answers a claim request
_PENDING = ("submitted",)
log = logging.getLogger("ebill.claims")


@dataclass(frozen=True)
class ClaimsPolicy:
    """The payer's knobs: who it is, its rule sets, instant payout and maker-checker thresholds."""

    payer_id: str
    rulebook: RuleBook
    #: visit type -> scheme ("*" for the rest)
    schemes: dict[str, str] = field(default_factory=lambda: {"inpatient": "offsite-inpatient-unregistered",
                                                             "*": "pharmacy-pooling"})
    instant_max_fen: int = 50_000            # ¥500: paid at once when nothing is flagged
    two_reviewers_from_fen: int = 500_000    # above ¥5,000: two different reviewers approve

    def scheme_of(self, visit_type: str) -> str:
        return self.schemes.get(visit_type) or self.schemes["*"]


class ClaimsService:
    """Claims over the upload service's store (invoices, fee lines) and the claims tables."""

    def __init__(self, service: LedgerService, policy: ClaimsPolicy, *, pepper: bytes,
                 chain_state: Callable[[str, bytes], InvoiceChainState] | None = None,
                 voucher: Any = None, calendar: WorkCalendar = DEFAULT_CALENDAR) -> None:
        self.service = service
        self.store = ClaimStore(service.store)  # type: ignore[arg-type]
        self.policy = policy
        self._pepper = pepper
        self._chain_state = chain_state
        self._voucher = voucher
        self.calendar = calendar
        self._waiter = ClaimWaiter(self.store)

    @property
    def payer_id(self) -> str:
        return self.policy.payer_id

    # ------------------------------------------------------------------ identity

    def authenticate(self, token: str | None) -> Principal:
        """Staff tokens (``ebill_…``) via the upload service; anything else must be an e-voucher."""
        if token and not token.startswith("ebill_") and token.count(".") == 2:
            if self._voucher is None:
                raise Unauthenticated("this service accepts no citizen e-vouchers (no issuer key configured)")
            try:
                v = self._voucher.verify(token)
            except LedgerError as exc:   # InvalidVoucher: expired, wrong key or issuer, malformed
                raise Unauthenticated(str(exc)) from None
            person = pseudonymise(v.national_id, pepper=self._pepper)
            return Principal(Role.CITIZEN, bytes(person).hex(), (v.token_id or "voucher")[:24])
        return self.service.authenticate(token)

    def person_of(self, principal: Principal) -> bytes:
        return citizen_person(principal)

    def me(self, principal: Principal) -> dict[str, Any]:
        person = self.person_of(principal)
        rec = self.store.person(person)
        return {"role": "citizen", "person": person.hex(), "name": rec.name if rec else "",
                "category": rec.category if rec else None, "insured": rec is not None, "payer": self.payer_id,
                "delegations": [{"person": p.pseudonym.hex(), "name": p.name, "category": p.category,
                                 "relation": rel} for p, rel in self.store.delegations_of(person)]}

    def _acting_for(self, principal: Principal, for_person: str | None,
                    national_id: str | None) -> tuple[bytes, str]:
        """(person, relation) the caller acts for, or Forbidden."""
        if principal.role is Role.CITIZEN:
            if national_id:
                raise InvalidInput.single("nationalId", "clerk-only", "citizens claim by their token, not by an ID")
            me = bytes.fromhex(principal.subject)
            if not for_person or for_person.lower().removeprefix("0x") == me.hex():
                return me, "self"
            other = _person_arg(for_person)
            relation = self.store.relation(me, other)
            if relation is None:
                raise Forbidden("you have no recorded delegation from this person")
            return other, f"delegate:{relation}"
        if principal.role is Role.CLERK:
            if not national_id:
                raise InvalidInput.single("nationalId", "required",
                                          "a claims-window clerk names the citizen's resident ID")
            return self._resident(national_id, "nationalId"), "clerk"
        raise Forbidden(f"a {principal.role.value} credential may not claim (citizens and claims-window clerks)")

    def _resident(self, national_id: str, field: str) -> bytes:
        """The pseudonym of a valid resident ID; :class:`InvalidInput` naming ``field`` for any other."""
        why = national_id_problem(national_id)
        if why is not None:
            raise InvalidInput.single(field, "resident-id", why)
        return bytes(pseudonymise(national_id, pepper=self._pepper))

    # ------------------------------------------------------------------ the citizen's invoices

    def my_invoices(self, principal: Principal, *, for_person: str | None = None) -> dict[str, Any]:
        authorize(principal, "claim.invoices", payer_id=self.payer_id)
        person, _ = self._acting_for(principal, for_person, None)
        enrolled = self.store.person(person)
        rows = self.store.invoices_of(person)
        latest = self.store.latest_claims([r["fingerprint"] for r in rows])
        out = []
        for r in rows:
            claim = latest.get(r["fingerprint"])
            claimable, reason, estimate = True, None, None
            if enrolled is None:
                claimable, reason = False, "not insured with this payer"
            elif r["voided"]:
                claimable, reason = False, "voided by the hospital"
            elif r["anchored_block"] is None:
                claimable, reason = False, "not anchored yet"
            elif claim is not None and claim.state != "refused":
                claimable, reason = False, "claimed already"
            if claimable and enrolled is not None:
                try:
                    available = self._available(r["issuer"], r["fingerprint"], r["total_fen"])
                    estimate = min(self._estimate(r["fingerprint"], r["issuer"], enrolled), available)
                    if available == 0:
                        claimable, reason = False, "fully reimbursed"
                except LedgerError as exc:
                    claimable, reason = False, str(exc)
            out.append({
                "fingerprint": "0x" + r["fingerprint"].hex(), "issuer": r["issuer"],
                "hospitalName": r["hospital_name"], "invoiceCode": r["invoice_code"],
                "invoiceNumber": r["invoice_number"], "issuedAt": r["issued_at"], "visitType": r["visit_type"],
                "totalFen": r["total_fen"], "cashPaidFen": r["cash_paid_fen"], "feeLineCount": r["fee_line_count"],
                "state": "voided" if r["voided"] else "anchored" if r["anchored_block"] is not None else "stored",
                "claimable": claimable, "estimateFen": estimate, "reason": reason,
                "claim": self.claim_json(claim) if claim else None})
        return {"person": person.hex(), "invoices": out}

    def _estimate(self, fingerprint: bytes, issuer: str, person: PersonRecord) -> int:
        invoice = self.service.store.sealed_invoice(fingerprint).invoice
        scheme = self.policy.scheme_of(invoice.visit_type.value)
        ruleset = self.policy.rulebook.in_force(payer=self.payer_id, scheme=scheme, on=invoice.issue_date)
        ytd = self.store.year_to_date(person.pseudonym, scheme, int(invoice.issue_date[:4]))
        decision = adjudicate(invoice, person=PersonCategory(person.category), year_to_date=YearToDate(*ytd),
                              ruleset=ruleset)
        return min(decision.reimbursable_fen, invoice.total_fen - invoice.fund_paid_fen)

    def _available(self, issuer: str, fingerprint: bytes, total_fen: int) -> int:
        if self._chain_state is None:
            return total_fen
        st = self._chain_state(issuer, fingerprint)
        if st.total_fen and st.total_fen != total_fen:
            raise ClaimBlocked("total-mismatch",
                               f"invoice 0x{fingerprint.hex()}: the chain holds the total ¥{st.total_fen / 100:,.2f} "
                               f"for it, not ¥{total_fen / 100:,.2f} (the hospital anchored it twice with different "
                               "totals); it cannot be claimed until the hospital corrects it")
        return 0 if st.voided else max(0, total_fen - st.reserved_fen - st.paid_fen)

    # ------------------------------------------------------------------ one touch

    def submit(self, principal: Principal, *, fingerprints: Sequence[str], idempotency_key: str | None,
               for_person: str | None = None, national_id: str | None = None) -> tuple[str, list[Claim], bool]:
        """Decide and store one claim per invoice (all or none); (submission id, claims, replayed).

        A claims-window clerk files only on its own hospital's invoices (any other is "not found")."""
        authorize(principal, "claim.submit", payer_id=self.payer_id)
        if not idempotency_key or not _IDEM_RE.match(idempotency_key):
            raise InvalidInput.single("Idempotency-Key", "required",
                                      "send an Idempotency-Key header of 8-128 visible ASCII characters, "
                                      "the same on every retry of this claim")
        if not fingerprints or len(fingerprints) > MAX_FINGERPRINTS:
            raise InvalidInput.single("fingerprints", "count", f"claim 1-{MAX_FINGERPRINTS} invoices at a time")
        fps = [bytes(parse_hash_arg(f)) for f in fingerprints]
        if len(set(fps)) != len(fps):
            raise InvalidInput.single("fingerprints", "unique", "an invoice is listed twice")
        person, relation = self._acting_for(principal, for_person, national_id)
        caller = _caller(principal)
        request_sha = hashlib.sha256(json.dumps(
            {"fingerprints": [f.hex() for f in fps], "person": person.hex(), "relation": relation},
            sort_keys=True).encode()).digest()
        earlier = self.store.submission(caller, idempotency_key)
        if earlier is not None:
            if earlier[1] != request_sha:
                raise Conflict(f"Idempotency-Key {idempotency_key!r} was used for another request; use a new key "
                               "for a new claim")
            return earlier[0], earlier[2], True
        enrolled = self.store.person(person)
        if enrolled is None:
            raise Conflict(f"this person is not insured with payer {self.payer_id}: nothing to claim here")
        try:
            drafts, keys = [], []
            for fp in fps:
                draft_of, key = self._draft(fp, enrolled, actor=_actor(principal), relation=relation,
                                            window=principal.subject if principal.role is Role.CLERK else None)
                drafts.append(draft_of)
                keys.append(key)
            return self.store.submit(submission_id="sub_" + secrets.token_hex(10), caller=caller,
                                     key=idempotency_key, request_sha256=request_sha, drafts=drafts, keys=keys,
                                     actor=_actor(principal))
        except ClaimBlocked as exc:
            self._record_blocked(principal, fps, exc)
            raise

    def _record_blocked(self, principal: Principal, fps: Sequence[bytes], exc: ClaimBlocked) -> None:
        """Count a refused attempt that stored no claim (a second claim of one invoice, a
        voided invoice): the dashboard shows what the system stopped."""
        self.service.store.audit(actor=_actor(principal), action="claim.blocked",  # type: ignore[attr-defined]
                                 subject=exc.reason, detail={"reason": exc.reason, "message": str(exc),
                                                             "fingerprints": ["0x" + f.hex() for f in fps]})

    def _draft(self, fp: bytes, person: PersonRecord, *, actor: str, relation: str,
               window: str | None = None) -> tuple[Callable[[tuple[int, int]], ClaimDraft], tuple[bytes, str, int]]:
        """Decide the claim of one invoice (``window``: the hospital of the filing clerk)."""
        name = "0x" + fp.hex()
        target = self.store.claim_target(fp)
        if target is None or target[0] != person.pseudonym:
            raise NotFound(f"no invoice {name}")  # another person's invoice is not even confirmed to exist
        _, voided, anchored_block = target
        if voided:
            raise ClaimBlocked("voided", f"invoice {name} was voided by the hospital and can never be reimbursed")
        if anchored_block is None:
            raise Conflict(f"invoice {name} is not anchored on chain yet; it becomes claimable within seconds")
        invoice = self.service.store.sealed_invoice(fp).invoice
        if window is not None and invoice.issuer != window:
            raise NotFound(f"no invoice {name}")  # a claims window files on its own hospital's invoices only
        scheme = self.policy.scheme_of(invoice.visit_type.value)
        try:
            ruleset = self.policy.rulebook.in_force(payer=self.payer_id, scheme=scheme, on=invoice.issue_date)
        except NotFound as exc:
            raise Conflict(f"invoice {name}: {exc}") from None
        available = self._available(invoice.issuer, fp, invoice.total_fen)
        patient_share = invoice.total_fen - invoice.fund_paid_fen
        claim_id = "clm_" + secrets.token_hex(10)
        chain_claim_id = bytes(keccak256(f"{self.payer_id}/{claim_id}".encode()))
        year = int(invoice.issue_date[:4])

        def draft(ytd: tuple[int, int]) -> ClaimDraft:
            decision = adjudicate(invoice, person=PersonCategory(person.category), year_to_date=YearToDate(*ytd),
                                  ruleset=ruleset)
            amount = min(decision.reimbursable_fen, patient_share, available)
            state, refusal = "submitted", None
            if decision.reimbursable_fen == 0:
                state = "nothing-payable"
            elif amount == 0:
                state, refusal = "refused", ("the invoice is reimbursed in full already (by other payers)"
                                             if available == 0 else "the patient paid nothing themselves")
            doc = decision.to_json()
            doc["cap"] = {"patientShareFen": patient_share, "availableOnChainFen": available, "amountFen": amount}
            flags = tuple(f.rule for f in decision.flags)
            return ClaimDraft(
                id=claim_id, payer_id=self.payer_id, fingerprint=fp, issuer=invoice.issuer, person=person.pseudonym,
                actor=actor, relation=relation, scheme=scheme, year=year, requested_fen=patient_share,
                decided_fen=decision.reimbursable_fen, amount_fen=amount if state != "refused" else 0,
                deductible_used_fen=decision.deductible_used_fen, decision=doc, flags=flags,
                instant=not flags and amount <= self.policy.instant_max_fen,
                reviews_needed=2 if amount > self.policy.two_reviewers_from_fen else 1,
                chain_claim_id=chain_claim_id, state=state, refusal=refusal)

        return draft, (person.pseudonym, scheme, year)

    async def wait_async(self, claims: Sequence[Claim], *, timeout: float) -> list[Claim]:
        """Wait until no claim is waiting for its reservation (or ``timeout``): the request holds
        no thread while the chain confirms, and all requests waiting in this process share one
        database query per poll."""
        pending = [c.id for c in claims if c.state in _PENDING]
        if not pending:
            return list(claims)
        moved = await self._waiter.wait(pending, timeout=timeout)
        return [moved.get(c.id, c) for c in claims]

    # ------------------------------------------------------------------ reading

    def claim(self, principal: Principal, claim_id: str, *, operation: str = "claim.read") -> Claim:
        """The claim, if ``principal`` may see it; anyone else's is "not found"."""
        reach = authorize(principal, operation, payer_id=self.payer_id)
        c = self.store.claim(claim_id)
        if not self._reaches(principal, reach, c):
            raise NotFound(f"no claim {c.id!r}")
        return c

    def _reaches(self, principal: Principal, reach: Reach, c: Claim) -> bool:
        if reach in (Reach.ANY, Reach.THIS_PAYER):
            return True
        if reach is Reach.PERSON:
            me = citizen_person(principal)
            return c.person == me or self.store.relation(me, c.person) is not None
        if reach is Reach.OWN:   # a claims window: the claims it filed, on its hospital's invoices
            return (principal.role is Role.CLERK and c.issuer == principal.subject
                    and c.actor.startswith(f"clerk:{principal.subject}:"))
        return False

    def claims(self, principal: Principal, *, state: str | None = None, person: str | None = None,
               after: str | None = None, limit: int = 50) -> list[Claim]:
        reach = authorize(principal, "claim.list", payer_id=self.payer_id)
        limit = max(1, min(limit, 500))
        states = [state] if state else None
        if reach is Reach.PERSON:
            me = citizen_person(principal)
            persons = [me] + [p.pseudonym for p, _ in self.store.delegations_of(me)]
            if person:
                wanted = _person_arg(person)
                if wanted not in persons:
                    raise Forbidden("you have no recorded delegation from this person")
                persons = [wanted]
            return self.store.claims(persons=persons, states=states, after=after, limit=limit)
        return self.store.claims(persons=[_person_arg(person)] if person else None, states=states, after=after,
                                 limit=limit)

    def stats(self, principal: Principal) -> dict[str, Any]:
        """The dashboard's raw figures (this payer's reviewers, auditors, the admin)."""
        authorize(principal, "claim.stats", payer_id=self.payer_id)
        return self.store.stats()

    def audit(self, principal: Principal, claim_id: str) -> list[dict[str, Any]]:
        c = self.claim(principal, claim_id)
        return self.service.store.audit_trail(subject=c.id, limit=1000)[::-1]

    # ------------------------------------------------------------------ review and appeal

    def queue(self, principal: Principal, *, min_amount_fen: int | None = None, flag: str | None = None,
              older_than_days: float | None = None, limit: int = 200) -> list[Claim]:
        authorize(principal, "claim.review", payer_id=self.payer_id)
        claims = self.store.claims(states=["in-review"], limit=max(1, min(limit, 1000)), oldest_first=True)
        now = datetime.now(UTC)
        return [c for c in claims
                if (min_amount_fen is None or c.amount_fen >= min_amount_fen)
                and (flag is None or flag in c.flags)
                and (older_than_days is None or self.calendar.elapsed(c.created_at, now) >= older_than_days)]

    def review(self, principal: Principal, claim_id: str, *, verdict: str, reason: str) -> Claim:
        authorize(principal, "claim.review", payer_id=self.payer_id)
        reason = (reason or "").strip()
        if verdict == "reject" and not reason:
            raise InvalidInput.single("reason", "required", "a rejection needs a reason the citizen can read")
        if len(reason) > 500:
            raise InvalidInput.single("reason", "length", "at most 500 characters")
        return self.store.review(claim_id, reviewer=_actor(principal), verdict=verdict, reason=reason or "approved")

    def appeal(self, principal: Principal, claim_id: str, *, reason: str) -> Claim:
        c = self.claim(principal, claim_id, operation="claim.appeal")
        reason = (reason or "").strip()
        if not reason or len(reason) > 500:
            raise InvalidInput.single("reason", "length", "say in 1-500 characters why the decision is wrong")
        # the year's figures may have moved since: the amounts are judged again, as of now
        person = self.store.person(c.person)
        if person is None:
            raise Conflict("this person is no longer insured with this payer")
        invoice = self.service.store.sealed_invoice(c.fingerprint).invoice
        ruleset = self.policy.rulebook.in_force(payer=self.payer_id, scheme=c.scheme, on=invoice.issue_date)
        ytd = self.store.year_to_date(c.person, c.scheme, c.year)
        decision = adjudicate(invoice, person=PersonCategory(person.category), year_to_date=YearToDate(*ytd),
                              ruleset=ruleset)
        amount = min(decision.reimbursable_fen, c.requested_fen, c.amount_fen or decision.reimbursable_fen)
        return self.store.appeal(claim_id, reason=reason, actor=_actor(principal),
                                 deductible_fen=decision.deductible_used_fen, amount_fen=amount)

    # ------------------------------------------------------------------ presentation

    def claim_json(self, c: Claim, *, now: datetime | None = None) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        end = c.decided_at or now
        sla = self.calendar.elapsed(c.created_at, end)
        return {
            "id": c.id, "submission": c.submission_id, "fingerprint": "0x" + c.fingerprint.hex(), "issuer": c.issuer,
            "hospitalName": c.hospital_name,
            "invoiceCode": c.invoice_code, "invoiceNumber": c.invoice_number, "person": c.person.hex(),
            "payer": c.payer_id, "actor": c.actor, "relation": c.relation, "state": c.state, "scheme": c.scheme,
            "requestedFen": c.requested_fen, "decidedFen": c.decided_fen, "amountFen": c.amount_fen,
            "instant": c.instant, "flags": list(c.flags), "decision": c.decision,
            "explanation": explain(c),
            "stamp": {"status": c.stamp, "pending": c.chain_todo, "tx": c.stamp_tx, "block": c.stamp_block,
                      "chainClaimId": "0x" + c.chain_claim_id.hex(), "attempt": c.attempt},
            "payment": {"reference": c.payment_ref, "paidAt": _iso(c.paid_at)} if c.payment_ref else None,
            "review": {"reviews": [{**r, "at": _iso(r["at"])} for r in c.reviews],
                       "reviewsNeeded": c.reviews_needed, "needsTwoReviewers": c.reviews_needed > 1},
            "refusal": c.refusal, "rejection": c.rejection, "appeal": c.appeal,
            "slaWorkingDays": round(sla, 2), "dueAt": _iso(self.calendar.add(c.created_at, SLA_WORKING_DAYS)),
            "overdue": c.decided_at is None and sla > SLA_WORKING_DAYS,
            "createdAt": _iso(c.created_at), "updatedAt": _iso(c.updated_at), "decidedAt": _iso(c.decided_at),
        }

    # ------------------------------------------------------------------ administration

    def register_payer(self, *, payer_id: str, name: str, by: Principal) -> PayerRecord:
        """A payer with a new chain account (key sealed at rest like hospitals' keys)."""
        from coincurve import PrivateKey

        from ledger.app.service import _address

        authorize(by, "payer.register")
        if not _PAYER_RE.match(payer_id):
            raise InvalidInput.single("payerId", "pattern", "1-32 letters, digits, '.', '_' or '-'")
        if not name.strip() or len(name) > 200:
            raise InvalidInput.single("name", "length", "name must be 1-200 characters")
        key = PrivateKey()
        account = _address(key)
        record = PayerRecord(payer_id, name.strip(), account,
                             self.service.keys.seal(key.secret, owner=payer_id, address=account),
                             datetime.now(UTC), None)
        self.store.add_payer(record, actor=by.actor)
        return record

    def payer_key(self, payer_id: str) -> tuple[str, bytes]:
        p = self.store.payer(payer_id)
        return p.account, self.service.keys.open(p.sealed_key, owner=p.payer_id, address=p.account)

    def enrol(self, entries: Sequence[tuple[str, str, str]], *, by: Principal) -> int:
        """Enrol persons ``(resident id, name, category)`` with this payer (admin or payer)."""
        authorize(by, "person.enrol", payer_id=self.payer_id)
        if not 1 <= len(entries) <= 100_000:
            raise InvalidInput.single("(body)", "count", "enrol 1-100,000 persons at a time")
        records, problems = [], []
        categories = {c.value for c in PersonCategory}
        for n, (nid, name, category) in enumerate(entries):
            why = national_id_problem(nid)
            if why is not None:
                problems.append(FieldProblem(f"[{n}].nationalId", "resident-id", why))
            if category not in categories:
                problems.append(FieldProblem(f"[{n}].category", "enum",
                                             f"expected one of {', '.join(c.value for c in PersonCategory)}"))
            if not problems:
                records.append(PersonRecord(bytes(pseudonymise(nid, pepper=self._pepper)), name.strip()[:100],
                                            category))
        if problems:  # every broken entry in one answer, as for uploads; nothing is enrolled
            more = len(problems) - _PROBLEMS_LISTED
            raise InvalidInput(problems[:_PROBLEMS_LISTED] + (
                [FieldProblem("(body)", "more", f"… and {more:,} more problems")] if more > 0 else []))
        return self.store.enrol(records, actor=by.actor)

    def delegate(self, *, holder_id: str, person_id: str, relation: str, by: Principal) -> None:
        """Record that the holder (resident ID) may claim for the person (resident ID)."""
        authorize(by, "delegation.grant", payer_id=self.payer_id)
        if relation not in RELATIONS:
            raise InvalidInput.single("relation", "enum", f"expected one of {', '.join(RELATIONS)}")
        problems = [FieldProblem(name, "resident-id", why) for name, why in (
            ("holderNationalId", national_id_problem(holder_id)), ("personNationalId", national_id_problem(person_id)))
            if why is not None]
        if problems:
            raise InvalidInput(problems)
        holder = bytes(pseudonymise(holder_id, pepper=self._pepper))
        person = bytes(pseudonymise(person_id, pepper=self._pepper))
        if holder == person:
            raise InvalidInput.single("holder", "distinct", "a person does not need a delegation from themselves")
        self.store.delegate(holder=holder, person=person, relation=relation, actor=by.actor)


class ClaimWaiter:
    """Claims waiting to leave :data:`_PENDING`, polled together: one query per ``interval``
    for every waiting request of the event loop, whatever their number (a poll per request
    would cost a query per request every few milliseconds under load)."""

    def __init__(self, store: ClaimStore, *, interval: float = 0.01) -> None:
        self._store = store
        self._interval = interval
        # per event loop (uvicorn has one; test clients may run several at once)
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopWaiters] = \
            weakref.WeakKeyDictionary()

    async def wait(self, claim_ids: Sequence[str], *, timeout: float) -> dict[str, Claim]:
        """The claims of ``claim_ids`` that moved on within ``timeout`` seconds, by id."""
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopWaiters()
        futures: dict[str, asyncio.Future[Claim]] = {}
        for cid in claim_ids:
            futures[cid] = loop.create_future()
            state.waiting.setdefault(cid, []).append(futures[cid])
        if state.poller is None or state.poller.done():
            state.poller = loop.create_task(self._poll(state))
        try:
            await asyncio.wait(futures.values(), timeout=timeout)
        finally:
            for cid, fut in futures.items():
                waiting = state.waiting.get(cid)
                if waiting is not None and fut in waiting:
                    waiting.remove(fut)
                    if not waiting:
                        del state.waiting[cid]
        return {cid: fut.result() for cid, fut in futures.items() if fut.done() and not fut.cancelled()}

    async def _poll(self, state: _LoopWaiters) -> None:
        loop = asyncio.get_running_loop()
        while state.waiting:
            await asyncio.sleep(self._interval)
            ids = list(state.waiting)
            if not ids:
                break
            try:
                moved = await loop.run_in_executor(None, functools.partial(self._store.moved_on, ids,
                                                                           from_states=_PENDING))
            except Exception as exc:   # the database is busy or gone: a later poll works, or the waiters time out
                log.warning("claims waiter: %s", exc)
                continue
            for c in moved:
                for fut in state.waiting.pop(c.id, []):
                    if not fut.done():
                        fut.set_result(c)


@dataclass
class _LoopWaiters:
    waiting: dict[str, list[asyncio.Future[Claim]]] = field(default_factory=dict)
    poller: asyncio.Task[None] | None = None


def explain(c: Claim) -> list[str]:
    """The decision in plain sentences, for the citizen."""
    d = c.decision
    out: list[str] = []
    reduced = [line for line in d.get("lines", []) if line.get("selfPaidFen")]
    for line in reduced[:50]:
        why = "; ".join(r["detail"] for r in line["reasons"])
        out.append(f"Line {line['seq']} ({line['itemCode']}): ¥{_yuan(line['selfPaidFen'])} of "
                   f"¥{_yuan(line['amountFen'])} is yours to pay — {why}.")
    if len(reduced) > 50:
        out.append(f"… and {len(reduced) - 50} more lines with a share to pay yourself.")
    for step in d.get("steps", []):
        out.append(f"{step['rule'].capitalize()}: {step['detail']} → ¥{_yuan(step['amountFen'])}.")
    cap = d.get("cap") or {}
    if cap and cap.get("amountFen", 0) < d.get("reimbursableFen", 0):
        out.append(f"Limited to ¥{_yuan(cap['amountFen'])}: what you paid yourself (¥{_yuan(cap['patientShareFen'])})"
                   f" and what the invoice has left after other payers (¥{_yuan(cap['availableOnChainFen'])}).")
    for f in d.get("flags", []):
        out.append(f"Sent to a reviewer: {f['detail']}.")
    if c.refusal:
        out.append(f"Not paid: {c.refusal}.")
    if c.rejection:
        out.append(f"Rejected by the reviewer: {c.rejection}.")
    if c.state == "clawback":
        out.append(f"Owed back: the hospital voided the invoice after ¥{_yuan(c.amount_fen)} was paid.")
    reversed_ = d.get("reversed")
    if reversed_:
        out.append(f"This claim no longer counts towards your year: ¥{_yuan(reversed_['deductibleUsedFen'])} of "
                   f"deductible and ¥{_yuan(reversed_['reimbursedFen'])} of reimbursement were taken off your "
                   "year-to-date figures.")
    return out


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def _iso(t: datetime | date | None) -> str | None:
    return t.isoformat() if t is not None else None


def _caller(principal: Principal) -> str:
    return f"{principal.role.value}:{principal.subject}"[:80]


def _actor(principal: Principal) -> str:
    if principal.role is Role.CITIZEN:
        return f"citizen:{principal.subject[:16]}"
    return principal.actor[:80]


def _person_arg(text: str) -> bytes:
    raw = text.lower().removeprefix("0x")
    if len(raw) != 64 or not all(ch in "0123456789abcdef" for ch in raw):
        raise InvalidInput.single("for", "person", "a person is named by their 64-hex-digit pseudonym")
    return bytes.fromhex(raw)


__all__ = ["LIVE_STATES", "ClaimWaiter", "ClaimsPolicy", "ClaimsService", "explain"]
