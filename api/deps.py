"""Dependencies shared by the routers: the service and the authenticated principal."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ledger.app.access import Principal
from ledger.app.service import LedgerService
from ledger.composition.settings import Settings
from ledger.errors import Unauthenticated

_bearer = HTTPBearer(auto_error=False,
                     description="API token `ebill_<key id>_<secret>`, or a citizen's e-voucher (JWT)")


def get_service(request: Request) -> LedgerService:
    return cast(LedgerService, request.app.state.service)


def get_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


ServiceDep = Annotated[LedgerService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_principal(request: Request,
                  creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """The caller, authenticated and admitted to this route by the edge (:mod:`api.edge`)
    before the body was read (``creds`` only documents the scheme in OpenAPI)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise Unauthenticated("missing credential: send `Authorization: Bearer …`")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_request_id(request: Request) -> str | None:
    """The request's id (``X-Request-Id``, accepted or made by :mod:`api.observe`), kept with what
    the request asks the chain to do."""
    rid: str | None = getattr(request.state, "request_id", None)
    return rid


RequestIdDep = Annotated[str | None, Depends(get_request_id)]
