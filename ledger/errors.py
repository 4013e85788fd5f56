"""The one error tree of ebill-ledger.

Every failure the domain can name is a subclass of :class:`LedgerError`; adapters
translate foreign exceptions (web3, SQLAlchemy, OS) into it with ``raise ... from exc``
and the API maps it to RFC 9457 problem responses in one place::

    LedgerError
    ├── InvalidInput                 malformed input; names the field and the rule (422)
    │   └── InvalidInvoice           one or more invoice fields break a rule
    ├── MalformedBody                a request body not JSON, nested too deep, or a key twice (400)
    ├── PayloadTooLarge              a request body over the route's limit (413)
    │   └── PhotoTooLarge            a photo with more pixels than a QR code can need
    ├── UnsupportedMediaType         a request body of a type the route does not take (415)
    ├── Unauthenticated              no valid credential was presented (401)
    │   └── InvalidVoucher           a citizen's e-voucher is refused (expired, wrong key, …)
    ├── Forbidden                    the credential's role may not do this (403)
    │   └── RateLimited              too many requests from one client; retry later (429)
    ├── NotFound                     no such invoice / batch / account (404)
    ├── Conflict                     the request contradicts recorded state (409)
    │   ├── ClaimBlocked             a claim that would pay twice or wrongly (duplicate, voided, …)
    │   ├── TransitionRefused        an event a claim's state (or the party causing it) does not allow
    │   │   └── DutiesSeparated      a reviewer barred from this stage (the rejecter of an appeal, maker-checker)
    │   ├── ClawbackRefused          an event a claw-back's state (or the party causing it) does not allow
    │   │   └── WriteOffSeparated    a write-off approved by the one who proposed it (maker-checker)
    │   ├── SettlementExceedsOutstanding  a recovery or offset above what is still owed on a claw-back
    │   ├── NoRulesInForce           the payer has no rule set for the claim's care, person and date
    │   ├── AlreadyAnchored          the batch root is on chain already
    │   └── DatabaseInUse            a restore would overwrite a database a running service uses
    ├── VerificationError            a proof, signature or fingerprint does not check out (422)
    │   ├── InclusionProofInvalid    the leaf is not under the root with this proof
    │   ├── NotAnchored              the root (or invoice) is not on chain
    │   ├── SignatureInvalid         a signature does not recover to the expected key
    │   ├── WrongPassphrase          the keystore passphrase does not open the keys
    │   ├── MirrorRejected           a source served a batch that does not verify
    │   └── BackupInvalid            not an ebill backup, truncated or corrupt, or from a newer schema
    ├── Unavailable                  a service this one depends on is not there; retry later (503)
    │   ├── StoreUnavailable         the database could not be reached, or refused for a transient reason
    │   ├── BankUnavailable          the bank did not answer; the transfer did not happen
    │   ├── GatewayUnavailable       the message gateway did not answer; the message stays in the outbox
    │   ├── ClaimsUnavailable        this service is not configured for claims
    │   ├── PdfFontUnavailable       no font to embed in a printable PDF is installed
    │   └── SignerUnavailable        the signing token (PKCS#11) cannot be opened, or lacks the key
    ├── MessageUndeliverable         the gateway will never deliver a message (no number on record, …)
    ├── KeysUnavailable              opened without the keystore passphrase: may read, not sign
    ├── FencedOut                    another worker leads this lease now: this one's fencing token is stale
    ├── ChainError                   the chain refused or could not be reached
    │   ├── ChainUnavailable         no answer from the node (503)
    │   │   └── StateFileUnreadable  anvil refused its state file (truncated by a kill)
    │   ├── ContractReverted         a transaction or call reverted with a custom error
    │   └── ChainStateMismatch       the node does not hold state we know we wrote
    └── ToolchainError               compiler / node binary missing or broken

Every class of the tree is defined here, so the tree above is the whole of it; the API maps
each to its status in ``api/problems.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class LedgerError(Exception):
    """Root of every error raised on purpose by ebill-ledger."""

    #: short machine-readable kind, used as the problem ``type`` suffix over HTTP
    kind: str = "ledger-error"


@dataclass(frozen=True)
class FieldProblem:
    """One broken rule: where (a JSON-pointer-like path), which rule, and what was found."""

    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message} [{self.rule}]"


class InvalidInput(LedgerError):
    """Input that breaks a rule; carries every problem found, each naming its field."""

    kind = "invalid-input"

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        if not problems:
            raise ValueError("InvalidInput needs at least one problem")
        self.problems: tuple[FieldProblem, ...] = tuple(problems)
        shown = "; ".join(str(p) for p in self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(shown + more)

    @classmethod
    def single(cls, field: str, rule: str, message: str) -> InvalidInput:
        return cls([FieldProblem(field, rule, message)])


class InvalidInvoice(InvalidInput):
    """An invoice or one of its fee lines breaks a validation rule."""

    kind = "invalid-invoice"

class MalformedBody(LedgerError):
    """The request body cannot be read as meant: not JSON, nested too deep, or a key given twice."""

    kind = "malformed-body"


class PayloadTooLarge(LedgerError):
    """The request body exceeds the configured limit."""

    kind = "payload-too-large"


class PhotoTooLarge(PayloadTooLarge):
    """A photo with more pixels or bytes than reading a QR code can need (HTTP 413)."""

    kind = "image-too-large"


class UnsupportedMediaType(LedgerError):
    """A request body of a type the route does not take."""

    kind = "unsupported-media-type"


class Unauthenticated(LedgerError):
    """No valid credential was presented."""

    kind = "unauthenticated"


class InvalidVoucher(Unauthenticated):
    """The e-voucher is refused. ``reason`` is a short code for the failed check."""

    kind = "unauthenticated"

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(f"e-voucher refused: {message}")


class Forbidden(LedgerError):
    """The caller is authenticated but its role may not do this."""

    kind = "forbidden"


class RateLimited(Forbidden):
    """Too many requests from one client in a window; ``retry_after`` seconds until the next is allowed."""

    kind = "rate-limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(LedgerError):
    """The thing asked for does not exist (here, or on chain)."""

    kind = "not-found"


class Conflict(LedgerError):
    """The request contradicts state that is already recorded."""

    kind = "conflict"


class ClaimBlocked(Conflict):
    """A claim refused because it would pay an invoice twice or wrongly.

    ``reason`` is ``duplicate`` (the invoice has a live claim at this payer), ``voided``,
    ``total-mismatch`` (the chain pinned another total) or ``unknown-stamp`` (the chain holds
    this payer's stamp of a claim the database does not: restored from an older backup); the
    claims service counts these.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class TransitionRefused(Conflict):
    """An event that :data:`ledger.claims.states.TRANSITIONS` does not allow for a claim in
    ``state`` (None: a claim being filed), or not by the ``by`` party."""

    def __init__(self, message: str, *, state: str | None, event: str, by: str) -> None:
        super().__init__(message)
        self.state = state
        self.event = event
        self.by = by


class ClawbackRefused(Conflict):
    """An event that :data:`ledger.claims.clawbacks.TABLE` does not allow for a claw-back in
    ``state`` (None: one being requested), or not by the ``by`` party, or that its figures
    forbid (a write-off while an offset is pending, a reference recorded with another amount)."""

    kind = "clawback-refused"

    def __init__(self, message: str, *, state: str | None, event: str, by: str) -> None:
        super().__init__(message)
        self.state = state
        self.event = event
        self.by = by


class WriteOffSeparated(ClawbackRefused):
    """A write-off approved with the credential that proposed it: writing the fund's money off
    needs a second member of the payer's office (maker-checker)."""

    kind = "separation-of-duties"


class SettlementExceedsOutstanding(Conflict):
    """A recovery or offset of ``asked_fen`` on a claw-back that has only ``available_fen`` left
    to settle (what is outstanding, less offsets still pending against a payout). Nothing is
    ever settled beyond what is due, and an amount is never cut down silently."""

    kind = "exceeds-outstanding"

    def __init__(self, message: str, *, asked_fen: int, outstanding_fen: int, available_fen: int) -> None:
        super().__init__(message)
        self.asked_fen = asked_fen
        self.outstanding_fen = outstanding_fen
        self.available_fen = available_fen


class NoRulesInForce(Conflict):
    """No rule set of the payer applies to a claim: none in force on its invoice date for its
    visit type, the person's insured status and category. The claim cannot be decided until
    the payer's office publishes rules for it; the message says which combination in words."""

    kind = "no-rules-in-force"

    def __init__(self, message: str, *, payer: str, visit_type: str, insured_status: str, category: str,
                 day: str) -> None:
        super().__init__(message)
        self.payer = payer
        self.visit_type = visit_type
        self.insured_status = insured_status
        self.category = category
        self.day = day


class DutiesSeparated(TransitionRefused):
    """A reviewer the claim's review stage bars (:data:`ledger.claims.states.DUTIES`): the one
    who rejected a claim may not decide its appeal, the first reviewer is not the final one.
    ``bar`` names the rule, ``stage`` the stage."""

    kind = "separation-of-duties"

    def __init__(self, message: str, *, state: str | None, event: str, stage: str, bar: str) -> None:
        super().__init__(message, state=state, event=event, by="reviewer")
        self.stage = stage
        self.bar = bar


class AlreadyAnchored(Conflict):
    """The batch root is already anchored; re-sending it must not anchor twice."""

    kind = "already-anchored"


class DatabaseInUse(Conflict):
    """A restore would overwrite a database that a running service uses (a worker's lease is
    live, or a process has the SQLite file open); ``ebill restore --force`` overrides."""

    kind = "database-in-use"


class VerificationError(LedgerError):
    """A proof, signature or fingerprint does not verify. The message says why."""

    kind = "verification-failed"


class InclusionProofInvalid(VerificationError):
    """The Merkle proof does not lead from the leaf to the expected root."""

    kind = "inclusion-proof-invalid"


class NotAnchored(VerificationError):
    """The batch root is not anchored on the chain asked (not yet, or never)."""

    kind = "not-anchored"


class SignatureInvalid(VerificationError):
    """A signature (e.g. a QR seal's) recovers to another account than the expected one, or none."""

    kind = "signature-invalid"


class WrongPassphrase(VerificationError):
    """The keystore passphrase does not open this store's keys."""

    kind = "wrong-passphrase"


class MirrorRejected(VerificationError):
    """The source served a batch that does not verify (forged, altered, or not anchored)."""

    kind = "mirror-rejected"


class BackupInvalid(VerificationError):
    """A file given to ``ebill restore`` that is not an ebill backup, is truncated or corrupt
    (its checksum or the database inside does not check out), or holds a schema newer than
    this code knows."""

    kind = "backup-invalid"


class Unavailable(LedgerError):
    """A service this one depends on is not there (or not configured); the request may be retried."""

    kind = "unavailable"


class StoreUnavailable(Unavailable):
    """The database could not be reached or refused the operation for a transient reason."""

    kind = "store-unavailable"


class BankUnavailable(Unavailable):
    """The bank could not be reached or did not answer; the transfer did not happen."""

    kind = "unavailable"


class GatewayUnavailable(Unavailable):
    """The message gateway could not be reached or did not answer; the message stays in the outbox and is
    sent again."""

    kind = "unavailable"


class MessageUndeliverable(LedgerError):
    """The message gateway will never deliver this message (no mobile number on record, a number that
    refuses messages): it is recorded as failed, with the gateway's words."""

    kind = "message-undeliverable"


class ClaimsUnavailable(Unavailable):
    """This service acts for no payer: it has no claims API."""

    kind = "claims-not-configured"


class PdfFontUnavailable(Unavailable):
    """No font to embed in a printable PDF is installed (or the one named is not embeddable TrueType)."""

    kind = "pdf-font-unavailable"


class SignerUnavailable(Unavailable):
    """The PKCS#11 token that holds the signing keys cannot be used: its module or token is not
    there, its PIN is missing or refused, or it has no key the store names."""

    kind = "signer-unavailable"


class KeysUnavailable(LedgerError):
    """The session was opened without the keystore passphrase: it may read the chain, not sign."""

    kind = "keys-unavailable"


class FencedOut(LedgerError):
    """A worker's write (or act) was refused: the lease it leads passed to another worker, whose
    fencing token is newer (:mod:`ledger.leadership`). Nothing of the write was stored; the worker
    stops acting and follows."""

    kind = "fenced-out"

    def __init__(self, lease: str, token: int | None, current: int | None) -> None:
        self.lease, self.token, self.current = lease, token, current
        now = f"epoch {current}" if current is not None else "no holder on record"
        super().__init__(f"lease {lease!r}: fencing token {token} is stale ({now})")


class ChainError(LedgerError):
    """The chain could not do what was asked."""

    kind = "chain-error"


class ChainUnavailable(ChainError):
    """The node did not answer (not running, wrong URL, timeout)."""

    kind = "chain-unavailable"


class StateFileUnreadable(ChainUnavailable):
    """anvil refused its state file (typically truncated by a kill during a dump)."""


class ContractReverted(ChainError):
    """A call or transaction reverted; ``error`` is the custom error's name."""

    kind = "contract-reverted"

    def __init__(self, error: str, args: Sequence[Any] = (), *, function: str = "") -> None:
        self.error = error
        self.error_args = tuple(args)
        self.function = function
        where = f" in {function}" if function else ""
        rendered = ", ".join(_render(a) for a in self.error_args)
        super().__init__(f"contract reverted{where}: {error}({rendered})")


class ChainStateMismatch(ChainError):
    """The node lacks state we recorded as written (e.g. anvil lost blocks on SIGKILL)."""

    kind = "chain-state-mismatch"


class ToolchainError(LedgerError):
    """A build or runtime tool (solc shim, node, anvil binary) is missing or failed."""

    kind = "toolchain-error"


def _render(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return repr(value)
