"""Post-payment sampling: reproducible from the claim id and the key, the configured share, unpredictable
without the key."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from ledger.claims.sampling import ALL_BP, draw, sample_key, sampled

KEY = sample_key(b"\x11" * 32)
IDS = [f"clm_{i:020x}" for i in range(20_000)]


def test_the_draw_is_the_hmac_of_the_claim_id() -> None:
    # written out independently: HMAC-SHA256(key, id), first 8 bytes big-endian, modulo 10,000
    digest = hmac.new(KEY, b"clm_00000000000000000007", hashlib.sha256).digest()
    assert draw("clm_00000000000000000007", key=KEY) == int.from_bytes(digest[:8], "big") % 10_000
    assert sample_key(b"\x11" * 32) == hmac.new(b"\x11" * 32, b"ebill post-payment sample v1",
                                                hashlib.sha256).digest()


def test_reproducible() -> None:
    first = [sampled(i, key=KEY, share_bp=500) for i in IDS[:500]]
    assert first == [sampled(i, key=sample_key(b"\x11" * 32), share_bp=500) for i in IDS[:500]]


@pytest.mark.parametrize("share_bp", [1, 200, 500, 2_500, 9_999])
def test_the_share_is_the_configured_one(share_bp: int) -> None:
    drawn = sum(sampled(i, key=KEY, share_bp=share_bp) for i in IDS)
    expected = len(IDS) * share_bp / ALL_BP
    # within 5 standard deviations of the binomial (and exactly the draws below the share)
    sd = (len(IDS) * share_bp / ALL_BP * (1 - share_bp / ALL_BP)) ** 0.5
    assert abs(drawn - expected) <= 5 * sd + 1
    assert drawn == sum(draw(i, key=KEY) < share_bp for i in IDS)


def test_none_and_all() -> None:
    assert not any(sampled(i, key=KEY, share_bp=0) for i in IDS[:2000])
    assert all(sampled(i, key=KEY, share_bp=ALL_BP) for i in IDS[:2000])


def test_a_larger_share_draws_the_smaller_ones_too() -> None:
    """Raising the share adds claims to the sample; it never drops one drawn before."""
    small = {i for i in IDS if sampled(i, key=KEY, share_bp=200)}
    large = {i for i in IDS if sampled(i, key=KEY, share_bp=1_000)}
    assert small < large


def test_another_key_draws_other_claims() -> None:
    """Without the key, which claims are drawn cannot be told (two keys agree no more than chance)."""
    mine = {i for i in IDS if sampled(i, key=KEY, share_bp=1_000)}
    theirs = {i for i in IDS if sampled(i, key=sample_key(b"\x22" * 32), share_bp=1_000)}
    assert len(mine & theirs) < 0.2 * len(mine)          # chance: 10 % of them


def test_refused_settings() -> None:
    with pytest.raises(ValueError, match="0 to 10000 basis points, not 10001"):
        sampled("clm_1", key=KEY, share_bp=10_001)
    with pytest.raises(ValueError, match="0 to 10000 basis points, not -1"):
        sampled("clm_1", key=KEY, share_bp=-1)
    with pytest.raises(ValueError, match="needs a secret key"):
        sampled("clm_1", key=b"", share_bp=100)
