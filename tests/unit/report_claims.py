"""Six claims of two hospitals in November 2026 (China time), for the monthly report's tests;
each figure they add up to is worked out by hand in ``test_claims_reports.py``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ledger.claims.model import Claim, Review
from ledger.claims.reports import MonthlyReport, monthly_report
from ledger.claims.states import ClaimState
from ledger.months import Month

S = ClaimState
NOV = Month(2026, 11)
PERSON = bytes.fromhex("ab" * 32)
H1, H2 = "H33060200001", "H33060200002"
RS1 = {"id": "sx-pharmacy-pooling", "version": 2}
RS2 = {"id": "sx-local-inpatient", "version": 1}
AT = datetime(2026, 11, 15, 2, 0, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def claim(**kw: Any) -> Claim:
    base = Claim(
        id="clm_00000000000000000001", submission_id="sub_1", payer_id="330600-ybj", fingerprint=b"\x01" * 32,
        issuer=H1, invoice_code="33062401", invoice_number="0000000001", person=PERSON,
        actor="citizen:" + PERSON.hex()[:16], relation="self", state=S.PAID, scheme="s", year=2026,
        requested_fen=0, decided_fen=0, amount_fen=0, deductible_used_fen=0, decision={"ruleset": RS1},
        flags=(), instant=True, reviews_needed=1, attempt=1, chain_claim_id=b"\x03" * 32, chain_todo=None,
        stamp=None, stamp_tx=None, stamp_block=None, refusal=None, rejection=None, appeal=None, payment_ref=None,
        paid_at=None, created_at=AT, updated_at=AT, decided_at=None, hospital_name="市第一人民医院")
    return replace(base, **kw)


def line(seq: int, code: str, amount: int, *reasons: tuple[str, int], canonical: str | None = None) -> dict[str, Any]:
    self_paid = sum(fen for _, fen in reasons)
    return {"seq": seq, "itemCode": code, "canonicalCode": canonical or code, "amountFen": amount,
            "eligibleFen": amount - self_paid, "selfPaidFen": self_paid,
            "reasons": [{"rule": r, "selfPaidFen": fen, "detail": "words"} for r, fen in reasons]}


def reviewed(verdict: str) -> tuple[Review, ...]:
    return (Review("payer:330600-ybj:key-of-reviewer-wang", verdict, "reason in words", 1, AT),)


# c1: filed 2026-10-31 16:30 UTC = 1 November 00:30 in China. Paid at once ¥60.00 of ¥100.00.
#     line 1: Class B co-payment ¥5.00 (not a refusal); line 2: Class C ¥30.00; line 3: negative list ¥20.00
C1 = claim(id="clm_c1", fingerprint=b"\x01" * 32, created_at=utc("2026-10-31T16:30:00"), requested_fen=10_000,
           amount_fen=6_000, decision={"ruleset": RS1, "lines": [
               line(1, "A001", 5_000, ("class-b-first-self-pay-10pct", 500)),
               line(2, "C001", 3_000, ("class-c-self-pay", 3_000)),
               line(3, "N001", 2_000, ("negative-list:N0", 2_000))], "flags": []})
# c2: in review, flagged: item D001 on lines 1 and 2 (line 2 billed under an alias), line 2 also ¥4.00 over its quantity
C2 = claim(id="clm_c2", fingerprint=b"\x02" * 32, state=S.IN_REVIEW, instant=False, requested_fen=80_000,
           amount_fen=50_000, flags=("duplicate-item",), decision={"ruleset": RS1, "lines": [
               line(1, "D001", 1_000, ("duplicate-item", 0)),
               line(2, "D001-A", 1_000, ("duplicate-item", 0), ("quantity-limit", 400), canonical="D001")],
               "flags": [{"rule": "duplicate-item", "seqs": [1, 2], "detail": "D001 twice"}]})
# c3: filed 30 November 23:59:59 in China; approved in part: line 2 (¥40.00, ¥36.00 eligible after its Class B
#     share) not approved as not medically necessary; paid ¥90.00
C3 = claim(id="clm_c3", fingerprint=b"\x03" * 32, created_at=utc("2026-11-30T15:59:59"), instant=False,
           requested_fen=20_000, amount_fen=9_000, reviews=reviewed("approve"), decision={"ruleset": RS1, "lines": [
               line(1, "X001", 6_000), line(2, "X002", 4_000, ("class-b-first-self-pay-10pct", 400))], "flags": [],
               "review": {"lines": [{"seq": 2, "itemCode": "X002", "amountFen": 4_000,
                                     "reason": "not-medically-necessary", "words": "w", "note": ""}]}})
# c4: the second hospital's claims window; paid at once, then owed back; line 1 Class C ¥20.00
C4 = claim(id="clm_c4", fingerprint=b"\x04" * 32, issuer=H2, hospital_name="县人民医院", relation="clerk",
           actor="clerk:H33060200002:window-1", state=S.CLAWBACK, requested_fen=5_000, amount_fen=3_000,
           decision={"ruleset": RS2, "lines": [line(1, "C001", 2_000, ("class-c-self-pay", 2_000))], "flags": []})
# c5: waits for an earlier payer: counted, nothing decided
C5 = claim(id="clm_c5", fingerprint=b"\x05" * 32, issuer=H2, hospital_name="县人民医院", state=S.WAITING,
           instant=False, requested_fen=7_000, decision={"ruleset": RS2, "waiting": "the earlier payer decides first"})
# c6: rejected by a reviewer as a whole
C6 = claim(id="clm_c6", fingerprint=b"\x06" * 32, issuer=H2, hospital_name="县人民医院", state=S.REJECTED,
           instant=False, requested_fen=12_000, amount_fen=12_000, reviews=reviewed("reject"),
           rejection="the stay was not medically necessary", decision={"ruleset": RS2, "lines": [], "flags": []})
CLAIMS = [C1, C2, C3, C4, C5, C6]
NAMES = {(b"\x01" * 32, 2): "自费检查", (b"\x01" * 32, 3): "保健品", (b"\x02" * 32, 1): "头孢克肟",
         (b"\x03" * 32, 2): "营养液", (b"\x04" * 32, 1): "陪护费"}


def report(claims: list[Claim] = CLAIMS, **kw: Any) -> MonthlyReport:
    """The report of ``claims`` in November, made on 1 December at 09:00 in China, items named by :data:`NAMES`."""
    args: dict[str, Any] = {"generated_at": utc("2026-12-01T01:00:00"), "names": NAMES, **kw}
    return monthly_report(NOV, claims, payer_id="330600-ybj", payer_name="绍兴市医保局", **args)
