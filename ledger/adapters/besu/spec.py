"""What a Besu QBFT kit is made of: its options (:class:`KitSpec`), its nodes, and where their files go.

A kit is ``validators`` QBFT validators and one RPC node (not a validator) that the
ebill services talk to, on one docker network with fixed addresses (enode URLs name IP
addresses: Besu resolves host names in them only with the early-access ``--Xdns-enabled``).
Defaults are sized for the ledger (see :class:`TxPoolSpec` and ``gas_limit``) and for a
consortium that must survive the loss of one validator (4 validators: QBFT tolerates
``f = (n - 1) // 3`` faulty ones).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Literal

from eth_utils.address import is_address, to_checksum_address

from ledger.errors import InvalidInput

#: where the files are inside a node's container (compose.yaml mounts them there)
CONTAINER = {
    "genesis": "/config/genesis.json",
    "static_nodes": "/config/static-nodes.json",
    "jwt_public": "/config/rpc/jwt-public.pem",
    "node": "/config/node",
    "perm_dir": "/config/perm",
    "permissions": "/config/perm/permissions_config.toml",
    "data": "/opt/besu/data",
}
#: the kit's directory of per-node directories
NODE_DIRS = "nodes"
RPC_NODE = "rpc-node"
#: the image the compose file runs (a released Besu; check the release notes before changing it)
DEFAULT_IMAGE = "hyperledger/besu:26.2.0"
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


@dataclass(frozen=True)
class TxPoolSpec:
    """Transaction-pool sizes for the relayer's bursts.

    A stamper round sends ``reserveMany``/``finalizeMany`` transactions of 100 claims each
    (≈ 55 kB of calldata for a reservation batch with its proofs) and the chain worker
    pipelines up to 256 transactions per sender before waiting (``send_pipelined``). Besu's
    layered pool keeps 25 MB per layer and 4000 prioritised transactions by default: the
    kit gives it 128 MB and 16 000, and lets a sender run 1024 nonces ahead (a relayer that
    re-sends after a restart), with the relayer a priority sender, evicted last.
    """

    layer_max_capacity_bytes: int = 128 * 1024 * 1024
    max_prioritized: int = 16_000
    max_future_by_sender: int = 1024


@dataclass(frozen=True)
class NodeSpec:
    """One node of the kit."""

    name: str
    role: Literal["validator", "rpc"]
    ip: str
    host_rpc_port: int
    rpc_bind: str
    #: the names clients use for its RPC: its TLS certificate's and its host allow-list
    tls_names: tuple[str, ...]
    host_metrics_port: int = 0

    @classmethod
    def validator(cls, spec: KitSpec, name: str, ip: str, *, host_rpc_port: int, host_metrics_port: int) -> NodeSpec:
        """A validator: its RPC (for its operator) published on the docker host's loopback only."""
        return cls(name, "validator", ip, host_rpc_port, "127.0.0.1", (name, ip, "localhost", "127.0.0.1"),
                   host_metrics_port)


@dataclass(frozen=True)
class KitSpec:
    """The options of ``ebill chain besu-kit``."""

    validators: int = 4
    chain_id: int = 330600
    block_period: int = 2
    request_timeout: int = 6
    epoch_length: int = 30_000
    #: ≥ 8 full reserveMany batches (12 M gas each) per block
    gas_limit: int = 100_000_000
    subnet: str = "172.16.239.0/24"
    image: str = DEFAULT_IMAGE
    project: str = "ebill-besu"
    #: extra names the services use to reach the RPC node (its certificate and host allow-list)
    rpc_hostnames: tuple[str, ...] = ()
    #: the address the RPC node's port is published on, on the docker host
    rpc_bind: str = "0.0.0.0"
    rpc_port: int = 8545
    host_rpc_port: int = 8545
    p2p_port: int = 30303
    metrics_port: int = 9545
    host_metrics_port: int = 9545
    rpc_max_connections: int = 512
    #: accounts allowed to send transactions, besides the relayer (consortium members, payers, hospitals)
    accounts: tuple[str, ...] = ()
    token_days: int = 90
    tls_days: int = 397
    ca_days: int = 3650
    tx_pool: TxPoolSpec = field(default_factory=TxPoolSpec)

    def __post_init__(self) -> None:
        problems: list[tuple[str, str]] = []
        if not 1 <= self.validators <= 64:
            problems.append(("validators", f"must be in 1..64, got {self.validators}"))
        if self.chain_id < 1 or self.chain_id in (1, 5, 17000, 11155111, 560048):
            problems.append(("chain-id", f"must be a private chain id (not a public network's), got {self.chain_id}"))
        if self.block_period < 1:
            problems.append(("block-period", f"must be a whole number of seconds >= 1, got {self.block_period}"))
        if self.request_timeout <= self.block_period:
            problems.append(("request-timeout", f"must exceed the block period ({self.block_period} s): a round "
                             f"must be able to produce its block, got {self.request_timeout}"))
        if self.gas_limit < 16_000_000:
            problems.append(("gas-limit", f"must be >= 16,000,000: one reserveMany of 100 claims takes 12 M gas, "
                             f"got {self.gas_limit:,}"))
        try:
            net = ipaddress.ip_network(self.subnet)
            if net.version != 4 or net.num_addresses < self.validators + 16:
                problems.append(("subnet", f"needs an IPv4 network with room for {self.validators + 1} nodes"))
        except ValueError:
            problems.append(("subnet", f"not an IP network: {self.subnet!r}"))
        for name in self.rpc_hostnames:
            if not _HOSTNAME.match(name) and not _is_ip(name):
                problems.append(("rpc-hostname", f"not a host name or IP address: {name!r}"))
        if not _is_ip(self.rpc_bind):
            problems.append(("rpc-bind", f"not an IP address of the docker host: {self.rpc_bind!r}"))
        for account in self.accounts:
            if not is_address(account):
                problems.append(("account", f"not an account address: {account!r}"))
        for name, days in (("token-days", self.token_days), ("tls-days", self.tls_days), ("ca-days", self.ca_days)):
            if days < 1:
                problems.append((name, f"must be >= 1, got {days}"))
        if problems:
            raise InvalidInput([InvalidInput.single(f, "besu-kit", m).problems[0] for f, m in problems])
        object.__setattr__(self, "accounts", tuple(dict.fromkeys(to_checksum_address(a) for a in self.accounts)))

    @property
    def fault_tolerance(self) -> int:
        """How many validators may fail with the chain still producing blocks."""
        return (self.validators - 1) // 3

    def nodes(self) -> list[NodeSpec]:
        """The validators, then the RPC node, each with its address on the kit's network."""
        hosts = list(ipaddress.ip_network(self.subnet).hosts())
        nodes: list[NodeSpec] = []
        for i in range(self.validators):
            nodes.append(NodeSpec.validator(self, f"validator-{i + 1}", str(hosts[10 + i]),
                                            host_rpc_port=self.host_rpc_port + 1 + i,
                                            host_metrics_port=self.host_metrics_port + i))
        ip = str(hosts[9])
        names = (RPC_NODE, ip, "localhost", "127.0.0.1", *self.rpc_hostnames)
        nodes.append(NodeSpec(RPC_NODE, "rpc", ip, self.host_rpc_port, self.rpc_bind, tuple(dict.fromkeys(names)),
                              self.host_metrics_port + self.validators))
        return nodes


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
