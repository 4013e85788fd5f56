"""The payer's policy: which rules judge a claim, what it pays, whether it pays at once.

A claim on one invoice is judged by the payer's rule set in force on the invoice date that
applies to the invoice's visit type, the person's insured status for it
(:func:`ledger.claims.insured.insured_status`) and their category
(:meth:`ledger.rules.RuleBook.rules_for`), with the person's year-to-date figures in that
rule set's scheme (:func:`ledger.rules.adjudicate`). What it pays is the least of

1. what the rules reimburse,
2. what the patient paid themselves (the total less the fund's share), and
3. what the invoice has left on chain after other payers' reservations and payments.

Then (:func:`decide`): the rules pay ¥0 → ``nothing-payable`` (the deductible still counts
for the year); something reimbursable but nothing left to pay → ``refused``; else
``submitted``, to be reserved on chain. It is paid at once (*instant*) when no fraud flag
was raised and it is at most :attr:`ClaimsPolicy.instant_max_fen`; otherwise it goes
through the office's stages (:meth:`ClaimsPolicy.stages`): the machine audit (this
decision), a first review, and above :attr:`ClaimsPolicy.final_review_from_fen` a final
review by another reviewer (maker-checker; who may act at each stage is
:data:`ledger.claims.states.DUTIES`). A share of the claims paid at once is drawn for a
post-payment audit (:meth:`ClaimsPolicy.post_audit`).

A payer in an order of payers (its rule set's ``coordination``) decides only once the
earlier payers have (:mod:`ledger.rules.coordination`): until then :func:`decide` files the
claim to wait (``waiting-for-earlier-payers``, nothing counted, nothing reserved), and the
stamper decides it again with what the chain then shows.

Pure: the year-to-date figures come in as an argument (the repository reads them under
the person's lock, so two claims of one person never use the same deductible twice).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.claims.insured import insured_status
from ledger.claims.model import ClaimDraft, PersonRecord
from ledger.claims.sampling import ALL_BP, PostAudit, sampled
from ledger.claims.stamps import InvoiceFigures, left_on_invoice
from ledger.claims.states import CLAIMABLE_AGAIN, DUTIES, ClaimState, Event, Party, Stage, step
from ledger.errors import ClaimBlocked
from ledger.invoice import Invoice
from ledger.rules import (
    Decision,
    EarlierLine,
    PersonCategory,
    RuleBook,
    RuleSet,
    RuleSource,
    YearToDate,
    adjudicate,
)
from ledger.rules.coordination import EarlierPayers


@dataclass(frozen=True)
class ClaimsPolicy:
    """The payer's knobs: who it is, its rule sets, instant payout and final-review thresholds."""

    payer_id: str
    #: the rule book in force (the rule office's active versions, reloaded when they change)
    rules: RuleSource
    instant_max_fen: int = 50_000            # ¥500: paid at once when nothing is flagged
    final_review_from_fen: int = 500_000     # above ¥5,000: a final review by a second reviewer
    #: the share of instantly paid claims drawn for a post-payment audit, in basis points, and
    #: the secret key of the draw (:mod:`ledger.claims.sampling`)
    post_audit_share_bp: int = 0
    sample_key: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        # refused when the policy is built (at start), not at the first claim drawn
        if not 0 <= self.post_audit_share_bp <= ALL_BP:
            raise ValueError(f"the post-payment audit share is 0 to {ALL_BP} basis points, "
                             f"not {self.post_audit_share_bp}")
        if self.post_audit_share_bp and not self.sample_key:
            raise ValueError("a post-payment audit share needs a secret sampling key")

    def rules_for(self, invoice: Invoice, person: PersonRecord, *, hospital_region: str) -> RuleSet:
        """The rule set that judges ``person``'s claim on ``invoice`` (from a hospital in
        ``hospital_region``); :class:`~ledger.errors.NoRulesInForce` if none does."""
        status = insured_status(insured_region=person.insured_region, offsite_registered=person.offsite_registered,
                                hospital_region=hospital_region, visit_type=invoice.visit_type)
        return self.rulebook().rules_for(payer=self.payer_id, visit_type=invoice.visit_type, insured_status=status,
                                       category=person.category, on=invoice.issue_date)

    def rulebook(self) -> RuleBook:
        """The rule book in force now."""
        return self.rules.book()

    def instant(self, *, amount_fen: int, flagged: bool) -> bool:
        """True if a claim of ``amount_fen`` is approved as soon as the chain reserved it."""
        return not flagged and amount_fen <= self.instant_max_fen

    def post_audit(self, claim_id: str, *, instant: bool) -> PostAudit | None:
        """DUE if the claim ``claim_id``, paid at once when ``instant``, is drawn for a
        post-payment audit; None otherwise (a claim a reviewer decided was looked at already)."""
        if not instant or self.post_audit_share_bp == 0:
            return None
        return PostAudit.DUE if sampled(claim_id, key=self.sample_key, share_bp=self.post_audit_share_bp) else None

    def stages(self, amount_fen: int) -> tuple[Stage, ...]:
        """The stages a claim of ``amount_fen`` that is not paid at once goes through."""
        final = (Stage.FINAL_REVIEW,) if amount_fen > self.final_review_from_fen else ()
        return (Stage.MACHINE_AUDIT, Stage.FIRST_REVIEW, *final)

    def reviewers_needed(self, amount_fen: int) -> int:
        """How many different reviewers must approve a claim of ``amount_fen`` under review: one
        per review stage."""
        return sum(1 for st in self.stages(amount_fen) if DUTIES[st].by is Party.REVIEWER)


