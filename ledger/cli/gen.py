"""``ebill gen``: write a synthetic data set as upload files (NDJSON, HIS CSV, FHIR bundles).

Registered on the ``ebill`` app by :func:`register`. Like every ``ebill`` command it
prints a one-line message instead of a traceback for a foreseen failure: exit status 2
for a usage error, 1 when the files cannot be written.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

__all__ = ["gen", "register"]

err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add the ``gen`` command to ``app``."""
    app.command("gen")(gen)


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def gen(
    seed: Annotated[int, typer.Option(help="data generator seed: the same seed gives byte-identical files")] = 1,
    hospitals: Annotated[int | None, typer.Option(min=1, max=5000, help="invented hospitals (default 132)")] = None,
    issuers: Annotated[list[str] | None, typer.Option(
        "--issuer", help="issue every invoice as this registered hospital (its institution code, as given to "
                         "`ebill hospital register --id`); repeat for several, instead of --hospitals")] = None,
    invoices: Annotated[int, typer.Option(min=1, max=10_000_000, help="invoices")] = 15_605,
    fee_lines: Annotated[int, typer.Option(min=1, help="fee lines in all (about 85 per invoice)")] = 1_332_000,
    out: Annotated[Path, typer.Option("--out", help="output directory")] = Path("ebill-data"),
    formats: Annotated[list[str] | None, typer.Option(
        "--format", "-f", help="ndjson | csv | fhir; repeat for several (default: ndjson)")] = None,
    per_hospital: Annotated[bool, typer.Option("--per-hospital", help="one directory per hospital")] = False,
    pepper_hex: Annotated[str | None, typer.Option(
        "--pepper-hex", envvar="EBILL_PEPPER_HEX",
        help="pseudonymisation pepper (hex, >= 16 bytes); the files do not depend on it (default: random)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Generate a synthetic year of self-paid e-invoices as upload files (synthetic patient IDs).

    A service accepts only its own invoices from a hospital's token, so to upload the files,
    generate them for the hospitals registered there: ``--issuer H33010200001``.
    """
    from ledger.devtools.gen import GEN_FORMATS, write_dataset
    from ledger.devtools.synth import generate

    fmts = formats or ["ndjson"]
    bad = [f for f in fmts if f not in GEN_FORMATS]
    if bad:
        _fail(f"--format must be one of {', '.join(GEN_FORMATS)}, got {', '.join(map(repr, bad))}", 2)
    try:
        pepper = bytes.fromhex(pepper_hex) if pepper_hex is not None else os.urandom(32)
    except ValueError:
        _fail("--pepper-hex must be hexadecimal", 2)
    if len(pepper) < 16:
        _fail(f"--pepper-hex must be at least 16 bytes, got {len(pepper)}", 2)
    if issuers and hospitals is not None and hospitals != len(issuers):
        _fail(f"--hospitals {hospitals} and --issuer: the invoices are issued by the {len(issuers)} hospital(s) "
              "--issuer names; leave out --hospitals", 2)
    try:
        dataset = generate(seed, hospitals=hospitals or 132, invoices=invoices, fee_lines=fee_lines, pepper=pepper,
                           issuers=issuers or None)
    except ValueError as exc:
        _fail(f"--issuer: {exc}" if issuers and "institution code" in str(exc) else str(exc), 2)

    columns = (TextColumn("[bold]ebill gen[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("invoices"),
               TextColumn("{task.fields[lines]:,} fee lines"), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True, disable=as_json) as progress:
        task = progress.add_task("gen", total=len(dataset), lines=0)

        def advance(n: int, lines: int) -> None:
            if n % 64 == 0 or n == len(dataset):
                progress.update(task, completed=n, lines=lines)

        try:
            report = write_dataset(dataset, out, formats=fmts, per_hospital=per_hospital, progress=advance)
        except ValueError as exc:
            _fail(str(exc), 2)
        except OSError as exc:
            _fail(f"cannot write to {out}: {exc}", 1)
    if as_json:
        sys.stdout.write(json.dumps(report.to_json()) + "\n")
        return
    yuan = f"¥{report.total_fen // 100:,}.{report.total_fen % 100:02d}"
    err.print(f"wrote {len(report.files)} file{'s' if len(report.files) != 1 else ''} to {out}: "
              f"{report.invoices:,} invoices, {report.fee_lines:,} fee lines ({yuan}), "
              f"{report.bytes / 1e6:,.1f} MB in {report.seconds:.1f} s", highlight=False, soft_wrap=True)
