"""``ebill hospital rotate-key``, ``revoke-key`` and ``keys``: a hospital's signing keys over time.

Each change is recorded in the service's database (as ``/v1/hospitals/{id}/keys`` records it)
and then put on chain at once with the deployment's governance key (the keystore passphrase
opens it, or the PKCS#11 token holds it): ``addKey`` binds the new key, ``revokeKey`` revokes
an old one. If the chain cannot be reached, the change stays recorded and the running service
(``ebill serve``) puts it on chain within a tick; running the command again completes it too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from ledger.cli import compose
from ledger.cli import support as _cli
from ledger.cli.service import hospital_app
from ledger.cli.support import DbOpt, HomeOpt

IdOpt = Annotated[str, typer.Option("--id", help="institution code, H + 11 digits")]
ChainKindOpt = Annotated[str, typer.Option("--chain", help="anvil | rpc: the chain the service runs on")]
UrlOpt = Annotated[str | None, typer.Option("--rpc-url", help="JSON-RPC URL (default: the local anvil node)")]
NoChainOpt = Annotated[bool, typer.Option("--no-chain", help="only record the change: the running service "
                                                             "(ebill serve) puts it on chain within a tick")]
TokenOpt = Annotated[str | None, typer.Option("--token", envvar="EBILL_TOKEN",
                                              help="act as this API credential (an admin's), as the API would; "
                                                   "default: the operator of this database")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the result as JSON")]
REASONS = "compromised | superseded | lost"


def register(app: typer.Typer) -> None:
    """The commands live in the ``hospital`` group (:mod:`ledger.cli.service`); nothing to add to ``app``."""


@hospital_app.command("rotate-key")
def rotate_key(
    institution_id: IdOpt,
    revoke_old: Annotated[str | None, typer.Option(
        "--revoke-old", help=f"also revoke the replaced key, once the new one is bound: {REASONS}")] = None,
    chain: ChainKindOpt = "anvil", rpc_url: UrlOpt = None, no_chain: NoChainOpt = False, token: TokenOpt = None,
    db: DbOpt = None, home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """A new signing key for a hospital, bound on chain by the governance; new QR codes are signed with it.

    QR codes the old key signed keep verifying, online and offline (the chain keeps the old key
    bound); with --revoke-old it is revoked too, and seals it signs dated after the revocation
    day are refused.
    """
    from ledger.app.key_office import KeyOffice
    from ledger.hospital_keys import KeyState, current_key, parse_reason

    with _cli.errors():
        reason = parse_reason(revoke_old, field="--revoke-old") if revoke_old is not None else None
        settings = compose.settings(home, db)
        service = compose.service(settings)
        principal = _principal(service, token)
        office = KeyOffice(service)
        before = current_key(office.keys(principal, institution_id))
        key, created = office.rotate(principal, institution_id, revoke_previous=reason)
        if not created:
            _cli.err.print(f"a rotation of {institution_id} is under way already (key {key.account}, made "
                           f"{key.created_at:%Y-%m-%d %H:%M} UTC): completing it", highlight=False, soft_wrap=True)
        settled = None if no_chain else _settle(settings, service, institution_id, chain, rpc_url, key.account)
        keys = {k.account: k for k in service.store.hospital_keys(institution_id)}
    new = keys[key.account]
    old = keys.get(before.account) if before is not None and before.account != key.account else None
    if as_json:
        from api.presenters.keys import key_json

        _cli.out.print_json(json.dumps({"key": key_json(new), "previous": key_json(old) if old else None,
                                        "created": created, "onChain": settled is not None}))
        return
    if settled is None or new.state is KeyState.PENDING:
        _say(f"new signing key {new.account} of {institution_id} recorded; the running service binds it on chain "
             "within a tick, and QR codes are signed with it from then on")
        return
    _cli.out.print(f"new signing key {new.account} of {institution_id} bound on chain at {_when(new.added_at)}: its "
                   "new QR codes are signed with it from now on", highlight=False, soft_wrap=True)
    if old is not None:
        _cli.out.print(_previous_words(old), highlight=False, soft_wrap=True)


@hospital_app.command("revoke-key")
def revoke_key(
    institution_id: IdOpt,
    account: Annotated[str, typer.Option("--account", help="the key's account (0x…), a retired key of the hospital")],
    reason: Annotated[str, typer.Option("--reason", help=REASONS)],
    chain: ChainKindOpt = "anvil", rpc_url: UrlOpt = None, no_chain: NoChainOpt = False, token: TokenOpt = None,
    db: DbOpt = None, home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Revoke a hospital's retired signing key on chain: seals it signs dated after the revocation day are refused.

    The current key cannot be revoked on its own (the hospital could no longer sign): rotate
    it with --revoke-old instead.
    """
    from ledger.app.key_office import KeyOffice
    from ledger.errors import FieldProblem, InvalidInput
    from ledger.hospital_keys import KeyState, parse_reason

    with _cli.errors():
        why = parse_reason(reason, field="--reason")
        settings = compose.settings(home, db)
        service = compose.service(settings)
        principal = _principal(service, token)
        try:
            key, created = KeyOffice(service).revoke(principal, institution_id, account.strip(), reason=why)
        except InvalidInput as exc:   # name the option, not the API's field
            raise InvalidInput([FieldProblem("--account" if p.field == "account" else p.field, p.rule, p.message)
                                for p in exc.problems]) from None
        settled = None if no_chain else _settle(settings, service, institution_id, chain, rpc_url, key.account)
        key = next(k for k in service.store.hospital_keys(institution_id) if k.account == key.account)
    if as_json:
        from api.presenters.keys import key_json

        _cli.out.print_json(json.dumps({"key": key_json(key), "created": created, "onChain": settled is not None}))
        return
    if not created and settled is None:
        _cli.out.print(f"key {key.account} of {institution_id} was asked to be revoked before: {key.state.value}",
                       highlight=False)
        return
    if settled is None or key.state is KeyState.REVOKING:
        _cli.out.print(f"revocation of {key.account} of {institution_id} recorded; the running service revokes it on "
                       "chain within a tick", highlight=False, soft_wrap=True)
        return
    _cli.out.print(_previous_words(key), highlight=False, soft_wrap=True)


