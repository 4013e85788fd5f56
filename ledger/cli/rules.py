"""``ebill rules``: the payer's rule sets, administered in the database.

- ``ebill rules validate FILE…``: read each file strictly and check them, with the active
  versions, as if activated together (no gap, nothing in force twice); stores nothing;
- ``ebill rules import FILE…``: propose the files' versions (an admin credential);
- ``ebill rules approve ID@VERSION…``: a second admin activates them (maker-checker);
- ``ebill rules retire ID@VERSION…``: take versions out of service (proposed ones are withdrawn);
- ``ebill rules list`` / ``show ID@VERSION`` / ``diff ID@V1 ID@V2``: read them.

Changing commands act as the admin whose credential ``--token`` (``EBILL_ADMIN_TOKEN``)
is, so the audit trail and the maker-checker rule see who acted. The running service
uses a newly approved version within a second, without a restart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli import compose
from ledger.cli import support as _cli
from ledger.cli.support import DbOpt, HomeOpt

rules_app = typer.Typer(help="Rule sets: validate, import, approve (a second admin), retire, list, show, diff.",
                        no_args_is_help=True)

PayerOpt = Annotated[str | None, typer.Option("--payer", envvar="EBILL_PAYER_ID",
                                              help="the payer this store acts for (default 330600-ybj)")]
TokenOpt = Annotated[str | None, typer.Option("--token", envvar="EBILL_ADMIN_TOKEN",
                                              help="your admin credential (ebill credential create --role admin)")]
FilesArg = Annotated[list[Path], typer.Argument(help="rule-set JSON files, one version each", exists=False)]
RefsArg = Annotated[list[str], typer.Argument(help="versions as id@version, e.g. sx-pharmacy-pooling@3")]


def register(app: typer.Typer) -> None:
    app.add_typer(rules_app, name="rules")


def _office(home: Path | None, db: str | None, payer: str | None) -> tuple[Any, Any]:
    settings = compose.settings(home, db)
    if payer:
        settings.payer_id = None if payer.lower() == "none" else payer
    service = compose.service(settings)
    return compose.rule_office(settings, service), service


def _admin(service: Any, token: str | None) -> Any:
    if not token:
        _cli.fail("changing rules needs your admin credential: pass --token or set EBILL_ADMIN_TOKEN", 2)
    return service.authenticate(token)


def _documents(files: list[Path]) -> list[tuple[str, Any]]:
    from ledger.errors import FieldProblem, InvalidInput
    from ledger.rules.administration import MAX_RULE_FILE_BYTES, parse_rule_file

    docs: list[tuple[str, Any]] = []
    problems: list[FieldProblem] = []
    for path in files:
        try:
            if path.stat().st_size > MAX_RULE_FILE_BYTES:
                raise InvalidInput.single("", "size", f"{path}: {path.stat().st_size:,} bytes is above the limit of "
                                                      f"{MAX_RULE_FILE_BYTES:,}")
            docs.append((path.name, parse_rule_file(path.read_bytes(), source=path.name)))
        except OSError as exc:
            _cli.fail(f"cannot read {path}: {exc.strerror}", 2)
        except InvalidInput as exc:
            problems.extend(exc.problems)
    if problems:
        raise InvalidInput(problems)
    return docs


def _refs(refs: list[str]) -> list[tuple[str, int]]:
    from ledger.rules.administration import parse_ref

    return [parse_ref(r) for r in refs]


def _line(e: Any, until_day: Any = None) -> str:
    """One version in a line; ``until_day``: where a successor ends an open-ended active version."""
    until = e.effective_to.isoformat() if e.effective_to else "open"
    if e.effective_to is None and until_day is not None:
        until = f"{until_day} (a later version starts)"
    who = f"imported by {e.imported_by}"
    if e.approved_by:
        who += f", approved by {e.approved_by}"
    if e.retired_by:
        who += f", {e.state.value} by {e.retired_by}"
    return f"{e.ref:<32} {e.state.value:<9} {e.payer}/{e.scheme}  {e.effective_from} → {until}  ({who})"


@rules_app.command("validate")
def rules_validate(files: FilesArg, payer: PayerOpt = None, db: DbOpt = None, home: HomeOpt = None) -> None:
    """Check rule files strictly, with the active versions, as if activated together; stores nothing."""
    with _cli.errors():
        from ledger.app.access import SYSTEM

        office, _ = _office(home, db, payer)
        sets = office.validate(SYSTEM, _documents(files))
    for r in sets:
        _cli.out.print(f"ok  {r.label}: {r.payer}/{r.scheme} from {r.effective_from}", highlight=False)


@rules_app.command("import")
def rules_import(files: FilesArg, token: TokenOpt = None, payer: PayerOpt = None, db: DbOpt = None,
                 home: HomeOpt = None) -> None:
    """Propose the files' versions; a second admin activates them with `ebill rules approve`."""
    with _cli.errors():
        office, service = _office(home, db, payer)
        entries = office.import_(_admin(service, token), _documents(files))
    for e in entries:
        _cli.out.print(_line(e), highlight=False, soft_wrap=True)
    waiting = [e.ref for e in entries if e.state.value == "proposed"]
    if waiting:
        _cli.err.print(f"a second admin activates them: ebill rules approve {' '.join(waiting)}", highlight=False)


