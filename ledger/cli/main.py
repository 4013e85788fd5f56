"""``ebill``: the one command-line entry point of ebill-ledger.

Every command maps :class:`~ledger.errors.LedgerError` to a one-line message on stderr
and a non-zero exit status (1 = refused / failed verification, 2 = usage error), so it
never prints a traceback for a foreseen failure.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ledger.cli.support import ChainOpt, HomeOpt, KeyOpt, UrlOpt, keystore_passphrase, out
from ledger.cli.support import errors as _errors
from ledger.cli.support import fail as _fail
from ledger.cli.support import home_dir as _home
from ledger.cli.support import open_session as _session
from ledger.errors import InvalidInput, NotAnchored, VerificationError

app = typer.Typer(help="Tamper-evident medical e-invoices and exactly-once reimbursement.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
node_app = typer.Typer(help="Run a local anvil node (state persisted under the data directory).",
                       no_args_is_help=True)
contracts_app = typer.Typer(help="Solidity sources and their committed artefacts.", no_args_is_help=True)
app.add_typer(node_app, name="node")
app.add_typer(contracts_app, name="contracts")

# ------------------------------------------------------------------------------ demo


@app.command()
def demo(
    chain: ChainOpt = "embedded", rpc_url: UrlOpt = None, key: KeyOpt = None, home: HomeOpt = None,
    hospitals: Annotated[int, typer.Option(min=2, max=500, help="hospitals to simulate")] = 6,
    invoices: Annotated[int, typer.Option(min=2, max=200_000, help="invoices to generate")] = 240,
    seed: Annotated[int, typer.Option(help="data generator seed")] = 2024,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Generate, fingerprint, anchor and verify invoices; void one; show what is refused."""
    from ledger.app.demo import run_demo

    with _errors():
        # the deployment record's keys are sealed with the data directory's keystore passphrase
        session = _session(chain, rpc_url, key, home, autostart=True, passphrase=lambda: keystore_passphrase(home))
        report = run_demo(session, hospitals=hospitals, invoices=invoices, seed=seed)
    if as_json:
        out.print_json(json.dumps(report.to_json()))
        return
    _print_demo(report)


