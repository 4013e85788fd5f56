"""The gaps a restore leaves, in words (``ebill backup gaps``): hand-computed expectations."""

from __future__ import annotations

import pytest

from ledger.chain_gaps import ChainGaps, ClaimBehind, MissingBatch, UnknownStamp

H1, H2 = "H33010200001", "H33010200002"


def batch(issuer: str, n: int) -> MissingBatch:
    return MissingBatch(bytes(32), issuer, n, 10, "0x" + "11" * 32)


def stamp(status: str, fen: int) -> UnknownStamp:
    return UnknownStamp("330600-ybj", bytes(32), bytes(32), H1, fen, status, 12, "0x" + "22" * 32)


@pytest.mark.parametrize(("gaps", "invoices", "empty", "lines"), [
    (ChainGaps(indexed_block=5), 0, True, []),
    (ChainGaps(indexed_block=None, rebuild_pending="restored from a backup taken at 2026-01-01T00:00:00+00:00"),
     0, True, ["the chain index is not rebuilt yet (restored from a backup taken at 2026-01-01T00:00:00+00:00): "
               "start the service or run `ebill reindex`, then look again"]),
    (ChainGaps(indexed_block=9, missing_batches=[batch(H2, 3), batch(H1, 1024), batch(H2, 4)]), 1031, False,
     [f"{H1}: 1 batches of 1024 invoices anchored on chain are missing here (their fee lines and salts existed "
      "only in the lost database): upload them again from the hospital's HIS; they get new fingerprints",
      f"{H2}: 2 batches of 7 invoices anchored on chain are missing here (their fee lines and salts existed "
      "only in the lost database): upload them again from the hospital's HIS; they get new fingerprints"]),
    (ChainGaps(indexed_block=9, unknown_stamps=[stamp("finalized", 2265), stamp("finalized", 100_000),
                                                stamp("reserved", 5)]), 0, False,
     ["2 claims paid on chain (¥1,022.65) are not in this database: match them with the bank's payments; their "
      "invoices cannot be claimed again here",
      "1 reservations on chain (¥0.05) belong to claims this database does not hold: their invoices cannot be "
      "claimed again here until `ebill claims release-forgotten` releases them"]),
    (ChainGaps(indexed_block=9, claims_behind=[ClaimBehind("clm_1", "in-review", "reserved", "finalized", 500, 7),
                                               ClaimBehind("clm_2", "in-review", "reserved", "released", 700, 8)]),
     0, False, ["1 claims were paid on chain after the backup and are unpaid here: the running service's stamper "
                "records them from the bank (paid, or paid once), and no reviewer can decide them again",
                "1 claims went further on chain than recorded here (decided after the backup): check each with the "
                "bank before deciding it again"]),
])
def test_gaps_in_words(gaps: ChainGaps, invoices: int, empty: bool, lines: list[str]) -> None:
    assert gaps.invoices_missing == invoices
    assert gaps.empty is empty
    assert gaps.summary() == lines
