"""``ebill demo``: the whole foundation, end to end, on one chain.

Generate realistic invoices for several hospitals, fingerprint them, anchor them in
Merkle batches (relayed, one transaction for many hospitals), show one invoice's
inclusion proof verified against the on-chain root, void an invoice, and show that
the voided invoice can no longer be reimbursed — nor voided by another hospital.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger.adapters.chains import ChainSession
from ledger.anchoring import Anchorer
from ledger.app.parallel import seal_all
from ledger.batch import batches_of
from ledger.devtools.synth import generate
from ledger.errors import ContractReverted
from ledger.hashing import to_hex
from ledger.proofdoc import ChainRef, InvoiceInclusion
from ledger.voids import VoidReason
from verifier.inclusion import verify_inclusion_document

DEMO_PAYER = "PAYER-330600-BMI"  # a city's basic medical insurance agency


@dataclass
class DemoReport:
    """Everything the demo did, for printing or ``--json``."""

    chain: str
    chain_id: int
    contract: str
    hospitals: int
    invoices: int
    fee_lines: int
    total_fen: int
    seal_seconds: float
    batches: int
    anchor_transactions: int
    anchor_gas: int
    transactions: int
    gas_used: int
    sample: dict[str, Any] = field(default_factory=dict)
    void: dict[str, Any] = field(default_factory=dict)
    refusals: list[dict[str, Any]] = field(default_factory=list)
    reimbursement: dict[str, Any] = field(default_factory=dict)
    resend_new_anchors: int = -1

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_demo(session: ChainSession, *, hospitals: int = 6, invoices: int = 240, seed: int = 2024,
             lines_per_invoice: int = 85) -> DemoReport:
    """Run the demo flow on ``session``; raises only on a real failure of the system."""
    pepper = os.urandom(32)  # a demo deployment's pseudonymisation secret
    data = generate(seed, hospitals=hospitals, invoices=invoices,
                    fee_lines=invoices * lines_per_invoice, pepper=pepper)
    invoice_list = [inv for inv, _pid in data]

    t0 = time.perf_counter()
    sealed = seal_all(invoice_list)
    seal_seconds = time.perf_counter() - t0

    session.ensure_hospitals([h.code for h in data.hospitals])
    batches = batches_of([(s.invoice.issuer, s.fingerprint, s.invoice.total_fen) for s in sealed])
    anchorer = Anchorer(session.ledger, signer_of=session.signer_of)
    report = anchorer.anchor(batches)
    ref = session.chain_ref
    if session.archive_path is not None:
        with session.open_archive() as archive:
            for batch, on_chain, in zip(batches, report.anchored, strict=True):
                tx = next((r.tx_hash for r in report.receipts if r.block_number == on_chain.block_number), None)
                archive.save(batch, anchored=on_chain,
                             chain=ChainRef(ref.chain_id, ref.contract, tx, on_chain.block_number))

    # A sample invoice: its inclusion proof, checked locally and against the chain.
    sample = sealed[len(sealed) // 2]
    batch = _batch_of(batches, sample)
    proof = batch.proof(sample.fingerprint)
    inclusion = InvoiceInclusion(sample.fingerprint, sample.invoice.total_fen, batch.issuer, batch.root, proof.proof,
                                 ref)
    verdict = verify_inclusion_document(inclusion, session.ledger)

    # Void it (red-letter reversal) and show what the chain now refuses.
    hospital = session.signer_of(sample.invoice.issuer)
    void_receipt = session.ledger.void_invoice(
        hospital=hospital, fingerprint=sample.fingerprint, total_fen=sample.invoice.total_fen,
        batch_root=batch.root, proof=proof.proof, reason=VoidReason.REFUND,
    )
    other = next(h.code for h in data.hospitals if h.code != sample.invoice.issuer)
    payer = session.ensure_payer(DEMO_PAYER)
    refusals = []
    attempts: list[tuple[str, Callable[[], object]]] = [
        ("reimburse the voided invoice", lambda: session.ledger.reserve(
            payer=payer, claim_id=os.urandom(32), issuer=sample.invoice.issuer, fingerprint=sample.fingerprint,
            total_fen=sample.invoice.total_fen, amount_fen=sample.invoice.total_fen // 2,
            batch_root=batch.root, proof=proof.proof)),
        (f"void it as another hospital ({other})", lambda: session.ledger.void_invoice(
            hospital=session.signer_of(other), fingerprint=sample.fingerprint,
            total_fen=sample.invoice.total_fen, batch_root=batch.root, proof=proof.proof, reason=VoidReason.REFUND)),
        ("void it twice", lambda: session.ledger.void_invoice(
            hospital=hospital, fingerprint=sample.fingerprint, total_fen=sample.invoice.total_fen,
            batch_root=batch.root, proof=proof.proof, reason=VoidReason.REFUND)),
    ]
    for what, attempt in attempts:
        try:
            attempt()
            refusals.append({"attempt": what, "refused": False})
        except ContractReverted as exc:
            refusals.append({"attempt": what, "refused": True, "error": exc.error})

    reimbursement = _two_payers(session, sealed, batches, skip=sample.fingerprint)
    again = anchorer.anchor(batches)  # idempotence: re-sending anchors nothing new
    return DemoReport(
        chain=session.name, chain_id=ref.chain_id, contract=ref.contract,
        hospitals=len(data.hospitals), invoices=len(sealed),
        fee_lines=sum(len(s.invoice.fee_lines) for s in sealed),
        total_fen=sum(s.invoice.total_fen for s in sealed), seal_seconds=seal_seconds,
        batches=len(batches), anchor_transactions=len(report.receipts), anchor_gas=report.gas_used,
        transactions=session.ledger.tx_count, gas_used=session.ledger.gas_used_total,
        sample={
            "fingerprint": to_hex(sample.fingerprint), "issuer": sample.invoice.issuer,
            "invoice": f"{sample.invoice.invoice_code}-{sample.invoice.invoice_number}",
            "totalFen": sample.invoice.total_fen, "feeLines": len(sample.invoice.fee_lines),
            "proof": inclusion.to_json(),
            "verified": {"batchRoot": to_hex(verdict.batch.root), "anchoredBy": verdict.batch.institution_id,
                         "block": verdict.batch.block_number, "voided": verdict.voided},
        },
        void={"tx": void_receipt.tx_hash, "block": void_receipt.block_number, "gas": void_receipt.gas_used,
              "reasonCode": VoidReason.REFUND.value,
              "voidedOnChain": session.ledger.invoice_state(sample.invoice.issuer, sample.fingerprint).voided},
        refusals=refusals,
        reimbursement=reimbursement,
        resend_new_anchors=len(again.receipts),
    )


def _two_payers(session: ChainSession, sealed: list[Any], batches: list[Any], *, skip: Any) -> dict[str, Any]:
    """Basic insurance pays its share by the rules; a supplement insurer may claim only the rest.

    The rules (the shipped 2024 rule sets, an employee with nothing used this year) decide
    the basic payer's amount line by line; the chain's per-invoice limit, not any
    database, stops the second payer at what is left.
    """
    from ledger.rules import PersonCategory, RuleBook, YearToDate, adjudicate

    book = RuleBook.shipped()
    for inv in sealed:   # an outpatient invoice above the deductible
        if inv.fingerprint == skip or inv.invoice.visit_type.value == "inpatient":
            continue
        rules = book.in_force(payer="330600-ybj", scheme="pharmacy-pooling", on=inv.invoice.issue_date)
        decision = adjudicate(inv.invoice, person=PersonCategory.EMPLOYEE, year_to_date=YearToDate(),
                              ruleset=rules)
        if decision.reimbursable_fen > 0:
            break
    else:
        return {}
    batch = _batch_of(batches, inv)
    proof = batch.proof(inv.fingerprint).proof
    total = inv.invoice.total_fen

    def stamp(payer_id: str, amount: int) -> dict[str, Any]:
        payer = session.ensure_payer(payer_id)
        claim_id = os.urandom(32)
        try:
            session.ledger.reserve(payer=payer, claim_id=claim_id, issuer=inv.invoice.issuer,
                                   fingerprint=inv.fingerprint, total_fen=total, amount_fen=amount,
                                   batch_root=batch.root, proof=proof)
        except ContractReverted as exc:
            left = exc.error_args[-1] if exc.error == "ReimbursementExceedsTotal" else None
            return {"payer": payer_id, "amountFen": amount, "refused": exc.error, "availableFen": left}
        receipt = session.ledger.finalize(payer=payer, claim_id=claim_id)
        return {"payer": payer_id, "amountFen": amount, "paid": True, "tx": receipt.tx_hash}

    steps = []
    basic = decision.reimbursable_fen
    steps.append(stamp("330600-ybj", basic))
    steps.append(stamp("sx-huiminbao", total))                 # the whole invoice again: refused
    steps.append(stamp("sx-huiminbao", total - basic))         # what is left: accepted
    state = session.ledger.invoice_state(inv.invoice.issuer, inv.fingerprint)
    return {"fingerprint": to_hex(inv.fingerprint), "totalFen": total, "rules": rules.label,
            "eligibleFen": decision.eligible_fen, "basicShareFen": decision.reimbursable_fen,
            "steps": steps, "paidOnChainFen": state.paid_fen}


def _batch_of(batches: list[Any], sealed: Any) -> Any:
    return next(b for b in batches
                if b.issuer == sealed.invoice.issuer and sealed.fingerprint in {fp for fp, _ in b.leaves})
