"""``ebill calendar``: China's working-day calendar (public holidays, make-up working days).

- ``ebill calendar load FILE``: load one year's State Council notice (``docs/calendar.md``),
  checked strictly and with the years loaded; ``--replace`` to replace a loaded year's other
  content (a correction);
- ``ebill calendar show [YEAR]``: a loaded year's holidays and make-up working days (default:
  this year);
- ``ebill calendar years [--check]``: the loaded years, and a warning for every needed year
  without data (``--check``: exit status 1 then, for monitoring).

The shipped years are loaded by the service itself at start. ``load`` acts as the admin whose
credential ``--token`` (``EBILL_ADMIN_TOKEN``) is, or without one as the operator at the
service's console (``admin:system:local`` in the audit trail). Every API worker counts with a
loaded year within a second, without a restart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli import compose
from ledger.cli import support as _cli
from ledger.cli.support import DbOpt, HomeOpt

calendar_app = typer.Typer(help="The working-day calendar: load a year's holidays, show a year, list the years.",
                           no_args_is_help=True)

TokenOpt = Annotated[str | None, typer.Option("--token", envvar="EBILL_ADMIN_TOKEN",
                                              help="your admin credential (default: the operator at the console)")]


def register(app: typer.Typer) -> None:
    app.add_typer(calendar_app, name="calendar")


def _office(home: Path | None, db: str | None) -> tuple[Any, Any]:
    from ledger.composition import open_calendar_office

    service = compose.service(compose.settings(home, db))
    return open_calendar_office(service), service


def _warn(coverage: Any) -> None:
    warning = coverage.warning()
    if warning:
        _cli.err.print(f"[bold yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


@calendar_app.command("load")
def calendar_load(file: Annotated[Path, typer.Argument(help="the year's JSON file, e.g. cn-2027.json")],
                  replace: Annotated[bool, typer.Option("--replace", help="replace a loaded year's other content")]
                  = False, token: TokenOpt = None, db: DbOpt = None, home: HomeOpt = None) -> None:
    """Load one year's holidays and make-up working days (the State Council's notice)."""
    with _cli.errors():
        from ledger.app.access import SYSTEM
        from ledger.calendar import MAX_CALENDAR_BYTES, parse_calendar_file, year_in_name
        from ledger.errors import InvalidInput

        try:
            size = file.stat().st_size
            if size > MAX_CALENDAR_BYTES:
                raise InvalidInput.single("", "size", f"{file.name}: {size:,} bytes is above the limit of "
                                                      f"{MAX_CALENDAR_BYTES:,} for a calendar year")
            raw = file.read_bytes()
        except OSError as exc:
            _cli.fail(f"cannot read {file}: {exc.strerror}", 2)
        doc = parse_calendar_file(raw, source=file.name)
        office, service = _office(home, db)
        who = service.authenticate(token) if token else SYSTEM
        entry, outcome = office.load(who, doc, source=file.name, expected_year=year_in_name(file.name),
                                     replace=replace)
        coverage = office.coverage(who)
    said = {"loaded": "loaded", "unchanged": "already loaded with this content: nothing changed",
            "replaced": "replaced"}[outcome.value]
    _cli.out.print(f"{entry.year}: {said} ({entry.holidays} holiday dates, {entry.make_up_days} make-up working "
                   f"days; {entry.source})", highlight=False, soft_wrap=True)
    _warn(coverage)


@calendar_app.command("show")
def calendar_show(year: Annotated[int | None, typer.Argument(help="the year (default: this year, China time)")]
                  = None, db: DbOpt = None, home: HomeOpt = None) -> None:
    """A loaded year's holidays and make-up working days, and who loaded it."""
    with _cli.errors():
        from ledger.app.access import SYSTEM
        from ledger.workdays import CHINA_TZ

        office, _ = _office(home, db)
        year = year or office.clock.now().astimezone(CHINA_TZ).year
        entry, notice = office.show(SYSTEM, year)
    out = _cli.out
    out.print(f"[bold]{notice.year}[/]  {notice.source}", highlight=False, soft_wrap=True)
    published = notice.published.isoformat() if notice.published else "unknown"
    out.print(f"published {published}; loaded from {entry.loaded_from} by {entry.loaded_by} at "
              f"{entry.loaded_at:%Y-%m-%d %H:%M} UTC", highlight=False, soft_wrap=True)
    for url in notice.notices:
        out.print(f"  {url}", highlight=False, soft_wrap=True)
    out.print("holidays:", highlight=False)
    for p in notice.holidays:
        days = (p.last - p.first).days + 1
        span = f"{p.first} ({p.first:%a})" if days == 1 else f"{p.first} ({p.first:%a}) – {p.last} ({p.last:%a})"
        out.print(f"  {span:<34} {days:>2} day{'s' if days > 1 else ' '}  {p.label()}", highlight=False,
                  soft_wrap=True)
    out.print("make-up working days:" if notice.make_up_days else "make-up working days: none", highlight=False)
    for m in notice.make_up_days:
        out.print(f"  {m.day} ({m.day:%a})  for {m.for_}", highlight=False)


@calendar_app.command("years")
def calendar_years(check: Annotated[bool, typer.Option("--check", help="exit 1 while a needed year is missing "
                                                                       "(for monitoring)")] = False,
                   db: DbOpt = None, home: HomeOpt = None) -> None:
    """The loaded years; a warning for each needed year without data (counted Monday to Friday)."""
    with _cli.errors():
        from ledger.app.access import SYSTEM

        office, _ = _office(home, db)
        entries = office.years(SYSTEM)
        coverage = office.coverage(SYSTEM)
    for e in entries:
        published = e.published.isoformat() if e.published else "unknown   "
        _cli.out.print(f"{e.year}  published {published}  {e.holidays:>2} holiday dates  {e.make_up_days:>2} make-up "
                       f"days  loaded from {e.loaded_from} by {e.loaded_by}", highlight=False, soft_wrap=True)
    if not entries:
        _cli.out.print("no year is loaded", highlight=False)
    for year in coverage.missing:
        _cli.out.print(f"{year}  MISSING: counted Monday to Friday until loaded", highlight=False)
    _warn(coverage)
    if check and coverage.missing:
        raise typer.Exit(1)
