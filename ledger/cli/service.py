"""``ebill hospital``, ``credential``, ``db``, ``void`` and ``reindex``: commands that act on the service's own
database (and, for ``reindex``, read the chain), beside or instead of the running service."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ledger.cli import compose
from ledger.cli import support as _cli
from ledger.cli.support import DbOpt, HomeOpt
from ledger.errors import InvalidInput

hospital_app = typer.Typer(help="Hospitals: register (signing key + API token), list.", no_args_is_help=True)
credential_app = typer.Typer(help="API credentials for hospitals, payers, auditors, admins.", no_args_is_help=True)
db_app = typer.Typer(help="The service database (Alembic migrations).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``hospital``, ``credential`` and ``db`` groups and ``void`` and ``reindex`` to ``app``."""
    app.add_typer(hospital_app, name="hospital")
    app.add_typer(credential_app, name="credential")
    app.add_typer(db_app, name="db")
    app.command("void")(void)
    app.command()(reindex)


# ------------------------------------------------------------------ db


@db_app.command("upgrade")
def db_upgrade(db: DbOpt = None, home: HomeOpt = None) -> None:
    """Create or migrate the database schema to the newest revision."""
    from ledger.adapters.sql.engine import upgrade

    with _cli.errors():
        settings = compose.settings(home, db)
        upgrade(settings.db_url)
    _cli.out.print(f"database at {_cli.redacted(settings.db_url)} is up to date")


# ------------------------------------------------------------------ hospitals and credentials


