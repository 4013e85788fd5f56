"""``/v1/rules``: the payer's rule sets, administered (the HTTP face of ``ebill rules``).

One admin imports versions (``POST /v1/rules``: proposed), another approves them
(``POST /v1/rules/approve``: active); ``POST /v1/rules/retire`` takes versions out of
service. Every change is re-checked against the whole active set (nothing in force twice,
no gap) and audited; every API worker judges by an approved version within a second.
The format of a document: ``docs/rule-set.schema.json``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field, WithJsonSchema

from api.bodies import JsonBodyRoute
from api.deps import PrincipalDep, ServiceDep
from api.routers.invoices import _PROBLEMS
from ledger.app.actors import actor_labels
from ledger.app.rule_office import RuleOffice
from ledger.errors import ClaimsUnavailable, InvalidInput
from ledger.rules.administration import (
    ID_PATTERN,
    REF_PATTERN,
    RuleSetEntry,
    RuleSetState,
    describe,
    json_schema,
    parse_ref,
)
from ledger.rules.administration import in_force_until as until

router = APIRouter(prefix="/v1", tags=["rules"], route_class=JsonBodyRoute)

#: a version named as id@version
REF = REF_PATTERN
#: how many documents one request may import or validate
MAX_DOCUMENTS = 50


def get_office(request: Request) -> RuleOffice:
    office = getattr(request.app.state, "rules", None)
    if office is None:
        raise ClaimsUnavailable("this service is not configured for claims, so it has no rule sets "
                                "(set EBILL_PAYER_ID)")
    return cast(RuleOffice, office)


OfficeDep = Annotated[RuleOffice, Depends(get_office)]
#: one rule-set document, as the published JSON Schema describes it (the loader checks it again, strictly)
RuleSetDocument = Annotated[dict[str, Any], WithJsonSchema(json_schema(inline=True))]
Documents = Annotated[list[RuleSetDocument], Field(min_length=1, max_length=MAX_DOCUMENTS)]


class VersionsIn(BaseModel):
    """Versions to approve or retire, each as ``id@version``."""

    ruleSets: list[Annotated[str, Field(max_length=80, pattern=REF)]] = Field(
        min_length=1, max_length=MAX_DOCUMENTS)


def entry_json(e: RuleSetEntry, *, in_force_until: date | None = None,
               labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A version as the API shows it; ``inForceUntil``: the first day an active version no longer
    judges (its ``effectiveTo``, or where a later version of it starts); ``labels``: the admins'
    credential labels (``importedByLabel`` …)."""
    labels = labels or {}
    def at(t: Any) -> str | None:
        return t.isoformat() if t is not None else None

    end = in_force_until or e.effective_to

    return {"id": e.id, "version": e.version, "ref": e.ref, "payer": e.payer, "scheme": e.scheme,
            "effectiveFrom": e.effective_from.isoformat(),
            "effectiveTo": e.effective_to.isoformat() if e.effective_to else None,
            "inForceUntil": at(end) if e.state is RuleSetState.ACTIVE else None,
            "state": e.state.value, "digest": e.digest, "source": e.source,
            "importedBy": e.imported_by, "importedAt": at(e.imported_at),
            "approvedBy": e.approved_by, "approvedAt": at(e.approved_at),
            "retiredBy": e.retired_by, "retiredAt": at(e.retired_at),
            "importedByLabel": labels.get(e.imported_by), "approvedByLabel": labels.get(e.approved_by or ""),
            "retiredByLabel": labels.get(e.retired_by or "")}


def _labels(service: Any, entries: list[RuleSetEntry]) -> dict[str, str]:
    return actor_labels(service.store, [a for e in entries for a in (e.imported_by, e.approved_by, e.retired_by) if a])


def _documents(body: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(f"ruleSets[{i}]", doc) for i, doc in enumerate(body)]


def _refs(body: VersionsIn) -> list[tuple[str, int]]:
    refs, problems = [], []
    for i, text in enumerate(body.ruleSets):
        try:
            refs.append(parse_ref(text))
        except InvalidInput:
            problems.append(InvalidInput.single(f"ruleSets[{i}]", "ref",
                                                f"name a version as id@version, got {text!r}").problems[0])
    if problems:
        raise InvalidInput(problems)
    return refs


@router.get("/rules", responses=_PROBLEMS, summary="The rule-set versions, their states and who acted")
def list_rules(office: OfficeDep, principal: PrincipalDep, service: ServiceDep,
               state: Annotated[RuleSetState | None, Query(description="only versions in this state")] = None,
               ) -> dict[str, Any]:
    entries = office.entries(principal, states=[state] if state else None)
    ends = until(office.entries(principal, states=[RuleSetState.ACTIVE]))
    labels = _labels(service, entries)
    return {"payer": office.payer_id,
            "ruleSets": [entry_json(e, in_force_until=ends.get((e.id, e.version)), labels=labels) for e in entries]}


@router.get("/rules/diff", responses=_PROBLEMS, summary="What changed between two versions, by JSON path")
def diff_rules(office: OfficeDep, principal: PrincipalDep,
               from_: Annotated[str, Query(alias="from", max_length=80, pattern=REF, description="id@version")],
               to: Annotated[str, Query(max_length=80, pattern=REF, description="id@version")]) -> dict[str, Any]:
    diffs = office.diff(principal, parse_ref(from_), parse_ref(to))
    return {"from": from_, "to": to,
            "differences": [{"path": d.path, "before": d.before, "after": d.after} for d in diffs],
            "summary": describe(diffs)}


@router.get("/rules/{rule_id}/{version}", responses=_PROBLEMS,
            summary="One version: its document exactly as imported, its state and who acted")
def show_rule(rule_id: Annotated[str, Path(pattern=ID_PATTERN)],
              version: Annotated[int, Path(ge=1, le=1_000_000)], office: OfficeDep,
              principal: PrincipalDep, service: ServiceDep) -> dict[str, Any]:
    entry, doc = office.show(principal, rule_id, version)
    return {**entry_json(entry, labels=_labels(service, [entry])), "document": doc}


@router.post("/rules/validate", responses=_PROBLEMS,
             summary="Check documents strictly, with the active versions, as if activated together; stores nothing")
def validate_rules(body: Documents, office: OfficeDep, principal: PrincipalDep) -> dict[str, Any]:
    sets = office.validate(principal, _documents(body))
    return {"valid": True, "ruleSets": [{"id": r.id, "version": r.version, "payer": r.payer, "scheme": r.scheme,
                                         "effectiveFrom": r.effective_from.isoformat()} for r in sets]}


@router.post("/rules", status_code=201, responses=_PROBLEMS,
             summary="Import rule-set versions: proposed until a second admin approves them (admin)")
def import_rules(body: Documents, office: OfficeDep, principal: PrincipalDep) -> dict[str, Any]:
    entries = office.import_(principal, _documents(body))
    return {"ruleSets": [entry_json(e) for e in entries]}


@router.post("/rules/approve", responses=_PROBLEMS,
             summary="Activate proposed versions; not by the admin who imported them (admin)")
def approve_rules(body: VersionsIn, office: OfficeDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"ruleSets": [entry_json(e) for e in office.approve(principal, _refs(body))]}


@router.post("/rules/retire", responses=_PROBLEMS,
             summary="Retire active versions (withdraw proposed ones) if no gap is left (admin)")
def retire_rules(body: VersionsIn, office: OfficeDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"ruleSets": [entry_json(e) for e in office.retire(principal, _refs(body))]}
