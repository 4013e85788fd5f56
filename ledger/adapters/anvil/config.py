"""How to run one anvil node: the binary, the configuration, its command line and its files."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ledger.errors import InvalidInput, ToolchainError

#: environment variable naming the anvil binary to use
BINARY_ENV = "EBILL_ANVIL"
_NPM_BINARY = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
_REPO = Path(__file__).resolve().parents[3]
# the files of a node in its data directory (see the package's docstring)
STATE_FILE = "anvil-state.json"
PREV_STATE_FILE = "anvil-state.prev.json"
UNREADABLE_STATE_FILE = "anvil-state.unreadable.json"
LOG_FILE = "anvil.log"
PID_FILE = "anvil.pid"


def anvil_binary() -> Path:
    """The anvil executable: ``$EBILL_ANVIL``, else the npm package's, else ``anvil`` on PATH."""
    override = os.environ.get(BINARY_ENV)
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ToolchainError(
                f"{BINARY_ENV}={override} is not an executable file; unset it to use "
                f"{_REPO / _NPM_BINARY}, or point it at an anvil binary"
            )
        return path
    bundled = _REPO / _NPM_BINARY
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return bundled
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise ToolchainError(
        f"anvil binary not found: {BINARY_ENV} is unset, {bundled} does not exist and no "
        "`anvil` is on PATH; run `./dev setup` (or `npm ci`) to install "
        "@foundry-rs/anvil-linux-amd64"
    )


@dataclass(frozen=True)
class AnvilConfig:
    """How to run one anvil node. ``data_dir`` is made absolute; ``block_time=None`` automines."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8545
    chain_id: int = 31337
    block_time: float | None = None
    gas_limit: int | None = None
    #: seconds between state dumps; anvil accepts only whole seconds >= 1
    state_interval: int = 1
    accounts: int = 10
    #: ETH per dev account
    balance: int = 1_000_000
    #: the block base fee and the gas price anvil suggests (None: anvil's defaults); both 0 and
    #: ``min_priority_fee=False`` make a free-gas chain, where ``eth_gasPrice`` answers 0
    base_fee: int | None = None
    gas_price: int | None = None
    min_priority_fee: bool = True
    #: the EVM hardfork (None: anvil's latest)
    hardfork: str | None = None
    extra_args: tuple[str, ...] = field(default=())

    @classmethod
    def besu_profile(cls, data_dir: Path, *, port: int = 8545, block_time: float = 2.0) -> AnvilConfig:
        """anvil standing in for the production chain (``deploy/besu``): free gas (zero base fee,
        gas price 0, no minimum tip), interval blocks instead of one per transaction, and the
        contract's Cancun EVM, so that nothing the service does may lean on a dev node's habits."""
        return cls(data_dir=data_dir, port=port, block_time=block_time, base_fee=0, gas_price=0,
                   min_priority_fee=False, hardfork="cancun")

    @property
    def free_gas(self) -> bool:
        return self.base_fee == 0 and self.gas_price == 0 and not self.min_priority_fee

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).resolve())
        checks = [
            ("port", 1 <= self.port <= 65535, f"must be in 1..65535, got {self.port}"),
            ("chain_id", self.chain_id >= 1, f"must be >= 1, got {self.chain_id}"),
            (
                "state_interval",
                isinstance(self.state_interval, int) and self.state_interval >= 1,
                f"must be a whole number of seconds >= 1 (anvil panics on 0 and rejects "
                f"fractions), got {self.state_interval!r}",
            ),
            (
                "block_time",
                self.block_time is None or self.block_time > 0,
                f"must be > 0 or None for automine, got {self.block_time}",
            ),
            (
                "gas_limit",
                self.gas_limit is None or self.gas_limit > 0,
                f"must be > 0 or None, got {self.gas_limit}",
            ),
            ("accounts", self.accounts >= 1, f"must be >= 1, got {self.accounts}"),
            ("balance", self.balance >= 0, f"must be >= 0, got {self.balance}"),
            ("base_fee", self.base_fee is None or self.base_fee >= 0, f"must be >= 0, got {self.base_fee}"),
            ("gas_price", self.gas_price is None or self.gas_price >= 0, f"must be >= 0, got {self.gas_price}"),
        ]
        for name, ok, message in checks:
            if not ok:
                raise InvalidInput.single(name, "anvil-config", message)

    @property
    def state_file(self) -> Path:
        return self.data_dir / STATE_FILE

    @property
    def prev_state_file(self) -> Path:
        return self.data_dir / PREV_STATE_FILE

    @property
    def log_file(self) -> Path:
        return self.data_dir / LOG_FILE

    @property
    def pid_file(self) -> Path:
        return self.data_dir / PID_FILE

    @property
    def url(self) -> str:
        """HTTP JSON-RPC URL a client on this machine connects to."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def command(self, binary: Path) -> list[str]:
        """The full argv that starts this node."""
        argv = [
            str(binary),
            "--state", str(self.state_file),
            "--state-interval", str(self.state_interval),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--accounts", str(self.accounts),
            "--balance", str(self.balance),
        ]  # fmt: skip
        if self.block_time is not None:
            argv += ["--block-time", f"{self.block_time:g}"]
        if self.gas_limit is not None:
            argv += ["--gas-limit", str(self.gas_limit)]
        if self.base_fee is not None:
            argv += ["--base-fee", str(self.base_fee)]
        if self.gas_price is not None:
            argv += ["--gas-price", str(self.gas_price)]
        if not self.min_priority_fee:
            argv.append("--disable-min-priority-fee")  # else eth_gasPrice suggests a 1 gwei tip
        if self.hardfork is not None:
            argv += ["--hardfork", self.hardfork]
        return argv + list(self.extra_args)
