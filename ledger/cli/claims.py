"""``ebill payer``, ``person``, ``citizen``: the claims side's set-up commands.

- ``ebill payer register --id … --name …``: a payer with its chain account (key sealed
  at rest); ``ebill serve --payer ID`` registers the configured payer by itself;
- ``ebill person enrol``: enrol insured persons (one, or a CSV ``nationalId,name,category``);
- ``ebill citizen token --national-id …``: a development e-voucher (signed by the
  local development issuer key in ``$EBILL_HOME/secrets``);
- ``ebill citizen delegate --holder … --for … --relation child``: record that one
  person may claim for another.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli import compose
from ledger.cli import support as _cli
from ledger.cli.support import DbOpt, HomeOpt
from ledger.errors import FieldProblem, InvalidInput
from ledger.rules.ruleset import PersonCategory

payer_app = typer.Typer(help="Payers: register (chain account, key sealed at rest), list.", no_args_is_help=True)
person_app = typer.Typer(help="Insured persons enrolled with this payer.", no_args_is_help=True)
citizen_app = typer.Typer(help="Citizens: development e-voucher tokens and delegations.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(payer_app, name="payer")
    app.add_typer(person_app, name="person")
    app.add_typer(citizen_app, name="citizen")


def _claims(home: Path | None, db: str | None, payer: str | None = None) -> Any:
    settings = compose.settings(home, db)
    if payer:
        settings.payer_id = payer
    if not settings.payer_id:
        _cli.fail("no payer configured: pass --payer or set EBILL_PAYER_ID", 2)
    return compose.claims(settings, compose.service(settings), None)


PayerOpt = Annotated[str | None, typer.Option("--payer", envvar="EBILL_PAYER_ID",
                                              help="the payer this store acts for (default 330600-ybj)")]


@payer_app.command("register")
def payer_register(
    payer_id: Annotated[str, typer.Option("--id", help="payer id, e.g. 330600-ybj")],
    name: Annotated[str, typer.Option(help="payer name")],
    db: DbOpt = None, home: HomeOpt = None,
) -> None:
    """Create a payer and its chain account; the running service registers it on chain."""
    from ledger.app.access import SYSTEM

    with _cli.errors():
        record = _claims(home, db, payer_id).register_payer(payer_id=payer_id, name=name, by=SYSTEM)
    _cli.out.print(f"payer {record.payer_id} ({record.name}) registered; chain account {record.account}")


@payer_app.command("list")
def payer_list(db: DbOpt = None, home: HomeOpt = None) -> None:
    """Payers known to this store."""
    with _cli.errors():
        rows = _claims(home, db).store.payers()
    for p in rows:
        chain = f"registered in block {p.registered_block}" if p.registered_block is not None else "not yet on chain"
        _cli.out.print(f"{p.payer_id}  {p.name}  {p.account}  {chain}")


_YES_NO = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


@person_app.command("enrol")
def person_enrol(
    national_id: Annotated[str | None, typer.Option("--national-id", help="resident ID (18 characters)")] = None,
    name: Annotated[str, typer.Option(help="display name")] = "",
    category: Annotated[str, typer.Option(help=" | ".join(c.value for c in PersonCategory))] = "employee",
    insured_region: Annotated[str | None, typer.Option(
        "--insured-region", help="the region the person is insured in (a division code, e.g. 330600); "
                                 "left out: care is judged as off-site")] = None,
    offsite_registered: Annotated[bool, typer.Option(
        "--offsite-registered", help="the person registered for off-site care (备案)")] = False,
    language: Annotated[str | None, typer.Option(
        "--language", help="the language of the person's messages: zh | en (left out: the one recorded, else zh)")]
    = None,
    from_csv: Annotated[Path | None, typer.Option(
        "--csv", help="CSV with columns nationalId,name,category and optionally insuredRegion,offsiteRegistered "
                      "(true/false),language (zh/en)")] = None,
    payer: PayerOpt = None, db: DbOpt = None, home: HomeOpt = None,
) -> None:
    """Enrol insured persons with this payer (only a pseudonym of the ID is stored); enrolling
    a person again replaces the payer's record of them."""
    from ledger.app.access import SYSTEM
    from ledger.app.claims import Enrolee

    entries: list[Enrolee] = []
    sources: list[str] = []  # where each entry came from, to name it in a refusal
    if from_csv is not None:
        with from_csv.open(encoding="utf-8-sig", newline="") as f:
            for row in csv.DictReader(f):
                sources.append(f"{from_csv.name} row {len(sources) + 2} column ")
                registered = (row.get("offsiteRegistered") or "false").strip().lower()
                if registered not in _YES_NO:
                    _cli.fail(f"{sources[-1]}offsiteRegistered: expected true or false, got {registered!r}", 2)
                entries.append(Enrolee(row.get("nationalId", ""), row.get("name", ""), row.get("category", ""),
                                       (row.get("insuredRegion") or "").strip() or None, _YES_NO[registered],
                                       (row.get("language") or "").strip() or None))
    if national_id:
        entries.append(Enrolee(national_id, name, category, insured_region, offsite_registered, language))
        sources.append("--")
    if not entries:
        _cli.fail("give --national-id or --csv", 2)
    options = {"nationalId": "national-id", "category": "category", "insuredRegion": "insured-region",
               "language": "language"}
    with _cli.errors():
        try:
            n = _claims(home, db, payer).enrol(entries, by=SYSTEM)
        except InvalidInput as exc:
            raise _renamed(exc, lambda f: _entry_source(f, sources, options)) from None
    _cli.out.print(f"{n} person(s) enrolled")


