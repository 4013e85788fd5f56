"""``ebill report monthly``: the payer's monthly report, as the regulator and the hospitals get it.

- ``ebill report monthly --month 2026-11 --format csv --out 2026-11.csv``: every hospital;
- ``--hospital H33060200001``: one hospital's own report (its accountability), to send it;
- ``--format json`` (the default) or ``csv`` may go to standard output; ``pdf`` needs ``--out``.

The same report as ``GET /v1/reports/monthly`` (:mod:`ledger.claims.reports`), made by the
service itself on this store. A file is written whole or not at all (a temporary file
renamed into place), so a failed run never leaves half a report behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli import compose
from ledger.cli import support as _cli
from ledger.cli.support import DbOpt, HomeOpt

report_app = typer.Typer(help="Reports: the monthly report for the regulator and the hospitals.",
                         no_args_is_help=True)

FORMATS = ("json", "csv", "pdf")
PayerOpt = Annotated[str | None, typer.Option("--payer", envvar="EBILL_PAYER_ID",
                                              help="the payer this store acts for (default 330600-ybj)")]


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")


@report_app.command("monthly")
def monthly(
    month: Annotated[str, typer.Option("--month", help="the month, YYYY-MM, in China time (begun already)")],
    format_: Annotated[str, typer.Option("--format", help="json | csv (UTF-8 with BOM, for Excel) | pdf")] = "json",
    out: Annotated[Path | None, typer.Option("--out", help="the file to write (default: standard output; "
                                                           "needed for pdf)")] = None,
    hospital: Annotated[str | None, typer.Option("--hospital", help="one hospital's report (institution id)")] = None,
    payer: PayerOpt = None, db: DbOpt = None, home: HomeOpt = None,
) -> None:
    """The monthly report: claims, refusals and flags by hospital, rule and item; manual claims per hospital."""
    from ledger.app.access import SYSTEM

    if format_ not in FORMATS:
        _cli.fail(f"--format must be one of {', '.join(FORMATS)}, got {format_!r}", 2)
    if format_ == "pdf" and out is None:
        _cli.fail("a PDF is written to a file: give --out FILE", 2)
    with _cli.errors():
        settings = compose.settings(home, db)
        if payer:
            settings.payer_id = payer
        if not settings.payer_id:
            _cli.fail("no payer configured: pass --payer or set EBILL_PAYER_ID", 2)
        claims = compose.claims(settings, compose.service(settings), None)
        report = claims.monthly_report(SYSTEM, month, hospital=hospital)
    data = _render(report, format_)
    if out is None:
        typer.echo(data.decode("utf-8-sig"), nl=False)
    else:
        _write(out, data)
    t = report.total
    scope = f"hospital {report.hospital}" if report.hospital else f"{len(report.hospitals)} hospital(s)"
    done = "" if report.complete else " (the month has not ended: incomplete)"
    _cli.err.print(f"{report.month}: {t.claims} claim(s) at {scope}, {t.manual_claims} manual, "
                   f"{_cli.yuan(t.refused_fen)} refused on {t.refused_lines} fee line(s), {t.flags} flag(s)"
                   f"{done}" + (f"; written to {out}" if out else ""), highlight=False)


def _render(report: Any, format_: str) -> bytes:
    if format_ == "csv":
        from ledger.adapters.report_csv import render_report_csv

        return render_report_csv(report)
    if format_ == "pdf":
        from ledger.adapters.report_pdf import render_report_pdf

        return render_report_pdf(report)
    return (json.dumps(report.to_json(), ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def _write(path: Path, data: bytes) -> None:
    """``data`` into ``path`` whole or not at all."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        _cli.fail(f"cannot write {path}: {exc.strerror}", 2)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)    # as an ordinary file would be (mkstemp makes it 0600)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        _cli.fail(f"cannot write {path}: {exc.strerror}", 2)
