"""The documents of a Besu QBFT kit, rendered from its :class:`~ledger.adapters.besu.spec.KitSpec` and keys.

Pure functions: each returns a document (a dict, or TOML text); :mod:`~ledger.adapters.besu.kit`
writes them, :mod:`~ledger.adapters.besu.check` reads them back. Names of options and
genesis items are Besu's (genesis items are case-insensitive; these use the casing of
Besu's own genesis files; a node's TOML configuration file takes the command-line options
without their ``--``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ledger.adapters.besu.extradata import genesis_extra_data
from ledger.adapters.besu.spec import CONTAINER, NODE_DIRS, KitSpec, NodeSpec

#: the mix hash every BFT block header carries ("...ctical byzantine fault tolerance", Istanbul's digest)
BFT_MIX_HASH = "0x" + b"ctical byzantine fault tolerance".hex()
ZERO_ADDRESS = "0x" + "00" * 20
ZERO_HASH = "0x" + "00" * 32
#: milestones at genesis: the contract is compiled for Cancun (contracts/compile.py, evmVersion)
MILESTONES = {"berlinBlock": 0, "londonBlock": 0, "shanghaiTime": 0, "cancunTime": 0}
#: JSON-RPC namespaces a validator serves (to its operator, on 127.0.0.1) and the RPC node (to the services)
VALIDATOR_APIS = ("ETH", "NET", "WEB3", "QBFT", "PERM", "ADMIN", "TXPOOL")
RPC_NODE_APIS = ("ETH", "NET", "WEB3", "QBFT", "PERM", "ADMIN", "TXPOOL")


def genesis(spec: KitSpec, validators: Sequence[str], *, timestamp: int) -> dict[str, Any]:
    """The genesis file: QBFT with ``validators`` (addresses, in order), free gas, Cancun from block 0."""
    return {
        "config": {
            "chainId": spec.chain_id,
            **MILESTONES,
            "zeroBaseFee": True,
            "qbft": {"blockperiodseconds": spec.block_period, "epochlength": spec.epoch_length,
                     "requesttimeoutseconds": spec.request_timeout},
        },
        "nonce": "0x0",
        "timestamp": hex(timestamp),
        "gasLimit": hex(spec.gas_limit),
        "difficulty": "0x1",
        "mixHash": BFT_MIX_HASH,
        "coinbase": ZERO_ADDRESS,
        "baseFeePerGas": "0x0",
        "alloc": {},   # free gas: no account needs a balance
        "extraData": genesis_extra_data(validators),
        "number": "0x0",
        "gasUsed": "0x0",
        "parentHash": ZERO_HASH,
    }


def node_config(spec: KitSpec, node: NodeSpec, *, relayer: str) -> str:
    """The node's ``config.toml`` (``besu --config-file``)."""
    is_rpc = node.role == "rpc"
    pool = spec.tx_pool
    options: list[tuple[str, object]] = [
        ("data-path", CONTAINER["data"]),
        ("genesis-file", CONTAINER["genesis"]),
        ("node-private-key-file", CONTAINER["node"] + "/key"),
        ("logging", "INFO"),
        ("sync-mode", "FULL"),
        ("# p2p: the other nodes are listed in static-nodes.json; no discovery on a consortium network", None),
        ("p2p-host", node.ip),
        ("p2p-interface", "0.0.0.0"),
        ("p2p-port", spec.p2p_port),
        ("nat-method", "NONE"),
        ("discovery-enabled", False),
        ("static-nodes-file", CONTAINER["static_nodes"]),
        ("# local permissioning: peers and transaction senders allowed (this node's own copy, kept "
         "up to date by perm_* calls)", None),
        ("permissions-nodes-config-file-enabled", True),
        ("permissions-nodes-config-file", CONTAINER["permissions"]),
        ("permissions-accounts-config-file-enabled", True),
        ("permissions-accounts-config-file", CONTAINER["permissions"]),
        ("# free gas: blocks and the pool take transactions at gas price 0 (the pool's own floor is 1000 wei "
         "unless set)", None),
        ("min-gas-price", 0),
        ("tx-pool-min-gas-price", 0),
        ("target-gas-limit", spec.gas_limit),
        ("# the relayer's bursts: reserveMany/finalizeMany rounds and anchor batches, pipelined by the "
         "hundred per sender", None),
        ("tx-pool", "LAYERED"),
        ("tx-pool-layer-max-capacity", pool.layer_max_capacity_bytes),
        ("tx-pool-max-prioritized", pool.max_prioritized),
        ("tx-pool-max-future-by-sender", pool.max_future_by_sender),
        ("tx-pool-priority-senders", [relayer]),
        ("# JSON-RPC over TLS, for holders of a token signed by the kit's key only", None),
        ("rpc-http-enabled", True),
        ("rpc-http-host", "0.0.0.0"),
        ("rpc-http-port", spec.rpc_port),
        ("rpc-http-api", list(RPC_NODE_APIS if is_rpc else VALIDATOR_APIS)),
        ("host-allowlist", list(node.tls_names)),
        ("rpc-http-max-active-connections", spec.rpc_max_connections if is_rpc else 32),
        ("rpc-http-authentication-enabled", True),
        ("rpc-http-authentication-jwt-public-key-file", CONTAINER["jwt_public"]),
        ("rpc-http-authentication-jwt-algorithm", "ES256"),
        ("rpc-http-tls-enabled", True),
        ("rpc-http-tls-keystore-file", CONTAINER["node"] + "/tls/keystore.p12"),
        ("rpc-http-tls-keystore-password-file", CONTAINER["node"] + "/tls/keystore.password"),
        ("revert-reason-enabled", True),
        ("metrics-enabled", True),
        ("metrics-host", "0.0.0.0"),
        ("metrics-port", spec.metrics_port),
    ]
    lines = [f"# {node.name} ({'RPC node' if is_rpc else 'QBFT validator'}): generated by `ebill chain besu-kit`;",
             "# edit the kit's options and generate a new kit rather than this file (`ebill chain besu-check` "
             "checks it)."]
    for key, value in options:
        lines.append(key if value is None else f"{key}={toml_value(value)}")
    return "\n".join(lines) + "\n"


