"""Request and response bodies as the OpenAPI document shows them (camelCase, money in fen)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from ledger.claims.states import ClaimState
from ledger.records import InvoiceDetail, StampRecord, StoredInvoice, VoidRecord
from ledger.voids import MAX_NOTE_CHARS, VoidReason, VoidRequest


def _hex(b: bytes | None) -> str | None:
    return None if b is None else "0x" + bytes(b).hex()


#: a 32-byte hash as the API writes it (fingerprints, batch roots)
HASH32_PATTERN = r"^0[xX][0-9a-fA-F]{64}$"
#: a person's pseudonym (64 hex digits, 0x optional)
PERSON_PATTERN = r"^(0[xX])?[0-9a-fA-F]{64}$"
CLAIM_ID_PATTERN = r"^clm_[0-9a-f]{20}$"
#: the states a claim can be in (ledger.claims.states), as the API writes them
CLAIM_STATES = tuple(state.value for state in ClaimState)

FingerprintPath = Annotated[str, Path(pattern=HASH32_PATTERN, description="the invoice's fingerprint: 0x + 64 hex")]
RootPath = Annotated[str, Path(pattern=HASH32_PATTERN, description="the batch's Merkle root: 0x + 64 hex")]
ClaimIdPath = Annotated[str, Path(pattern=CLAIM_ID_PATTERN, description="the claim's id, clm_ + 20 hex")]


def resident_id_field(description: str, **default: Any) -> Any:
    """A resident ID in a request body: ``format: resident-id`` (GB 11643: region, birth date,
    sequence, ISO 7064 MOD 11-2 check character). The service checks it and names the broken
    part (``ledger.identity.national_id_problem``); ``default=None`` makes it optional."""
    return Field(max_length=40, description=description + " (GB 11643 resident ID: 17 digits and a check "
                 "character, digit or X)", json_schema_extra={"format": "resident-id", "examples": [
                     "33010219900101123X"]}, **default)


class Problem(BaseModel):
    """RFC 9457 problem details; ``errors`` names every broken rule."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, str]] | None = None


# ---------------------------------------------------------------- uploads (documentation of the format)


class FeeLineUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seq: int = Field(ge=1)
    itemCode: str = Field(description="national catalogue code, 20-40 characters", examples=["XJ01CAA040A001010104465"])
    itemName: str
    category: Literal["A", "B", "C"]
    quantity: str = Field(description="decimal string, up to 3 decimals", examples=["2", "0.5"])
    unit: str
    unitPriceFen: int = Field(ge=0)
    amountFen: int = Field(ge=0, description="round-half-up(unitPriceFen * quantity)")
    serviceDate: str = Field(examples=["2024-03-05"])


class InvoiceUpload(BaseModel):
    """One e-invoice as a hospital uploads it (see docs/upload-formats.md for CSV, NDJSON, FHIR)."""

    model_config = ConfigDict(extra="forbid")
    schemaVersion: Literal[1] = 1
    issuer: str = Field(examples=["H33010200001"], description="the uploading hospital's institution code")
    invoiceCode: str = Field(examples=["33060124"])
    invoiceNumber: str = Field(examples=["0001234567"])
    checkCode: str = Field(examples=["a1B2c3"])
    issuedAt: str = Field(examples=["2024-03-05T10:21:33+08:00"])
    visitType: Literal["outpatient", "inpatient", "emergency", "pharmacy"]
    patientId: str = Field(description="18-character resident ID; replaced by its pseudonym, never stored")
    totalFen: int = Field(ge=0)
    fundPaidFen: int = Field(ge=0)
    accountPaidFen: int = Field(ge=0)
    cashPaidFen: int = Field(ge=0)
    feeLines: list[FeeLineUpload]


# ---------------------------------------------------------------- responses


class AnchorOut(BaseModel):
    batchRoot: str
    transaction: str | None
    block: int | None
    anchoredAt: datetime | None


