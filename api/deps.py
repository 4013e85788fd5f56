"""Dependencies shared by the routers: the service and the authenticated principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ledger.app.service import LedgerService, Principal
from ledger.app.settings import Settings

_bearer = HTTPBearer(auto_error=False,
                     description="API token `ebill_<key id>_<secret>`, or a citizen's e-voucher (JWT)")


def get_service(request: Request) -> LedgerService:
    return request.app.state.service  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


ServiceDep = Annotated[LedgerService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_principal(request: Request, service: ServiceDep,
                  creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    token = creds.credentials if creds else None
    claims = getattr(request.app.state, "claims", None)   # citizens' e-vouchers are the claims service's
    return claims.authenticate(token) if claims is not None else service.authenticate(token)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
