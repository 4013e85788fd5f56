"""A hospital's signing keys over time: rotation and revocation, as data and pure decisions.

The contract binds any number of accounts to a hospital (``addKey``) and revokes one from
the block it is mined in (``revokeKey``); both need the governance role. A key's life here:

    pending ──bound on chain──▶ current ──rotated──▶ retired ──revocation asked──▶ revoking ──mined──▶ revoked

- **pending**: made (in the file keystore or on the token), not yet bound on chain. It signs
  nothing: a QR code signed with it would not verify anywhere.
- **current**: the one key the service signs new QR codes and batch authorisations with.
  Exactly one per hospital (the row ``hospitals.account`` names).
- **retired**: rotated out. Still bound and not revoked on chain, so everything it signed,
  QR codes above all, verifies as before — online and offline, from any registry snapshot.
- **revoking** → **revoked**: the governance revokes it on chain; from then on seals dated on
  a later day are refused (``revoked-issuer``, :func:`verifier.seal_check.revoked_before_issue`);
  seals dated before stay valid, since a QR code states its issue date, not a time.

Rules the store and the use cases keep (:func:`revocation_refusal`): at most one pending key
per hospital (a rotation under way is resumed, not doubled); the current key is never
revoked on its own (a hospital would be left with no key to sign with: rotate first, with
``revoke_previous``); a pending key cannot be revoked (it is bound to nothing yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ledger.errors import Conflict, InvalidInput, NotFound


class KeyState(StrEnum):
    PENDING = "pending"
    CURRENT = "current"
    RETIRED = "retired"
    REVOKING = "revoking"
    REVOKED = "revoked"


#: the moves a key may make (anything else is a bug or a race, and is refused)
TRANSITIONS: dict[KeyState, frozenset[KeyState]] = {
    KeyState.PENDING: frozenset({KeyState.CURRENT}),
    KeyState.CURRENT: frozenset({KeyState.RETIRED, KeyState.REVOKING}),   # revoking: rotated with revoke_previous
    KeyState.RETIRED: frozenset({KeyState.REVOKING}),
    KeyState.REVOKING: frozenset({KeyState.REVOKED}),
    KeyState.REVOKED: frozenset(),
}


class RevocationReason(StrEnum):
    """Why a key is revoked (kept with the key and in the audit trail; the chain records only when)."""

    COMPROMISED = "compromised"   # someone else may hold it: every later seal is suspect
    SUPERSEDED = "superseded"     # a routine rotation: the old key is no longer needed
    LOST = "lost"                 # the key material is gone (a token failed): nobody can sign with it


def parse_reason(text: str, *, field: str = "reason") -> RevocationReason:
    """``text`` as a :class:`RevocationReason`; :class:`InvalidInput` naming ``field`` otherwise."""
    try:
        return RevocationReason(text)
    except ValueError:
        raise InvalidInput.single(field, "enum", f"expected one of {', '.join(r.value for r in RevocationReason)}, "
                                                 f"got {text!r}") from None


@dataclass(frozen=True)
class HospitalKey:
    """One signing key of a hospital, as this service keeps it.

    ``added_at`` / ``revoked_at`` are the contract's unix seconds (None until seen on chain);
    ``revoke_previous`` (pending keys only) asks for the key it replaces to be revoked, for this
    reason, once it is current.
    """

    institution_id: str
    account: str
    state: KeyState
    created_at: datetime
    added_at: int | None = None
    retired_at: datetime | None = None
    revoke_previous: RevocationReason | None = None
    revoke_reason: RevocationReason | None = None
    revoke_requested_at: datetime | None = None
    revoked_at: int | None = None
    revoked_block: int | None = None


def current_key(keys: Sequence[HospitalKey]) -> HospitalKey | None:
    return next((k for k in keys if k.state is KeyState.CURRENT), None)


def pending_key(keys: Sequence[HospitalKey]) -> HospitalKey | None:
    return next((k for k in keys if k.state is KeyState.PENDING), None)


def check_move(key: HospitalKey, to: KeyState) -> None:
    """Raise :class:`Conflict` if ``key`` may not move to ``to``."""
    if to not in TRANSITIONS[key.state]:
        raise Conflict(f"key {key.account} of {key.institution_id} is {key.state.value}: it cannot become {to.value}")


def revocation_refusal(keys: Sequence[HospitalKey], institution_id: str, account: str) -> HospitalKey:
    """The key of ``institution_id`` to revoke (possibly already revoking or revoked: a repeat),
    or the error that says why it may not be revoked."""
    key = next((k for k in keys if k.account.lower() == account.lower()), None)
    if key is None:
        raise NotFound(f"{institution_id} has no key {account} (its keys: "
                       f"{', '.join(k.account for k in keys) or 'none'})")
    if key.state is KeyState.CURRENT:
        raise Conflict(f"{account} is {institution_id}'s current signing key: revoking it would leave the hospital "
                       "unable to sign; rotate it first and revoke it with the rotation (ebill hospital rotate-key "
                       f"--id {institution_id} --revoke-old compromised)")
    if key.state is KeyState.PENDING:
        raise Conflict(f"{account} is {institution_id}'s new key, not yet bound on chain: there is nothing to revoke "
                       "(the running service binds it within a tick)")
    return key