@rules_app.command("approve")
def rules_approve(refs: RefsArg, token: TokenOpt = None, payer: PayerOpt = None, db: DbOpt = None,
                  home: HomeOpt = None) -> None:
    """Activate proposed versions together (not by the admin who imported them)."""
    with _cli.errors():
        office, service = _office(home, db, payer)
        entries = office.approve(_admin(service, token), _refs(refs))
    for e in entries:
        _cli.out.print(_line(e), highlight=False, soft_wrap=True)


@rules_app.command("retire")
def rules_retire(refs: RefsArg, token: TokenOpt = None, payer: PayerOpt = None, db: DbOpt = None,
                 home: HomeOpt = None) -> None:
    """Take active versions out of service (withdraw proposed ones), if no gap is left."""
    with _cli.errors():
        office, service = _office(home, db, payer)
        entries = office.retire(_admin(service, token), _refs(refs))
    for e in entries:
        _cli.out.print(_line(e), highlight=False, soft_wrap=True)


@rules_app.command("list")
def rules_list(state: Annotated[str | None, typer.Option(help="proposed | active | retired | withdrawn")] = None,
               payer: PayerOpt = None, db: DbOpt = None, home: HomeOpt = None) -> None:
    """Every version with its state, dates and who acted."""
    from ledger.app.access import SYSTEM
    from ledger.rules.administration import RuleSetState, in_force_until

    with _cli.errors():
        states = None
        if state:
            try:
                states = [RuleSetState(state)]
            except ValueError:
                _cli.fail(f"--state must be one of {', '.join(s.value for s in RuleSetState)}", 2)
        office, _ = _office(home, db, payer)
        entries = office.entries(SYSTEM, states=states)
        ends = in_force_until(office.entries(SYSTEM, states=[RuleSetState.ACTIVE]))
    for e in entries:
        _cli.out.print(_line(e, ends.get((e.id, e.version))), highlight=False, soft_wrap=True)
    if not entries:
        _cli.err.print("no rule sets")


@rules_app.command("show")
def rules_show(ref: Annotated[str, typer.Argument(help="id@version")], payer: PayerOpt = None,
               db: DbOpt = None, home: HomeOpt = None) -> None:
    """A version's document exactly as imported (JSON on stdout), its state on stderr."""
    from ledger.app.access import SYSTEM
    from ledger.rules.administration import parse_ref

    with _cli.errors():
        office, _ = _office(home, db, payer)
        entry, doc = office.show(SYSTEM, *parse_ref(ref))
    _cli.err.print(_line(entry), highlight=False, soft_wrap=True)
    typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))


@rules_app.command("diff")
def rules_diff(before: Annotated[str, typer.Argument(help="id@version")],
               after: Annotated[str, typer.Argument(help="id@version")], payer: PayerOpt = None,
               db: DbOpt = None, home: HomeOpt = None) -> None:
    """What changed from one version to another, by JSON path."""
    from ledger.app.access import SYSTEM
    from ledger.rules.administration import describe, parse_ref

    with _cli.errors():
        office, _ = _office(home, db, payer)
        diffs = office.diff(SYSTEM, parse_ref(before), parse_ref(after))
    for line in describe(diffs):
        _cli.out.print(line, highlight=False, markup=False)
    if not diffs:
        _cli.err.print("no differences")
