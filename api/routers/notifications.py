"""The citizens' messages: the outbox (admin) and the language a citizen wants them in.

Each step of a claim writes its message into the outbox in the step's transaction
(``ledger.claims.notices``); the dispatcher in ``ebill serve`` hands them to the delivery
adapter. In development that adapter sends nothing and marks them delivered to the
outbox, which ``GET /v1/notifications`` shows (the console's Outbox screen). See
docs/notifications.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from api.bodies import JsonBodyRoute
from api.deps import PrincipalDep
from api.routers.claims import ClaimsDep
from api.routers.invoices import _PROBLEMS
from api.schemas import CLAIM_ID_PATTERN
from ledger.app.claims.notifications import MAX_LISTED
from ledger.claims.languages import Language
from ledger.claims.notice_outbox import DeliveryState, OutboxMessage
from ledger.claims.notices import NoticeKind

router = APIRouter(prefix="/v1", tags=["notifications"], route_class=JsonBodyRoute)
_TIME: JsonDict = {"format": "date-time"}


class DeliveryOut(BaseModel):
    channel: str = Field(description="the delivery adapter (development-outbox: development, nothing is sent)")
    sends: bool = Field(description="false: messages do not leave this service (development)")


class NotificationOut(BaseModel):
    """One message: to whom (the claim's person, by pseudonym), what, and how its delivery went."""

    id: int = Field(ge=1)
    claim: str
    person: str = Field(pattern=r"^[0-9a-f]{64}$", description="the recipient's pseudonym")
    kind: NoticeKind
    event: str = Field(description="the claim's event that sent it")
    language: Language
    text: str
    createdAt: str = Field(json_schema_extra=_TIME)
    state: DeliveryState
    attempts: int = Field(ge=0)
    channel: str | None
    reference: str | None = Field(description="the gateway's message id")
    deliveredAt: str | None = Field(json_schema_extra=_TIME)
    error: str | None


class NotificationList(BaseModel):
    delivery: DeliveryOut
    notifications: list[NotificationOut]
    next: int | None = Field(description="pass as `after` for the next (older) page")


class LanguageIn(BaseModel):
    """The language the citizen wants their messages in."""

    model_config = ConfigDict(extra="forbid")

    language: Language


class LanguageOut(BaseModel):
    language: Language


def notification_json(m: OutboxMessage) -> dict[str, Any]:
    return {"id": m.id, "claim": m.claim_id, "person": m.person.hex(), "kind": m.kind.value, "event": m.event,
            "language": m.language.value, "text": m.text, "createdAt": m.created_at.isoformat(),
            "state": m.state.value, "attempts": m.attempts, "channel": m.channel, "reference": m.reference,
            "deliveredAt": m.delivered_at.isoformat() if m.delivered_at else None, "error": m.error}


@router.get("/notifications", responses=_PROBLEMS, response_model=NotificationList,
            summary="The outbox of the citizens' messages, newest first: what went out, what waits, what failed "
                    "(admin)")
def list_notifications(claims: ClaimsDep, principal: PrincipalDep, request: Request,
                       state: Annotated[DeliveryState | None, Query()] = None,
                       claim: Annotated[str | None, Query(pattern=CLAIM_ID_PATTERN)] = None,
                       after: Annotated[int | None, Query(ge=1, le=2**62, description="message id cursor")] = None,
                       limit: Annotated[int, Query(ge=1, le=MAX_LISTED)] = 50) -> dict[str, Any]:
    found = claims.notifications(principal, state=state, claim=claim, after=after, limit=limit)
    delivery = request.app.state.delivery
    return {"delivery": {"channel": delivery.channel, "sends": delivery.sends},
            "notifications": [notification_json(m) for m in found],
            "next": found[-1].id if len(found) == limit else None}


@router.put("/me/language", responses=_PROBLEMS, response_model=LanguageOut,
            summary="The language the citizen wants their messages in (an enrolled citizen)")
def set_language(body: LanguageIn, claims: ClaimsDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"language": claims.set_language(principal, body.language.value).value}
