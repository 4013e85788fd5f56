"""``ebill pepper``: the pseudonym pepper's versions, and their rotation (:mod:`ledger.peppers`).

Every organisation that turns resident IDs into pseudonyms (hospitals' services, payers')
must hold the same pepper versions, or a person's new invoices would not reach them. So a
rotation is made once (``ebill pepper rotate --export FILE``: a new random pepper, recorded
here and written to FILE for the others) and added everywhere else from that file
(``ebill pepper rotate --from-file FILE``). Payers first, then hospitals: a payer that knows a
version no hospital uses yet loses nothing, while a hospital ahead of a payer issues
invoices that payer cannot match until it adds the version too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli import compose
from ledger.cli import support as _cli
from ledger.cli.support import DbOpt, HomeOpt

pepper_app = typer.Typer(help="The pseudonym pepper: its versions, and rotating it without losing who is who.",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``pepper`` group to ``app``."""
    app.add_typer(pepper_app, name="pepper")


def _office(home: Path | None, db: str | None) -> tuple[Any, Any]:
    from ledger.app.peppers import PepperOffice
    from ledger.composition import pepper_office

    settings = compose.settings(home, db)
    service = compose.service(settings)
    office: PepperOffice = pepper_office(service, settings)
    return service, office


@pepper_app.command("status")
def status(db: DbOpt = None, home: HomeOpt = None,
           as_json: Annotated[bool, typer.Option("--json", help="print the versions as JSON")] = False) -> None:
    """The pepper versions in force (ids and dates, never a pepper) and how many persons each knows."""
    from ledger.app.access import SYSTEM

    with _cli.errors():
        service, office = _office(home, db)
        ring = service.peppers.ring()
        stored = {v.version: v for v in office.versions(SYSTEM)}
        counts = service.store.persons_by_version()
    versions = [{"version": n, "pepperId": pid, "current": n == ring.current,
                 "createdAt": stored[n].created_at.isoformat() if n in stored and n > 1 else None,
                 "persons": counts.get(n, 0)} for n, pid in enumerate(ring.ids(), start=1)]
    if as_json:
        _cli.out.print_json(json.dumps({"current": ring.current, "versions": versions}))
        return
    for v in versions:
        since = f"since {v['createdAt'][:19]}" if v["createdAt"] else "EBILL_PEPPER"
        _cli.out.print(f"v{v['version']}  {v['pepperId']}  {since}  {v['persons']:,} persons known"
                       + ("  (current: new pseudonyms)" if v["current"] else ""), highlight=False, soft_wrap=True)


@pepper_app.command("rotate")
def rotate(
    from_file: Annotated[Path | None, typer.Option(
        "--from-file", help="add the version another organisation made (the file its --export wrote)")] = None,
    export: Annotated[Path | None, typer.Option(
        "--export", help="write the new pepper to this file (mode 0600) for the other organisations")] = None,
    db: DbOpt = None, home: HomeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Add the next pepper version: new pseudonyms are made with it, and every person known here is
    found under it too (their claims and year-to-date figures stay theirs)."""
    from ledger.app.access import SYSTEM

    if from_file is not None and export is not None:
        _cli.fail("--from-file adds another organisation's version; --export shares a new one: give one of them", 2)
    with _cli.errors():
        pepper = _read_pepper(from_file) if from_file is not None else None
        if export is not None and export.exists():
            _cli.fail(f"{export} exists: the export never overwrites a file (a pepper in it may still be needed)", 2)
        _, office = _office(home, db)
        if export is not None:
            import secrets

            pepper = secrets.token_bytes(32)
            _write_pepper(export, pepper)   # before the rotation: a version nobody else can add is never made
        try:
            done = office.rotate(SYSTEM, pepper=pepper)
        except BaseException:
            if export is not None:
                export.unlink(missing_ok=True)
            raise
    if as_json:
        _cli.out.print_json(json.dumps({"version": done.version, "pepperId": done.pepper_id, "persons": done.persons,
                                        "exported": str(export) if export else None}))
        return
    _cli.out.print(f"pepper version {done.version} (id {done.pepper_id}) is current: new pseudonyms are made with it; "
                   f"{done.persons:,} persons known here are found under it too", highlight=False, soft_wrap=True)
    if export is not None:
        _cli.out.print(f"wrote it to {export}: add it at every other organisation with `ebill pepper rotate "
                       f"--from-file {export.name}` (payers first), then destroy the file", highlight=False,
                       soft_wrap=True)


def _read_pepper(path: Path) -> bytes:
    from ledger.errors import InvalidInput

    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise InvalidInput.single("--from-file", "readable", f"cannot read {path}: {exc.strerror}") from None
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise InvalidInput.single("--from-file", "hex", f"{path} must hold the pepper in hex") from None


def _write_pepper(path: Path, pepper: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(pepper.hex() + "\n")
