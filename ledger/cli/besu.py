"""``ebill chain besu-kit|besu-check|besu-token|besu-tls|besu-add-node|besu-remove-node``: the production
chain's files (``deploy/besu``).

A command of the ``ebill`` program rather than a script beside it: it is installed with
the service, so the kit is made by the same code version, key libraries and error
handling (one line, no traceback) as the service that will use it, is type-checked and
tested with it, and the operator's renewals (tokens, certificates) are one command away
on any host that runs ``ebill``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ledger.cli import support as _cli

KitDir = Annotated[Path, typer.Argument(help="the kit's directory (as written by `ebill chain besu-kit`)")]


def register(app: typer.Typer) -> None:
    """Add the kit's commands to the ``chain`` group ``app``."""
    app.command("besu-kit")(besu_kit)
    app.command("besu-check")(besu_check)
    app.command("besu-token")(besu_token)
    app.command("besu-tls")(besu_tls)
    app.command("besu-add-node")(besu_add_node)
    app.command("besu-remove-node")(besu_remove_node)


def besu_kit(
    out: Annotated[Path, typer.Option("--out", help="a new (or empty) directory for the kit")],
    validators: Annotated[int, typer.Option(min=1, max=64, help="QBFT validators (4 tolerate one faulty)")] = 4,
    chain_id: Annotated[int, typer.Option("--chain-id", help="the network's chain id")] = 330600,
    block_period: Annotated[int, typer.Option("--block-period", min=1, help="seconds per block")] = 2,
    request_timeout: Annotated[int, typer.Option(
        "--request-timeout", min=2, help="seconds before a QBFT round changes (doubles each further round)")] = 6,
    gas_limit: Annotated[int, typer.Option("--gas-limit", help="block gas limit (free gas)")] = 100_000_000,
    subnet: Annotated[str, typer.Option(help="the compose network (IPv4; nodes at .10 and .11 onwards)")]
    = "172.16.239.0/24",
    rpc_hostname: Annotated[list[str] | None, typer.Option(
        "--rpc-hostname", help="a name the services use for the RPC node (its TLS certificate); repeat")] = None,
    rpc_bind: Annotated[str, typer.Option("--rpc-bind", help="host address the RPC node's port is published on")]
    = "0.0.0.0",
    account: Annotated[list[str] | None, typer.Option(
        "--account", help="an account allowed to send transactions (consortium members, payers); repeat")] = None,
    relayer: Annotated[str | None, typer.Option(
        "--relayer", help="the relayer's address, if it has a key already (else one is made: secrets/relayer.key)")]
    = None,
    image: Annotated[str, typer.Option(help="the Besu image the compose file runs")] = "hyperledger/besu:26.2.0",
    token_days: Annotated[int, typer.Option("--token-days", min=1, help="validity of the RPC tokens")] = 90,
    tls_days: Annotated[int, typer.Option("--tls-days", min=1, help="validity of the nodes' certificates")] = 397,
    as_json: Annotated[bool, typer.Option("--json", help="print the kit's manifest")] = False,
) -> None:
    """Generate a Besu QBFT network: genesis, node keys, allow-lists, RPC auth and TLS, compose file."""
    from eth_utils.address import is_address, to_checksum_address

    from ledger.adapters.besu import check, kit
    from ledger.adapters.besu.spec import KitSpec

    with _cli.errors():
        if relayer is not None and not is_address(relayer):
            _cli.fail(f"--relayer is not an account address: {relayer!r}", 2)
        spec = KitSpec(validators=validators, chain_id=chain_id, block_period=block_period,
                       request_timeout=request_timeout, gas_limit=gas_limit, subnet=subnet,
                       rpc_hostnames=tuple(rpc_hostname or ()), rpc_bind=rpc_bind, accounts=tuple(account or ()),
                       image=image, token_days=token_days, tls_days=tls_days)
        manifest = kit.generate(spec, out, relayer=to_checksum_address(relayer) if relayer else None)
        check.verify_kit(out)
    if as_json:
        _cli.out.print_json(json.dumps(manifest))
        return
    rpc = next(n for n in manifest["nodes"] if n["role"] == "rpc")
    _cli.out.print(
        f"Besu QBFT kit in {out}: {validators} validator(s) (tolerating {spec.fault_tolerance} faulty) and an RPC "
        f"node, chain id {chain_id}, {block_period} s blocks, free gas\n"
        f"  start:    cd {out} && BESU_UID=$(id -u) BESU_GID=$(id -g) docker compose up -d\n"
        f"  services: EBILL_RPC_TOKEN_FILE={out / kit.SERVICE_TOKEN} EBILL_RPC_CA_FILE={out / kit.CA_CERT} "
        f"--rpc-url {rpc['rpc']}\n"
        f"  deploy:   ebill chain deploy --rpc-url {rpc['rpc']} --relayer-key-file {out / 'secrets/relayer.key'} "
        "--proposer … --executor … --min-delay …\n"
        f"  keep {out / 'secrets'} off the nodes' hosts (docs/besu-runbook.md, what to back up)", highlight=False)


