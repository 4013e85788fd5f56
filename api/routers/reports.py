"""``/v1/reports/monthly``: the payer's monthly report, as JSON, CSV or PDF.

For the regulator (auditors), this payer's office and the bureau (admin): every hospital,
or one (``hospital``); for a hospital: its own (its accountability — the manual claims
that count in its annual clearance, its refusals and flags by rule and by item). The
report holds no personal data. The month is a calendar month in China time; one that has
not begun is refused (422), the current one answers with ``complete: false``.
See docs/claims-api.md ("Monthly report") and :mod:`ledger.claims.reports`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.bodies import JsonBodyRoute
from api.deps import PrincipalDep
from api.routers.claims import ClaimsDep
from api.routers.invoices import _PROBLEMS
from ledger.claims.states import ClaimState
from ledger.months import MONTH_PATTERN

router = APIRouter(prefix="/v1", tags=["reports"], route_class=JsonBodyRoute)

#: a hospital's national institution code
HOSPITAL_PATTERN = r"^H[0-9]{11}$"
_STRICT = ConfigDict(extra="forbid")
Count = Annotated[int, Field(ge=0)]
Fen = Annotated[int, Field(ge=0, description="integer fen")]


class RuleRow(BaseModel):
    """A rule's refusals or flags in the month."""

    model_config = _STRICT
    ruleSet: str = Field(description="`id@vN` of the rule set that decided; empty for a reviewer's reason")
    rule: str = Field(description="the rule's id; `review:<reason code>` for a reviewer's approval in part")
    name: str
    nameZh: str
    kind: Literal["refusal", "flag"]
    claims: Count
    lines: Count = Field(description="fee lines the rule refused (part of) or flagged")
    refusedFen: Fen


class ItemRow(BaseModel):
    """A fee item's refused and flagged lines in the month (by normalised code)."""

    model_config = _STRICT
    itemCode: str
    itemName: str = Field(description="its name on one of the hospital's invoices; empty if not stored here")
    claims: Count
    refusedLines: Count
    refusedFen: Fen
    flaggedLines: Count


class HospitalMonth(BaseModel):
    """One hospital's month (``hospitalId`` null: the total)."""

    model_config = _STRICT
    hospitalId: str | None
    hospitalName: str
    claims: Count
    claimedFen: Fen = Field(description="what the patients paid themselves and asked back")
    paidFen: Fen = Field(description="amounts the bank paid (claims now paid or owed back)")
    instantClaims: Count
    manualClaims: Count = Field(description="decided by a reviewer: they count in the hospital's annual clearance")
    manualClaimedFen: Fen
    manualPaidFen: Fen
    windowClaims: Count = Field(description="filed at the hospital's claims window")
    clawbackClaims: Count
    claimsByState: dict[str, Count] = Field(json_schema_extra={
        "properties": {s.value: {"type": "integer", "minimum": 0} for s in ClaimState},
        "required": [s.value for s in ClaimState], "additionalProperties": False})
    refusedLines: Count
    refusedFen: Fen
    flaggedClaims: Count
    flags: Count
    byRule: list[RuleRow]
    byItem: list[ItemRow]


class Payer(BaseModel):
    model_config = _STRICT
    id: str
    name: str


class MonthlyReportOut(BaseModel):
    """The month's report (money in integer fen)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    month: str = Field(pattern=MONTH_PATTERN)
    timeZone: Literal["+08:00"]
    from_: str = Field(alias="from", description="the month's first instant, China time (ISO 8601)")
    to: str = Field(description="the next month's first instant, China time (ISO 8601)")
    complete: bool = Field(description="false while the month has not ended")
    generatedAt: str
    payer: Payer
    hospital: str | None = Field(description="the one hospital the report is limited to; null: every hospital")
    hospitals: list[HospitalMonth]
    total: HospitalMonth


_CONTENT: dict[int | str, dict[str, Any]] = {200: {
    "model": MonthlyReportOut, "description": "The report (JSON, CSV or PDF by `format`)",
    "content": {"text/csv": {"schema": {"type": "string"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/reports/monthly", response_model=None, responses={**_PROBLEMS, **_CONTENT},
            summary="The monthly report: claims, refusals and flags by hospital, rule and item (no personal data)")
def monthly(claims: ClaimsDep, principal: PrincipalDep,
            month: Annotated[str, Query(pattern=MONTH_PATTERN, examples=["2026-11"],
                                        description="the month (YYYY-MM) in China time, begun already")],
            format: Annotated[Literal["json", "csv", "pdf"], Query(description="json, csv (UTF-8 with BOM) or pdf")]
            = "json",
            hospital: Annotated[str | None, Query(pattern=HOSPITAL_PATTERN, description=(
                "one hospital's report (a hospital's credential gets its own in any case)"))] = None,
            ) -> Any:
    report = claims.monthly_report(principal, month, hospital=hospital)
    if format == "json":
        return report.to_json()
    name = f"claims-report-{report.month}" + (f"-{report.hospital}" if report.hospital else "")
    if format == "csv":
        from ledger.adapters.report_csv import render_report_csv

        return Response(render_report_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    from ledger.adapters.report_pdf import render_report_pdf

    return Response(render_report_pdf(report), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'})