@dataclass(frozen=True)
class Filing:
    """One invoice to claim, with everything its decision needs but the person's year-to-date
    figures (read where they are locked)."""

    claim_id: str
    chain_claim_id: bytes
    fingerprint: bytes
    invoice: Invoice
    person: PersonRecord
    actor: str
    relation: str
    ruleset: RuleSet
    available_fen: int       # what the invoice has left on chain
    policy: ClaimsPolicy
    #: the person's fee lines on other invoices that the period limits count (ledger.rules.periods)
    earlier: tuple[EarlierLine, ...] | None = None
    #: payers in order: the earlier payers' figures on chain (None: the rule set names no earlier payer)
    earlier_payers: EarlierPayers | None = None

    @property
    def scheme(self) -> str:
        """The scheme the claim counts in (the year-to-date figures are per scheme): its rule set's."""
        return self.ruleset.scheme

    @property
    def year(self) -> int:
        """The calendar year the claim counts towards (the invoice's)."""
        return int(self.invoice.issue_date[:4])

    @property
    def patient_share_fen(self) -> int:
        """What the patient paid themselves."""
        return self.invoice.total_fen - self.invoice.fund_paid_fen


def decide(filing: Filing, year_to_date: YearToDate) -> ClaimDraft:
    """The claim of ``filing`` as the rules decide it, given the person's year so far (or, while
    an earlier payer has not decided, filed to wait for it)."""
    invoice = filing.invoice
    if filing.earlier_payers is not None and filing.earlier_payers.must_wait:
        return _waiting(filing)
    decision = adjudicate(invoice, person=PersonCategory(filing.person.category), year_to_date=year_to_date,
                          ruleset=filing.ruleset, earlier=filing.earlier, earlier_payers=filing.earlier_payers)
    patient_share, available = filing.patient_share_fen, filing.available_fen
    amount = min(decision.reimbursable_fen, patient_share, available)
    refusal = None
    if decision.reimbursable_fen == 0:
        event = Event.FILED_NOTHING_PAYABLE
    elif amount == 0:
        event = Event.FILED_NOTHING_LEFT
        refusal = ("the invoice is reimbursed in full already (by other payers)" if available == 0
                   else "the patient paid nothing themselves")
    else:
        event = Event.FILED
    state = step(None, event, by=Party.CLAIMANT)
    doc = decision.to_json()
    doc["cap"] = {"patientShareFen": patient_share, "availableOnChainFen": available, "amountFen": amount}
    flags = tuple(f.rule for f in decision.flags)
    policy = filing.policy
    instant = policy.instant(amount_fen=amount, flagged=bool(flags))
    return ClaimDraft(
        id=filing.claim_id, payer_id=policy.payer_id, fingerprint=filing.fingerprint, issuer=invoice.issuer,
        person=filing.person.pseudonym, actor=filing.actor, relation=filing.relation, scheme=filing.scheme,
        year=filing.year, requested_fen=patient_share, decided_fen=decision.reimbursable_fen,
        amount_fen=0 if event is Event.FILED_NOTHING_LEFT else amount,
        deductible_used_fen=decision.deductible_used_fen, decision=doc, flags=flags,
        instant=instant, reviews_needed=policy.reviewers_needed(amount), chain_claim_id=filing.chain_claim_id,
        state=state, refusal=refusal,
        post_audit=policy.post_audit(filing.claim_id, instant=instant) if event is Event.FILED else None)


