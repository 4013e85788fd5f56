"""Claims: the citizen's invoices, one-touch claims, review queue, appeals, figures.

See docs/claims-api.md. ``POST /v1/claims`` answers once every claim's on-chain
reservation is confirmed (or refused), so what the citizen sees is what the chain holds.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.bodies import JsonBodyRoute
from api.deps import PrincipalDep, get_request_id
from api.presenters.claims import claim_json, invoices_json, queued_json
from api.routers.invoices import _PROBLEMS
from api.schemas import (
    CLAIM_ID_PATTERN,
    CLAIM_STATES,
    PERSON_PATTERN,
    VISIBLE,
    ClaimIdPath,
    resident_id_field,
)
from ledger.app.access import Principal
from ledger.app.claims import SLA_WORKING_DAYS, ClaimsService, Enrolee
from ledger.claims.clawbacks import FINDINGS, REASONS
from ledger.claims.languages import Language
from ledger.claims.lines import LineReason, LineVerdict
from ledger.claims.model import Claim
from ledger.claims.states import PAID_STATES, ClaimState
from ledger.errors import ClaimsUnavailable
from ledger.rules import PersonCategory

router = APIRouter(prefix="/v1", tags=["claims"], route_class=JsonBodyRoute)


def get_claims(request: Request) -> ClaimsService:
    claims = getattr(request.app.state, "claims", None)
    if claims is None:
        raise ClaimsUnavailable("this service is not configured for claims (set EBILL_PAYER_ID)")
    return cast(ClaimsService, claims)


ClaimsDep = Annotated[ClaimsService, Depends(get_claims)]


def seen_by(claims: ClaimsService, principal: Principal, found: Sequence[Claim]) -> dict[str, Any]:
    """What the claims' JSON adds for ``principal``: whom they are for (this payer's reviewers only:
    ``insured``) and the labels of the staff who acted on them."""
    actors = [c.actor for c in found] + [r.reviewer for c in found for r in c.reviews]
    return {"enrolments": claims.enrolments(principal, found), "labels": claims.actor_labels(actors)}


def one_claim(claims: ClaimsService, principal: Principal, c: Claim) -> dict[str, Any]:
    """One claim as ``principal`` sees it."""
    return claim_json(c, calendar=claims.calendar, **seen_by(claims, principal, [c]))


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    # lower-case hex, as every answer of the API writes fingerprints: "0xAB…" and "0xab…" are one
    # invoice, and a list that names one invoice twice is refused rather than guessed at
    fingerprints: list[Annotated[str, Field(pattern=r"^0x[0-9a-f]{64}$")]] = Field(
        min_length=1, max_length=20, json_schema_extra={"uniqueItems": True},
        description="invoice fingerprints (0x + 64 lower-case hex), each at most once")
    for_: str | None = Field(default=None, alias="for", pattern=PERSON_PATTERN,
                             description="pseudonym of a person who delegated to the caller (citizens)")
    nationalId: str | None = resident_id_field("the citizen's resident ID (claims-window clerks)", default=None)


class LineIn(BaseModel):
    """A fee line the reviewer does not approve, with a coded reason (and a note, if any)."""

    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=1, le=100_000, description="the fee line's seq on the invoice")
    reason: LineReason
    note: str = Field(default="", max_length=100)


class ApproveIn(BaseModel):
    """An approval, in full or (with ``lines``) in part."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500)
    lines: list[LineIn] = Field(default_factory=list, max_length=1000,
                                description="fee lines not approved; the claim pays what the others pay")


