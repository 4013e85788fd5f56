"""Offline verification of an invoice's QR seal against a registry snapshot.

:func:`verify_offline` never raises for a bad payload: every outcome is a
:class:`SealVerdict` whose ``status`` is one of

- ``valid-offline``: the issuer's key, bound in the snapshot and not revoked before the
  issue date, signed exactly these fields for this deployment. Says nothing yet about
  anchoring, voiding or reimbursement (that needs the chain);
- ``malformed``: the text is not a version-1 seal; ``rule`` is ``decode_qr``'s rule
  (``qr-prefix``, ``base45``, ``qr-version``, ``qr-length``, ``range``,
  ``signature-range``, ``signature-high-s``, ``type``);
- ``unknown-issuer``: the snapshot has no hospital with the seal's institution code;
- ``tampered-or-forged``: the signature recovers to an account that is not one of the
  issuer's keys. A changed field (amount, fingerprint, date…) and a signature by some
  other key look the same here: ECDSA recovery of altered data yields a random account,
  so the two cannot be told apart and share one status. ``rule`` says what the
  signature recovered to: ``signer-unbound`` (no hospital's key), ``signer-of-other-issuer``
  (another hospital's key: that hospital signed a seal naming this issuer) or
  ``no-public-key``;
- ``revoked-issuer``: the signing key is the issuer's, but it was revoked before the
  invoice's issue date (see :func:`revoked_before_issue`).

A valid seal is evidence that the hospital issued the invoice; a QR code can be
photocopied, so it is not a bearer token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from ledger.errors import InvalidInput, SignatureInvalid
from ledger.qr import InvoiceSeal, SignedSeal, decode_qr
from ledger.signature import checksum_address
from verifier.registry import RegistryKey, RegistrySnapshot

SealStatus = Literal["valid-offline", "malformed", "unknown-issuer", "tampered-or-forged", "revoked-issuer"]

#: China Standard Time, the offset of every issue date (UTC+8, no daylight saving)
CHINA_OFFSET_SECONDS = 8 * 3600
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class SealVerdict:
    """The outcome of an offline check: ``status`` for machines, ``reason`` for people.

    ``rule`` refines a failure (the decode rule of ``malformed``, what the signature
    recovered to for ``tampered-or-forged``); ``seal`` is set once the text decoded,
    ``signer`` once a public key was recovered, ``key`` when the signer is one of the
    issuer's keys.
    """

    status: SealStatus
    reason: str
    snapshot: RegistrySnapshot
    rule: str | None = None
    seal: InvoiceSeal | None = None
    signer: str | None = None
    key: RegistryKey | None = None

    @property
    def valid(self) -> bool:
        return self.status == "valid-offline"

    def to_json(self) -> dict[str, Any]:
        """A JSON-able report of the verdict and the snapshot it was reached against."""
        snap = self.snapshot
        doc: dict[str, Any] = {
            "status": self.status, "reason": self.reason, "rule": self.rule,
            "seal": None, "signer": self.signer, "key": None,
            "snapshot": {"chainId": snap.chain_id, "contract": snap.contract, "blockNumber": snap.block_number,
                         "blockHash": snap.block_hash},
        }
        if self.seal is not None:
            s = self.seal
            doc["seal"] = {"issuer": s.issuer, "invoiceCode": s.invoice_code, "invoiceNumber": s.invoice_number,
                           "issueDate": s.issue_date, "totalFen": s.total_fen,
                           "fingerprint": "0x" + s.fingerprint.hex()}
        if self.key is not None:
            doc["key"] = {"account": self.key.account, "addedAt": self.key.added_at, "revokedAt": self.key.revoked_at}
        return doc


def issue_day_start(issue_date: str) -> int:
    """Unix time of 00:00 China time (UTC+8) on ``issue_date`` (``YYYY-MM-DD``)."""
    return (date.fromisoformat(issue_date).toordinal() - _EPOCH_ORDINAL) * 86400 - CHINA_OFFSET_SECONDS


def revoked_before_issue(key: RegistryKey, issue_date: str) -> bool:
    """Whether ``key`` was revoked before the invoice's issue date began.

    The rule: a seal signed with a key is valid when its issue date is before the key's
    revocation, i.e. when ``revokedAt`` is after 00:00 China time (UTC+8) on the issue
    date: ``revokedAt > issue_day_start(issue_date)``. A key revoked at or before the
    start of that day (``revokedAt <= day_start``) makes the seal ``revoked-issuer``.

    Why the start of the day and not the end: the seal carries a date, not a time, so an
    invoice dated on the day of revocation may have been issued that morning, before
    the key was revoked, and refusing it would refuse honest invoices. Refusing the whole
    day would buy no security either: whoever holds a key can write any earlier date
    into a seal, so revocation can only bound seals by their stated date.
    """
    return key.revoked_at != 0 and key.revoked_at <= issue_day_start(issue_date)


def verify_offline(text: str, snapshot: RegistrySnapshot) -> SealVerdict:
    """Check the QR text ``text`` against ``snapshot``; never raises for a bad payload.

    The EIP-712 domain (chain id, ledger contract) is the snapshot's, never the code's.
    """
    try:
        signed = decode_qr(text)
    except InvalidInput as exc:
        problem = exc.problems[0]
        return SealVerdict("malformed", f"not a valid seal: {problem.field}: {problem.message}", snapshot,
                           rule=problem.rule)
    return verify_signed(signed, snapshot)


def verify_signed(signed: SignedSeal, snapshot: RegistrySnapshot) -> SealVerdict:
    """The verdict on a decoded seal (:func:`verify_offline` after decoding)."""
    seal = signed.seal
    what = f"seal of invoice {seal.invoice_code}/{seal.invoice_number} dated {seal.issue_date}"
    keys = snapshot.keys_of(seal.issuer)
    if keys is None:
        return SealVerdict("unknown-issuer", f"{what}: issuer {seal.issuer} is not a hospital in the registry "
                           f"snapshot (chain {snapshot.chain_id}, block {snapshot.block_number})", snapshot, seal=seal)
    try:
        account = signed.signer_bytes(snapshot.domain)
    except SignatureInvalid as exc:
        return SealVerdict("tampered-or-forged", f"{what}: {exc}", snapshot, rule="no-public-key", seal=seal)
    key = keys.get(account)
    if key is None:
        signer = checksum_address(account)
        other = snapshot.hospital_of(account)
        if other is not None:
            return SealVerdict(
                "tampered-or-forged", f"{what}: signed by {signer}, a key of {other}, not of the issuer "
                f"{seal.issuer}", snapshot, rule="signer-of-other-issuer", seal=seal, signer=signer)
        return SealVerdict(
            "tampered-or-forged", f"{what}: the signature recovers to {signer}, which is not a key of {seal.issuer} "
            f"(nor of any hospital) in chain {snapshot.chain_id}'s registry: either a field was altered after "
            "signing or another key signed it", snapshot, rule="signer-unbound", seal=seal, signer=signer)
    if revoked_before_issue(key, seal.issue_date):
        return SealVerdict(
            "revoked-issuer", f"{what}: signed by {key.account}, a key of {seal.issuer} revoked at unix "
            f"{key.revoked_at}, at or before the issue date began (00:00 UTC+8, unix "
            f"{issue_day_start(seal.issue_date)})", snapshot, seal=seal, signer=key.account, key=key)
    later = f"; the key was revoked later (unix {key.revoked_at})" if key.revoked_at else ""
    return SealVerdict(
        "valid-offline", f"{what} for {seal.total_fen} fen was signed by {seal.issuer}'s key {key.account} "
        f"(registry at block {snapshot.block_number}){later}; anchoring not checked offline",
        snapshot, seal=seal, signer=key.account, key=key)