@hospital_app.command("keys")
def list_keys(institution_id: IdOpt, token: TokenOpt = None, db: DbOpt = None, home: HomeOpt = None,
              as_json: JsonOpt = False) -> None:
    """A hospital's signing keys: current, pending, retired and revoked, and when the chain bound and revoked them."""
    from api.presenters.keys import MEANING, key_json
    from ledger.app.key_office import KeyOffice

    with _cli.errors():
        service = compose.service(compose.settings(home, db))
        keys = KeyOffice(service).keys(_principal(service, token), institution_id)
    if as_json:
        _cli.out.print_json(json.dumps({"institutionId": institution_id, "keys": [key_json(k) for k in keys]}))
        return
    for k in keys:
        times = f"bound {_when(k.added_at)}" if k.added_at else "not bound on chain yet"
        if k.revoked_at:
            times += f", revoked {_when(k.revoked_at)} ({k.revoke_reason.value if k.revoke_reason else '?'})"
        _say(f"{k.account}  {k.state.value:8}  {times}  — {MEANING[k.state]}")


# ------------------------------------------------------------------ helpers


def _say(line: str) -> None:
    """One line on stdout, never wrapped (addresses are copied from it)."""
    _cli.out.print(line, highlight=False, soft_wrap=True)


def _principal(service: Any, token: str | None) -> Any:
    """Who acts: the credential's holder (``--token``), or the operator of this database."""
    from ledger.app.access import SYSTEM

    return service.authenticate(token) if token else SYSTEM


def _settle(settings: Any, service: Any, institution_id: str, chain: str, rpc_url: str | None,
            account: str) -> Any:
    """Put the hospital's recorded key changes on chain now, with the governance key; the round's report.

    A chain that cannot be reached, or that is not the one this database serves, is said in one
    line: the change stays recorded, and the running service completes it."""
    from ledger.app.key_registrar import KeyRegistrar
    from ledger.errors import ChainError, ChainStateMismatch, KeysUnavailable

    recorded = (f"the change to {account} is recorded in the database and the running service (ebill serve) puts it "
                "on chain within a tick, or run this command again")
    try:
        session = _cli.open_session(chain, rpc_url, None, settings.home, deploy=False, passphrase=settings.passphrase)
        served = service.store.get_meta("chain.contract")
        if served is None or served.lower() != session.ledger.contract_address.lower():
            raise ChainStateMismatch(
                f"this database serves contract {served or '(none yet: start it once with ebill serve)'}, the node "
                f"has {session.ledger.contract_address}")
        report = KeyRegistrar(service.store, session.ledger, actor="cli").settle(institution_id=institution_id)
    except (ChainError, KeysUnavailable) as exc:
        _cli.fail(f"{exc} — {recorded}")
    if report.refused:
        _cli.fail("the chain refuses: " + "; ".join(report.refused))
    for note in report.waiting:
        _cli.err.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    return report


def _previous_words(k: Any) -> str:
    from ledger.hospital_keys import KeyState

    if k.state is KeyState.REVOKED:
        day = _china_day(k.revoked_at)
        why = k.revoke_reason.value if k.revoke_reason else "no reason recorded"
        return (f"key {k.account} of {k.institution_id} revoked on chain at {_when(k.revoked_at)} ({why}): QR codes "
                f"it signed dated up to {day} still verify; those dated later are refused (revoked-issuer)")
    if k.state is KeyState.REVOKING:
        return f"key {k.account} of {k.institution_id} is to be revoked: the running service revokes it within a tick"
    return (f"the previous key {k.account} is retired: QR codes it signed still verify, online and offline; revoke it "
            f"with `ebill hospital revoke-key --id {k.institution_id} --account {k.account} --reason …` if it is "
            "compromised")


def _when(unix: int | None) -> str:
    return "(not yet)" if unix is None else datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _china_day(unix: int | None) -> str:
    """The UTC+8 date of ``unix``: seals dated on it still verify (their day began before the revocation)."""
    if unix is None:
        return "(not yet)"
    # (a revocation at 00:00 exactly refuses that day's seals too: the last day that verifies is the one before)
    return (datetime.fromtimestamp(unix - 1, UTC) + timedelta(hours=8)).date().isoformat()
