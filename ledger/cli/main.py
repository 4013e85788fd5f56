"""``ebill``: the one command-line entry point of ebill-ledger.

Every command maps :class:`~ledger.errors.LedgerError` to a one-line message on stderr
and a non-zero exit status (1 = refused / failed verification, 2 = usage error), so it
never prints a traceback for a foreseen failure.
"""

from __future__ import annotations

import typer

from ledger.cli import (
    backup,
    calendar,
    chain,
    claims,
    claims_chain,
    clawbacks,
    demo,
    gen,
    keys,
    pepper,
    proofs,
    report,
    rules,
    serve,
    service,
    upload,
    verify,
)

app = typer.Typer(help="Tamper-evident medical e-invoices and exactly-once reimbursement.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)

# registered in the order `ebill --help` lists them: commands first (demo, proof, verify-proof,
# verify-line, serve, upload, void, reindex, restore, gen, verify), then groups (node, contracts, hospital,
# credential, db, backup, payer, person, citizen, claims, rules, calendar, report, clawback, registry)
for _commands in (chain, demo, proofs, serve, upload, service, backup, keys, pepper, claims, claims_chain, rules,
                  calendar, report, clawbacks, gen, verify):
    _commands.register(app)


def main() -> None:  # pragma: no cover
    """Run ``ebill`` with the process's arguments."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
