"""``ebill clawback``: what paid claims owe back, and the payer's office settling it.

- ``ebill clawback list [--state S] [--hospital H] [--debtor hospital|person] [--claim C]``:
  newest first, one line each (``--json``: as ``GET /v1/clawbacks`` writes them);
- ``ebill clawback show ID``: one claw-back with every step, who acted and when;
- ``ebill clawback recover ID --amount-fen N --reference REF [--note TEXT]``: money the
  debtor paid back (the same reference and amount again changes nothing);
- ``ebill clawback offset ID --amount-fen N --reference REF``: an offset made outside this
  ledger, e.g. against the hospital's next settlement (a person's later payout keeps back
  what they owe by itself);
- ``ebill clawback write-off ID --reason TEXT``: propose writing off what is outstanding;
  ``--approve`` (another member of the office) writes it off, ``--decline`` keeps it owed.

The changing commands act as the payer's office member whose credential ``--token``
(``EBILL_PAYER_TOKEN``) is, as the API would: the audit trail and the write-off's
maker-checker rule see who acted. The reading ones act as ``--token`` too if given (a
hospital's token lists what it owes); without one they read as whoever holds the
database does: everything, as an auditor reads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from ledger.cli import compose
from ledger.cli import support as _cli
from ledger.cli.support import DbOpt, HomeOpt

clawback_app = typer.Typer(help="Claw-backs: what paid claims owe back; record recoveries, offsets, write-offs.",
                           no_args_is_help=True)

PayerOpt = Annotated[str | None, typer.Option("--payer", envvar="EBILL_PAYER_ID",
                                              help="the payer this store acts for (default 330600-ybj)")]
TokenOpt = Annotated[str | None, typer.Option("--token", envvar="EBILL_PAYER_TOKEN",
                                              help="your credential (ebill credential create --role payer)")]
IdArg = Annotated[str, typer.Argument(help="the claw-back's id, cbk_…")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON, as the API writes it")]
AmountOpt = Annotated[int, typer.Option("--amount-fen", help="the amount in fen (¥1 = 100)")]
ReferenceOpt = Annotated[str, typer.Option("--reference", help="the transfer's or settlement's reference")]
NoteOpt = Annotated[str, typer.Option("--note", help="a note for the audit trail")]

#: the options each field of the use cases is given by
_OPTIONS = {"amountFen": "--amount-fen", "reference": "--reference", "note": "--note", "reason": "--reason"}


def register(app: typer.Typer) -> None:
    app.add_typer(clawback_app, name="clawback")


def _office(home: Path | None, db: str | None, payer: str | None) -> Any:
    settings = compose.settings(home, db)
    if payer:
        settings.payer_id = payer
    if not settings.payer_id:
        _cli.fail("no payer configured: pass --payer or set EBILL_PAYER_ID", 2)
    return compose.claims(settings, compose.service(settings), None)


def _reader(claims: Any, token: str | None) -> Any:
    """Who reads: ``token``'s holder, or (without one) whoever holds the database, reading it all."""
    if token:
        return claims.authenticate(token)
    from ledger.app.access import Principal
    from ledger.records import Role

    return Principal(Role.AUDITOR, "local-database", "cli")


def _actor(claims: Any, token: str | None) -> Any:
    if not token:
        _cli.fail("settling a claw-back needs your payer credential: pass --token or set EBILL_PAYER_TOKEN", 2)
    return claims.authenticate(token)


def _renamed(exc: Any) -> Any:
    from ledger.errors import FieldProblem, InvalidInput

    return InvalidInput([FieldProblem(_OPTIONS.get(p.field, p.field), p.rule, p.message) for p in exc.problems])


def _line(cb: Any) -> str:
    owes = f"{cb.debtor.value} {cb.debtor_id if cb.debtor.value == 'hospital' else cb.debtor_id[:12] + '…'}"
    pending = f", {_cli.yuan(cb.pending_offset_fen)} being kept back" if cb.pending_offset_fen else ""
    proposed = ", write-off proposed" if cb.write_off_proposed_by else ""
    return (f"{cb.id}  {cb.state.value:<11} {_cli.yuan(cb.outstanding_fen)} of {_cli.yuan(cb.amount_due_fen)} "
            f"owed by {owes}{pending}{proposed}  ({cb.reason.value}; claim {cb.claim_id}, invoice "
            f"{cb.invoice_code}/{cb.invoice_number})")


def _doc(claims: Any, cb: Any) -> dict[str, Any]:
    from api.presenters.clawbacks import clawback_json

    return clawback_json(cb, calendar=claims.calendar)


def _show(claims: Any, cb: Any, as_json: bool, *, replayed: bool | None = None) -> None:
    if as_json:
        doc = _doc(claims, cb) | ({} if replayed is None else {"replayed": replayed})
        _cli.out.print_json(json.dumps(doc, ensure_ascii=False))
        return
    doc = _doc(claims, cb)
    _cli.out.print(_line(cb), highlight=False, soft_wrap=True)
    _cli.out.print(f"  due by {doc['dueAt'][:10]} ({cb.due_working_days} working days)"
                   + ("  OVERDUE" if doc["overdue"] else "")
                   + f"; recovered {_cli.yuan(cb.recovered_fen)}, offset {_cli.yuan(cb.offset_fen)}, "
                     f"written off {_cli.yuan(cb.written_off_fen)}", highlight=False, soft_wrap=True)
    for a in cb.actions:
        extra = "".join(f"  {k} {v}" for k, v in (("ref", a.reference), ("payout of", a.payout)) if v)
        note = f"  — {a.note}" if a.note else ""
        _cli.out.print(f"  {a.at:%Y-%m-%d %H:%M} {a.event.value:<19} {_cli.yuan(a.amount_fen):>12}  {a.actor}"
                       f"{extra}{note}", highlight=False, markup=False, soft_wrap=True)
    if replayed:
        _cli.err.print("recorded before with this reference and amount: nothing changed", highlight=False)


