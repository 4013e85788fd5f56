"""``ebill claims``: the payer's claims against the chain after a restore from an older backup.

- ``ebill claims release-forgotten --dry-run | --yes``: release this payer's reservations on
  chain that belong to claims the database does not hold (filed after the backup it was
  restored from), after a grace period; never a finalised (paid) stamp
  (:mod:`ledger.app.forgotten`). Claims the database holds and the chain paid after the
  backup need no command: the running stamper records them from the bank.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from ledger.cli import compose
from ledger.cli import support as _cli
from ledger.cli.support import DbOpt, HomeOpt, UrlOpt

claims_app = typer.Typer(help="The payer's claims against the chain after a restore (release-forgotten).",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(claims_app, name="claims")


@claims_app.command("release-forgotten")
def release_forgotten(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would be released; change nothing")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="release them (the service must be stopped)")] = False,
    grace_hours: Annotated[float, typer.Option("--grace-hours", min=0, max=24 * 365,
                                               help="leave reservations younger than this alone")] = 24.0,
    chain: Annotated[str, typer.Option("--chain", help="embedded | anvil | rpc")] = "anvil",
    rpc_url: UrlOpt = None,
    payer: Annotated[str | None, typer.Option("--payer", envvar="EBILL_PAYER_ID",
                                              help="the payer whose reservations to release")] = None,
    db: DbOpt = None, home: HomeOpt = None,
) -> None:
    """Release this payer's reservations of claims this database does not hold (after a restore).

    Only reservations: a finalised (paid) stamp is never released. Only this payer's: the
    contract lets only the payer that reserved a claim release it. Each is confirmed with the
    contract and audited. Read `ebill backup gaps` first; exit status 1 if some could not be released.
    """
    if dry_run == yes:
        _cli.fail("give exactly one of --dry-run (list) or --yes (release)", 2)
    from ledger.app.access import SYSTEM
    from ledger.app.forgotten import release_forgotten as release

    with _cli.errors():
        settings = compose.settings(home, db)
        if payer:
            settings.payer_id = payer
        if not settings.payer_id:
            _cli.fail("no payer configured: pass --payer or set EBILL_PAYER_ID", 2)
        service = compose.service(settings)
        session = _cli.open_session(chain, rpc_url, None, settings.home, deploy=False,
                                    passphrase=settings.passphrase)
        service.bind_chain(session.ledger.chain_id, session.ledger.contract_address)
        stamper = compose.stamper(settings, service, session)
        found = release(stamper, grace=timedelta(hours=grace_hours), apply=yes, actor=f"{SYSTEM}:release-forgotten")
    _report(found, applied=yes, payer=settings.payer_id)
    if any(f.refused for f in found):
        raise typer.Exit(1)


def _report(found: list[Any], *, applied: bool, payer: str) -> None:
    if not found:
        _cli.out.print(f"payer {payer}: no stamps on chain of claims this database does not hold", highlight=False)
        return
    for f in found:
        s = f.stamp
        what = (f"released in {f.released_tx}" if f.released_tx else f"NOT released: the chain refused ({f.refused})"
                if f.refused else "to release" if f.kept is None else f"kept: {f.kept}")
        _cli.out.print(f"0x{s.chain_claim_id.hex()}  invoice 0x{s.fingerprint.hex()} ({s.issuer})  "
                       f"{_cli.yuan(s.amount_fen)}  {f.on_chain}  {what}", highlight=False, soft_wrap=True)
    to_release = [f for f in found if f.kept is None and not f.released_tx and not f.refused]
    if to_release and not applied:
        _cli.out.print(f"{len(to_release)} reservations ({_cli.yuan(sum(f.stamp.amount_fen for f in to_release))}) "
                       "would be released: stop the service, then run again with --yes", highlight=False)