def besu_check(kit_dir: KitDir) -> None:
    """Check a kit without running Besu: genesis, keys, allow-lists, node configurations, compose, TLS, tokens."""
    from ledger.adapters.besu import check

    with _cli.errors():
        checked = check.verify_kit(kit_dir)
    for line in checked:
        _cli.out.print(f"ok  {line}", highlight=False)


def besu_token(
    kit_dir: KitDir,
    days: Annotated[int, typer.Option(min=1, help="validity of the new token(s)")] = 90,
    operator: Annotated[bool, typer.Option("--operator", help="renew the operator's token instead of the "
                                           "services'")] = False,
    rotate_key: Annotated[bool, typer.Option("--rotate-key", help="replace the signing key too (a token leaked): "
                                             "every earlier token stops working once the nodes restart")] = False,
) -> None:
    """Issue a new RPC token (the old one is moved aside; restart the services to use it)."""
    from ledger.adapters.besu import kit

    with _cli.errors():
        kit.read_manifest(kit_dir)
        written = kit.issue_tokens(kit_dir, days, which=("operator",) if operator else ("service",),
                                   rotate_key=rotate_key)
    for path in written:
        _cli.out.print(f"wrote {path} (valid {days} days)")
    if rotate_key:
        _cli.out.print(f"new signing key: copy {kit_dir / kit.JWT_PUBLIC} to every node and restart them one at a "
                       "time, then give the services the new token")


def besu_tls(
    kit_dir: KitDir,
    days: Annotated[int, typer.Option(min=1, help="validity of the new certificates")] = 397,
) -> None:
    """Issue every node a new TLS certificate from the kit's CA (the old keystores are moved aside)."""
    from ledger.adapters.besu import kit

    with _cli.errors():
        written = kit.renew_certificates(kit_dir, days)
    for path in written:
        _cli.out.print(f"wrote {path}; restart that node to serve it")


def besu_add_node(
    kit_dir: KitDir,
    name: Annotated[str, typer.Argument(help="the new node's name, e.g. validator-5")],
    role: Annotated[str, typer.Option(help="validator (voted in afterwards) | rpc")] = "validator",
) -> None:
    """Add a node to the kit: key, configuration, TLS, allow-lists and compose service (not the genesis)."""
    from ledger.adapters.besu import check, membership

    with _cli.errors():
        entry = membership.add_node(kit_dir, name, role=role)
        check.verify_kit(kit_dir)
    _cli.out.print(
        f"added {name} ({role}) at {entry['ip']}, address {entry['address']}\n  enode {entry['enode']}\n"
        f"  next: perm_addNodesToAllowlist on every running node, start it, and "
        + ("have more than half of the validators call qbft_proposeValidatorVote "
           f"[\"{entry['address']}\", true] (docs/besu-runbook.md)" if role == "validator" else
           "point services at it"), highlight=False)


def besu_remove_node(
    kit_dir: KitDir, name: Annotated[str, typer.Argument(help="the node to take out of the kit")],
) -> None:
    """Take a node out of the kit (vote a validator out first: docs/besu-runbook.md); its keys are kept aside."""
    from ledger.adapters.besu import check, membership

    with _cli.errors():
        entry = membership.remove_node(kit_dir, name)
        check.verify_kit(kit_dir)
    _cli.out.print(f"removed {name} ({entry['address']}) from the kit; perm_removeNodesFromAllowlist "
                   f"[\"{entry['enode']}\"] on the running nodes", highlight=False)