class InvoiceSummary(BaseModel):
    fingerprint: str
    issuer: str
    invoiceCode: str
    invoiceNumber: str
    totalFen: int
    state: Literal["stored", "anchored", "voided"]
    qr: str
    receivedAt: datetime = Field(description="when the upload was acknowledged")
    batchRoot: str | None
    transaction: str | None
    block: int | None
    issuedAt: str | None = Field(default=None, description="the issue time as uploaded (ISO 8601 with offset)")
    anchoredAt: datetime | None = Field(default=None, description="when its batch was anchored on chain (the "
                                                                  "anchoring lag is this minus receivedAt)")
    voidState: Literal["pending", "voided", "failed"] | None = Field(
        default=None, description="a void requested (pending), stamped on chain (voided), or refused by the chain")

    @classmethod
    def of(cls, inv: StoredInvoice) -> InvoiceSummary:
        return cls(fingerprint=_hex(inv.fingerprint) or "", issuer=inv.issuer, invoiceCode=inv.invoice_code,
                   invoiceNumber=inv.invoice_number, totalFen=inv.total_fen, state=inv.state.value, qr=inv.qr,
                   receivedAt=inv.received_at, batchRoot=_hex(inv.batch_root), transaction=inv.anchored_tx,
                   block=inv.anchored_block, issuedAt=inv.issued_at, anchoredAt=inv.anchored_at,
                   voidState=inv.void_state)  # type: ignore[arg-type]


class ItemOut(BaseModel):
    index: int
    ref: str
    status: Literal["created", "duplicate", "conflict", "rejected"]
    invoice: InvoiceSummary | None = None
    problems: list[dict[str, str]] = Field(default=[], description="at most 100, and fewer once the report has "
                                                                  "listed 10,000")
    problemCount: int = Field(default=0, description="every problem found, listed or not")
    problemsTruncated: bool = False


class UploadOut(BaseModel):
    counts: dict[str, int]
    problemCount: int = Field(default=0, description="problems of all items, listed or not")
    problemsTruncated: bool = Field(default=False, description="true when some problems are not listed")
    items: list[ItemOut]


class StampOut(BaseModel):
    payerId: str
    claimId: str
    amountFen: int
    status: str
    block: int
    transaction: str

    @classmethod
    def of(cls, s: StampRecord) -> StampOut:
        return cls(payerId=s.payer_id, claimId=_hex(s.claim_id) or "", amountFen=s.amount_fen, status=s.status,
                   block=s.block_number, transaction=s.tx_hash)


class VoidOut(BaseModel):
    fingerprint: str
    reasonCode: VoidReason = Field(description="the reason code stamped on chain")
    reason: str | None = Field(description="the hospital's note (null when none): kept in its database, never on "
                                           "chain")
    requestedAt: datetime
    state: Literal["pending", "voided", "failed"]
    transaction: str | None
    block: int | None
    error: str | None
    clawback: dict[str, int] | None

    @classmethod
    def of(cls, v: VoidRecord) -> VoidOut:
        claw = None
        if v.clawback_paid_fen is not None or v.clawback_reserved_fen is not None:
            claw = {"paidFen": v.clawback_paid_fen or 0, "reservedFen": v.clawback_reserved_fen or 0}
        return cls(fingerprint=_hex(v.fingerprint) or "", reasonCode=v.reason_code, reason=v.note or None,
                   requestedAt=v.requested_at, state=v.state,  # type: ignore[arg-type]
                   transaction=v.voided_tx, block=v.voided_block, error=v.last_error, clawback=claw)


class InvoiceOut(InvoiceSummary):
    checkCode: str
    issuedAt: str
    visitType: str
    patientPseudonym: str
    fundPaidFen: int
    accountPaidFen: int
    cashPaidFen: int
    feeLineCount: int
    feeLinesRoot: str
    anchoredAt: datetime | None
    inclusionProof: dict[str, Any] | None
    void: VoidOut | None
    reimbursement: dict[str, Any]
    chain: dict[str, Any]

    @classmethod
    def of_detail(cls, d: InvoiceDetail, *, proof: dict[str, Any] | None, chain: dict[str, Any]) -> InvoiceOut:
        base = InvoiceSummary.of(d.invoice).model_dump(exclude={"issuedAt", "anchoredAt"})
        active = [s for s in d.stamps if s.status != "released"]
        return cls(
            **base, checkCode=d.check_code, issuedAt=d.issued_at, visitType=d.visit_type,
            patientPseudonym=_hex(d.patient) or "", fundPaidFen=d.fund_paid_fen, accountPaidFen=d.account_paid_fen,
            cashPaidFen=d.cash_paid_fen, feeLineCount=d.fee_line_count, feeLinesRoot=_hex(d.fee_lines_root) or "",
            anchoredAt=d.invoice.anchored_at, inclusionProof=proof,
            void=VoidOut.of(d.void) if d.void else None,
            reimbursement={
                "reservedFen": sum(s.amount_fen for s in active if s.status == "reserved"),
                "paidFen": sum(s.amount_fen for s in active if s.status == "finalized"),
                "stamps": [StampOut.of(s).model_dump() for s in d.stamps],
            },
            chain=chain,
        )


