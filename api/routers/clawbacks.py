"""Claw-backs: what paid claims owe back, read by whoever owes or is owed, settled by the payer's office.

See docs/claims-api.md ("Claw-backs"). A hospital sees the claw-backs it owes, a citizen
those of their claims, this payer and auditors all of them; this payer's office records
recoveries, offsets made outside this ledger, and write-offs (proposed by one member,
approved by another). Offsets against a person's later payout are made by the payout itself.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.config import JsonDict

from api.bodies import JsonBodyRoute
from api.deps import PrincipalDep
from api.presenters.claims import insured_json
from api.presenters.clawbacks import clawback_json
from api.routers.claims import ClaimsDep
from api.routers.invoices import _PROBLEMS
from api.schemas import CLAIM_ID_PATTERN, VISIBLE, ClaimIdPath
from ledger.app.access import Principal
from ledger.app.claims import ClaimsService
from ledger.claims.clawbacks import NOTE_CHARS, REFERENCE_CHARS, ClawBack, ClawbackEvent, ClawbackState, Debtor, Reason
from ledger.records import Role

router = APIRouter(prefix="/v1", tags=["claw-backs"], route_class=JsonBodyRoute)

CLAWBACK_ID_PATTERN = r"^cbk_[0-9a-f]{20}$"
ClawbackIdPath = Annotated[str, Path(pattern=CLAWBACK_ID_PATTERN, description="the claw-back's id, cbk_ + 20 hex")]
#: the most a settlement may name (¥10 billion); anything above what is outstanding is refused anyway (409)
MAX_FEN = 10**12
_TIME: JsonDict = {"format": "date-time"}


def _json_integer(value: Any) -> Any:
    """A JSON number that is an integer (``502`` or ``502.0``, as JSON Schema's ``integer``), not a string or a
    boolean that Python would read as one."""
    if isinstance(value, bool | str):
        raise ValueError("an integer number of fen, not a string or a boolean")
    return value


#: money in fen, as JSON Schema's integer says it
Fen = Annotated[int, BeforeValidator(_json_integer)]


class DebtorOut(BaseModel):
    kind: Debtor = Field(description="hospital: the invoice's hospital owes it; person: the person the claim paid")
    id: str = Field(description="the hospital's institution id, or the person's pseudonym (64 hex)")


class ReasonOut(BaseModel):
    code: Reason
    words: str


class WriteOffOut(BaseModel):
    proposedBy: str
    proposedByLabel: str | None = Field(default=None, description="the label the office gave the proposer's "
                                                                   "credential")
    reason: str


class InsuredOut(BaseModel):
    """Whom the claim paid, as the payer's enrolment holds it (for this payer's office only)."""

    enrolled: bool
    name: str | None
    category: str | None
    insuredRegion: str | None
    offsiteRegistered: bool | None
    language: str | None


class ActionOut(BaseModel):
    action: ClawbackEvent
    amountFen: int = Field(ge=0)
    actor: str
    actorLabel: str | None = Field(default=None, description="the label the office gave the actor's credential")
    at: str = Field(json_schema_extra=_TIME)
    reference: str | None = Field(description="the transfer's or settlement's reference the office gave")
    payout: str | None = Field(description="the later claim whose payout keeps this back")
    note: str | None


class ClawbackOut(BaseModel):
    """A claw-back: what is owed, by whom, by when, how much is settled and how, every step."""

    id: str
    claim: str
    payer: str
    fingerprint: str
    issuer: str
    hospitalName: str
    invoiceCode: str
    invoiceNumber: str
    person: str | None = Field(description="the pseudonym of the person the claim paid; null for a hospital, "
                                        "whose claw-backs are about its invoices, not its patients")
    debtor: DebtorOut
    reason: ReasonOut
    note: str
    state: ClawbackState
    amountDueFen: int = Field(ge=1)
    recoveredFen: int = Field(ge=0)
    offsetFen: int = Field(ge=0, description="kept back from payments to the debtor (or their settlement)")
    writtenOffFen: int = Field(ge=0)
    pendingOffsetFen: int = Field(ge=0, description="being kept back from a payout not made yet")
    outstandingFen: int = Field(ge=0)
    requestedAt: str = Field(json_schema_extra=_TIME)
    requestedBy: str
    requestedByLabel: str | None = Field(default=None)
    dueWorkingDays: int = Field(ge=0)
    dueAt: str = Field(json_schema_extra=_TIME)
    overdue: bool
    writeOff: WriteOffOut | None = Field(description="a write-off proposed, waiting for a second member's approval")
    closedAt: str | None = Field(json_schema_extra=_TIME)
    actions: list[ActionOut]
    insured: InsuredOut | None = Field(default=None, description="whom the claim paid (this payer's office only)")


class SettledOut(ClawbackOut):
    replayed: bool = Field(description="true: this reference was recorded before with this amount; nothing changed")


class ClawbackList(BaseModel):
    clawbacks: list[ClawbackOut]
    next: str | None = Field(description="pass as `after` to get the next page")


class SettleIn(BaseModel):
    """Money the debtor returned, or an offset made outside this ledger (against a hospital's next
    settlement): its amount and the reference of the transfer or settlement."""

    model_config = ConfigDict(extra="forbid")

    amountFen: Fen = Field(ge=1, le=MAX_FEN, description="integer fen, at most what is outstanding (less offsets "
                                                         "pending)")
    reference: str = Field(min_length=1, max_length=REFERENCE_CHARS, pattern=VISIBLE,
                           description="the transfer's or settlement's reference: the same reference and amount "
                                       "again is a retry and changes nothing")
    note: str = Field(default="", max_length=NOTE_CHARS)


class ReasonIn(BaseModel):
    """Why, in words (the claim's audit trail keeps it)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=NOTE_CHARS, pattern=VISIBLE)


_Out = {"model": ClawbackOut}


def shown(claims: ClaimsService, principal: Principal, found: list[ClawBack]) -> list[dict[str, Any]]:
    """Claw-backs as ``principal`` sees them: the office's members by their labels, and for this payer's
    office whom each claim paid (the payer's enrolment)."""
    actors = [a.actor for cb in found for a in cb.actions] + [cb.requested_by for cb in found] + [
        cb.write_off_proposed_by for cb in found if cb.write_off_proposed_by]
    labels = claims.actor_labels(actors)
    persons = claims.enrolments_of(principal, [cb.person for cb in found])
    out = []
    for cb in found:
        doc = clawback_json(cb, calendar=claims.calendar)
        doc["requestedByLabel"] = labels.get(cb.requested_by)
        for action, a in zip(doc["actions"], cb.actions, strict=True):
            action["actorLabel"] = labels.get(a.actor)
        if doc["writeOff"] is not None:
            doc["writeOff"]["proposedByLabel"] = labels.get(doc["writeOff"]["proposedBy"])
        if persons is not None:
            doc["insured"] = insured_json(persons.get(cb.person))
        if principal.role is Role.HOSPITAL:   # a hospital owes for its invoice: who was paid is not its to know
            doc["person"] = None
        out.append(doc)
    return out


def one(claims: ClaimsService, principal: Principal, cb: ClawBack) -> dict[str, Any]:
    return shown(claims, principal, [cb])[0]


@router.get("/clawbacks", responses=_PROBLEMS, response_model=ClawbackList,
            summary="Claw-backs: a hospital's own debts, a citizen's claims', all for the payer and auditors")
def list_clawbacks(claims: ClaimsDep, principal: PrincipalDep,
                   state: Annotated[ClawbackState | None, Query()] = None,
                   hospital: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9]{1,12}$",
                                                         description="the invoice's hospital (institution id)")] = None,
                   debtor: Annotated[Literal["hospital", "person"] | None, Query(description="who owes")] = None,
                   claim: Annotated[str | None, Query(pattern=CLAIM_ID_PATTERN)] = None,
                   after: Annotated[str | None, Query(pattern=CLAWBACK_ID_PATTERN,
                                                      description="claw-back id cursor")] = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    found = claims.clawbacks(principal, state=state, hospital=hospital, debtor=debtor, claim=claim, after=after,
                             limit=limit)
    return {"clawbacks": shown(claims, principal, found),
            "next": found[-1].id if len(found) == limit else None}


