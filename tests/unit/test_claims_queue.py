"""Why a claim is in the review queue: each reason, written out by hand, and their order."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.claims.model import Claim, Review
from ledger.claims.queue import QueueSearch, Why, why_in_review
from ledger.claims.states import ClaimState

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
INSTANT_MAX = 50_000
FLAG = {"rule": "F-SPLIT", "seqs": [3, 4], "detail": "two bills of one stay, a day apart"}


def claim(**kw: Any) -> Claim:
    base = Claim(
        id="clm_1", submission_id="sub_1", payer_id="P1", fingerprint=b"\x01" * 32, issuer="H1", invoice_code="C",
        invoice_number="N", person=b"\x02" * 32, actor="citizen:ab", relation="self", state=ClaimState.IN_REVIEW,
        scheme="s", year=2026, requested_fen=90_000, decided_fen=40_000, amount_fen=40_000, deductible_used_fen=0,
        decision={"flags": []}, flags=(), instant=False, reviews_needed=1, attempt=1, chain_claim_id=b"\x03" * 32,
        chain_todo=None, stamp=None, stamp_tx=None, stamp_block=None, refusal=None, rejection=None, appeal=None,
        payment_ref=None, paid_at=None, created_at=NOW, updated_at=NOW, decided_at=None)
    return replace(base, **kw)


def review(reviewer: str, verdict: str, round_: int = 1) -> Review:
    return Review(reviewer, verdict, "r", round_, NOW)


# claim -> the reasons' (code, detail, facts) in order
CASES: list[tuple[str, Claim, list[dict[str, Any]]]] = [
    ("nothing: reviewed because the payer reviews it (at the threshold exactly)", claim(amount_fen=INSTANT_MAX), []),
    ("above the instant threshold by a fen", claim(amount_fen=INSTANT_MAX + 1),
     [{"code": "over-instant-threshold", "detail": "¥500.01 is above the ¥500.00 paid at once",
       "amountFen": 50_001, "thresholdFen": 50_000}]),
    ("a flag in words", claim(flags=("F-SPLIT",), decision={"flags": [FLAG]}),
     [{"code": "flagged", "detail": "two bills of one stay, a day apart", "rule": "F-SPLIT", "seqs": [3, 4]}]),
    ("a flag whose words are missing is named by its rule", claim(flags=("F-X",)),
     [{"code": "flagged", "detail": "F-X", "rule": "F-X", "seqs": []}]),
    ("one approval of two: the final review", claim(reviews_needed=2, reviews=(review("r1", "approve"),)),
     [{"code": "final-review", "detail": "approved 1 of 2 times: another reviewer decides it", "approvals": 1,
       "needed": 2}]),
    ("an appeal: round one's approval and rejection do not make it a final review",
     claim(appeal="separate services", reviews_needed=2, amount_fen=600_000,
           reviews=(review("r1", "approve"), review("r2", "reject"))),
     [{"code": "appeal", "detail": "the citizen appealed the rejection: separate services",
       "reason": "separate services"},
      {"code": "over-instant-threshold", "detail": "¥6,000.00 is above the ¥500.00 paid at once",
       "amountFen": 600_000, "thresholdFen": 50_000}]),
    ("the bank refused the payout: back for a person, approved already",
     claim(refusal="payout refused: account closed", reviews=(review("r1", "approve"),)),
     [{"code": "payout-held", "detail": "payout refused: account closed", "bank": "account closed"},
      {"code": "final-review", "detail": "approved 1 of 1 times: another reviewer decides it", "approvals": 1,
       "needed": 1}]),
    ("everything at once, the most pressing first",
     claim(appeal="a", flags=("F-SPLIT",), decision={"flags": [FLAG]}, amount_fen=70_000, reviews_needed=2,
           reviews=(review("r2", "reject"), review("r3", "approve", 2))),
     [{"code": "appeal", "detail": "the citizen appealed the rejection: a", "reason": "a"},
      {"code": "final-review", "detail": "approved 1 of 2 times: another reviewer decides it", "approvals": 1,
       "needed": 2},
      {"code": "flagged", "detail": "two bills of one stay, a day apart", "rule": "F-SPLIT", "seqs": [3, 4]},
      {"code": "over-instant-threshold", "detail": "¥700.00 is above the ¥500.00 paid at once",
       "amountFen": 70_000, "thresholdFen": 50_000}]),
]


@pytest.mark.parametrize(("case", "c", "expected"), CASES, ids=[c[0] for c in CASES])
def test_why_in_review(case: str, c: Claim, expected: list[dict[str, Any]]) -> None:
    assert [r.to_json() for r in why_in_review(c, instant_max_fen=INSTANT_MAX)] == expected


def test_the_codes_are_the_apis() -> None:
    assert [w.value for w in Why] == ["flagged", "over-instant-threshold", "appeal", "final-review", "payout-held"]


def test_an_empty_search() -> None:
    assert QueueSearch().empty and not QueueSearch(hospital="x").empty
