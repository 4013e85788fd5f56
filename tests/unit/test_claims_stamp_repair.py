"""What a claim needs when the chain lost (part of) its stamp: a table of every case."""

from __future__ import annotations

import pytest

from ledger.claims.stamps import stamp_repair
from ledger.claims.states import DEAD_STATES, LIVE_STATES

# (claim state, recorded stamp, status on chain) -> (chain_todo, stamp) to write, or None
CASES = [
    # the chain holds what the claim records (or more: a later stamp the claim row records next)
    ("paid", "finalized", "finalized", None),
    ("in-review", "reserved", "reserved", None),
    ("refused", "released", "released", None),
    ("in-review", "reserved", "finalized", None),
    # a claim holding money: reserved again under the same id, and finalised again after that
    ("paid", "finalized", "none", ("reserve", None)),
    ("clawback", "finalized", "none", ("reserve", None)),
    ("approved", "finalized", "none", ("reserve", None)),
    ("in-review", "reserved", "none", ("reserve", None)),
    ("paid", "finalized", "reserved", ("finalize", "reserved")),
    # approved with a reservation and nothing pending (approved before payouts waited for the
    # finalisation): finalise it, so that it can be paid
    ("approved", "reserved", "reserved", ("finalize", "reserved")),
    # a decided claim holds no money: on chain neither
    ("refused", "released", "reserved", ("release", "reserved")),
    ("rejected", "released", "reserved", ("release", "reserved")),
    ("refused", "finalized", "reserved", ("release", "reserved")),   # a void held its payout; finalisation lost
    ("refused", "released", "none", (None, None)),
    ("refused", "finalized", "none", (None, None)),
]


@pytest.mark.parametrize(("state", "recorded", "on_chain", "repair"), CASES)
def test_stamp_repair(state: str, recorded: str, on_chain: str, repair: tuple[str | None, str | None] | None) -> None:
    assert stamp_repair(state=state, recorded=recorded, on_chain=on_chain) == repair


@pytest.mark.parametrize("state", [*LIVE_STATES, "clawback", *DEAD_STATES])
def test_a_stamp_the_chain_holds_needs_nothing(state: str) -> None:
    for stamp in ("reserved", "finalized", "released"):
        if (state, stamp) != ("approved", "reserved"):
            assert stamp_repair(state=state, recorded=stamp, on_chain=stamp) is None


@pytest.mark.parametrize("state", [*LIVE_STATES, "clawback"])
def test_money_is_never_left_off_the_chain(state: str) -> None:
    """Whatever a money-holding claim recorded, a chain that knows nothing of it gets it reserved again."""
    for recorded in ("reserved", "finalized"):
        assert stamp_repair(state=state, recorded=recorded, on_chain="none") == ("reserve", None)
