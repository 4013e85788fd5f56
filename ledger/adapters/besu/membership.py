"""Adding a node to a kit and removing one (``ebill chain besu-add-node|besu-remove-node``).

The kit directory is the operator's master copy. Adding a node writes its directory (key,
configuration, allow-lists, TLS keystore from the kit's CA), appends its enode URL to
``static-nodes.json`` and to every node's ``nodes-allowlist``, and adds its compose
service; removing one takes it out of those and moves its directory aside. Neither
touches the genesis: it records the *first* validators, and a running network changes
its validator set only by vote (``qbft_proposeValidatorVote`` on more than half of the
validators, ``docs/besu-runbook.md``). Running nodes learn a new peer without a restart
through ``perm_addNodesToAllowlist`` (which also rewrites their own allow-list file).
"""

from __future__ import annotations

import ipaddress
import time
import tomllib
from pathlib import Path
from typing import Any

import yaml

from ledger.adapters.besu import kit, render
from ledger.adapters.besu.keys import NodeKey
from ledger.adapters.besu.spec import NODE_DIRS, RPC_NODE, NodeSpec
from ledger.errors import InvalidInput, NotFound


def add_node(root: Path, name: str, *, role: str = "validator") -> dict[str, Any]:
    """Add a node (a validator by default, else a second RPC node) to the kit in ``root``; its manifest entry."""
    manifest = kit.read_manifest(root)
    spec = kit.spec_of(manifest)
    taken = {n["name"] for n in manifest["nodes"]}
    if role not in ("validator", "rpc"):
        raise InvalidInput.single("role", "choice", f"validator or rpc, got {role!r}")
    plain = bool(name) and all(c.isascii() and (c.isalnum() or c == "-") for c in name)
    if not plain or name in taken or (root / NODE_DIRS / name).exists():
        raise InvalidInput.single("name", "unique", f"{name!r} is taken or not a plain name (letters, digits, '-')")
    used = {ipaddress.ip_address(n["ip"]) for n in manifest["nodes"]}
    ip = next((str(h) for h in list(ipaddress.ip_network(spec.subnet).hosts())[10:] if h not in used), None)
    if ip is None:
        raise InvalidInput.single("subnet", "full", f"no address left in {spec.subnet}")
    rpc_port = max(n["hostRpcPort"] for n in manifest["nodes"]) + 1
    metrics_port = max(n["hostMetricsPort"] for n in manifest["nodes"]) + 1
    if role == "validator":
        node = NodeSpec.validator(spec, name, ip, host_rpc_port=rpc_port, host_metrics_port=metrics_port)
    else:
        node = NodeSpec(name, "rpc", ip, rpc_port, spec.rpc_bind,
                        tuple(dict.fromkeys((name, ip, "localhost", "127.0.0.1", *spec.rpc_hostnames))), metrics_port)
    key = NodeKey.generate()
    entry = kit.node_entry(spec, node, key, genesis=False)
    enodes = [*(n["enode"] for n in manifest["nodes"]), entry["enode"]]
    kit.write_node(root, spec, node, key, relayer=manifest["relayer"], enodes=enodes, accounts=manifest["accounts"])
    _set_enodes(root, manifest["nodes"], enodes)
    compose = _read_compose(root)
    compose["services"][name] = render.compose_service(spec, node)
    if role == "validator":   # the RPC node starts after every validator
        rpc = compose["services"].get(RPC_NODE)
        if rpc is not None:
            rpc["depends_on"] = [*rpc.get("depends_on", []), name]
    kit.write_compose(root, compose)
    manifest["nodes"].append(entry)
    kit.write_json(root / kit.MANIFEST, manifest)
    return entry


def remove_node(root: Path, name: str) -> dict[str, Any]:
    """Take a node out of the kit in ``root`` (its directory moved aside, keys kept); its former manifest entry."""
    manifest = kit.read_manifest(root)
    entry = next((n for n in manifest["nodes"] if n["name"] == name), None)
    if entry is None:
        raise NotFound(f"no node {name!r} in the kit at {root}")
    if entry["role"] == "rpc" and sum(n["role"] == "rpc" for n in manifest["nodes"]) == 1:
        raise InvalidInput.single("name", "last-rpc-node", "the services reach the chain through this RPC node: "
                                  "add another before removing it")
    rest = [n for n in manifest["nodes"] if n["name"] != name]
    validators = [n for n in rest if n["role"] == "validator"]
    if not validators:
        raise InvalidInput.single("name", "last-validator", "a network keeps at least one validator")
    _set_enodes(root, rest, [n["enode"] for n in rest])
    compose = _read_compose(root)
    compose["services"].pop(name, None)
    for service in compose["services"].values():
        if "depends_on" in service:
            service["depends_on"] = [d for d in service["depends_on"] if d != name]
    kit.write_compose(root, compose)
    directory = root / NODE_DIRS / name
    directory.rename(directory.with_name(f"{name}.removed-{time.strftime('%Y%m%dT%H%M%S')}"))
    manifest["nodes"] = rest
    kit.write_json(root / kit.MANIFEST, manifest)
    return dict(entry)


def _set_enodes(root: Path, nodes: list[dict[str, Any]], enodes: list[str]) -> None:
    """``static-nodes.json`` and every node's ``nodes-allowlist`` := ``enodes`` (the accounts kept as they are)."""
    kit.write_json(root / "static-nodes.json", enodes)
    for node in nodes:
        path = root / NODE_DIRS / node["name"] / "perm" / "permissions_config.toml"
        try:
            accounts = tomllib.loads(path.read_text()).get("accounts-allowlist", [])
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvalidInput.single(str(path), "toml", f"cannot read the allow-lists: {exc}") from None
        path.write_text(render.permissions(enodes, accounts))


def _read_compose(root: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load((root / "compose.yaml").read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput.single(str(root / "compose.yaml"), "yaml", f"not readable: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        raise InvalidInput.single(str(root / "compose.yaml"), "yaml", "no services")
    return doc
