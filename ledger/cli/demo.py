"""``ebill demo``: the whole foundation, end to end, on one chain (see :mod:`ledger.devtools.demo`),
printed as a table or, with ``--json``, as the report document."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from ledger.cli.support import ChainOpt, HomeOpt, KeyOpt, UrlOpt, keystore_passphrase, out
from ledger.cli.support import errors as _errors
from ledger.cli.support import open_session as _session
from ledger.cli.support import yuan as _yuan


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""
    app.command()(demo)


def demo(
    chain: ChainOpt = "embedded", rpc_url: UrlOpt = None, key: KeyOpt = None, home: HomeOpt = None,
    hospitals: Annotated[int, typer.Option(min=2, max=500, help="hospitals to simulate")] = 6,
    invoices: Annotated[int, typer.Option(min=2, max=200_000, help="invoices to generate")] = 240,
    seed: Annotated[int, typer.Option(help="data generator seed")] = 2024,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Generate, fingerprint, anchor and verify invoices; void one; show what is refused."""
    from ledger.devtools.demo import run_demo

    with _errors():
        # the deployment record's keys are sealed with the data directory's keystore passphrase
        session = _session(chain, rpc_url, key, home, autostart=True, passphrase=lambda: keystore_passphrase(home))
        report = run_demo(session, hospitals=hospitals, invoices=invoices, seed=seed)
    if as_json:
        out.print_json(json.dumps(report.to_json()))
        return
    _print_demo(report)


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
