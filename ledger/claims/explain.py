"""The decision on a claim in plain sentences, for the citizen.

Read from the stored decision document (:meth:`ledger.rules.Decision.to_json` with the
payer's cap) and the claim's outcome: the lines with a share to pay oneself and why, the
invoice-level steps (deductible, ratio, the caps per invoice and per visit, annual cap),
the cap by what was self-paid and what other payers left, the review flags, and a
refusal, rejection or claw-back (after a void, or a post-payment audit's finding); for a
payer in an order of payers, what the earlier payers had on the invoice, or why the claim
still waits for them.
"""

from __future__ import annotations

from typing import Any

from ledger.claims.model import Claim
from ledger.claims.states import ClaimState

#: lines explained one by one; the rest are counted
_LINES_SHOWN = 50
#: invoice-level steps in words (others by their rule id)
_STEP_NAMES = {"annual-cap": "Annual cap", "invoice-cap": "Cap per invoice", "visit-cap": "Cap per visit"}


def explain(c: Claim) -> list[str]:
    """The decision in plain sentences, for the citizen."""
    d = c.decision
    out: list[str] = []
    if c.state is ClaimState.WAITING:
        out.append(f"Not decided yet: {d.get('waiting', 'waiting for earlier payers to decide first')}.")
    out.extend(_earlier_payers(d.get("earlierPayers")))
    reduced = [line for line in d.get("lines", []) if line.get("selfPaidFen")]
    for line in reduced[:_LINES_SHOWN]:
        why = "; ".join(r["detail"] for r in line["reasons"])
        out.append(f"Line {line['seq']} ({line['itemCode']}): ¥{yuan(line['selfPaidFen'])} of "
                   f"¥{yuan(line['amountFen'])} is yours to pay — {why}.")
    if len(reduced) > _LINES_SHOWN:
        out.append(f"… and {len(reduced) - _LINES_SHOWN} more lines with a share to pay yourself.")
    for step in d.get("steps", []):
        name = _STEP_NAMES.get(step["rule"]) or step["rule"].capitalize()
        out.append(f"{name}: {step['detail']} → ¥{yuan(step['amountFen'])}.")
    cap = d.get("cap") or {}
    if cap and cap.get("amountFen", 0) < d.get("reimbursableFen", 0):
        out.append(f"Limited to ¥{yuan(cap['amountFen'])}: what you paid yourself (¥{yuan(cap['patientShareFen'])})"
                   f" and what the invoice has left after other payers (¥{yuan(cap['availableOnChainFen'])}).")
    for f in d.get("flags", []):
        out.append(f"Sent to a reviewer: {f['detail']}.")
    review = d.get("review") or {}
    for line in review.get("lines", []):
        note = f" ({line['note']})" if line.get("note") else ""
        out.append(f"Line {line['seq']} ({line['itemCode']}, ¥{yuan(line['amountFen'])}) was not approved by the "
                   f"reviewer: {line['words']}{note}.")
    if review.get("lines"):
        out.append(f"The reviewer approved the other lines: ¥{yuan(review['amountFen'])} instead of "
                   f"¥{yuan(review['amountBeforeFen'])}.")
    if c.refusal:
        out.append(f"Not paid: {c.refusal}.")
    if c.rejection:
        out.append(f"Rejected by the reviewer: {c.rejection}.")
    finding = d.get("postAuditFinding")
    if c.state is ClaimState.CLAWBACK and finding:
        out.append(f"Owed back: an audit after the payment found that ¥{yuan(finding['amountDueFen'])} should not "
                   f"have been paid — {finding['reason']}.")
        if finding.get("debtor") == "person":
            out.append("You are asked to return it: what you still owe is kept back from your next reimbursement "
                       "by this payer, unless you pay it back first.")
        elif finding.get("debtor") == "hospital":
            out.append("The hospital returns it to the payer; you owe nothing.")
    elif c.state is ClaimState.CLAWBACK:
        out.append(f"Owed back: the hospital voided the invoice after ¥{yuan(c.amount_fen)} was paid. The hospital "
                   "returns it to the payer; you owe nothing.")
    if c.offset_fen:
        out.append(f"¥{yuan(c.offset_fen)} of this payment was kept back for money you owed on an earlier claim; "
                   f"¥{yuan(c.amount_fen - c.offset_fen)} was transferred.")
    reversed_ = d.get("reversed")
    if reversed_:
        out.append(f"This claim no longer counts towards your year: ¥{yuan(reversed_['deductibleUsedFen'])} of "
                   f"deductible and ¥{yuan(reversed_['reimbursedFen'])} of reimbursement were taken off your "
                   "year-to-date figures.")
    return out


def _earlier_payers(e: dict[str, Any] | None) -> list[str]:
    """The earlier payers' figures a payer in an order decided with (or waits for)."""
    if not e:
        return []
    out = []
    for p in e.get("payers", []):
        held = f"¥{yuan(p['paidFen'])} paid" + (f" and ¥{yuan(p['reservedFen'])} reserved" if p["reservedFen"] else "")
        state = ("has decided" if p["decided"] else "is still deciding" if p.get("claims")
                 else "has no claim on this invoice yet")
        out.append(f"Earlier payer {p['payer']}: {held} on this invoice; it {state}.")
    if e.get("undecided") and e.get("windowPassed"):
        out.append(f"Decided without waiting longer for {', '.join(e['undecided'])}: {e['waitDays']} days after the "
                   "invoice was issued, what the chain showed of the earlier payers was counted.")
    return out


def yuan(fen: int) -> str:
    """``123456`` fen as ``1,234.56``."""
    return f"{fen // 100:,}.{fen % 100:02d}"