@hospital_app.command("register")
def hospital_register(
    institution_id: Annotated[str, typer.Option("--id", help="institution code, H + 11 digits")],
    name: Annotated[str, typer.Option(help="hospital name")],
    region: Annotated[str, typer.Option(help="region code, e.g. 330100")],
    db: DbOpt = None, home: HomeOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a hospital: its signing account (key sealed at rest) and an API token (shown once).

    The running service registers the account on chain within a tick.
    """
    with _cli.errors():
        service = compose.service(compose.settings(home, db))
        record, token = service.register_hospital(institution_id=institution_id, name=name, region=region)
    doc = {"institutionId": record.institution_id, "name": record.name, "region": record.region,
           "account": record.account, "apiToken": token}
    if as_json:
        _cli.out.print_json(json.dumps(doc))
        return
    _cli.out.print(f"hospital {record.institution_id} ({record.name}) registered; signing account {record.account}")
    _cli.out.print(f"API token (shown once, keep it secret): [bold]{token}[/]")


@hospital_app.command("list")
def hospital_list(db: DbOpt = None, home: HomeOpt = None) -> None:
    """Hospitals known to this service and whether the chain knows their key."""
    with _cli.errors():
        service = compose.service(compose.settings(home, db))
        rows = service.store.hospitals()
    for h in rows:
        chain = f"registered in block {h.registered_block}" if h.registered_block is not None else "not yet on chain"
        _cli.out.print(f"{h.institution_id}  {h.name}  ({h.region})  {h.account}  {chain}")


@credential_app.command("create")
def credential_create(
    role: Annotated[str, typer.Option(help="hospital | payer | auditor | admin | clerk | monitor (a metrics scraper)")],
    subject: Annotated[str, typer.Option(help="institution id, payer id, or a name")],
    label: Annotated[str, typer.Option(help="what the token is for")] = "",
    db: DbOpt = None, home: HomeOpt = None,
) -> None:
    """Create an API token (shown once; only its hash is stored)."""
    from ledger.records import Role

    if role not in {r.value for r in Role}:
        _cli.fail(f"--role must be one of {', '.join(r.value for r in Role)}", 2)
    with _cli.errors():
        token = compose.service(compose.settings(home, db)).create_credential(role=Role(role), subject=subject,
                                                                              label=label)
    _cli.out.print(token)


@credential_app.command("revoke")
def credential_revoke(
    key_id: Annotated[str, typer.Argument(help="the key id: the part after `ebill_` in the token")],
    db: DbOpt = None, home: HomeOpt = None,
) -> None:
    """Revoke an API token at once (e.g. a leaked hospital token; create a new one first)."""
    with _cli.errors():
        compose.service(compose.settings(home, db)).store.revoke_credential(key_id, actor="cli")
    _cli.out.print(f"credential {key_id} revoked")



# ------------------------------------------------------------------ void


def void(
    fingerprint: Annotated[str, typer.Argument(help="0x-hex fingerprint of the invoice")],
    reason: Annotated[str, typer.Option("--reason", help="reason code stamped on chain: refund | resettled | "
                                                          "issued-in-error | duplicate | amount-error | "
                                                          "patient-details-error | other")],
    note: Annotated[str | None, typer.Option("--note", help="the hospital's own words (up to 500 characters); "
                                                            "kept in the database, never on chain")] = None,
    token: Annotated[str | None, typer.Option("--token", envvar="EBILL_TOKEN",
                                              help="act as this hospital's credential (as the API would): "
                                                   "another hospital's invoice is refused")] = None,
    db: DbOpt = None, home: HomeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the void as JSON")] = False,
) -> None:
    """Void an invoice (red-letter reversal) on behalf of its issuing hospital.

    The void is recorded in the service's database, as `POST /v1/invoices/{fp}/void` records
    it; the running service's chain worker stamps its reason code on chain within a tick.
    Repeating a recorded void shows it; another reason for a voided invoice is refused.
    With ``--token`` (``EBILL_TOKEN``) the hospital whose credential it is voids, and the
    audit trail names that credential; without it, whoever holds the database acts for the
    invoice's issuer.
    """
    from ledger.app.access import Principal
    from ledger.app.service import parse_hash_arg
    from ledger.errors import FieldProblem, NotFound
    from ledger.records import Role
    from ledger.voids import VoidRequest

    with _cli.errors():
        try:
            request = VoidRequest.parse(code=reason, note=note)
            fp = parse_hash_arg(fingerprint.strip())
        except InvalidInput as exc:  # name the options, not the API's fields
            flags = {"reasonCode": "--reason", "reason": "--note", "fingerprint": "FINGERPRINT"}
            raise InvalidInput([FieldProblem(flags.get(p.field, p.field), p.rule, p.message)
                                for p in exc.problems]) from None
        fingerprint = "0x" + bytes(fp).hex()
        service = compose.service(compose.settings(home, db))
        if token:
            principal = service.authenticate(token)
            if principal.role is not Role.HOSPITAL:
                _cli.fail(f"--token is a {principal.role.value} credential: only the hospital that issued an "
                          "invoice voids it", 1)
        else:
            # the issuing hospital voids; NotFound names an unknown fingerprint
            principal = Principal(Role.HOSPITAL, service.store.invoice(fp).invoice.issuer, "cli")
        try:
            record, created = service.request_void(principal, fingerprint, request=request)
        except NotFound:
            raise NotFound(f"{principal.subject} has no invoice {fingerprint}: a hospital voids only the invoices "
                           "it issued") from None
    issuer = record.issuer
    doc = {"fingerprint": fingerprint, "issuer": issuer, "reasonCode": record.reason_code.value,
           "reason": record.note or None, "state": record.state, "transaction": record.voided_tx,
           "block": record.voided_block, "created": created}
    if as_json:
        _cli.out.print_json(json.dumps(doc, ensure_ascii=False))
        return
    if created:
        _cli.out.print(f"void of {fingerprint} ({issuer}) recorded with reason {record.reason_code.value}; "
                       "the running service stamps it on chain (`ebill serve`)", highlight=False)
        return
    where = f" in block {record.voided_block}" if record.voided_block is not None else ""
    _cli.out.print(f"void of {fingerprint} ({issuer}) was recorded before with reason "
                   f"{record.reason_code.value}: {record.state}{where}", highlight=False)


# ------------------------------------------------------------------ reindex


def reindex(
    db: DbOpt = None, home: HomeOpt = None,
    chain: Annotated[str, typer.Option("--chain", help="anvil | rpc")] = "anvil",
    rpc_url: Annotated[str | None, typer.Option("--rpc-url")] = None,
) -> None:
    """Rebuild chain-derived state (anchors, voids, stamps, claw-backs) from the contract's events."""
    from ledger.app.chain_worker import ChainWorker

    with _cli.errors():
        settings = compose.settings(home, db)
        service = compose.service(settings)
        session = _cli.open_session(chain, rpc_url, None, settings.home, deploy=False,
                                    passphrase=settings.passphrase)
        service.bind_chain(session.ledger.chain_id, session.ledger.contract_address)
        count = ChainWorker(service, session).reindex(reason="ebill reindex")
        counts = service.store.counts()
    _cli.out.print(f"replayed {count} events; {counts['batchesAnchored']} batches anchored, "
                   f"{counts['batchesWaiting']} waiting to be (re-)anchored by the service")
