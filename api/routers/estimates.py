"""``POST /v1/me/estimate``: what claiming a set of invoices would pay, as the claim will decide it.

A citizen picks several invoices; one tap files them in the order listed and the deductible
is used once across them (``ledger/claims/estimate.py``). This route decides the same set by
the same code, in the same order, and stores nothing. See docs/claims-api.md ("Estimate").
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.bodies import JsonBodyRoute
from api.deps import PrincipalDep
from api.routers.claims import ClaimsDep
from api.routers.invoices import _PROBLEMS
from api.schemas import PERSON_PATTERN
from ledger.claims.estimate import Estimate, Outcome, outcome_of, totals

router = APIRouter(prefix="/v1", tags=["claims"], route_class=JsonBodyRoute)


class EstimateIn(BaseModel):
    """The invoices one tap would claim, in the order it would claim them."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    fingerprints: list[Annotated[str, Field(pattern=r"^0x[0-9a-f]{64}$")]] = Field(
        min_length=1, max_length=20, json_schema_extra={"uniqueItems": True},
        description="invoice fingerprints (0x + 64 lower-case hex), each at most once, in the order of the tap")
    for_: str | None = Field(default=None, alias="for", pattern=PERSON_PATTERN,
                             description="pseudonym of a person who delegated to the caller")


class InvoiceEstimate(BaseModel):
    fingerprint: str
    outcome: Outcome = Field(description="what becomes of its claim in this tap: paid at once, a reviewer decides, "
                                         "the rules pay nothing, nothing is left on the invoice, or it waits for an "
                                         "earlier payer")
    amountFen: int = Field(ge=0, description="what its claim pays, claimed with the invoices before it in the list")
    aloneFen: int = Field(ge=0, description="what it would pay claimed alone")
    aloneOutcome: Outcome
    dependsOnOthers: bool = Field(description="the invoices before it change what it pays, or how")
    requestedFen: int = Field(ge=0, description="what the patient paid themselves")
    deductibleUsedFen: int = Field(ge=0, description="the part of the year's deductible this invoice uses, in this tap")
    flags: list[str] = Field(description="review flags the rules raised (each sends the claim to a reviewer)")
    refusal: str | None = Field(description="why nothing is paid although the rules pay something")


class EstimateTotals(BaseModel):
    amountFen: int = Field(ge=0, description="the whole tap")
    atOnceFen: int = Field(ge=0, description="paid at once")
    reviewFen: int = Field(ge=0, description="paid once a reviewer approves")


class EstimateOut(BaseModel):
    """The set as the tap would decide it; nothing was stored or reserved."""

    person: str
    invoices: list[InvoiceEstimate]
    totals: EstimateTotals
    instantMaxFen: int = Field(ge=0, description="claims up to this amount with no flag are paid at once")


def _invoice(e: Estimate) -> InvoiceEstimate:
    t = e.together
    return InvoiceEstimate(fingerprint="0x" + t.fingerprint.hex(), outcome=e.outcome, amountFen=t.amount_fen,
                           aloneFen=e.alone.amount_fen, aloneOutcome=outcome_of(e.alone),
                           dependsOnOthers=e.depends_on_others, requestedFen=t.requested_fen,
                           deductibleUsedFen=t.deductible_used_fen, flags=list(t.flags), refusal=t.refusal)


@router.post("/me/estimate", response_model=EstimateOut, responses=_PROBLEMS,
             summary="What claiming these invoices would pay, decided in order as one tap decides them "
                     "(citizens; nothing is stored)")
async def estimate(body: EstimateIn, claims: ClaimsDep, principal: PrincipalDep) -> EstimateOut:
    # the rules, the store and a chain read are blocking work: a worker thread does it
    person, found = await run_in_threadpool(claims.estimate, principal, fingerprints=body.fingerprints,
                                            for_person=body.for_)
    sums = totals(found)
    return EstimateOut(person=person.hex(), invoices=[_invoice(e) for e in found],
                       totals=EstimateTotals(amountFen=sum(sums.values()), atOnceFen=sums[Outcome.AT_ONCE],
                                             reviewFen=sums[Outcome.REVIEW]),
                       instantMaxFen=claims.policy.instant_max_fen)
