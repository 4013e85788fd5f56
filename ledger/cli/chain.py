"""``ebill node`` and ``ebill contracts``: the local anvil node, and the contract's committed artefacts."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ledger.cli.support import HomeOpt, out
from ledger.cli.support import errors as _errors
from ledger.cli.support import fail as _fail
from ledger.cli.support import home_dir as _home

node_app = typer.Typer(help="Run a local anvil node (state persisted under the data directory).",
                       no_args_is_help=True)
contracts_app = typer.Typer(help="Solidity sources and their committed artefacts.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``node`` and ``contracts`` groups to ``app``."""
    app.add_typer(node_app, name="node")
    app.add_typer(contracts_app, name="contracts")


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