@router.get("/clawbacks/{clawback_id}", responses=_PROBLEMS, response_model=ClawbackOut,
            summary="One claw-back: amount due, debtor, due date, what is settled and how, who acted")
def get_clawback(clawback_id: ClawbackIdPath, claims: ClaimsDep, principal: PrincipalDep) -> dict[str, Any]:
    return one(claims, principal, claims.clawback(principal, clawback_id))


@router.get("/claims/{claim_id}/clawback", responses=_PROBLEMS, response_model=ClawbackOut,
            summary="The claw-back a claim owes (404 if it owes none)")
def claim_clawback(claim_id: ClaimIdPath, claims: ClaimsDep, principal: PrincipalDep) -> dict[str, Any]:
    return one(claims, principal, claims.clawback_of_claim(principal, claim_id))


@router.post("/clawbacks/{clawback_id}/recover", responses=_PROBLEMS, response_model=SettledOut,
             summary="Record money the debtor paid back (payer's office)")
def recover(clawback_id: ClawbackIdPath, body: SettleIn, claims: ClaimsDep, principal: PrincipalDep) -> dict[str, Any]:
    cb, replayed = claims.recover(principal, clawback_id, amount_fen=body.amountFen, reference=body.reference,
                                  note=body.note)
    return {**one(claims, principal, cb), "replayed": replayed}


