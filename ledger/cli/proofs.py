"""``ebill proof``, ``verify-proof`` and ``verify-line``: an anchored invoice's inclusion proof, checked
against the chain, and one disclosed fee line checked against its invoice's fingerprint."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli.support import ChainOpt, HomeOpt, KeyOpt, UrlOpt, out
from ledger.cli.support import errors as _errors
from ledger.cli.support import open_session as _session
from ledger.cli.support import yuan as _yuan
from ledger.errors import InvalidInput, NotAnchored, VerificationError


def register(app: typer.Typer) -> None:
    """Add ``proof``, ``verify-proof`` and ``verify-line`` to ``app``."""
    app.command()(proof)
    app.command("verify-proof")(verify_proof)
    app.command("verify-line")(verify_line)


def proof(
    fingerprint: Annotated[str, typer.Argument(help="0x-hex fingerprint of an anchored invoice")],
    chain: ChainOpt = "anvil", rpc_url: UrlOpt = None, key: KeyOpt = None, home: HomeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the proof document as JSON")] = False,
) -> None:
    """Print the inclusion proof of an anchored invoice (root, leaf values, proof)."""
    from ledger.hashing import parse_fingerprint

    with _errors():
        try:
            fp = parse_fingerprint(fingerprint)
        except ValueError as exc:
            raise InvalidInput.single("FINGERPRINT", "hash32", str(exc)) from None
        session = _session(chain, rpc_url, key, home, deploy=False)
        with session.open_archive() as archive:
            doc = archive.inclusion(fp).to_json()
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    out.print(f"fingerprint {doc['fingerprint']}\n  total      {_yuan(doc['totalFen'])}\n  issuer     {doc['issuer']}"
              f"\n  batch root {doc['batchRoot']}\n  leaf       {doc['leaf']}\n  proof      "
              + "\n             ".join(doc["proof"] or ["(single-leaf batch: empty)"]))


def verify_proof(
    file: Annotated[Path, typer.Argument(help="proof document (from `ebill proof --json`); - for stdin")],
    chain: ChainOpt = "anvil", rpc_url: UrlOpt = None, key: KeyOpt = None, home: HomeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the verdict as JSON")] = False,
) -> None:
    """Check an inclusion proof locally and against the chain. Exit 0 valid, 1 invalid, 3 voided."""
    from ledger.proofdoc import InvoiceInclusion
    from verifier.inclusion import verify_inclusion_document

    verdict: dict[str, Any]
    with _errors():
        doc = InvoiceInclusion.from_json(_read_json(file))
        session = _session(chain, rpc_url, key, home, deploy=False)
        try:
            result = verify_inclusion_document(doc, session.ledger)
        except (VerificationError, NotAnchored) as exc:
            verdict = {"valid": False, "reason": exc.kind, "message": str(exc)}
            _emit_verdict(verdict, as_json)
            raise typer.Exit(1) from None
    state = result.state
    verdict = {"valid": True, "voided": state.voided, "issuer": result.batch.institution_id,
               "batchRoot": doc.to_json()["batchRoot"], "anchoredBlock": result.batch.block_number,
               "anchoredAt": result.batch.anchored_at, "reservedFen": state.reserved_fen, "paidFen": state.paid_fen}
    _emit_verdict(verdict, as_json)
    if state.voided:
        raise typer.Exit(3)


def verify_line(
    file: Annotated[Path, typer.Argument(help="fee-line disclosure (GET /v1/invoices/{fp}/fee-lines/{seq}/"
                                              "disclosure); - for stdin")],
    as_json: Annotated[bool, typer.Option("--json", help="print the verdict as JSON")] = False,
) -> None:
    """Prove that one disclosed fee line belongs to an invoice (offline; no other line revealed).

    Exit 0 if the line and header hash up to the fingerprint, 1 if not, 2 if malformed.
    Whether that fingerprint is anchored: `ebill verify-proof` or `ebill verify`.
    """
    from ledger.disclosure import verify_disclosure

    with _errors():
        doc = _read_json(file)
        try:
            disclosed = verify_disclosure(doc)
        except VerificationError as exc:
            if as_json:
                sys.stdout.write(json.dumps({"valid": False, "reason": exc.kind, "message": str(exc)}) + "\n")
            else:
                out.print(f"[bold red]✘ INVALID[/] ({exc.kind}): {exc}", highlight=False)
            raise typer.Exit(1) from None
    line, header = disclosed.line, disclosed.header
    if as_json:
        sys.stdout.write(json.dumps({"valid": True, "fingerprint": doc["fingerprint"], "issuer": header["issuer"],
                                     "invoice": f"{header['invoiceCode']}/{header['invoiceNumber']}",
                                     "line": {k: v for k, v in line.items() if k != "salt"}},
                                    ensure_ascii=False) + "\n")
        return
    out.print(f"[bold green]✔ VALID[/]: fee line {line['seq']} ({line['itemCode']} {line['itemName']}, "
              f"{line['quantity']} {line['unit']}, {_yuan(int(line['amountFen']))}) belongs to invoice "
              f"{header['invoiceCode']}/{header['invoiceNumber']} of {header['issuer']} "
              f"(fingerprint {doc['fingerprint']}); {int(header['feeLineCount']) - 1} other lines stay undisclosed",
              highlight=False)


def _read_json(file: Path) -> Any:
    """The JSON document in ``file`` (``-``: standard input); InvalidInput if unreadable or not JSON."""
    try:
        return json.loads(sys.stdin.read() if str(file) == "-" else file.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput.single("FILE", "readable", f"cannot read {file}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput.single("FILE", "json", f"not JSON: {exc}") from None


def _emit_verdict(verdict: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(verdict) + "\n")
    elif not verdict["valid"]:
        out.print(f"[bold red]✘ INVALID[/] ({verdict['reason']}): {verdict['message']}", highlight=False)
    else:
        head = "[bold yellow]⚠ VALID BUT VOIDED[/]" if verdict["voided"] else "[bold green]✔ VALID[/]"
        out.print(f"{head}: anchored by {verdict['issuer']} in block {verdict['anchoredBlock']} "
                  f"(root {verdict['batchRoot'][:18]}…); reimbursed so far {_yuan(verdict['paidFen'])}, "
                  f"reserved {_yuan(verdict['reservedFen'])}", highlight=False)
