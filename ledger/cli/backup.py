"""``ebill backup`` (and ``backup verify``, ``backup gaps``) and ``ebill restore``: the service's
database to a backup file and back, and what the chain knows that the database lacks.

A backup is consistent while the service runs (SQLite's online backup; ``pg_dump`` on
PostgreSQL). A restore refuses a file that is not an ebill backup, a truncated or corrupt one,
or one from a newer schema, and a database a running service uses (``--force`` overrides
that); it migrates an older backup forward, and the next start rebuilds the chain index from
the chain. See ``docs/backups.md``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli import compose
from ledger.cli import support as _cli
from ledger.cli.support import DbOpt, HomeOpt

backup_app = typer.Typer(help="Back up the service's database (consistent while it runs); verify a backup; list "
                              "what the chain knows that the database lacks.",
                         invoke_without_command=True)


def register(app: typer.Typer) -> None:
    """Add the ``backup`` group and ``restore`` to ``app``."""
    app.add_typer(backup_app, name="backup")
    app.command()(restore)


def _describe(m: Any) -> list[str]:
    chain = f"chain {m.chain_id}, contract {m.contract}" if m.chain_id else "not bound to a chain yet"
    counts = ", ".join(f"{n} {k}" for k, n in m.counts.items())
    return [f"  taken {m.created_at} from {m.source or m.engine}",
            f"  schema revision {m.schema_revision}; {chain}; chain index at block {m.indexed_block}",
            f"  payers: {', '.join(m.payers) or 'none'}; {counts}",
            f"  {m.payload_bytes:,} bytes, SHA-256 {m.payload_sha256}"]


@backup_app.callback()
def backup(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="the backup file to write (default: "
                                                           "$EBILL_HOME/backups/ebill-<UTC time>.backup.tar)")] = None,
    db: DbOpt = None, home: HomeOpt = None,
) -> None:
    """Write a backup of the service's database, consistent while the service runs.

    SQLite: SQLite's online backup, gzipped; PostgreSQL: ``pg_dump -Fc`` (on PATH). The file
    carries what it is: when, schema revision, the chain and contract the database served, and
    a checksum. Keep the secrets directory ($EBILL_HOME/secrets, or EBILL_PEPPER and
    EBILL_KEYSTORE_PASSPHRASE) safe as well: the backup's keys are sealed under the passphrase.
    """
    if ctx.invoked_subcommand is not None:
        return
    from ledger.adapters.sql.backup import take_backup

    with _cli.errors():
        settings = compose.settings(home, db)
        if out is None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            out = _cli.home_dir(home) / "backups" / f"ebill-{stamp}.backup.tar"
        manifest = take_backup(settings.db_url, out)
    _cli.out.print(f"backup written to {out}", highlight=False)
    for line in _describe(manifest):
        _cli.out.print(line, highlight=False)


@backup_app.command("verify")
def backup_verify(file: Annotated[Path, typer.Argument(help="the backup file")]) -> None:
    """Check a backup as a restore would, restoring nothing (exit 1 if it would be refused)."""
    from ledger.adapters.sql.backup import verify_backup

    with _cli.errors():
        manifest = verify_backup(file)
    _cli.out.print(f"{file} is a sound ebill backup", highlight=False)
    for line in _describe(manifest):
        _cli.out.print(line, highlight=False)


@backup_app.command("gaps")
def backup_gaps(db: DbOpt = None, home: HomeOpt = None,
                as_json: Annotated[bool, typer.Option("--json", help="every gap, as JSON")] = False) -> None:
    """What the chain knows and this database lacks (after a restore from an older backup).

    Read from the chain index the running service keeps (or `ebill reindex`): batches anchored
    for this store's hospitals that it does not hold, this payer's stamps of claims it does not
    hold, claims that went further on chain than recorded. Exit status 1 if there are any.
    """
    from ledger.adapters.sql.chain_gaps import chain_gaps

    with _cli.errors():
        service = compose.service(compose.settings(home, db))
        gaps = chain_gaps(service.store)
    if as_json:
        _cli.out.print_json(json.dumps(_gaps_json(gaps)))
    else:
        head = f"chain index at block {gaps.indexed_block}"
        if gaps.restored_from:
            head += f"; restored from a backup taken at {gaps.restored_from}"
        _cli.out.print(head, highlight=False)
        for line in gaps.summary() or ["nothing the chain knows is missing here"]:
            _cli.out.print(f"- {line}", highlight=False)
    if not gaps.empty or gaps.rebuild_pending:
        raise typer.Exit(1)


def _gaps_json(gaps: Any) -> dict[str, Any]:
    return {
        "indexedBlock": gaps.indexed_block, "rebuildPending": gaps.rebuild_pending,
        "restoredFrom": gaps.restored_from, "invoicesMissing": gaps.invoices_missing,
        "missingBatches": [{"root": "0x" + b.root.hex(), "issuer": b.issuer, "leafCount": b.leaf_count,
                            "block": b.block, "tx": b.tx} for b in gaps.missing_batches],
        "unknownStamps": [{"payerId": s.payer_id, "chainClaimId": "0x" + s.chain_claim_id.hex(),
                           "fingerprint": "0x" + s.fingerprint.hex(), "issuer": s.issuer, "amountFen": s.amount_fen,
                           "status": s.status, "block": s.block, "tx": s.tx} for s in gaps.unknown_stamps],
        "claimsBehind": [{"claimId": c.claim_id, "state": c.state, "recorded": c.recorded, "onChain": c.on_chain,
                          "amountFen": c.amount_fen, "block": c.block} for c in gaps.claims_behind],
        "summary": gaps.summary(),
    }


def restore(
    file: Annotated[Path, typer.Argument(help="the backup file (`ebill backup`)")],
    force: Annotated[bool, typer.Option("--force", help="overwrite the database even though a running service "
                                                        "seems to use it")] = False,
    db: DbOpt = None, home: HomeOpt = None,
) -> None:
    """Restore the service's database from a backup (stop the service first).

    Refuses a file that is not an ebill backup, a truncated or corrupt one, one from a newer
    schema than this code, and a database a running service uses (unless --force). An older
    backup is migrated forward. At its next start the service rebuilds its chain index from the
    chain; then `ebill backup gaps` lists what the chain knows and the backup lacks.
    """
    from ledger.adapters.sql.backup import restore_backup

    with _cli.errors():
        settings = compose.settings(home, db)
        done = restore_backup(settings.db_url, file, force=force)
    m = done.manifest
    _cli.out.print(f"restored {_cli.redacted(settings.db_url)} from {file}", highlight=False)
    for line in _describe(m):
        _cli.out.print(line, highlight=False)
    if done.migrated_from:
        _cli.out.print(f"  migrated forward from schema revision {done.migrated_from} to {done.revision}",
                       highlight=False)
    _cli.out.print("next: start the service (it rebuilds its chain index from the chain), then "
                   "`ebill backup gaps` lists what the chain knows that this backup lacks", highlight=False)