def _yuan(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"


def _print_demo(r: Any) -> None:
    t = Table(title=f"ebill demo on {r.chain} (chain {r.chain_id}, contract {r.contract})", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("hospitals", str(r.hospitals))
    t.add_row("invoices", f"{r.invoices:,}  ({_yuan(r.total_fen)})")
    t.add_row("fee lines", f"{r.fee_lines:,}  ({r.fee_lines / max(r.invoices, 1):.0f} per invoice)")
    t.add_row("fingerprinting", f"{r.seal_seconds:.2f} s  ({r.fee_lines / max(r.seal_seconds, 1e-9):,.0f} lines/s)")
    t.add_row("Merkle batches", str(r.batches))
    t.add_row("anchoring", f"{r.anchor_transactions} transaction(s), {r.anchor_gas:,} gas "
                           f"({r.anchor_gas / max(r.invoices, 1):,.0f} gas per invoice)")
    t.add_row("all transactions", f"{r.transactions} (incl. deployment and registry), {r.gas_used:,} gas")
    out.print(t)
    s = r.sample
    out.print(f"\n[bold]Sample invoice[/] {s['invoice']} of {s['issuer']}: {_yuan(s['totalFen'])}, "
              f"{s['feeLines']} fee lines")
    out.print(f"  fingerprint  {s['fingerprint']}")
    out.print(f"  batch root   {s['proof']['batchRoot']}")
    out.print(f"  proof        {len(s['proof']['proof'])} hashes: "
              + ", ".join(p[:10] + '…' for p in s["proof"]["proof"]))
    v = s["verified"]
    out.print(f"  [green]✔ proof verified against the on-chain root[/] (anchored by {v['anchoredBy']} "
              f"in block {v['block']})")
    out.print(f"\n[bold]Void[/] (red-letter reversal) of that invoice: tx {r.void['tx'][:18]}… in block "
              f"{r.void['block']}; voided on chain: {r.void['voidedOnChain']}")
    for refusal in r.refusals:
        mark = "[green]✔ refused[/]" if refusal["refused"] else "[red]✘ ACCEPTED[/]"
        out.print(f"  {mark} {refusal['attempt']}: {refusal.get('error', '')}")
    m = r.reimbursement
    if m:
        out.print(f"\n[bold]Two payers, one invoice[/] ({_yuan(m['totalFen'])}): the rules ({m['rules']}) make "
                  f"{_yuan(m['eligibleFen'])} eligible and {_yuan(m['basicShareFen'])} the basic insurance's share")
        for step in m["steps"]:
            if step.get("paid"):
                out.print(f"  [green]✔ paid[/] {step['payer']}: {_yuan(step['amountFen'])}")
            else:
                left = f" (only {_yuan(step['availableFen'])} left)" if step.get("availableFen") is not None else ""
                out.print(f"  [green]✔ refused[/] {step['payer']} asking {_yuan(step['amountFen'])}: "
                          f"{step['refused']}{left}")
        out.print(f"  paid on chain in total: {_yuan(m['paidOnChainFen'])} — never more than the invoice")
    out.print(f"\nRe-sending all {r.batches} batches: {r.resend_new_anchors} new anchor transaction(s) "
              "[dim](anchoring is idempotent)[/]")


# ------------------------------------------------------------------------------ node


@node_app.command("start")
def node_start(
    home: HomeOpt = None,
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8545,
    block_time: Annotated[float | None, typer.Option(help="seconds per block (default: mine on every tx)")] = None,
    gas_limit: Annotated[int | None, typer.Option(
        min=1, help="block gas limit (anvil's default: 30,000,000; batched claim stamps at a few hundred a "
                    "second in 1 s blocks need more)")] = None,
) -> None:
    """Start anvil in the background with --state persistence."""
    from ledger.adapters import anvil

    with _errors():
        directory = _home(home) / "node"
        running = anvil.status(directory)
        if running:
            out.print(f"anvil already running at {running['url']} (pid {running['pid']})")
            return
        state = anvil.start_detached(anvil.AnvilConfig(data_dir=directory, port=port, block_time=block_time,
                                                           gas_limit=gas_limit))
    out.print(f"anvil running at {state['url']} (pid {state['pid']}), state in {directory}")


@node_app.command("stop")
def node_stop(home: HomeOpt = None) -> None:
    """Stop the background anvil node (it writes its state on the way out)."""
    from ledger.adapters import anvil

    with _errors():
        stopped = anvil.stop_detached(_home(home) / "node")
    out.print("anvil stopped" if stopped else "no anvil node was running")


@node_app.command("status")
def node_status(home: HomeOpt = None) -> None:
    """Show whether the background anvil node runs."""
    from ledger.adapters import anvil

    state = anvil.status(_home(home) / "node")
    if state is None:
        out.print("no anvil node is running")
        raise typer.Exit(1)
    out.print(f"anvil running at {state['url']} (pid {state['pid']})")


# ------------------------------------------------------------------------------ contracts


@contracts_app.command("compile")
def contracts_compile(
    check: Annotated[bool, typer.Option("--check", help="only report whether the artefacts are stale")] = False,
) -> None:
    """Recompile the Solidity sources with npm solc into contracts/build."""
    from contracts import ARTIFACT_DIR, REPO_ROOT
    from contracts.compile import compile_all, write_artifacts

    with _errors():
        artefacts = compile_all()
    if check:
        stale = [n for n, doc in artefacts.items()
                 if not (ARTIFACT_DIR / f"{n}.json").exists()
                 or json.loads((ARTIFACT_DIR / f"{n}.json").read_text()) != json.loads(json.dumps(doc))]
        if stale:
            _fail(f"stale artefacts: {', '.join(stale)} — run `ebill contracts compile`")
        out.print("artefacts are up to date")
        return
    for path in write_artifacts(artefacts):
        out.print(f"wrote {path.relative_to(REPO_ROOT)}")


# ------------------------------------------------------------------------------ proofs


@app.command()
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


@app.command("verify-proof")
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


@app.command("verify-line")
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


# the upload service's commands (serve, hospital, credential, upload, reindex, db) and `gen`
def _register_commands() -> None:
    from ledger.cli import claims, gen, serve, verify

    serve.register(app)
    claims.register(app)
    gen.register(app)
    verify.register(app)


_register_commands()


def main() -> None:  # pragma: no cover
    app()


_: Callable[..., Any] = main
