"""``/v1/hospitals/{institutionId}/keys``: a hospital's signing keys, rotated and revoked (admin).

A change is recorded here and put on chain by the running service's chain worker (the
governance key binds and revokes keys): the answer is 202 with the key as it stands, and
``GET`` shows it move on (pending → current; revoking → revoked) within a tick.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Request, Response

from api.bodies import JsonBodyRoute
from api.deps import PrincipalDep
from api.presenters.keys import key_json
from api.routers.invoices import _PROBLEMS
from api.schemas import HospitalKeysOut, KeyChangeOut, KeyRevocationIn, KeyRotationIn
from ledger.app.key_office import KeyOffice
from ledger.hospital_keys import KeyState, RevocationReason

router = APIRouter(prefix="/v1/hospitals", tags=["members"], route_class=JsonBodyRoute)

InstitutionPath = Annotated[str, Path(pattern=r"^H[0-9]{11}$", examples=["H33010200001"])]
AccountPath = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{40}$")]


def _office(request: Request) -> KeyOffice:
    return KeyOffice(request.app.state.service)


@router.get("/{institution_id}/keys", response_model=HospitalKeysOut, responses=_PROBLEMS,
            summary="A hospital's signing keys: current, pending, retired and revoked, with their chain times")
def list_keys(institution_id: InstitutionPath, principal: PrincipalDep, request: Request) -> HospitalKeysOut:
    keys = _office(request).keys(principal, institution_id)
    return HospitalKeysOut.model_validate({"institutionId": institution_id, "keys": [key_json(k) for k in keys]})


@router.post("/{institution_id}/keys", status_code=202, response_model=KeyChangeOut,
             responses={**_PROBLEMS, 200: {"model": KeyChangeOut, "description": "a rotation was under way already"},
                        202: {"model": KeyChangeOut, "description": "the new key is made; the chain binds it next"}},
             summary="Rotate a hospital's signing key (admin): a new key, bound on chain by the governance")
def rotate(institution_id: InstitutionPath, principal: PrincipalDep, request: Request, response: Response,
           body: Annotated[KeyRotationIn | None, Body()] = None) -> KeyChangeOut:
    reason = RevocationReason(body.revokeOld) if body is not None and body.revokeOld else None
    key, created = _office(request).rotate(principal, institution_id, revoke_previous=reason)
    if not created:
        response.status_code = 200
    then = ("the chain worker binds it within a tick; from then on the hospital's new QR codes are signed with it"
            + (f", and the key it replaces is revoked ({key.revoke_previous.value})" if key.revoke_previous else
               "; the key it replaces stays valid for what it signed"))
    return KeyChangeOut.model_validate({"key": key_json(key), "created": created, "next": then})


@router.post("/{institution_id}/keys/{account}/revoke", status_code=202, response_model=KeyChangeOut,
             responses={**_PROBLEMS, 200: {"model": KeyChangeOut, "description": "revoked, or being revoked, already"},
                        202: {"model": KeyChangeOut, "description": "to be revoked on chain within a tick"}},
             summary="Revoke a retired signing key of a hospital (admin): seals it signs later are refused")
def revoke(institution_id: InstitutionPath, account: AccountPath, body: KeyRevocationIn, principal: PrincipalDep,
           request: Request, response: Response) -> KeyChangeOut:
    key, created = _office(request).revoke(principal, institution_id, account, reason=RevocationReason(body.reason))
    if not created:
        response.status_code = 200
    then = ("revoked on chain" if key.state is KeyState.REVOKED else
            "the chain worker revokes it within a tick") + (
        "; QR codes it signed dated from the day after the revocation (UTC+8) on are refused as revoked-issuer, "
        "those dated before still verify")
    return KeyChangeOut.model_validate({"key": key_json(key), "created": created, "next": then})
