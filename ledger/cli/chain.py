"""``ebill node``, ``ebill contracts`` and ``ebill chain``: the local anvil node, the contract's committed
artefacts, and the production chain (``chain_deploy``, ``besu``)."""

from __future__ import annotations

import dataclasses
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
chain_app = typer.Typer(help="The production chain: a Besu QBFT kit, the governed deployment, admin actions.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``node``, ``contracts`` and ``chain`` groups to ``app``."""
    from ledger.cli import besu, chain_deploy

    app.add_typer(node_app, name="node")
    app.add_typer(contracts_app, name="contracts")
    chain_app.command("deploy")(chain_deploy.deploy)
    chain_app.command("relayer")(chain_deploy.relayer)
    chain_app.add_typer(chain_deploy.admin_app, name="admin")
    besu.register(chain_app)
    app.add_typer(chain_app, name="chain")


# ------------------------------------------------------------------------------ node


@node_app.command("start")
def node_start(
    home: HomeOpt = None,
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8545,
    block_time: Annotated[float | None, typer.Option(help="seconds per block (default: mine on every tx)")] = None,
    gas_limit: Annotated[int | None, typer.Option(
        min=1, help="block gas limit (anvil's default: 30,000,000; batched claim stamps at a few hundred a "
                    "second in 1 s blocks need more)")] = None,
    profile: Annotated[str, typer.Option(
        help="dev (mine on every transaction, priced gas) | besu (as the production chain: free gas, 2 s blocks "
             "unless --block-time, Cancun)")] = "dev",
) -> None:
    """Start anvil in the background with --state persistence."""
    from ledger.adapters import anvil

    with _errors():
        directory = _home(home) / "node"
        running = anvil.status(directory)
        if running:
            out.print(f"anvil already running at {running['url']} (pid {running['pid']})")
            return
        if profile not in ("dev", "besu"):
            _fail(f"--profile must be dev or besu, got {profile!r}", 2)
        config = anvil.AnvilConfig(data_dir=directory, port=port, block_time=block_time, gas_limit=gas_limit)
        if profile == "besu":
            besu = anvil.AnvilConfig.besu_profile(directory, port=port, block_time=block_time or 2.0)
            config = dataclasses.replace(besu, gas_limit=gas_limit)
        state = anvil.start_detached(config)
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
