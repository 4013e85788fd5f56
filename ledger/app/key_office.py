"""Rotating and revoking hospitals' signing keys: the use cases (the governance's; a hospital reads its own).

A rotation makes the hospital's next key where new keys are kept (sealed under the keystore
passphrase, or on the PKCS#11 token: ``EBILL_SIGNER``) and records it as *pending*; a revocation
marks a retired key *revoking*. Neither touches the chain: whoever holds the governance key
does (:class:`~ledger.app.key_registrar.KeyRegistrar`: the running service's chain worker within
a tick, or ``ebill hospital rotate-key`` / ``revoke-key`` at once). Until the chain binds the
new key, the old one keeps signing, so no QR code is ever signed with a key a verifier could
not find in the registry. See :mod:`ledger.hospital_keys` for the life of a key.
"""

from __future__ import annotations

import re

from ledger.app.access import Principal, Reach, authorize
from ledger.app.service import LedgerService
from ledger.errors import InvalidInput, NotFound
from ledger.hospital_keys import HospitalKey, RevocationReason, pending_key

_ACCOUNT_RE = re.compile(r"0x[0-9a-fA-F]{40}\Z")


class KeyOffice:
    """Hospitals' signing keys over time, on the service's store and key custodian."""

    def __init__(self, service: LedgerService) -> None:
        self.service = service
        self.store = service.store

    def keys(self, principal: Principal, institution_id: str) -> list[HospitalKey]:
        """Every key of the hospital, oldest first (a hospital: its own only; another's is not found)."""
        reach = authorize(principal, "hospital.keys.read")
        if reach is Reach.OWN and principal.subject != institution_id:
            raise NotFound(f"no hospital {institution_id} is registered here")
        return self.store.hospital_keys(institution_id)

    def rotate(self, principal: Principal, institution_id: str, *,
               revoke_previous: RevocationReason | None = None) -> tuple[HospitalKey, bool]:
        """Make the hospital's next signing key; (the pending key, whether it was made now).

        A rotation under way is returned as it is (no second key is made). ``revoke_previous``
        asks for the key it replaces to be revoked, for that reason, once the new one is bound.
        """
        authorize(principal, "hospital.keys.rotate")
        waiting = pending_key(self.store.hospital_keys(institution_id))   # NotFound for an unknown hospital
        if waiting is not None:
            return waiting, False
        held = self.service.keys.create(owner=institution_id)
        return self.store.add_pending_key(institution_id, held.address, held.reference,
                                          revoke_previous=revoke_previous, actor=principal.actor)

    def revoke(self, principal: Principal, institution_id: str, account: str, *,
               reason: RevocationReason) -> tuple[HospitalKey, bool]:
        """Ask for the hospital's retired key ``account`` to be revoked on chain; (the key, whether
        this asked: a key already revoking or revoked is a repeat). The current key and a pending
        one are refused (:class:`~ledger.errors.Conflict` saying what to do instead)."""
        authorize(principal, "hospital.keys.revoke")
        if not _ACCOUNT_RE.match(account):
            raise InvalidInput.single("account", "address", f"expected 0x and 40 hex digits, got {account!r}")
        return self.store.request_key_revocation(institution_id, account, reason=reason, actor=principal.actor)