class InvoiceList(BaseModel):
    items: list[InvoiceSummary]
    next: str | None = Field(description="pass as `after` to get the next page")


class VoidIn(BaseModel):
    """A red-letter reversal: a reason code for the chain, and optionally the hospital's own words.

    ``{"reason": "<text>"}`` alone (the body before reason codes) is still accepted: a text
    that is exactly a code is that code, any other text is the note under ``other``.
    """

    # a code, or (the first form of the API) a non-blank text alone
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": ["reasonCode"], "properties": {"reasonCode": {"type": "string"}}},
        {"required": ["reason"], "properties": {"reason": {"type": "string", "pattern": r"\S"}}}]})
    reasonCode: VoidReason | None = Field(
        default=None, examples=["refund"],
        description="the reason stamped on chain:\n" + "\n".join(f"- `{r.value}`: {r.meaning}" for r in VoidReason))
    reason: str | None = Field(default=None, max_length=MAX_NOTE_CHARS, examples=["退费：患者取消检查"],
                               description=f"the hospital's note, up to {MAX_NOTE_CHARS} characters; kept in its "
                                           "database, never on chain")

    def request(self) -> VoidRequest:
        """The domain's request (raises :class:`~ledger.errors.InvalidInput` naming the field)."""
        if self.reasonCode is None and self.reason is not None:
            return VoidRequest.legacy(self.reason)
        return VoidRequest.parse(code=self.reasonCode.value if self.reasonCode else None, note=self.reason)


#: some character Python's ``str.strip`` keeps: JSON Schema's ``\S`` (ECMA-262) counts the
#: separators U+001C-U+001F and U+0085 as visible, ``strip`` removes them, and the service
#: refuses a field that strips to nothing
VISIBLE = r"[^\s\x1c-\x1f\x85]"


class HospitalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    institutionId: str = Field(pattern=r"^H[0-9]{11}$", examples=["H33010200001"])
    name: str = Field(min_length=1, max_length=200, pattern=VISIBLE)
    region: str = Field(min_length=1, max_length=64, pattern=VISIBLE, examples=["330100"])


class HospitalOut(BaseModel):
    institutionId: str
    name: str
    region: str
    account: str
    registeredBlock: int | None
    apiToken: str | None = Field(default=None, description="shown once, at creation")


class CredentialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["hospital", "payer", "auditor", "admin", "clerk", "monitor"]
    subject: str = Field(pattern=r"^[\x20-\x7e]{1,32}$",
                         description="institution id (hospital, clerk), payer id, or a name (printable ASCII)")
    label: str = Field(default="", max_length=200)


class CredentialOut(BaseModel):
    role: str
    subject: str
    apiToken: str = Field(description="shown once")


# ------------------------------------------------------------------ hospitals' signing keys

RevocationReasonIn = Literal["compromised", "superseded", "lost"]


class KeyRotationIn(BaseModel):
    """A rotation: optionally, revoke the key it replaces once the new one is bound (say why)."""

    model_config = ConfigDict(extra="forbid")
    revokeOld: RevocationReasonIn | None = Field(
        default=None, description="revoke the replaced key, for this reason, as soon as the new one is bound")


class KeyRevocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: RevocationReasonIn


class KeyRevocationOut(BaseModel):
    reason: RevocationReasonIn
    requestedAt: str | None
    revokedAt: str | None = Field(description="the block time the chain revoked it (seals dated later are refused)")
    block: int | None


class HospitalKeyOut(BaseModel):
    institutionId: str
    account: str
    state: Literal["pending", "current", "retired", "revoking", "revoked"]
    meaning: str
    createdAt: str
    addedAt: str | None = Field(description="the block time the chain bound it to the hospital")
    retiredAt: str | None
    revokePrevious: RevocationReasonIn | None
    revocation: KeyRevocationOut | None


class HospitalKeysOut(BaseModel):
    institutionId: str
    keys: list[HospitalKeyOut]


class KeyChangeOut(BaseModel):
    key: HospitalKeyOut
    created: bool = Field(description="false: the same change was asked before (nothing new happened)")
    next: str = Field(description="what happens next, in words")