@router.post("/clawbacks/{clawback_id}/offset", responses=_PROBLEMS, response_model=SettledOut,
             summary="Record an offset made outside this ledger, e.g. against the hospital's next settlement "
                     "(payer's office)")
def offset(clawback_id: ClawbackIdPath, body: SettleIn, claims: ClaimsDep, principal: PrincipalDep) -> dict[str, Any]:
    cb, replayed = claims.record_offset(principal, clawback_id, amount_fen=body.amountFen, reference=body.reference,
                                        note=body.note)
    return {**one(claims, principal, cb), "replayed": replayed}


@router.post("/clawbacks/{clawback_id}/write-off", responses=_PROBLEMS, response_model=ClawbackOut,
             summary="Propose writing off what is outstanding; another member of the office approves it")
def propose_write_off(clawback_id: ClawbackIdPath, body: ReasonIn, claims: ClaimsDep,
                      principal: PrincipalDep) -> dict[str, Any]:
    return one(claims, principal, claims.propose_write_off(principal, clawback_id, reason=body.reason))


@router.post("/clawbacks/{clawback_id}/write-off/approve", responses=_PROBLEMS, response_model=ClawbackOut,
             summary="Approve a write-off another member proposed (409 separation-of-duties for the proposer)")
def approve_write_off(clawback_id: ClawbackIdPath, body: ReasonIn, claims: ClaimsDep,
                      principal: PrincipalDep) -> dict[str, Any]:
    return one(claims, principal, claims.approve_write_off(principal, clawback_id, reason=body.reason))


@router.post("/clawbacks/{clawback_id}/write-off/decline", responses=_PROBLEMS, response_model=ClawbackOut,
             summary="Decline a proposed write-off: the money stays owed")
def decline_write_off(clawback_id: ClawbackIdPath, body: ReasonIn, claims: ClaimsDep,
                      principal: PrincipalDep) -> dict[str, Any]:
    return one(claims, principal, claims.decline_write_off(principal, clawback_id, reason=body.reason))

