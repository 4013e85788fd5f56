"""``/v1/hospitals`` and ``/v1/credentials``: members and API access (admin), and "who am I"."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.bodies import JsonBodyRoute
from api.deps import PrincipalDep, ServiceDep
from api.presenters.claims import citizen_json
from api.routers.invoices import _PROBLEMS
from api.schemas import CredentialIn, CredentialOut, HospitalIn, HospitalOut
from ledger.app.actors import actor_labels
from ledger.records import Role

router = APIRouter(prefix="/v1", tags=["members"], route_class=JsonBodyRoute)


@router.post("/hospitals", status_code=201, response_model=HospitalOut, responses=_PROBLEMS,
             summary="Register a hospital: signing key (sealed at rest) and its first API token (admin)")
def register_hospital(body: HospitalIn, service: ServiceDep, principal: PrincipalDep) -> HospitalOut:
    record, token = service.register_hospital(institution_id=body.institutionId, name=body.name,
                                              region=body.region, by=principal)
    return HospitalOut(institutionId=record.institution_id, name=record.name, region=record.region,
                       account=record.account, registeredBlock=record.registered_block, apiToken=token)


class RegisteredHospital(BaseModel):
    institutionId: str
    name: str
    region: str
    registeredBlock: int | None = Field(description="the block of its registration on chain (null: not yet)")


class HospitalList(BaseModel):
    hospitals: list[RegisteredHospital]


@router.get("/hospitals", response_model=HospitalList, responses=_PROBLEMS,
            summary="The registered hospitals: their names and regions (staff of every member)")
def list_hospitals(service: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"hospitals": [{"institutionId": h.institution_id, "name": h.name, "region": h.region,
                           "registeredBlock": h.registered_block} for h in service.hospitals(principal)]}


@router.post("/credentials", status_code=201, response_model=CredentialOut, responses=_PROBLEMS,
             summary="Create an API token for a hospital, payer, auditor or admin (admin)")
def create_credential(body: CredentialIn, service: ServiceDep, principal: PrincipalDep) -> CredentialOut:
    token = service.create_credential(role=Role(body.role), subject=body.subject, label=body.label, by=principal)
    return CredentialOut(role=body.role, subject=body.subject, apiToken=token)


@router.get("/me", responses=_PROBLEMS, summary="Who the presented credential belongs to")
def me(service: ServiceDep, principal: PrincipalDep, request: Request) -> dict[str, Any]:
    if principal.role is Role.CITIZEN:
        claims = request.app.state.claims
        return citizen_json(claims.me(principal), payer_id=claims.payer_id)
    doc: dict[str, Any] = {"role": principal.role.value, "subject": principal.subject, "keyId": principal.key_id,
                           "label": actor_labels(service.store, [principal.actor]).get(principal.actor)}
    if principal.role is Role.HOSPITAL:
        h = service.store.hospital(principal.subject)
        doc["hospital"] = {"institutionId": h.institution_id, "name": h.name, "region": h.region,
                           "account": h.account, "registeredBlock": h.registered_block}
    return doc


@router.get("/audit", responses=_PROBLEMS, summary="The audit trail: who did what, when (auditor, admin)")
def audit_trail(service: ServiceDep, principal: PrincipalDep,
                subject: Annotated[str | None, Query(min_length=1, max_length=80)] = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    entries = service.audit_trail(principal, subject=subject, limit=limit)
    labels = actor_labels(service.store, (e["actor"] for e in entries))
    return {"entries": [{**e, "at": e["at"].isoformat(), "actorLabel": labels.get(e["actor"])} for e in entries]}