class RequiredReasonIn(BaseModel):
    """A reason the citizen can read (a rejection, an appeal): some non-blank text."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, pattern=VISIBLE)


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nationalId: str = resident_id_field("the person's resident ID (only its pseudonym is stored)")
    name: str = Field(default="", max_length=100)
    # the service checks it, with the resident ID, so that one answer names every broken entry
    category: str = Field(json_schema_extra={"enum": [c.value for c in PersonCategory]})
    insuredRegion: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=VISIBLE, examples=["330600"],
        description="the region the person is insured in (a division code; a city's code takes in its districts); "
                    "left out: not recorded, and their care is judged as off-site")
    offsiteRegistered: bool = Field(default=False, description="registered for off-site care (备案)")
    language: Language | None = Field(default=None, description="the language of the person's messages (zh, en); "
                                                                "left out: the one recorded is kept, else zh")


class DelegationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    holderNationalId: str = resident_id_field("who may claim for the person")
    personNationalId: str = resident_id_field("the person claimed for")
    relation: Literal["spouse", "parent", "child", "guardian", "other"]


@router.get("/me/invoices", responses=_PROBLEMS,
            summary="The citizen's self-paid invoices, matched by pseudonym, with what is claimable")
def my_invoices(claims: ClaimsDep, principal: PrincipalDep,
                for_: Annotated[str | None, Query(alias="for", pattern=PERSON_PATTERN)] = None) -> dict[str, Any]:
    person, invoices = claims.my_invoices(principal, for_person=for_)
    return invoices_json(person, invoices, calendar=claims.calendar)


@router.post("/claims", status_code=201, responses=_PROBLEMS,
             summary="One touch: claim one or more invoices (answers once the chain reserved them)")
async def submit(body: ClaimIn, response: Response, claims: ClaimsDep, principal: PrincipalDep, request: Request,
                 idempotency_key: Annotated[str, Header(alias="Idempotency-Key", pattern=r"^[\x21-\x7e]{8,128}$",
                                                        description="the same on every retry of this claim")],
                 ) -> dict[str, Any]:
    # deciding and storing is blocking work (database, rules, a chain read): a worker thread does it;
    # the wait for the chain holds no thread, so hundreds of claims can wait for one block at once
    submission, stored, replay = await run_in_threadpool(
        claims.submit, principal, fingerprints=body.fingerprints, idempotency_key=idempotency_key,
        for_person=body.for_, national_id=body.nationalId, request_id=get_request_id(request))
    settings = request.app.state.settings
    stored = await claims.wait_async(stored, timeout=settings.claim_wait)
    if replay:
        response.status_code = 200
    if any(c.state in (ClaimState.SUBMITTED, ClaimState.WAITING) for c in stored):
        # stored; the chain has not confirmed yet, or earlier payers decide first (poll GET /v1/claims/{id})
        response.status_code = 202
    shown = seen_by(claims, principal, stored)
    return {"submission": submission, "replayed": replay,
            "claims": [claim_json(c, calendar=claims.calendar, **shown) for c in stored]}


@router.get("/claims", responses=_PROBLEMS, summary="Claims: the citizen's own (and delegators'); all for payers")
def list_claims(claims: ClaimsDep, principal: PrincipalDep,
                state: Annotated[Literal[CLAIM_STATES] | None, Query()] = None,  # type: ignore[valid-type]
                person: Annotated[str | None, Query(pattern=PERSON_PATTERN)] = None,
                after: Annotated[str | None, Query(pattern=CLAIM_ID_PATTERN, description="claim id cursor")] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    found = claims.claims(principal, state=state, person=person, after=after, limit=limit)
    shown = seen_by(claims, principal, found)
    return {"claims": [claim_json(c, calendar=claims.calendar, **shown) for c in found],
            "next": found[-1].id if len(found) == limit else None}


@router.get("/claims/{claim_id}", responses=_PROBLEMS, summary="One claim: state, decision line by line, stamp")
def get_claim(claim_id: ClaimIdPath, claims: ClaimsDep, principal: PrincipalDep) -> dict[str, Any]:
    return one_claim(claims, principal, claims.claim(principal, claim_id))


@router.get("/claims/{claim_id}/audit", responses=_PROBLEMS, summary="Every state change of a claim: who, when, why")
def claim_audit(claim_id: ClaimIdPath, claims: ClaimsDep, principal: PrincipalDep) -> dict[str, Any]:
    entries = claims.audit(principal, claim_id)
    labels = claims.actor_labels(e["actor"] for e in entries)
    return {"entries": [{**e, "at": e["at"].isoformat(), "actorLabel": labels.get(e["actor"])} for e in entries]}


@router.post("/claims/{claim_id}/appeal", responses=_PROBLEMS, summary="Appeal a rejection once (citizen)")
def appeal(claim_id: ClaimIdPath, body: RequiredReasonIn, claims: ClaimsDep, principal: PrincipalDep) -> dict[str, Any]:
    return one_claim(claims, principal, claims.appeal(principal, claim_id, reason=body.reason))


@router.post("/claims/{claim_id}/approve", responses=_PROBLEMS,
             summary="Approve a claim in review, in full or without some fee lines (payer reviewer; a final review "
                     "by another reviewer above the threshold)")
def approve(claim_id: ClaimIdPath, body: ApproveIn, response: Response, claims: ClaimsDep,
            principal: PrincipalDep) -> dict[str, Any]:
    c = claims.review(principal, claim_id, verdict="approve", reason=body.reason,
                      lines=[LineVerdict(li.seq, li.reason, li.note.strip()) for li in body.lines])
    if c.state is ClaimState.IN_REVIEW:
        response.status_code = 202   # maker-checker: a second reviewer must approve too
    return one_claim(claims, principal, c)


@router.post("/claims/{claim_id}/reject", responses=_PROBLEMS, summary="Reject a claim in review, with a reason")
def reject(claim_id: ClaimIdPath, body: RequiredReasonIn, claims: ClaimsDep, principal: PrincipalDep) -> dict[str, Any]:
    return one_claim(claims, principal, claims.review(principal, claim_id, verdict="reject", reason=body.reason))


@router.get("/review/queue", responses=_PROBLEMS,
            summary="Claims waiting for review, oldest first, with SLA age and why each is there; searchable")
def review_queue(claims: ClaimsDep, principal: PrincipalDep,
                 minAmountFen: Annotated[int | None, Query(ge=0, le=10**15)] = None,
                 flag: Annotated[str | None, Query(max_length=64)] = None,
                 olderThanDays: Annotated[float | None, Query(ge=0, le=36_500)] = None,
                 claim: Annotated[str | None, Query(pattern=r"^(clm_)?[0-9a-f]{20}$", description="a claim id")] = None,
                 invoice: Annotated[str | None, Query(min_length=1, max_length=66,
                                                      description="a fingerprint (64 hex, 0x optional), else a number")
                                    ] = None,
                 person: Annotated[str | None, Query(pattern=PERSON_PATTERN, description="a pseudonym")] = None,
                 hospital: Annotated[str | None, Query(min_length=1, max_length=100,
                                                       description="a hospital's code, or a part of its name")] = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
    search = claims.queue_search(claim=claim, invoice=invoice, person=person, hospital=hospital,
                                 min_amount_fen=minAmountFen, flag=flag)
    found = claims.queue(principal, search=search, older_than_days=olderThanDays, limit=limit)
    instant_max = claims.policy.instant_max_fen
    shown = seen_by(claims, principal, found)
    return {"slaWorkingDays": SLA_WORKING_DAYS,
            "claims": [queued_json(c, calendar=claims.calendar, instant_max_fen=instant_max, **shown) for c in found]}


class ClearedIn(BaseModel):
    """The post-payment audit found nothing wrong: what was checked, in words (the audit trail keeps it)."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["cleared"]
    reason: str = Field(min_length=1, max_length=500, pattern=VISIBLE)


