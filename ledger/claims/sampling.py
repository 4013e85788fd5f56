"""Post-payment sampling: which instantly paid claims an auditor looks at after the payout.

A claim paid at once was seen by no person. A configurable share of them (in basis points,
:attr:`~ledger.claims.policy.ClaimsPolicy.post_audit_share_bp`) is drawn into a
post-payment audit queue, decided when the claim is filed: an HMAC of the claim id under
the payer's secret sampling key, read as a number below 10,000. The draw is reproducible
(the same claim id and key always give the same answer, so an auditor can show why a
claim was drawn) and not gameable (a hospital or citizen who does not know the key cannot
tell which claims will be drawn, nor choose ids that are not). Pure.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum

#: the share is in basis points of instantly paid claims
ALL_BP = 10_000


class PostAudit(StrEnum):
    """Where a sampled claim stands in the post-payment audit (the API's and the database's strings)."""

    DUE = "due"            # drawn: an auditor looks at it once it is paid
    CLEARED = "cleared"    # looked at: nothing wrong
    FINDING = "finding"    # something wrong: its money is asked back (a claw-back)


def sample_key(secret: bytes) -> bytes:
    """The sampling key derived from a deployment's ``secret`` (the pseudonym pepper): secret as
    it is, the same in every process, and of no use for anything else."""
    return hmac.new(secret, b"ebill post-payment sample v1", hashlib.sha256).digest()


def draw(claim_id: str, *, key: bytes) -> int:
    """The claim's draw, 0 ≤ draw < 10,000: HMAC-SHA256 of its id under ``key``, its first 8
    bytes as a number, modulo 10,000 (the bias of the modulo is below 10⁻¹⁵)."""
    digest = hmac.new(key, claim_id.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % ALL_BP


def sampled(claim_id: str, *, key: bytes, share_bp: int) -> bool:
    """True if the claim ``claim_id`` is drawn for a post-payment audit at ``share_bp`` basis
    points (0: none, 10,000: every one)."""
    if not 0 <= share_bp <= ALL_BP:
        raise ValueError(f"a sampling share is 0 to {ALL_BP} basis points, not {share_bp}")
    if not key:
        raise ValueError("post-payment sampling needs a secret key (else anyone could predict the draw)")
    return draw(claim_id, key=key) < share_bp
