"""Reviewers of this payer decide claims in review (maker-checker above the threshold);
citizens appeal a rejection once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ledger.app.access import Principal, authorize
from ledger.app.claims.context import ClaimsContext, actor_of, person_arg
from ledger.claims.clawbacks import FINDINGS, Reason
from ledger.claims.lines import InPart, LineVerdict, judge_in_part
from ledger.claims.model import Claim
from ledger.claims.policy import reassess
from ledger.claims.queue import QueueSearch
from ledger.claims.sampling import PostAudit
from ledger.claims.states import ClaimState
from ledger.errors import Conflict, InvalidInput
from ledger.rules import PersonCategory, YearToDate, adjudicate

#: the review target: a decision within 5 working days (DOMAIN.md)
SLA_WORKING_DAYS = 5
#: longest reason a reviewer or a citizen gives
_REASON_CHARS = 500


class Reviews(ClaimsContext):
    """The review queue, verdicts and appeals."""

    def queue(self, principal: Principal, *, search: QueueSearch | None = None, older_than_days: float | None = None,
              limit: int = 200, now: datetime | None = None) -> list[Claim]:
        """Claims in review that match ``search``, oldest first, with their reviews; those at least
        ``older_than_days`` working days old if given."""
        authorize(principal, "claim.review", payer_id=self.payer_id)
        claims = self.store.claims(states=[ClaimState.IN_REVIEW], limit=max(1, min(limit, 1000)), oldest_first=True,
                                   with_reviews=True, search=search)
        now = now or self.clock.now()
        # oldest first: the claims old enough are the first ones, so the limit cuts none of them
        return [c for c in claims
                if older_than_days is None or self.calendar.elapsed(c.created_at, now) >= older_than_days]

    def queue_search(self, *, claim: str | None = None, invoice: str | None = None, person: str | None = None,
                     hospital: str | None = None, min_amount_fen: int | None = None,
                     flag: str | None = None) -> QueueSearch:
        """A queue search from what a reviewer typed: an invoice by its fingerprint (64 hex
        digits, ``0x`` optional) or else by its number, a person by their pseudonym, a hospital
        by its code or a part of its name. :class:`InvalidInput` names the field that cannot
        be read. (A mistyped fingerprint is searched as a number and finds nothing, as any
        search box does.)"""
        fingerprint = number = None
        if invoice is not None and (invoice := invoice.strip()):
            raw = invoice.lower().removeprefix("0x")
            if len(raw) == 64 and all(ch in "0123456789abcdef" for ch in raw):
                fingerprint = bytes.fromhex(raw)
            else:
                number = invoice
        who = None
        if person is not None and (person := person.strip()):
            # by pseudonym only: a resident ID in a query string would be written to access logs
            who = person_arg(person, field="person")
        if claim is not None and (claim := claim.strip().lower()) and not claim.startswith("clm_"):
            claim = "clm_" + claim
        return QueueSearch(claim_id=claim or None, fingerprint=fingerprint, invoice_number=number, person=who,
                           hospital=(hospital or "").strip() or None, min_amount_fen=min_amount_fen,
                           flag=(flag or "").strip() or None)

    def review(self, principal: Principal, claim_id: str, *, verdict: str, reason: str,
               lines: Sequence[LineVerdict] = ()) -> Claim:
        """A reviewer's verdict (``approve`` or ``reject``, which needs a reason); an approval
        with ``lines`` not approved (each with a coded reason) pays what the other lines pay."""
        authorize(principal, "claim.review", payer_id=self.payer_id)
        reason = (reason or "").strip()
        if verdict == "reject" and not reason:
            raise InvalidInput.single("reason", "required", "a rejection needs a reason the citizen can read")
        if len(reason) > _REASON_CHARS:
            raise InvalidInput.single("reason", "length", f"at most {_REASON_CHARS} characters")
        if lines and verdict != "approve":
            raise InvalidInput.single("lines", "approve-only", "lines are not approved within an approval; a "
                                                               "rejection refuses them all")
        if not lines:
            return self.store.review(claim_id, reviewer=actor_of(principal), verdict=verdict,
                                     reason=reason or "approved")
        c = self.store.claim(claim_id)
        in_part = self._in_part(c, lines)
        return self.store.review(claim_id, reviewer=actor_of(principal), verdict=verdict,
                                 reason=reason or "approved in part", in_part=in_part,
                                 judged=(c.amount_fen, c.deductible_used_fen))

    def _in_part(self, c: Claim, lines: Sequence[LineVerdict]) -> InPart:
        """What claim ``c`` pays without ``lines``: its rules applied again (as an appeal does),
        with the person's year as it stood without this claim."""
        if c.state is not ClaimState.IN_REVIEW:
            raise Conflict(f"claim {c.id} is {c.state}, not in review")
        person = self.store.person(c.person)
        if person is None:
            raise Conflict("this person is no longer insured with this payer")
        invoice = self.service.store.sealed_invoice(c.fingerprint).invoice
        # judged again under the rule set it was filed under, as an appeal is
        ruleset = self.policy.rulebook().version(rule_set_id=c.decision["ruleset"]["id"], on=invoice.issue_date)
        deductible, reimbursed = self.store.year_to_date(c.person, c.scheme, c.year)
        # a claim in review counts towards the year: judged again, it must not count against itself
        without = YearToDate(deductible - c.deductible_used_fen, reimbursed - c.amount_fen)
        return judge_in_part(invoice, lines, person=PersonCategory(person.category), year_without_claim=without,
                             ruleset=ruleset, decision=c.decision, amount_fen=c.amount_fen,
                             requested_fen=c.requested_fen,
                             earlier=self.earlier_lines(c.person, c.fingerprint, invoice, ruleset))

    def post_payment_queue(self, principal: Principal, *, limit: int = 200) -> list[Claim]:
        """Paid claims drawn for a post-payment audit and not audited yet, oldest first."""
        authorize(principal, "claim.review", payer_id=self.payer_id)
        return self.store.claims(states=[ClaimState.PAID], post_audit=PostAudit.DUE, limit=max(1, min(limit, 1000)),
                                 oldest_first=True, with_reviews=True)

    def post_audit(self, principal: Principal, claim_id: str, *, finding: bool, reason: str,
                   code: Reason | str | None = None) -> Claim:
        """A post-payment auditor's verdict on a drawn, paid claim: nothing wrong, or a finding that
        asks its money back; either with a reason (a finding's is read by the citizen). A finding's
        ``code`` (:data:`~ledger.claims.clawbacks.FINDINGS`) says who owes the money back."""
        authorize(principal, "claim.review", payer_id=self.payer_id)
        reason = (reason or "").strip()
        if not reason or len(reason) > _REASON_CHARS:
            raise InvalidInput.single("reason", "length", "say in 1-500 characters what was checked or found")
        try:
            why = Reason(code) if code is not None else None
        except ValueError:
            raise InvalidInput.single("code", "finding", "one of: " + ", ".join(FINDINGS)) from None
        return self.store.post_audit(claim_id, auditor=actor_of(principal), finding=finding, reason=reason, code=why)

    def appeal(self, principal: Principal, claim_id: str, *, reason: str) -> Claim:
        """The citizen's appeal of a rejection (once), its amounts judged again as of now."""
        c = self.claim(principal, claim_id, operation="claim.appeal")
        reason = (reason or "").strip()
        if not reason or len(reason) > _REASON_CHARS:
            raise InvalidInput.single("reason", "length", "say in 1-500 characters why the decision is wrong")
        # the year's figures may have moved since: the amounts are judged again, as of now
        person = self.store.person(c.person)
        if person is None:
            raise Conflict("this person is no longer insured with this payer")
        invoice = self.service.store.sealed_invoice(c.fingerprint).invoice
        # judged again under the rule set it was filed under (its scheme holds the year's figures)
        ruleset = self.policy.rulebook().version(rule_set_id=c.decision["ruleset"]["id"], on=invoice.issue_date)
        ytd = self.store.year_to_date(c.person, c.scheme, c.year)
        # payers in order: judged again with what the earlier payers hold now (never more than before)
        decision = adjudicate(invoice, person=PersonCategory(person.category), year_to_date=YearToDate(*ytd),
                              ruleset=ruleset, earlier=self.earlier_lines(c.person, c.fingerprint, invoice, ruleset),
                              earlier_payers=self.earlier_payers(ruleset, invoice, c.fingerprint))
        deductible, amount = reassess(decision, requested_fen=c.requested_fen, amount_fen=c.amount_fen)
        return self.store.appeal(claim_id, reason=reason, actor=actor_of(principal), deductible_fen=deductible,
                                 amount_fen=amount)
