"""The whole verdict on a QR seal: the offline check, then (if it passed) the chain's facts.

One composition for every front end (``POST /v1/verify``, the test vectors), so they
report the same ``status`` for the same seal and chain. The document::

    {"valid": bool, "status": "<offline status if it failed, else the online status>",
     "reason": "…", "offline": SealVerdict.to_json(), "online": OnlineFacts.to_json() | null}

``status`` is one of the offline failures (``malformed``, ``unknown-issuer``,
``tampered-or-forged``, ``revoked-issuer``) or an :class:`~verifier.online.OnlineStatus`
(``anchored`` — the only one with ``valid: true`` —, ``fully-reimbursed``, ``voided``,
``not-anchored``, ``proof-mismatch``, ``proof-invalid``).
"""

from __future__ import annotations

from typing import Any

from verifier.inclusion import ChainView
from verifier.online import ProofSource, StampSource, VoidSource, check_online
from verifier.seal_check import SealVerdict


def full_verdict(offline: SealVerdict, *, chain: ChainView, proofs: ProofSource,
                 stamps: StampSource | None = None, voids: VoidSource | None = None) -> dict[str, Any]:
    """The verdict document of a seal checked offline (``offline``), asking the chain if it passed."""
    doc: dict[str, Any] = {"offline": offline.to_json(), "online": None}
    if not offline.valid or offline.seal is None:
        return {"valid": False, "status": offline.status, "reason": offline.reason, **doc}
    seal = offline.seal
    facts = check_online(fingerprint=seal.fingerprint, total_fen=seal.total_fen, issuer=seal.issuer, chain=chain,
                         proofs=proofs, stamps=stamps, voids=voids)
    doc["online"] = facts.to_json()
    return {"valid": facts.ok, "status": facts.status.value, "reason": facts.reason, **doc}