def _waiting(filing: Filing) -> ClaimDraft:
    """A claim that waits for the earlier payers: no figures yet, the reason in words."""
    assert filing.earlier_payers is not None
    policy, invoice = filing.policy, filing.invoice
    doc = {"ruleset": {"id": filing.ruleset.id, "version": filing.ruleset.version},
           "waiting": filing.earlier_payers.why_waiting(), "earlierPayers": filing.earlier_payers.to_json()}
    return ClaimDraft(
        id=filing.claim_id, payer_id=policy.payer_id, fingerprint=filing.fingerprint, issuer=invoice.issuer,
        person=filing.person.pseudonym, actor=filing.actor, relation=filing.relation, scheme=filing.scheme,
        year=filing.year, requested_fen=filing.patient_share_fen, decided_fen=0, amount_fen=0, deductible_used_fen=0,
        decision=doc, flags=(), instant=False, reviews_needed=policy.reviewers_needed(0),
        chain_claim_id=filing.chain_claim_id, state=step(None, Event.FILED_TO_WAIT, by=Party.CLAIMANT))


def reassess(decision: Decision, *, requested_fen: int, amount_fen: int) -> tuple[int, int]:
    """(deductible used, amount) of an appealed claim judged again as of now: never more than
    the patient paid, nor than the claim paid before (what the chain let it reserve)."""
    amount = min(decision.reimbursable_fen, requested_fen, amount_fen or decision.reimbursable_fen)
    return decision.deductible_used_fen, amount


def available_fen(*, fingerprint: bytes, total_fen: int, on_chain: InvoiceFigures | None) -> int:
    """What an invoice of ``total_fen`` has left to claim on chain (all of it without a chain).

    Raises :class:`ClaimBlocked` (``total-mismatch``) when the chain pinned another total for
    the invoice (at its first reservation, perhaps of another leaf the hospital anchored).
    """
    if on_chain is None:
        return total_fen
    pinned_total_fen = on_chain.total_fen
    if pinned_total_fen and pinned_total_fen != total_fen:
        raise ClaimBlocked("total-mismatch",
                           f"invoice 0x{fingerprint.hex()}: the chain holds the total ¥{pinned_total_fen / 100:,.2f} "
                           f"for it, not ¥{total_fen / 100:,.2f} (the hospital anchored it twice with different "
                           "totals); it cannot be claimed until the hospital corrects it")
    return left_on_invoice(total_fen, on_chain)


def why_not_claimable(*, insured: bool, voided: bool, anchored: bool, latest: ClaimState | None) -> str | None:
    """Why a person's invoice cannot be claimed at this payer (``latest``: the state of its
    newest claim here), or None if it can (what is left on chain is checked apart)."""
    if not insured:
        return "not insured with this payer"
    if voided:
        return "voided by the hospital"
    if not anchored:
        return "not anchored yet"
    if latest is not None and latest != CLAIMABLE_AGAIN:
        return "claimed already"
    return None