def permissions(enodes: Sequence[str], accounts: Sequence[str]) -> str:
    """``permissions_config.toml``: the nodes and transaction senders allowed (Besu local permissioning)."""
    return ("# generated by `ebill chain besu-kit`; a node rewrites its own copy on perm_add*/perm_remove* calls\n"
            f"nodes-allowlist={toml_value(list(enodes))}\n"
            f"accounts-allowlist={toml_value(list(accounts))}\n")


def compose(spec: KitSpec, nodes: Sequence[NodeSpec]) -> dict[str, Any]:
    """The docker compose project: the validators, then the RPC node, on one bridge network."""
    validators = [n.name for n in nodes if n.role == "validator"]
    return {
        "name": spec.project,
        "services": {n.name: compose_service(spec, n, after=validators if n.role == "rpc" else ()) for n in nodes},
        "networks": {"besu": {"driver": "bridge", "ipam": {"config": [{"subnet": spec.subnet}]}}},
    }


def compose_service(spec: KitSpec, node: NodeSpec, *, after: Sequence[str] = ()) -> dict[str, Any]:
    """One node's service: Besu with its config.toml, its files mounted, at its address."""
    base = f"./{NODE_DIRS}/{node.name}"
    service: dict[str, Any] = {
        "image": spec.image,
        "user": "${BESU_UID:-1000}:${BESU_GID:-1000}",
        "restart": "unless-stopped",
        "stop_grace_period": "60s",
        "command": [f"--config-file={CONTAINER['node']}/config.toml"],
        "volumes": [
            f"./genesis.json:{CONTAINER['genesis']}:ro",
            f"./static-nodes.json:{CONTAINER['static_nodes']}:ro",
            f"./rpc/jwt-public.pem:{CONTAINER['jwt_public']}:ro",
            f"{base}/node:{CONTAINER['node']}:ro",
            f"{base}/perm:{CONTAINER['perm_dir']}",
            f"{base}/data:{CONTAINER['data']}",
        ],
        "networks": {"besu": {"ipv4_address": node.ip}},
        "ports": [f"{node.rpc_bind}:{node.host_rpc_port}:{spec.rpc_port}",
                  f"127.0.0.1:{node.host_metrics_port}:{spec.metrics_port}"],
    }
    if after:
        service["depends_on"] = list(after)
    return service


def toml_value(value: object) -> str:
    """A TOML value: booleans, integers, strings (JSON's escaping is TOML's for these), arrays of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=True)
    if isinstance(value, list | tuple):
        return "[" + ",".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML rendering for {type(value).__name__}")