@citizen_app.command("token")
def citizen_token(
    national_id: Annotated[str, typer.Option("--national-id", help="the citizen's resident ID")],
    name: Annotated[str | None, typer.Option(help="display name in the token")] = None,
    hours: Annotated[float, typer.Option(min=0.01, max=24, help="validity")] = 12.0,
    home: HomeOpt = None,
) -> None:
    """A development e-voucher for a citizen (the national platform issues real ones)."""
    from ledger.devtools.vouchers import dev_issuer

    settings = compose.settings(home, None)
    if settings.environment == "production":
        _cli.fail("development tokens are not minted in production", 2)
    with _cli.errors():
        token = dev_issuer(settings.home, settings.voucher_issuer).mint(national_id, name=name,
                                                                        ttl=timedelta(hours=hours))
    _cli.out.print(token, soft_wrap=True)


@citizen_app.command("delegate")
def citizen_delegate(
    holder: Annotated[str, typer.Option("--holder", help="resident ID of the person who will act")],
    for_: Annotated[str, typer.Option("--for", help="resident ID of the person they act for")],
    relation: Annotated[str, typer.Option(help="spouse | parent | child | guardian | other")],
    payer: PayerOpt = None, db: DbOpt = None, home: HomeOpt = None,
) -> None:
    """Record a delegation: the holder may see and claim the other person's invoices."""
    from ledger.app.access import SYSTEM

    options = {"holderNationalId": "--holder", "personNationalId": "--for", "relation": "--relation"}
    with _cli.errors():
        try:
            _claims(home, db, payer).delegate(holder_id=holder, person_id=for_, relation=relation, by=SYSTEM)
        except InvalidInput as exc:
            raise _renamed(exc, lambda f: options.get(f, f)) from None
    _cli.out.print_json(json.dumps({"holder": holder[-4:].rjust(18, "*"), "relation": relation}))


def _renamed(exc: InvalidInput, where: Callable[[str], str]) -> InvalidInput:
    """``exc`` with its fields named as the command line knows them (an option, a CSV row)."""
    return InvalidInput([FieldProblem(where(p.field), p.rule, p.message) for p in exc.problems])


def _entry_source(field: str, sources: list[str], options: dict[str, str]) -> str:
    """``[3].nationalId`` as ``people.csv row 5 column nationalId``, or ``--national-id``."""
    index, _, name = field.partition("].")
    if not index.startswith("[") or not index[1:].isdigit() or int(index[1:]) >= len(sources):
        return field
    source = sources[int(index[1:])]
    return source + (options.get(name, name) if source == "--" else name)