class FindingIn(BaseModel):
    """The post-payment audit found the claim wrong: its money is asked back from whoever ``code`` says
    owes it, with what was found in words (the citizen reads it)."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["finding"]
    code: Literal[tuple(r.value for r in FINDINGS)] = Field(  # type: ignore[valid-type]
        description="what was found, and so who owes the money back:\n" + "\n".join(
            f"- `{r.value}` (the {REASONS[r].debtor.value} owes): {REASONS[r].words}" for r in FINDINGS))
    reason: str = Field(min_length=1, max_length=500, pattern=VISIBLE)


PostAuditIn = Annotated[ClearedIn | FindingIn, Field(discriminator="outcome")]


@router.get("/review/post-payment", responses=_PROBLEMS,
            summary="Paid claims drawn for a post-payment audit, not audited yet, oldest first")
def post_payment_queue(claims: ClaimsDep, principal: PrincipalDep,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
    found = claims.post_payment_queue(principal, limit=limit)
    shown = seen_by(claims, principal, found)
    return {"shareBp": claims.policy.post_audit_share_bp,
            "claims": [claim_json(c, calendar=claims.calendar, **shown) for c in found]}


@router.post("/claims/{claim_id}/post-audit", responses=_PROBLEMS,
             summary="Audit a drawn, paid claim after the payout: cleared, or a finding that opens a claw-back owed "
                     "as its code says")
def post_audit(claim_id: ClaimIdPath, body: PostAuditIn, claims: ClaimsDep, principal: PrincipalDep) -> dict[str, Any]:
    code = body.code if isinstance(body, FindingIn) else None
    c = claims.post_audit(principal, claim_id, finding=body.outcome == "finding", reason=body.reason, code=code)
    return one_claim(claims, principal, c)


@router.post("/persons", status_code=201, responses=_PROBLEMS, summary="Enrol insured persons (admin, payer)")
def enrol(body: Annotated[list[PersonIn], Field(min_length=1, max_length=20_000)], claims: ClaimsDep,
          principal: PrincipalDep) -> dict[str, Any]:
    n = claims.enrol([Enrolee(p.nationalId, p.name, p.category, p.insuredRegion, p.offsiteRegistered,
                              p.language.value if p.language else None) for p in body], by=principal)
    return {"enrolled": n}


@router.post("/delegations", status_code=201, responses=_PROBLEMS,
             summary="Record that one person may claim for another (admin, payer)")
def delegate(body: DelegationIn, claims: ClaimsDep, principal: PrincipalDep) -> dict[str, Any]:
    claims.delegate(holder_id=body.holderNationalId, person_id=body.personNationalId, relation=body.relation,
                    by=principal)
    return {"relation": body.relation}


@router.get("/stats/claims", responses=_PROBLEMS, summary="Dashboard figures (payer, auditor)")
def stats(claims: ClaimsDep, principal: PrincipalDep, request: Request) -> dict[str, Any]:
    request.app.state.event_counts.flush()  # this process's counts now; other workers' within a second
    return claims_stats(claims, principal)


def _lag(seconds: list[float]) -> dict[str, Any]:
    """p50 / p99 / max of sorted anchoring lags (upload acknowledged → batch anchored)."""
    if not seconds:
        return {"batches": 0, "p50Seconds": None, "p99Seconds": None, "maxSeconds": None}
    def q(p: float) -> float:
        return round(seconds[min(len(seconds) - 1, int(p * len(seconds)))], 2)
    return {"batches": len(seconds), "p50Seconds": q(0.5), "p99Seconds": q(0.99), "maxSeconds": round(seconds[-1], 2)}


def claims_stats(claims: ClaimsService, principal: Principal) -> dict[str, Any]:
    raw = claims.stats(principal)
    days: dict[str, dict[str, Any]] = defaultdict(lambda: {"byState": {}, "requestedFen": 0, "paidFen": 0})
    for row in raw["perDay"]:
        d = days[row["day"]]
        d["byState"][row["state"]] = row["claims"]
        d["requestedFen"] += int(row["requestedFen"] or 0)
        if row["state"] in PAID_STATES:
            d["paidFen"] += int(row["amountFen"] or 0)
    rules: Counter[str] = Counter()
    rule_fen: Counter[str] = Counter()
    for dec in raw["decisions"]:
        for line in dec.get("lines", []):
            for r in line.get("reasons", []):
                rules[r["rule"]] += 1
                rule_fen[r["rule"]] += int(r.get("selfPaidFen", 0))
        for f in dec.get("flags", []):
            rules["flag:" + f["rule"]] += 1
    buckets: Counter[str] = Counter()
    for created, paid in raw["paid"]:
        wd = claims.calendar.elapsed(created, paid)
        buckets["instant (< 1 min)" if (paid - created).total_seconds() < 60 else
                "≤ 1 working day" if wd <= 1 else "≤ 5 working days" if wd <= SLA_WORKING_DAYS
                else "> 5 working days"] += 1
    return {
        "generatedAt": datetime.now(UTC).isoformat(),
        "perDay": [{"day": k, **v} for k, v in sorted(days.items())],
        "topRules": [{"rule": r, "lines": n, "selfPaidFen": rule_fen[r]} for r, n in rules.most_common(10)],
        "payoutTimes": {"targetWorkingDays": SLA_WORKING_DAYS,
                        "buckets": [{"bucket": b, "claims": buckets[b]} for b in
                                    ("instant (< 1 min)", "≤ 1 working day", "≤ 5 working days", "> 5 working days")]},
        "refusals": raw["refusals"],
        "blocked": {"refusedClaims": sum(r["claims"] for r in raw["refusals"]),
                    "voidsOnChain": raw["voidsOnChain"], "clawbacks": raw["clawbacks"],
                    "duplicateClaims": raw["blocked"].get("claim.blocked:duplicate", 0),
                    "claimsOnVoidedInvoices": raw["blocked"].get("claim.blocked:voided", 0),
                    "totalMismatches": raw["blocked"].get("claim.blocked:total-mismatch", 0),
                    "forgedCodes": sum(n for k, n in raw["blocked"].items() if k.startswith("verify.refused:")),
                    "forgedByVerdict": {k.split(":", 1)[1]: n for k, n in raw["blocked"].items()
                                        if k.startswith("verify.refused:")}},
        "anchoringLag": _lag(raw["anchoringLagSeconds"]),
    }
