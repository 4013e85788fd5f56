"""ledger.hospital_keys: the moves a key may make, and which revocations are refused and why."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledger.errors import Conflict, InvalidInput, NotFound
from ledger.hospital_keys import (
    TRANSITIONS,
    HospitalKey,
    KeyState,
    RevocationReason,
    check_move,
    current_key,
    parse_reason,
    pending_key,
    revocation_refusal,
)

H = "H33010200001"
T = datetime(2026, 12, 1, tzinfo=UTC)


def _key(account: str, state: KeyState) -> HospitalKey:
    return HospitalKey(H, account, state, T)


KEYS = [_key("0x" + "11" * 20, KeyState.REVOKED), _key("0x" + "22" * 20, KeyState.RETIRED),
        _key("0x" + "33" * 20, KeyState.REVOKING), _key("0x" + "44" * 20, KeyState.CURRENT),
        _key("0x" + "55" * 20, KeyState.PENDING)]

#: (from, to, allowed), every pair: the life of a key is one way
MOVES = [(a, b, b in {KeyState.PENDING: {KeyState.CURRENT}, KeyState.CURRENT: {KeyState.RETIRED, KeyState.REVOKING},
                      KeyState.RETIRED: {KeyState.REVOKING}, KeyState.REVOKING: {KeyState.REVOKED},
                      KeyState.REVOKED: set()}[a])
         for a in KeyState for b in KeyState]


@pytest.mark.parametrize(("start", "to", "allowed"), MOVES, ids=lambda v: str(getattr(v, "value", v)))
def test_a_key_moves_only_forward(start: KeyState, to: KeyState, allowed: bool) -> None:
    assert (to in TRANSITIONS[start]) is allowed
    if allowed:
        check_move(_key("0x" + "aa" * 20, start), to)
    else:
        with pytest.raises(Conflict, match=f"is {start.value}: it cannot become {to.value}"):
            check_move(_key("0x" + "aa" * 20, start), to)


@pytest.mark.parametrize(("account", "outcome"), [
    ("0x" + "11" * 20, KeyState.REVOKED),      # a repeat: answered with the key as it is
    ("0x" + "22" * 20, KeyState.RETIRED),      # the one case that asks for a revocation
    ("0x" + "33" * 20, KeyState.REVOKING),     # a repeat
    ("0X" + "22" * 20, KeyState.RETIRED),      # (any case of the hex)
    ("0x" + "44" * 20, "current signing key"),
    ("0x" + "55" * 20, "not yet bound on chain"),
    ("0x" + "66" * 20, "has no key"),
])
def test_which_revocations_are_refused_and_why(account: str, outcome: KeyState | str) -> None:
    if isinstance(outcome, KeyState):
        assert revocation_refusal(KEYS, H, account).state is outcome
        return
    error = NotFound if outcome == "has no key" else Conflict
    with pytest.raises(error, match=outcome):
        revocation_refusal(KEYS, H, account)


def test_the_current_and_pending_keys_are_found() -> None:
    assert current_key(KEYS) == KEYS[3] and pending_key(KEYS) == KEYS[4]
    assert current_key(KEYS[:3]) is None and pending_key(KEYS[:4]) is None


@pytest.mark.parametrize("text", [r.value for r in RevocationReason])
def test_reasons_parse(text: str) -> None:
    assert parse_reason(text).value == text


def test_an_unknown_reason_names_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_reason("stolen", field="--reason")
    assert caught.value.problems[0].field == "--reason" and "compromised, superseded, lost" in str(caught.value)
