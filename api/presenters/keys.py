"""Hospitals' signing keys as the API (and ``ebill hospital keys --json``) write them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ledger.hospital_keys import HospitalKey, KeyState

#: what each state means for the QR codes the key signed (said to the people reading it)
MEANING = {
    KeyState.PENDING: "made, not yet bound on chain: signs nothing until it is",
    KeyState.CURRENT: "signs the hospital's new QR codes and batches",
    KeyState.RETIRED: "rotated out: what it signed still verifies",
    KeyState.REVOKING: "to be revoked on chain within a tick",
    KeyState.REVOKED: "revoked: seals it signed dated after the revocation day are refused",
}


def key_json(k: HospitalKey) -> dict[str, Any]:
    """One key: its account, state (and what that means), and when the chain bound and revoked it."""
    return {
        "institutionId": k.institution_id, "account": k.account, "state": k.state.value, "meaning": MEANING[k.state],
        "createdAt": k.created_at.isoformat(),
        "addedAt": _unix(k.added_at), "retiredAt": k.retired_at.isoformat() if k.retired_at else None,
        "revokePrevious": k.revoke_previous.value if k.revoke_previous else None,
        "revocation": None if k.revoke_reason is None else {
            "reason": k.revoke_reason.value,
            "requestedAt": k.revoke_requested_at.isoformat() if k.revoke_requested_at else None,
            "revokedAt": _unix(k.revoked_at), "block": k.revoked_block},
    }


def _unix(seconds: int | None) -> str | None:
    """The contract's unix seconds as an ISO time (UTC)."""
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()