@clawback_app.command("list")
def clawback_list(
    state: Annotated[str | None, typer.Option(help="requested | recovered | offset | written-off")] = None,
    hospital: Annotated[str | None, typer.Option(help="the invoice's hospital (institution id)")] = None,
    debtor: Annotated[str | None, typer.Option(help="hospital | person: who owes")] = None,
    claim: Annotated[str | None, typer.Option(help="a claim id, clm_…")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    token: TokenOpt = None, as_json: JsonOpt = False, payer: PayerOpt = None, db: DbOpt = None, home: HomeOpt = None,
) -> None:
    """Claw-backs, newest first: what is outstanding of what is due, and who owes it."""
    from ledger.claims.clawbacks import ClawbackState, Debtor

    if state is not None and state not in {s.value for s in ClawbackState}:
        _cli.fail(f"--state must be one of {', '.join(s.value for s in ClawbackState)}", 2)
    if debtor is not None and debtor not in {d.value for d in Debtor}:
        _cli.fail("--debtor must be hospital or person", 2)
    with _cli.errors():
        claims = _office(home, db, payer)
        found = claims.clawbacks(_reader(claims, token), state=state, hospital=hospital, debtor=debtor, claim=claim,
                                 limit=limit)
    if as_json:
        _cli.out.print_json(json.dumps([_doc(claims, cb) for cb in found], ensure_ascii=False))
        return
    for cb in found:
        _cli.out.print(_line(cb), highlight=False, soft_wrap=True)
    if not found:
        _cli.err.print("no claw-backs")


@clawback_app.command("show")
def clawback_show(clawback_id: IdArg, token: TokenOpt = None, as_json: JsonOpt = False, payer: PayerOpt = None,
                  db: DbOpt = None, home: HomeOpt = None) -> None:
    """One claw-back: what is owed, by whom, by when, and every step with who acted."""
    with _cli.errors():
        claims = _office(home, db, payer)
        cb = claims.clawback(_reader(claims, token), clawback_id)
    _show(claims, cb, as_json)


@clawback_app.command("recover")
def clawback_recover(clawback_id: IdArg, amount_fen: AmountOpt, reference: ReferenceOpt, note: NoteOpt = "",
                     token: TokenOpt = None, as_json: JsonOpt = False, payer: PayerOpt = None, db: DbOpt = None,
                     home: HomeOpt = None) -> None:
    """Record money the debtor paid back (never more than is outstanding)."""
    _settle("recover", clawback_id, amount_fen, reference, note, token, as_json, payer, db, home)


@clawback_app.command("offset")
def clawback_offset(clawback_id: IdArg, amount_fen: AmountOpt, reference: ReferenceOpt, note: NoteOpt = "",
                    token: TokenOpt = None, as_json: JsonOpt = False, payer: PayerOpt = None, db: DbOpt = None,
                    home: HomeOpt = None) -> None:
    """Record an offset made outside this ledger, e.g. against the hospital's next settlement."""
    _settle("record_offset", clawback_id, amount_fen, reference, note, token, as_json, payer, db, home)


def _settle(how: Literal["recover", "record_offset"], clawback_id: str, amount_fen: int, reference: str, note: str,
            token: str | None, as_json: bool, payer: str | None, db: str | None, home: Path | None) -> None:
    """Record a settlement (``recover`` or ``record_offset`` of the claims service) and show the result."""
    from ledger.errors import InvalidInput

    with _cli.errors():
        claims = _office(home, db, payer)
        try:
            settle = claims.recover if how == "recover" else claims.record_offset
            cb, replayed = settle(_actor(claims, token), clawback_id, amount_fen=amount_fen, reference=reference,
                                  note=note)
        except InvalidInput as exc:
            raise _renamed(exc) from None
    _show(claims, cb, as_json, replayed=replayed)


@clawback_app.command("write-off")
def clawback_write_off(
    clawback_id: IdArg,
    reason: Annotated[str, typer.Option("--reason", help="why, in words (the audit trail keeps it)")],
    approve: Annotated[bool, typer.Option("--approve", help="write off, as another member proposed")] = False,
    decline: Annotated[bool, typer.Option("--decline", help="decline the proposed write-off")] = False,
    token: TokenOpt = None, as_json: JsonOpt = False, payer: PayerOpt = None, db: DbOpt = None, home: HomeOpt = None,
) -> None:
    """Propose writing off what is outstanding; another member of the office approves (--approve) or
    declines (--decline) it."""
    from ledger.errors import InvalidInput

    if approve and decline:
        _cli.fail("--approve and --decline exclude each other", 2)
    with _cli.errors():
        claims = _office(home, db, payer)
        who = _actor(claims, token)
        act = claims.approve_write_off if approve else claims.decline_write_off if decline else \
            claims.propose_write_off
        try:
            cb = act(who, clawback_id, reason=reason)
        except InvalidInput as exc:
            raise _renamed(exc) from None
    _show(claims, cb, as_json)
    if not (approve or decline):
        _cli.err.print(f"another member of the office writes it off: ebill clawback write-off {cb.id} --approve "
                       "--reason …", highlight=False)
