"""``/v1/calendar``: the working-day calendar (the HTTP face of ``ebill calendar``).

Staff of every member read the loaded years (``GET /v1/calendar``: which years, which needed
ones are missing) and one year's notice (``GET /v1/calendar/{year}``); an admin loads a year
(``POST /v1/calendar``, the document of ``docs/calendar-year.schema.json``; ``?replace=true``
to replace a loaded year's other content). Every API worker counts with a loaded year within
a second.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field, WithJsonSchema

from api.bodies import JsonBodyRoute
from api.deps import PrincipalDep
from api.routers.invoices import _PROBLEMS
from ledger.app.calendar_office import CalendarOffice
from ledger.calendar import CalendarYearEntry, Coverage, json_schema
from ledger.calendar.year import FIRST_YEAR, LAST_YEAR

router = APIRouter(prefix="/v1", tags=["calendar"], route_class=JsonBodyRoute)

#: where a document sent over HTTP came from (the audit trail's ``from``)
API_SOURCE = "POST /v1/calendar"


def get_office(request: Request) -> CalendarOffice:
    return cast(CalendarOffice, request.app.state.calendar_office)


OfficeDep = Annotated[CalendarOffice, Depends(get_office)]
_SCHEMA = {k: v for k, v in json_schema().items() if k not in ("$schema", "$id")}
#: one year's notice, as the published JSON Schema describes it (the loader checks it again, strictly)
CalendarDocument = Annotated[dict[str, Any], WithJsonSchema(_SCHEMA)]
Year = Annotated[int, Path(ge=FIRST_YEAR, le=LAST_YEAR, description="the year, e.g. 2027")]


class CalendarYearOut(BaseModel):
    """A loaded year: its notice, its size, and who loaded it from where."""

    year: int
    source: str
    published: date | None
    holidayDates: int = Field(description="days off the notice gives, weekend days in its periods included")
    makeUpDays: int = Field(description="weekend days worked in exchange")
    digest: str = Field(description="sha256 of the document's RFC 8785 form")
    loadedFrom: str
    loadedBy: str
    loadedAt: datetime


class CoverageOut(BaseModel):
    """The years loaded, and the needed ones (from the first loaded, or this, year to today + 60
    days) without data: counted Monday to Friday until loaded."""

    years: list[int]
    missing: list[int]
    through: date
    warning: str | None


class CalendarOut(BaseModel):
    years: list[CalendarYearOut]
    coverage: CoverageOut


class CalendarYearShown(CalendarYearOut):
    document: Annotated[dict[str, Any], WithJsonSchema(_SCHEMA)]


class LoadedOut(CalendarYearOut):
    outcome: str = Field(description="loaded (new) | unchanged (the same content again) | replaced",
                         json_schema_extra={"enum": ["loaded", "unchanged", "replaced"]})


def entry_json(e: CalendarYearEntry) -> dict[str, Any]:
    return {"year": e.year, "source": e.source, "published": e.published, "holidayDates": e.holidays,
            "makeUpDays": e.make_up_days, "digest": e.digest, "loadedFrom": e.loaded_from, "loadedBy": e.loaded_by,
            "loadedAt": e.loaded_at}


def coverage_json(c: Coverage) -> dict[str, Any]:
    return {"years": list(c.years), "missing": list(c.missing), "through": c.through, "warning": c.warning()}


@router.get("/calendar", response_model=CalendarOut, responses=_PROBLEMS,
            summary="The loaded years of the working-day calendar, and the needed years without data")
def list_calendar(office: OfficeDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"years": [entry_json(e) for e in office.years(principal)],
            "coverage": coverage_json(office.coverage(principal))}


@router.get("/calendar/{year}", response_model=CalendarYearShown, responses=_PROBLEMS,
            summary="One loaded year: its holidays and make-up working days, and who loaded it")
def show_calendar(year: Year, office: OfficeDep, principal: PrincipalDep) -> dict[str, Any]:
    entry, notice = office.show(principal, year)
    return {**entry_json(entry), "document": notice.to_json()}


@router.post("/calendar", response_model=LoadedOut, responses=_PROBLEMS,
             summary="Load a year of the working-day calendar, e.g. next year's once the State Council "
                     "publishes it (admin)")
def load_calendar(body: CalendarDocument, office: OfficeDep, principal: PrincipalDep,
                  replace: Annotated[bool, Query(description="replace a loaded year's other content (a "
                                                             "correction); without it that is a 409")] = False,
                  ) -> dict[str, Any]:
    entry, outcome = office.load(principal, body, source=API_SOURCE, replace=replace)
    return {**entry_json(entry), "outcome": outcome.value}
