"""Online facts about an invoice: anchored or not, voided, how much reimbursed and by whom.

After the offline check of a QR seal (signature, registry), the online check asks the
chain, never the service's database: the inclusion proof may come from anywhere (the
issuing service's public ``/v1/proofs/{fp}``, a file, an archive) because it is checked
against the batch root on chain; void and reimbursement state are read from the
contract, and a void's reason code from its ``InvoiceVoided`` event. The payload never
chooses where to fetch from: the caller configures it.

Each outcome is a distinct :class:`OnlineStatus`; nothing here raises for an invoice
that fails a check (only :class:`~ledger.errors.ChainUnavailable` when the chain cannot
be asked at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from ledger.errors import NotAnchored, VerificationError
from ledger.hashing import Fingerprint, to_hex
from ledger.onchain import AnchoredBatch, ChainVoid, InvoiceChainState, Stamp
from ledger.proofdoc import InvoiceInclusion
from verifier.inclusion import ChainView, verify_inclusion_document


class OnlineStatus(StrEnum):
    ANCHORED = "anchored"                    # on chain, not voided, not fully reimbursed
    FULLY_REIMBURSED = "fully-reimbursed"    # payers together reserved or paid the whole total
    VOIDED = "voided"                        # red-letter reversal stamped on chain
    NOT_ANCHORED = "not-anchored"            # no proof yet, or its root is not on chain (yet)
    PROOF_MISMATCH = "proof-mismatch"        # the proof is for other values than the seal's
    PROOF_INVALID = "proof-invalid"          # the proof does not lead to an anchored root


class ProofSource(Protocol):
    """Where inclusion proofs come from (a service URL, a file, an archive)."""

    def inclusion(self, fingerprint: Fingerprint) -> InvoiceInclusion | None: ...


class StampSource(Protocol):
    """The reimbursement events of one invoice, read from the chain."""

    def stamps(self, fingerprint: Fingerprint) -> Sequence[Stamp]: ...


class VoidSource(Protocol):
    """The void event of one hospital's invoice, read from the chain."""

    def void_of(self, issuer: str, fingerprint: Fingerprint) -> ChainVoid | None: ...


@dataclass(frozen=True)
class OnlineFacts:
    """What the chain says about an invoice, with one status and a precise reason."""

    status: OnlineStatus
    reason: str
    batch: AnchoredBatch | None = None
    state: InvoiceChainState | None = None
    inclusion: InvoiceInclusion | None = None
    stamps: tuple[Stamp, ...] = field(default=())
    #: the void's event (its reason code), when the invoice is voided and it was asked for
    void: ChainVoid | None = None

    @property
    def ok(self) -> bool:
        """The invoice is anchored and may still be claimed."""
        return self.status is OnlineStatus.ANCHORED

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {"status": self.status.value, "reason": self.reason}
        if self.batch is not None:
            doc["anchor"] = {"batchRoot": to_hex(self.batch.root), "issuer": self.batch.institution_id,
                             "block": self.batch.block_number, "anchoredAt": self.batch.anchored_at}
        if self.state is not None:
            doc["reservedFen"], doc["paidFen"], doc["voided"] = (self.state.reserved_fen, self.state.paid_fen,
                                                                 self.state.voided)
        if self.stamps:
            doc["stamps"] = [{"payerId": s.payer_id, "claimId": s.claim_id, "amountFen": s.amount_fen,
                              "status": s.status, "block": s.block, "tx": s.tx} for s in self.stamps]
        if self.void is not None:
            doc["void"] = self.void.to_json()
        return doc


def check_online(
    *, fingerprint: Fingerprint, total_fen: int, issuer: str, chain: ChainView, proofs: ProofSource,
    stamps: StampSource | None = None, voids: VoidSource | None = None,
) -> OnlineFacts:
    """The chain's facts about the invoice a (signature-checked) seal describes.

    ``fingerprint``, ``total_fen`` and ``issuer`` come from the seal; the proof must be
    for exactly these values, or the seal and the anchored invoice are not the same.
    ``voids``, when given, is asked for the void's reason code once the contract says
    the invoice is voided.
    """
    doc = proofs.inclusion(fingerprint)
    if doc is None:
        return OnlineFacts(OnlineStatus.NOT_ANCHORED,
                           f"no inclusion proof for {to_hex(fingerprint)} yet: the invoice is not anchored yet "
                           "(hospitals anchor within seconds of issuing), or it was never uploaded")
    if (bytes(doc.fingerprint), doc.total_fen, doc.issuer) != (bytes(fingerprint), total_fen, issuer):
        return OnlineFacts(OnlineStatus.PROOF_MISMATCH,
                           f"the proof is for {to_hex(doc.fingerprint)} / {doc.total_fen} fen / {doc.issuer}, "
                           f"the seal says {to_hex(fingerprint)} / {total_fen} fen / {issuer}", inclusion=doc)
    try:
        verdict = verify_inclusion_document(doc, chain)
    except NotAnchored as exc:
        return OnlineFacts(OnlineStatus.NOT_ANCHORED, str(exc), inclusion=doc)
    except VerificationError as exc:
        return OnlineFacts(OnlineStatus.PROOF_INVALID, str(exc), inclusion=doc)
    state = verdict.state
    found = tuple(stamps.stamps(fingerprint)) if stamps is not None else ()

    def facts(status: OnlineStatus, reason: str) -> OnlineFacts:
        return OnlineFacts(status, reason, batch=verdict.batch, state=state, inclusion=doc, stamps=found)

    if state.voided:
        void = voids.void_of(issuer, fingerprint) if voids is not None else None
        why = f" ({void.reason.describe()})" if void is not None else ""
        extra = (f"; {state.paid_fen} fen had been paid and {state.reserved_fen} fen reserved: payers claw it back"
                 if state.paid_fen or state.reserved_fen else "")
        return replace(facts(OnlineStatus.VOIDED, f"the issuing hospital voided this invoice on chain{why}{extra}"),
                       void=void)
    used = state.paid_fen + state.reserved_fen
    if used >= total_fen:
        return facts(OnlineStatus.FULLY_REIMBURSED, f"payers already reserved or paid the whole total "
                                                    f"({used} of {total_fen} fen): nothing is left to claim")
    return facts(OnlineStatus.ANCHORED, f"anchored by {verdict.batch.institution_id} in block "
                                        f"{verdict.batch.block_number}; {used} of {total_fen} fen reimbursed or "
                                        "reserved so far")
